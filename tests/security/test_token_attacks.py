"""Forged, tampered, replayed and stale access tokens, through HTTP: each is a 401
`invalid_token`, never a 500 and never a 200.

Every forging helper is first shown to produce a token the API accepts when nothing is
wrong with it (the control tests), so a refusal below is the attack's, not the helper's.
"""

import time
from collections.abc import Callable

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.db.models import TenantStatus, UserStatus
from backend.security.tokens import LEEWAY_SECONDS
from backend.services import tenants, user_admin
from backend.services.effects import Effects
from backend.settings import Settings
from tests.conftest import bearer
from tests.factories import DEFAULT_PASSWORD
from tests.security.conftest import (
    Owner,
    assert_invalid_token,
    claims_for,
    hs256,
    segments,
    unsigned,
    with_payload,
)

pytestmark = pytest.mark.security

IssueToken = Callable[..., str]


def hs256_secret_token(
    settings: Settings, header: dict[str, object], claims: dict[str, object]
) -> str:
    """A token signed with the real HS256 secret: what only Tessera could make."""
    return hs256(header, claims, settings.signing_secret())


@pytest.fixture
def header(acme: Owner, issue_token: IssueToken) -> dict[str, object]:
    """The header of a genuine token: right typ and kid."""
    return segments(issue_token(acme.user, ["me"]))[0]


def login(client: TestClient, owner: Owner, scope: str = "me") -> dict[str, str]:
    response = client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": owner.username,
            "password": DEFAULT_PASSWORD,
            "scope": scope,
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


# Controls: the helpers make tokens the API accepts.


def test_control_a_hand_made_token_with_the_real_secret_is_accepted(
    client: TestClient, acme: Owner, settings: Settings, header: dict[str, object]
) -> None:
    token = hs256_secret_token(settings, header, claims_for(acme.user, settings))
    assert client.get("/me", headers=bearer(token)).status_code == 200


def test_control_iat_within_the_leeway_is_accepted(
    client: TestClient, acme: Owner, settings: Settings, header: dict[str, object]
) -> None:
    skewed = int(time.time()) + LEEWAY_SECONDS - 2
    token = hs256_secret_token(settings, header, claims_for(acme.user, settings, iat=skewed))
    assert client.get("/me", headers=bearer(token)).status_code == 200


# Signature and algorithm.


def test_alg_none_is_refused(
    client: TestClient, acme: Owner, settings: Settings, header: dict[str, object]
) -> None:
    token = unsigned(header, claims_for(acme.user, settings, scope="me users:write"))
    assert_invalid_token(client.get("/me", headers=bearer(token)))


@pytest.mark.parametrize("alg", ["HS384", "HS512", "none", "None", "NONE", ""])
def test_another_alg_in_the_header_is_refused(
    client: TestClient, acme: Owner, settings: Settings, header: dict[str, object], alg: str
) -> None:
    # Signed with the real secret, but the header names an algorithm that is not pinned.
    token = hs256_secret_token(settings, {**header, "alg": alg}, claims_for(acme.user, settings))
    assert_invalid_token(client.get("/me", headers=bearer(token)))


def test_a_token_signed_with_another_secret_is_refused(
    client: TestClient, acme: Owner, settings: Settings, header: dict[str, object]
) -> None:
    token = hs256(header, claims_for(acme.user, settings), b"not-the-secret-" + b"x" * 40)
    assert_invalid_token(client.get("/me", headers=bearer(token)))


@pytest.mark.parametrize("kid", ["unknown", "", "../../etc/passwd", 7, None, ["hs-x"], {"k": 1}])
def test_unknown_or_malformed_kid_is_refused(
    client: TestClient, acme: Owner, settings: Settings, header: dict[str, object], kid: object
) -> None:
    token = hs256_secret_token(settings, {**header, "kid": kid}, claims_for(acme.user, settings))
    assert_invalid_token(client.get("/me", headers=bearer(token)))


def test_missing_kid_is_refused(
    client: TestClient, acme: Owner, settings: Settings, header: dict[str, object]
) -> None:
    without = {key: value for key, value in header.items() if key != "kid"}
    token = hs256_secret_token(settings, without, claims_for(acme.user, settings))
    assert_invalid_token(client.get("/me", headers=bearer(token)))


@pytest.mark.parametrize("typ", ["JWT", "jwt", "", None])
def test_a_token_of_another_type_is_refused(
    client: TestClient, acme: Owner, settings: Settings, header: dict[str, object], typ: object
) -> None:
    token = hs256_secret_token(settings, {**header, "typ": typ}, claims_for(acme.user, settings))
    assert_invalid_token(client.get("/me", headers=bearer(token)))


# Time.


def test_expired_token_is_refused(
    client: TestClient, acme: Owner, settings: Settings, issue_token: IssueToken
) -> None:
    long_ago = int(time.time()) - settings.access_token_ttl_seconds - LEEWAY_SECONDS - 1
    assert_invalid_token(
        client.get("/me", headers=bearer(issue_token(acme.user, ["me"], now=long_ago)))
    )


