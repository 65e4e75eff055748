import pytest

from backend.domain.errors import UnknownScopeError
from backend.domain.scopes import (
    PLATFORM_SCOPES,
    READ_SCOPES,
    SCOPE_DESCRIPTIONS,
    TENANT_SCOPES,
    Scope,
    format_scopes,
    known_scopes,
    parse_scopes,
)


def test_parse_splits_on_any_whitespace_and_dedupes() -> None:
    assert parse_scopes("me  users:read\tme") == {Scope.ME, Scope.USERS_READ}


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_parse_of_nothing_is_empty(raw: str | None) -> None:
    assert parse_scopes(raw) == frozenset()


def test_parse_names_every_unknown_scope() -> None:
    with pytest.raises(UnknownScopeError) as caught:
        parse_scopes("me zzz:do users:read aaa")
    assert caught.value.names == ["aaa", "zzz:do"]


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
    assert PLATFORM_SCOPES == {Scope.TENANTS_READ, Scope.TENANTS_WRITE}


def test_read_scopes_change_nothing() -> None:
    assert READ_SCOPES <= TENANT_SCOPES
    assert all(s.value.endswith(":read") or s is Scope.ME for s in READ_SCOPES)
    assert Scope.USERS_READ in READ_SCOPES
    assert Scope.USERS_WRITE not in READ_SCOPES


def test_stored_scopes_retired_from_the_catalogue_are_dropped() -> None:
    assert known_scopes(["me", "reports:export", "users:read"]) == {Scope.ME, Scope.USERS_READ}
    assert known_scopes([]) == frozenset()
