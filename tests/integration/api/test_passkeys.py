"""Passkeys (WebAuthn) over HTTP: registration as a factor, then the password grant's
second step with one (issue 19 item 2).

Credentials come from a Python authenticator (tests/support/passkeys.py), so every byte
the server checks can be made wrong; Chromium's virtual authenticator is
tests/browser/test_passkeys.py's. The user is Ada of Acme (tests/integration/api/conftest.py).
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, Factor, RecoveryCode, Tenant, User, WebauthnChallenge
from backend.domain.passkeys import Ceremony
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, UserFactory, WebauthnChallengeFactory
from tests.support.concurrency import all_at_once
from tests.support.factors import enrol_totp
from tests.support.passkeys import SoftAuthenticator, b64

IssueToken = Callable[..., str]
MFA_GRANT = "urn:tessera:params:oauth:grant-type:mfa"


@pytest.fixture
def token(user: User, issue_token: IssueToken) -> str:
    return issue_token(user, ["me"])


@pytest.fixture
def authenticator(settings: Settings) -> SoftAuthenticator:
    rp_id, origins = settings.webauthn_relying_party()
    return SoftAuthenticator(rp_id=rp_id, origin=origins[0])


def actions(db: Session) -> list[str]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.at, AuditEvent.id)))


def start(client: TestClient, token: str, **body: str) -> dict[str, Any]:
    response = client.post("/me/factors/webauthn", headers=bearer(token), json=body)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    options: dict[str, Any] = response.json()
    return options


def confirm(client: TestClient, token: str, credential: object) -> httpx.Response:
    return client.post("/me/factors/webauthn/confirm", headers=bearer(token), json=credential)


def register(client: TestClient, token: str, authenticator: SoftAuthenticator) -> dict[str, Any]:
    confirmed = confirm(client, token, authenticator.create(start(client, token, label="key")))
    assert confirmed.status_code == 200, confirmed.text
    body: dict[str, Any] = confirmed.json()
    return body


def mfa_token(client: TestClient) -> str:
    response = client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": "acme/ada@acme.test",
            "password": DEFAULT_PASSWORD,
        },
    )
    assert response.json()["error"] == "mfa_required", response.text
    token: str = response.json()["mfa_token"]
    return token


def assertion_options(client: TestClient, mfa: str) -> dict[str, Any]:
    response = client.post("/mfa/webauthn/options", json={"mfa_token": mfa})
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    options: dict[str, Any] = response.json()
    return options


def complete(client: TestClient, mfa: str, assertion: object) -> httpx.Response:
    presented = assertion if isinstance(assertion, str) else json.dumps(assertion)
    return client.post(
        "/token",
        data={"grant_type": MFA_GRANT, "mfa_token": mfa, "webauthn_assertion": presented},
    )


def claims_of(settings: Settings, access_token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(
        access_token, settings.signing_secret(), algorithms=["HS256"], audience="tessera-api"
    )
    return decoded


def test_registration_stores_the_credential_and_a_first_factor_gets_recovery_codes(
    client: TestClient,
    token: str,
    user: User,
    db: Session,
    settings: Settings,
    authenticator: SoftAuthenticator,
) -> None:
    options = start(client, token, label="laptop")
    rp_id, _ = settings.webauthn_relying_party()
    assert options["rp"] == {"id": rp_id, "name": "Acme Corp"}
    assert options["user"]["name"] == "ada@acme.test"
    # The user handle is the user's id, no address in it.
    assert options["user"]["id"] == b64(user.id.bytes)
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["extensions"] == {"credProps": True}
    assert options["excludeCredentials"] == []
    enrolled = confirm(client, token, authenticator.create(options))
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.headers["Cache-Control"] == "no-store"
    body = enrolled.json()
    assert len(body["recovery_codes"]) == 10
    factor = db.scalars(select(Factor)).one()
    assert str(factor.id) == body["factor_id"]
    assert factor.credential_id == authenticator.credential_id
    assert factor.public_key is not None
    assert factor.sign_count == 0
    # The browser's unknown transport is dropped; credProps said it is discoverable.
    assert factor.transports == "internal"
    assert (factor.discoverable, factor.backup_eligible, factor.backed_up) == (True, False, False)
    assert factor.label == "laptop"
    listed = client.get("/me/factors", headers=bearer(token)).json()
    assert [(f["kind"], f["label"], f["discoverable"]) for f in listed["items"]] == [
        ("webauthn", "laptop", True)
    ]
    assert "factor.enrolment_started" in actions(db)
    assert "factor.enrolled" in actions(db)
    # Used: the challenge is gone.
    assert db.scalars(select(WebauthnChallenge)).all() == []


def test_several_passkeys_and_a_later_factor_keeps_the_codes(
    client: TestClient, token: str, db: Session, settings: Settings
) -> None:
    rp_id, origins = settings.webauthn_relying_party()
    first = SoftAuthenticator(rp_id=rp_id, origin=origins[0])
    codes = register(client, token, first)["recovery_codes"]
    second_options = start(client, token)
    # The first is excluded, so the same authenticator is not registered twice.
    assert [c["id"] for c in second_options["excludeCredentials"]] == [b64(first.credential_id)]
    second = SoftAuthenticator(rp_id=rp_id, origin=origins[0], synced=True)
    later = confirm(client, token, second.create(second_options))
    assert later.status_code == 200, later.text
    assert later.json()["recovery_codes"] == []
    # The one rule for every kind: TOTP after a passkey leaves the codes too.
    assert enrol_totp(client, token).recovery_codes == []
    db.expire_all()
    assert len(db.scalars(select(RecoveryCode)).all()) == len(codes) == 10
    kinds = sorted(
        f["kind"] for f in client.get("/me/factors", headers=bearer(token)).json()["items"]
    )
    assert kinds == ["totp", "webauthn", "webauthn"]


def test_a_credential_registered_already_is_a_conflict(
    client: TestClient, token: str, authenticator: SoftAuthenticator
) -> None:
    register(client, token, authenticator)
    again = confirm(client, token, authenticator.create(start(client, token)))
    assert again.status_code == 409, again.text


def test_tenant_with_factors_off_refuses_enrolment(
    client: TestClient, token: str, user: User, db: Session
) -> None:
    db.execute(update(Tenant).where(Tenant.id == user.tenant_id).values(policy={"mfa": "off"}))
    db.commit()
    refused = client.post("/me/factors/webauthn", headers=bearer(token), json={})
    assert refused.status_code == 409, refused.text


@pytest.mark.parametrize(
    "label", ["nul\x00byte", "lone \ud800 surrogate", "x" * 101], ids=["nul", "surrogate", "long"]
)
def test_an_unstorable_label_is_a_422(client: TestClient, token: str, label: str) -> None:
    body = json.dumps({"label": label}, ensure_ascii=True)
    refused = client.post(
        "/me/factors/webauthn",
        headers={**bearer(token), "Content-Type": "application/json"},
        content=body,
    )
    assert refused.status_code == 422, refused.text


GARBAGE: list[object] = [
    {},
    [],
    "a string",
    {"id": "x", "rawId": "x", "type": "public-key", "response": {}},
    {"id": "x", "rawId": "x", "type": "public-key", "response": {"clientDataJSON": "%%%"}},
    {
        "id": "x",
        "rawId": "x",
        "type": "public-key",
        "response": {"clientDataJSON": b64(b"not json"), "attestationObject": "AA"},
    },
    {
        "id": "x",
        "rawId": "x",
        "type": "public-key",
        "response": {"clientDataJSON": b64(b'{"challenge": 5}'), "attestationObject": 7},
    },
    {"id": "x", "rawId": "x", "type": "password", "response": {}},
]


@pytest.mark.parametrize("credential", GARBAGE)
def test_garbage_credentials_are_refused_with_a_reason(
    client: TestClient, token: str, credential: object
) -> None:
    start(client, token)
    refused = confirm(client, token, credential)
    assert refused.status_code in (400, 422), refused.text
    body = refused.json()
    assert body["error"] == ("invalid_grant" if refused.status_code == 400 else "invalid_request")
    assert body["error_description"]


def test_a_broken_attestation_for_the_right_challenge_is_refused_and_uses_it_up(
    client: TestClient, token: str, db: Session, authenticator: SoftAuthenticator
) -> None:
    options = start(client, token)
    credential = authenticator.create(options)
    credential["response"]["attestationObject"] = b64(b"\xa1\x00\x00")
    refused = confirm(client, token, credential)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_grant"
    assert "factor.enrolment_failed" in actions(db)
    # The challenge was used: the good credential for it is refused now.
    again = confirm(client, token, authenticator.create(options))
    assert again.status_code == 400, again.text
    assert db.scalars(select(Factor)).all() == []


@pytest.mark.parametrize(
    "spoil",
    ["challenge", "origin", "rp_id"],
)
def test_a_credential_for_another_challenge_origin_or_rp_is_refused(
    client: TestClient, token: str, db: Session, authenticator: SoftAuthenticator, spoil: str
) -> None:
    options = start(client, token)
    if spoil == "challenge":
        credential = authenticator.create({**options, "challenge": b64(b"\x01" * 32)})
    elif spoil == "origin":
        credential = authenticator.create(options, origin="https://evil.example")
    else:
        credential = authenticator.create(options, rp_id="evil.example")
    refused = confirm(client, token, credential)
    assert refused.status_code == 400, refused.text
    assert db.scalars(select(Factor)).all() == []


def test_a_replayed_registration_is_refused(
    client: TestClient, token: str, db: Session, authenticator: SoftAuthenticator
) -> None:
    credential = authenticator.create(start(client, token))
    assert confirm(client, token, credential).status_code == 200
    replayed = confirm(client, token, credential)
    assert replayed.status_code == 400, replayed.text
    assert len(db.scalars(select(Factor)).all()) == 1


@pytest.fixture
def ann_token(user: User, db: Session, issue_token: IssueToken) -> str:
    """Ann, another member of Ada's tenant."""
    tenant = db.get_one(Tenant, user.tenant_id)
    ann = UserFactory(
        tenant=tenant, email="ann@acme.test", roles=[builtin_role(db, tenant, "member")]
    )
    db.commit()
    return issue_token(ann, ["me"])