def test_iat_in_the_future_beyond_the_leeway_is_refused(
    client: TestClient, acme: Owner, settings: Settings, issue_token: IssueToken
) -> None:
    # A token minted an hour ahead would otherwise live an hour longer than its TTL.
    ahead = int(time.time()) + 3600
    assert_invalid_token(
        client.get("/me", headers=bearer(issue_token(acme.user, ["me"], now=ahead)))
    )


def test_nbf_in_the_future_beyond_the_leeway_is_refused(
    client: TestClient, acme: Owner, settings: Settings, header: dict[str, object]
) -> None:
    later = int(time.time()) + LEEWAY_SECONDS + 60
    token = hs256_secret_token(settings, header, claims_for(acme.user, settings, nbf=later))
    assert_invalid_token(client.get("/me", headers=bearer(token)))


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": "tomorrow"},
        {"iat": "now"},
        {"exp": None},
        {"ver": "one"},
        {"sub": "not-a-uuid"},
        {"tid": 42},
    ],
    ids=repr,
)
def test_ill_typed_claims_are_refused(
    client: TestClient,
    acme: Owner,
    settings: Settings,
    header: dict[str, object],
    claims: dict[str, object],
) -> None:
    token = hs256_secret_token(settings, header, claims_for(acme.user, settings, **claims))
    assert_invalid_token(client.get("/me", headers=bearer(token)))


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub", "jti", "tid", "ver"])
def test_a_missing_claim_is_refused(
    client: TestClient, acme: Owner, settings: Settings, header: dict[str, object], claim: str
) -> None:
    claims = claims_for(acme.user, settings)
    del claims[claim]
    assert_invalid_token(
        client.get("/me", headers=bearer(hs256_secret_token(settings, header, claims)))
    )


# Issuer and audience.


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "someone-else"},
        {"iss": ""},
        {"aud": "another-api"},
        {"aud": ["another-api"]},
        {"aud": ""},
    ],
    ids=repr,
)
def test_wrong_issuer_or_audience_is_refused(
    client: TestClient,
    acme: Owner,
    settings: Settings,
    header: dict[str, object],
    claims: dict[str, object],
) -> None:
    token = hs256_secret_token(settings, header, claims_for(acme.user, settings, **claims))
    assert_invalid_token(client.get("/me", headers=bearer(token)))


# Tampering with a genuine token: the signature no longer matches.


@pytest.mark.parametrize(
    "changes",
    [
        {"scope": "me users:read users:write roles:write tenants:write"},
        {"exp": int(time.time()) + 10 * 86_400},
        {"ver": 99},
        {"kind": "service_account"},
    ],
    ids=["scope-edited", "exp-extended", "ver-bumped", "kind-changed"],
)
def test_a_tampered_payload_is_refused(
    client: TestClient, acme: Owner, issue_token: IssueToken, changes: dict[str, object]
) -> None:
    token = with_payload(issue_token(acme.user, ["me"]), **changes)
    assert_invalid_token(client.get("/me", headers=bearer(token)))


def test_an_edited_scope_grants_nothing_on_the_guarded_route(
    client: TestClient, acme: Owner, issue_token: IssueToken
) -> None:
    token = with_payload(issue_token(acme.user, ["me"]), scope="me users:read")
    assert_invalid_token(client.get("/users", headers=bearer(token)))


@pytest.mark.parametrize("part", ["header", "signature"])
def test_a_tampered_header_or_truncated_signature_is_refused(
    client: TestClient, acme: Owner, issue_token: IssueToken, part: str
) -> None:
    token = issue_token(acme.user, ["me"])
    header, payload, signature = token.split(".")
    if part == "header":
        header = header[:-2] + ("AA" if header[-2:] != "AA" else "AB")
    else:
        signature = signature[:-4]
    assert_invalid_token(client.get("/me", headers=bearer(f"{header}.{payload}.{signature}")))


# Across tenants.


def test_a_token_from_another_tenant_with_its_tid_changed_is_refused(
    client: TestClient, acme: Owner, globex: Owner, issue_token: IssueToken
) -> None:
    replayed = with_payload(issue_token(globex.user, ["me", "users:read"]), tid=str(acme.tenant.id))
    assert_invalid_token(client.get("/users", headers=bearer(replayed)))


def test_a_validly_signed_token_naming_a_user_of_another_tenant_is_refused(
    client: TestClient, acme: Owner, globex: Owner, settings: Settings, header: dict[str, object]
) -> None:
    # Even with the signing key (a leaked key, a bug in issuance), a user id is only
    # looked up inside the token's tenant, where Globex's user does not exist.
    claims = claims_for(globex.user, settings, scope="me users:read", tid=str(acme.tenant.id))
    token = hs256_secret_token(settings, header, claims)
    assert_invalid_token(client.get("/me", headers=bearer(token)))
    assert_invalid_token(client.get("/users", headers=bearer(token)))


