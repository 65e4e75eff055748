"""TOTP factors and recovery codes over HTTP, with codes the test computes (RFC 6238)."""

import time
from collections.abc import Callable

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, Factor, RecoveryCode, User
from backend.security.sealing import Purpose, Sealer
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import TenantFactory, UserFactory
from tests.support.concurrency import all_at_once
from tests.support.factors import STEP, enrol_totp, log_in_with_factor, secret_of

IssueToken = Callable[..., str]


@pytest.fixture
def user(db: Session) -> User:
    tenant = TenantFactory(slug="acme", name="Acme")
    member = UserFactory(
        tenant=tenant, email="kai@acme.test", roles=[builtin_role(db, tenant, "member")]
    )
    db.commit()
    return member


@pytest.fixture
def token(user: User, issue_token: IssueToken) -> str:
    return issue_token(user, ["me"])


def actions(db: Session) -> list[str]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.at, AuditEvent.id)))


def test_enrolment_gives_a_uri_a_qr_code_and_ten_codes_once(
    client: TestClient, token: str, db: Session, settings: Settings
) -> None:
    started = client.post("/me/factors/totp", headers=bearer(token), json={})
    assert started.status_code == 201, started.text
    assert started.headers["Cache-Control"] == "no-store"
    body = started.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/Acme:kai%40acme.test?secret=")
    assert "issuer=Acme" in body["otpauth_uri"]
    assert body["qr_svg"].startswith("<svg")
    assert "<script" not in body["qr_svg"]
    secret = secret_of(body["otpauth_uri"])
    # Stored sealed, under the encryption key, bound to its row; never in clear.
    factor = db.scalars(select(Factor)).one()
    assert factor.secret is not None
    assert secret.encode() not in factor.secret
    opened = Sealer(settings.sealing_secret(), Purpose.TOTP_SECRET).open(
        factor.secret, factor.id.bytes
    )
    assert opened.decode() == secret
    # Pending: logins do not ask for it yet, and the list does not show it.
    assert client.get("/me/factors", headers=bearer(token)).json()["items"] == []
    confirmed = client.post(
        "/me/factors/totp/confirm", headers=bearer(token), json={"code": pyotp.TOTP(secret).now()}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.headers["Cache-Control"] == "no-store"
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 == len(set(codes))
    stored = db.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10
    assert all(len(h) == 32 for h in stored)
    listed = client.get("/me/factors", headers=bearer(token)).json()
    assert [f["kind"] for f in listed["items"]] == ["totp"]
    assert listed["recovery_codes_left"] == 10
    assert "factor.enrolled" in actions(db)


def test_a_wrong_code_leaves_the_enrolment_pending(client: TestClient, token: str) -> None:
    started = client.post("/me/factors/totp", headers=bearer(token), json={})
    secret = secret_of(started.json()["otpauth_uri"])
    wrong = f"{(int(pyotp.TOTP(secret).now()) + 1) % 1_000_000:06d}"
    refused = client.post("/me/factors/totp/confirm", headers=bearer(token), json={"code": wrong})
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert client.get("/me/factors", headers=bearer(token)).json()["items"] == []


@pytest.mark.parametrize(
    "code", ["12345", "1234567", "abcdef", "12 456", "\uff11\uff12\uff13\uff14\uff15\uff16"]
)
def test_malformed_codes_are_refused(client: TestClient, token: str, code: str) -> None:
    client.post("/me/factors/totp", headers=bearer(token), json={})
    response = client.post("/me/factors/totp/confirm", headers=bearer(token), json={"code": code})
    assert response.status_code in (400, 422)


def test_a_second_totp_factor_is_refused_until_the_first_is_removed(
    client: TestClient, token: str
) -> None:
    enrolled = enrol_totp(client, token)
    again = client.post("/me/factors/totp", headers=bearer(token), json={})
    assert again.status_code == 409
    # Removing a factor is stepped up: the token must come from a login that used it.
    assert (
        client.delete(f"/me/factors/{enrolled.factor_id}", headers=bearer(token)).status_code == 401
    )
    token = log_in_with_factor(client, "acme/kai@acme.test", enrolled)
    removed = client.delete(f"/me/factors/{enrolled.factor_id}", headers=bearer(token))
    assert removed.status_code == 204
    listed = client.get("/me/factors", headers=bearer(token)).json()
    assert listed == {"items": [], "recovery_codes_left": 0}
    assert client.post("/me/factors/totp", headers=bearer(token), json={}).status_code == 201


def test_regenerating_recovery_codes_kills_the_old_set(
    client: TestClient, token: str, db: Session
) -> None:
    enrolled = enrol_totp(client, token)
    token = log_in_with_factor(client, "acme/kai@acme.test", enrolled)
    fresh = client.post("/me/factors/recovery-codes", headers=bearer(token))
    assert fresh.status_code == 200
    new_codes = fresh.json()["recovery_codes"]
    assert set(new_codes).isdisjoint(enrolled.recovery_codes)
    assert len(db.scalars(select(RecoveryCode)).all()) == 10
    assert "factor.recovery_codes_regenerated" in actions(db)


def test_recovery_codes_need_a_factor(client: TestClient, token: str) -> None:
    assert client.post("/me/factors/recovery-codes", headers=bearer(token)).status_code == 409


def test_another_users_factor_is_not_found(
    client: TestClient, token: str, user: User, db: Session, issue_token: IssueToken
) -> None:
    enrolled = enrol_totp(client, token)
    other = UserFactory(tenant_id=user.tenant_id, tenant=None)
    db.commit()
    response = client.delete(
        f"/me/factors/{enrolled.factor_id}", headers=bearer(issue_token(other, ["me"]))
    )
    assert response.status_code == 404


def test_concurrent_confirmations_with_one_code_activate_once(
    client: TestClient, token: str, db: Session
) -> None:
    started = client.post("/me/factors/totp", headers=bearer(token), json={})
    code = pyotp.TOTP(secret_of(started.json()["otpauth_uri"])).now()
    answers = all_at_once(
        2,
        lambda: (
            client.post(
                "/me/factors/totp/confirm", headers=bearer(token), json={"code": code}
            ).status_code
        ),
    )
    assert sorted(answers) in ([200, 404], [200, 400])
    assert len(db.scalars(select(RecoveryCode)).all()) == 10


def test_the_step_window_is_plus_minus_one(settings: Settings) -> None:
    from backend.security import totp

    secret = totp.new_secret()
    now = time.time()
    generator = pyotp.TOTP(secret)
    for offset, accepted in ((-2, False), (-1, True), (0, True), (1, True), (2, False)):
        code = generator.at(now + offset * STEP)
        found = totp.matching_step(secret, code, now, None)
        assert (found is not None) is accepted, offset
    current = int(now) // STEP
    assert totp.matching_step(secret, generator.at(now), now, current) is None