def test_another_users_challenge_is_refused(
    client: TestClient, token: str, ann_token: str, authenticator: SoftAuthenticator
) -> None:
    # Ada's challenge, answered by Ann: not hers.
    credential = authenticator.create(start(client, token))
    refused = confirm(client, ann_token, credential)
    assert refused.status_code == 400, refused.text
    # And Ada's stays open for Ada.
    assert confirm(client, token, credential).status_code == 200


def test_an_expired_challenge_is_refused(
    client: TestClient, token: str, db: Session, authenticator: SoftAuthenticator
) -> None:
    options = start(client, token)
    db.execute(update(WebauthnChallenge).values(expires_at=WebauthnChallenge.created_at))
    db.commit()
    assert confirm(client, token, authenticator.create(options)).status_code == 400


def test_a_new_registration_drops_the_unfinished_one(
    client: TestClient, token: str, db: Session, authenticator: SoftAuthenticator
) -> None:
    stale = start(client, token)
    start(client, token)
    assert len(db.scalars(select(WebauthnChallenge)).all()) == 1
    assert confirm(client, token, authenticator.create(stale)).status_code == 400


# The password grant's second step with a passkey.


@pytest.fixture
def registered(
    client: TestClient, token: str, authenticator: SoftAuthenticator
) -> SoftAuthenticator:
    register(client, token, authenticator)
    return authenticator