def test_a_validly_signed_token_of_an_unknown_tenant_is_refused(
    client: TestClient, acme: Owner, settings: Settings, header: dict[str, object]
) -> None:
    claims = claims_for(acme.user, settings, tid="00000000-0000-4000-8000-000000000000")
    assert_invalid_token(
        client.get("/me", headers=bearer(hs256_secret_token(settings, header, claims)))
    )


# Credentials of the wrong kind.


def test_a_refresh_token_is_not_an_access_token(client: TestClient, acme: Owner) -> None:
    refresh_token = login(client, acme)["refresh_token"]
    assert_invalid_token(client.get("/me", headers=bearer(refresh_token)))


def test_an_access_token_is_not_a_refresh_token(client: TestClient, acme: Owner) -> None:
    access_token = login(client, acme)["access_token"]
    # The token endpoint answers in RFC 6749 §5.2 terms: a refresh grant with anything
    # but a live refresh token is `invalid_grant` (400), not a bearer 401.
    response = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": access_token}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"


def test_an_access_token_is_not_an_api_key(client: TestClient, acme: Owner) -> None:
    access_token = login(client, acme)["access_token"]
    assert_invalid_token(client.get("/me", headers={"X-API-Key": access_token}))


# Standing: refused at once, not at expiry.


def test_a_disabled_users_token_is_refused(
    client: TestClient, acme: Owner, db: Session, effects: Effects, issue_token: IssueToken
) -> None:
    token = issue_token(acme.user, ["me"])
    assert client.get("/me", headers=bearer(token)).status_code == 200
    user_admin.set_status(
        db, effects, acme.tenant.id, acme.user.id, UserStatus.DISABLED, reason="test"
    )
    db.commit()
    assert_invalid_token(client.get("/me", headers=bearer(token)))


def test_a_suspended_tenants_token_is_refused(
    client: TestClient, acme: Owner, db: Session, effects: Effects, issue_token: IssueToken
) -> None:
    token = issue_token(acme.user, ["me"])
    assert client.get("/me", headers=bearer(token)).status_code == 200
    tenants.set_status(db, effects, acme.tenant.id, TenantStatus.SUSPENDED)
    db.commit()
    assert_invalid_token(client.get("/me", headers=bearer(token)))


def test_a_token_from_before_a_password_change_is_refused(client: TestClient, acme: Owner) -> None:
    token = login(client, acme)["access_token"]
    changed = client.patch(
        "/me/password",
        headers=bearer(token),
        json={"current_password": DEFAULT_PASSWORD, "new_password": "a new and longer passphrase"},
    )
    assert changed.status_code == 204, changed.text
    assert_invalid_token(client.get("/me", headers=bearer(token)))


def test_a_token_with_an_older_version_is_refused(
    client: TestClient, acme: Owner, issue_token: IssueToken
) -> None:
    stale = issue_token(acme.user, ["me"], version=acme.user.token_version - 1)
    assert_invalid_token(client.get("/me", headers=bearer(stale)))


# The raw header.


def test_a_64_kib_authorization_header_is_refused(client: TestClient, acme: Owner) -> None:
    response = client.get("/me", headers={"Authorization": "Bearer " + "A" * 64 * 1024})
    assert_invalid_token(response)


@pytest.mark.parametrize(
    "value",
    [
        b"Bearer \xff\xfe\xfd\x80\x81",
        b"\xde\xad\xbe\xef",
        b"Bearer \x7f\x01\x02.\x03.\x04",
        b"Bearer " + "é.ü.ñ".encode("latin-1"),
        b"Bearer e30.e30.",
        b"Bearer W10.W10.AA",
        b"Bearer bnVsbA.bnVsbA.AA",
        b"Bearer ....",
        b"Bearer",
        b"bearer",
    ],
    ids=repr,
)
def test_binary_garbage_in_authorization_is_refused(client: TestClient, value: bytes) -> None:
    assert_invalid_token(client.get("/me", headers={"Authorization": value}))


def test_a_header_that_is_not_a_json_object_is_refused(
    client: TestClient, acme: Owner, settings: Settings, header: dict[str, object]
) -> None:
    # The decoded header is a JSON array, not an object: no kid can be read from it.
    claims = claims_for(acme.user, settings)
    token = hs256_secret_token(settings, header, claims)
    _, payload, signature = token.split(".")
    assert_invalid_token(client.get("/me", headers=bearer(f"W10.{payload}.{signature}")))


def test_pyjwt_agrees_the_genuine_token_is_well_formed(
    acme: Owner, settings: Settings, issue_token: IssueToken
) -> None:
    # Guards the helpers above: segments() reads what PyJWT reads.
    token = issue_token(acme.user, ["me"])
    header, payload, _ = segments(token)
    assert header == jwt.get_unverified_header(token)
    assert payload["sub"] == str(acme.user.id)
