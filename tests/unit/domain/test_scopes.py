import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.domain.code_flow import RequestedScopes
from backend.domain.errors import UnknownScopeError
from backend.domain.scopes import (
    OIDC_SCOPES,
    PLATFORM_SCOPES,
    READ_SCOPES,
    SCOPE_DESCRIPTIONS,
    TENANT_SCOPES,
    TOKEN_SCOPE_PATTERN,
    Scope,
    format_scopes,
    parse_scopes,
)

# Scope-ish words (real ones, near misses, junk) joined by assorted whitespace.
_WORDS = st.sampled_from(
    [
        *Scope,
        *OIDC_SCOPES,
        "users:readx",
        "me:",
        "USERS:READ",
        "x",
        ":",
        "me,",
        "a" * 60 + ":bcd",
        "a:b",
        "openidx",
        "OPENID",
        "e",
        "mail",
    ]
)
_SPACE = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u2003", ""])
_SCOPE_STRINGS = st.lists(st.tuples(_SPACE, _WORDS), max_size=5).map(
    lambda parts: "".join(space + word for space, word in parts)
) | st.text(max_size=30)


def test_parse_splits_on_any_whitespace_and_dedupes() -> None:
    assert parse_scopes("me  users:read\tme") == {Scope.ME, Scope.USERS_READ}


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_parse_of_nothing_is_empty(raw: str | None) -> None:
    assert parse_scopes(raw) == frozenset()


def test_parse_names_every_word_that_cannot_be_a_scope() -> None:
    with pytest.raises(UnknownScopeError) as caught:
        parse_scopes("me zzz:Do users:read aaa " + "a" * 60 + ":bcde")
    assert caught.value.names == ["aaa", "a" * 60 + ":bcde", "zzz:Do"]


def test_parse_keeps_product_scope_names_for_the_grant_to_check() -> None:
    # Whether a product API has them is the token grant's question (services/audiences.py).
    assert parse_scopes("projects:read me") == {"projects:read", Scope.ME}


def test_parse_is_case_sensitive() -> None:
    with pytest.raises(UnknownScopeError):
        parse_scopes("USERS:READ")


def test_format_is_sorted_and_round_trips() -> None:
    scopes = frozenset({Scope.USERS_WRITE, Scope.ME, Scope.AUDIT_READ})
    text = format_scopes(scopes)
    assert text == "audit:read me users:write"
    assert parse_scopes(text) == scopes


def test_every_scope_is_described_and_shaped_resource_action() -> None:
    assert set(SCOPE_DESCRIPTIONS) == set(Scope)
    for scope in Scope:
        assert scope is Scope.ME or scope.value.count(":") == 1


def test_tenant_and_platform_scopes_partition_the_catalogue() -> None:
    assert TENANT_SCOPES | PLATFORM_SCOPES == set(Scope)
    assert not TENANT_SCOPES & PLATFORM_SCOPES
    assert PLATFORM_SCOPES == {
        Scope.TENANTS_READ,
        Scope.TENANTS_WRITE,
        Scope.APIS_READ,
        Scope.APIS_WRITE,
        Scope.STANDINGS_READ,
        Scope.CLIENTS_READ,
        Scope.CLIENTS_WRITE,
    }


def test_read_scopes_change_nothing() -> None:
    assert READ_SCOPES <= TENANT_SCOPES
    assert all(s.value.endswith(":read") or s is Scope.ME for s in READ_SCOPES)
    assert Scope.USERS_READ in READ_SCOPES
    assert Scope.USERS_WRITE not in READ_SCOPES


@given(_SCOPE_STRINGS, _SPACE)
def test_the_openapi_pattern_accepts_exactly_what_a_token_request_accepts(
    raw: str, tail: str
) -> None:
    """POST /token sets OpenID Connect's names aside, then parses the rest."""
    raw += tail
    try:
        parse_scopes(" ".join(RequestedScopes.parse(raw).api))
        parsed = True
    except UnknownScopeError:
        parsed = False
    assert (re.search(TOKEN_SCOPE_PATTERN, raw) is not None) == parsed


def test_a_code_flow_refresh_scope_matches_the_openapi_pattern() -> None:
    assert re.search(TOKEN_SCOPE_PATTERN, "openid profile email offline_access me")
    assert not re.search(TOKEN_SCOPE_PATTERN, "openid profiles")