def test_the_mfa_grant_with_a_passkey_issues_tokens_with_hwk(
    client: TestClient,
    registered: SoftAuthenticator,
    settings: Settings,
    db: Session,
) -> None:
    mfa = mfa_token(client)
    options = assertion_options(client, mfa)
    rp_id, _ = settings.webauthn_relying_party()
    assert options["rpId"] == rp_id
    assert [c["id"] for c in options["allowCredentials"]] == [b64(registered.credential_id)]
    assert options["allowCredentials"][0]["transports"] == ["internal"]
    assert options["userVerification"] == "preferred"
    done = complete(client, mfa, registered.get(options))
    assert done.status_code == 200, done.text
    claims = claims_of(settings, done.json()["access_token"])
    assert claims["amr"] == ["pwd", "hwk", "mfa"]
    assert claims["acr"] == "urn:tessera:acr:mfa"
    # The refresh keeps how the login authenticated.
    refreshed = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": done.json()["refresh_token"]},
    )
    assert claims_of(settings, refreshed.json()["access_token"])["amr"] == ["pwd", "hwk", "mfa"]
    db.expire_all()
    factor = db.scalars(select(Factor)).one()
    assert factor.sign_count == 1
    assert factor.last_used_at is not None


def test_a_synced_passkey_proves_swk(client: TestClient, token: str, settings: Settings) -> None:
    rp_id, origins = settings.webauthn_relying_party()
    synced = SoftAuthenticator(rp_id=rp_id, origin=origins[0], synced=True, counts=False)
    register(client, token, synced)
    mfa = mfa_token(client)
    done = complete(client, mfa, synced.get(assertion_options(client, mfa)))
    assert done.status_code == 200, done.text
    assert claims_of(settings, done.json()["access_token"])["amr"] == ["pwd", "swk", "mfa"]
    # A counter of 0 for ever is an authenticator that does not count, not a clone.
    mfa = mfa_token(client)
    again = complete(client, mfa, synced.get(assertion_options(client, mfa)))
    assert again.status_code == 200, again.text


def test_a_counter_that_goes_backwards_is_refused_and_audited(
    client: TestClient, registered: SoftAuthenticator, db: Session, user: User
) -> None:
    mfa = mfa_token(client)
    assert complete(client, mfa, registered.get(assertion_options(client, mfa))).status_code == 200
    registered.sign_count = 5
    mfa = mfa_token(client)
    assert complete(client, mfa, registered.get(assertion_options(client, mfa))).status_code == 200
    mfa = mfa_token(client)
    cloned = complete(client, mfa, registered.get(assertion_options(client, mfa), sign_count=3))
    assert cloned.status_code == 400, cloned.text
    assert cloned.json()["error"] == "invalid_grant"
    db.expire_all()
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "factor.sign_count_regressed")
    ).one()
    assert event.data["stored"] == 6
    assert event.data["presented"] == 3
    assert "auth.second_factor_failed" in actions(db)
    # Counted towards the lockout, like a wrong code.
    assert db.get_one(User, (user.tenant_id, user.id)).failed_logins == 1


def test_wrong_assertions_count_towards_the_lockout_and_the_token_stays(
    client: TestClient, registered: SoftAuthenticator, db: Session, user: User
) -> None:
    mfa = mfa_token(client)
    options = assertion_options(client, mfa)
    forged = registered.get(options)
    forged["response"]["signature"] = b64(b"\x30\x06\x02\x01\x01\x02\x01\x01")
    # Fewer than the tenant's throttle_after (5): the lockout's pause would refuse the
    # right one at the end.
    for wrong in (forged, json.dumps([1, 2]), "[" * 50_000):
        refused = complete(client, mfa, wrong)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_grant"
    db.expire_all()
    assert db.get_one(User, (user.tenant_id, user.id)).failed_logins == 3
    # The challenge of those options was used by the forged one; new options work.
    assert complete(client, mfa, registered.get(options)).status_code == 400
    done = complete(client, mfa, registered.get(assertion_options(client, mfa)))
    assert done.status_code == 200, done.text


def test_an_assertion_for_another_origin_or_ceremony_is_refused(
    client: TestClient, registered: SoftAuthenticator
) -> None:
    mfa = mfa_token(client)
    elsewhere = registered.get(assertion_options(client, mfa), origin="https://evil.example")
    assert complete(client, mfa, elsewhere).status_code == 400
    created = registered.get(assertion_options(client, mfa), kind="webauthn.create")
    assert complete(client, mfa, created).status_code == 400


def test_one_assertion_posted_twice_at_once_logs_in_once(
    client: TestClient, registered: SoftAuthenticator
) -> None:
    mfa = mfa_token(client)
    assertion = registered.get(assertion_options(client, mfa))
    results = all_at_once(2, lambda: complete(client, mfa, assertion).status_code)
    assert sorted(results) == [200, 400]


def test_one_assertion_for_two_logins_completes_one(
    client: TestClient, registered: SoftAuthenticator
) -> None:
    first, second = mfa_token(client), mfa_token(client)
    assertion = registered.get(assertion_options(client, first))
    assert complete(client, first, assertion).status_code == 200
    # Its challenge is used: another pending login cannot take it.
    assert complete(client, second, assertion).status_code == 400


def test_another_users_passkey_does_not_complete_a_login(
    client: TestClient, registered: SoftAuthenticator, ann_token: str, settings: Settings
) -> None:
    rp_id, origins = settings.webauthn_relying_party()
    hers = SoftAuthenticator(rp_id=rp_id, origin=origins[0])
    register(client, ann_token, hers)
    mfa = mfa_token(client)
    # Ada's challenge, signed by Ann's passkey.
    refused = complete(client, mfa, hers.get(assertion_options(client, mfa)))
    assert refused.status_code == 400, refused.text


def test_options_need_a_live_mfa_token_and_a_passkey(
    client: TestClient, user: User, token: str
) -> None:
    bad = client.post("/mfa/webauthn/options", json={"mfa_token": "mf_nonsense"})
    assert bad.status_code == 400, bad.text
    assert bad.json()["error"] == "invalid_grant"
    enrol_totp(client, token)
    no_passkey = client.post("/mfa/webauthn/options", json={"mfa_token": mfa_token(client)})
    assert no_passkey.status_code == 400, no_passkey.text
    assert no_passkey.json()["error"] == "invalid_request"
    garbage = client.post(
        "/mfa/webauthn/options",
        headers={"Content-Type": "application/json"},
        content=b'{"mfa_token": "\\u0000"}',
    )
    assert garbage.status_code == 422, garbage.text


def test_removing_a_passkey_is_stepped_up_and_audited(
    client: TestClient, registered: SoftAuthenticator, token: str, db: Session, settings: Settings
) -> None:
    factor_id = db.scalars(select(Factor.id)).one()
    # A token from before the enrolment carries no `mfa`.
    refused = client.delete(f"/me/factors/{factor_id}", headers=bearer(token))
    assert refused.status_code == 401, refused.text
    mfa = mfa_token(client)
    done = complete(client, mfa, registered.get(assertion_options(client, mfa)))
    stepped_up = done.json()["access_token"]
    removed = client.delete(f"/me/factors/{factor_id}", headers=bearer(stepped_up))
    assert removed.status_code == 204, removed.text
    assert "factor.removed" in actions(db)
    assert db.scalars(select(RecoveryCode)).all() == []


def test_one_registration_posted_twice_at_once_makes_one_factor(
    client: TestClient, token: str, db: Session, authenticator: SoftAuthenticator
) -> None:
    credential = authenticator.create(start(client, token))
    results = all_at_once(2, lambda: confirm(client, token, credential).status_code)
    assert sorted(results) == [200, 400]
    assert len(db.scalars(select(Factor)).all()) == 1


def test_an_admins_reset_removes_passkeys_and_their_open_ceremonies(
    client: TestClient,
    registered: SoftAuthenticator,
    user: User,
    token: str,
    db: Session,
    issue_token: IssueToken,
) -> None:
    start(client, token)
    mfa = mfa_token(client)
    assertion_options(client, mfa)
    tenant = db.get_one(Tenant, user.tenant_id)
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    reset = client.post(
        f"/users/{user.id}/factors/reset", headers=bearer(issue_token(owner, ["users:write"]))
    )
    assert reset.status_code == 200, reset.text
    assert reset.json()["factors_removed"] == 1
    db.expire_all()
    assert db.scalars(select(Factor)).all() == []
    assert db.scalars(select(WebauthnChallenge)).all() == []


def test_a_new_challenge_clears_expired_ones(
    client: TestClient, token: str, user: User, db: Session
) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    expired = WebauthnChallengeFactory(
        user=user, ceremony=Ceremony.SECOND_FACTOR, expires_at=past
    ).id
    live = WebauthnChallengeFactory(user=user, ceremony=Ceremony.SECOND_FACTOR).id
    db.commit()
    start(client, token)
    db.expire_all()
    left = set(db.scalars(select(WebauthnChallenge.id)))
    assert expired not in left
    assert live in left


def test_one_credential_registered_by_two_users_at_once_is_kept_once(
    client: TestClient,
    token: str,
    ann_token: str,
    db: Session,
    authenticator: SoftAuthenticator,
) -> None:
    # The same credential id for Ada and for Ann, each on a challenge of their own: the
    # tenant's index lets one in, and the other is a 409, never an integrity error.
    posts = [
        (bearer_token, authenticator.create(start(client, bearer_token)))
        for bearer_token in (token, ann_token)
    ]
    results = all_at_once(2, lambda: confirm(client, *posts.pop()).status_code)
    assert sorted(results) == [200, 409]
    assert len(db.scalars(select(Factor)).all()) == 1
