"""Rotating TESSERA_ENCRYPTION_KEY: the retired key still opens the TOTP secrets it
sealed (logins go on), `tessera reseal` seals every one under the new key in batches,
audited, and running it again, or twice at once, changes nothing more."""

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pyotp
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, Factor
from backend.main import create_app
from backend.security.sealing import Purpose, Sealer, UnsealError
from backend.settings import Settings
from tests.conftest import builtin_role
from tests.factories import DEFAULT_PASSWORD, FactorFactory, TenantFactory, UserFactory
from tests.integration.cli.conftest import RunCli
from tests.integration.worker.conftest import worker_env

NEW_KEY = "rotated-encryption-key-" + "n" * 40
UNKNOWN_KEY = "some-key-no-one-configured-" + "u" * 40
MFA_GRANT = "urn:tessera:params:oauth:grant-type:mfa"


def old_key(settings: Settings) -> str:
    assert settings.encryption_key is not None
    return settings.encryption_key.get_secret_value()


def rotated(settings: Settings, *, retired: bool = True) -> Settings:
    """The settings after the rotation: the new key current, the old one retired."""
    return settings.model_copy(
        update={
            "encryption_key": SecretStr(NEW_KEY),
            "encryption_keys_retired": SecretStr(old_key(settings)) if retired else None,
        }
    )


def enrolled(
    db: Session, settings: Settings, slug: str, count: int, key: str | None = None
) -> dict[uuid.UUID, str]:
    """`count` users of a new tenant, each with a TOTP factor sealed under `key` (the
    settings' own by default); their secrets by factor id."""
    tenant = TenantFactory(slug=slug)
    sealer = Sealer((key or old_key(settings)).encode(), Purpose.TOTP_SECRET)
    secrets: dict[uuid.UUID, str] = {}
    for n in range(count):
        user = UserFactory(
            tenant=tenant, email=f"u{n}@{slug}.test", roles=[builtin_role(db, tenant, "member")]
        )
        factor_id, secret = uuid.uuid4(), pyotp.random_base32()
        FactorFactory(user=user, id=factor_id, secret=sealer.seal(secret.encode(), factor_id.bytes))
        secrets[factor_id] = secret
    db.commit()
    return secrets


def reseal(run_cli: RunCli, settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "reseal",
        *args,
        TESSERA_ENCRYPTION_KEY=NEW_KEY,
        TESSERA_ENCRYPTION_KEYS_RETIRED=old_key(settings),
    )


def stored(db: Session) -> dict[uuid.UUID, bytes]:
    db.expire_all()
    return {f.id: f.secret for f in db.scalars(select(Factor)) if f.secret is not None}


def log_in_with_factor(app: TestClient, username: str, secret: str) -> int:
    first = app.post(
        "/token",
        data={"grant_type": "password", "username": username, "password": DEFAULT_PASSWORD},
    )
    assert first.json()["error"] == "mfa_required", first.text
    code = pyotp.TOTP(secret).at(int(time.time()))
    second = app.post(
        "/token",
        data={"grant_type": MFA_GRANT, "mfa_token": first.json()["mfa_token"], "otp": code},
    )
    return second.status_code


@pytest.fixture
def app_after(settings: Settings) -> Iterator[TestClient]:
    """An API of the rotated settings, with the old key retired."""
    with TestClient(create_app(rotated(settings))) as app:
        yield app


@pytest.fixture
def app_done(settings: Settings) -> Iterator[TestClient]:
    """An API that knows the new key only: the old one is gone."""
    with TestClient(create_app(rotated(settings, retired=False))) as app:
        yield app


def test_the_retired_key_opens_and_reseal_moves_everything_to_the_new_key(
    run_cli: RunCli, settings: Settings, db: Session, app_after: TestClient, app_done: TestClient
) -> None:
    secrets = enrolled(db, settings, "acme", 3) | enrolled(db, settings, "globex", 2)
    acme_factor = next(iter(secrets))
    # Before: the rotated API still signs in with the old key's secret.
    assert log_in_with_factor(app_after, "acme/u0@acme.test", secrets[acme_factor]) == 200
    before = stored(db)

    result = reseal(run_cli, settings, "--batch-size", "2")
    assert result.returncode == 0, result.stderr
    assert (
        "resealed 5 TOTP secrets under the current encryption key (0 were already)" in result.stdout
    )
    assert NEW_KEY not in result.stdout + result.stderr
    after = stored(db)
    new_only, old_only = (
        Sealer(NEW_KEY.encode(), Purpose.TOTP_SECRET),
        Sealer(old_key(settings).encode(), Purpose.TOTP_SECRET),
    )
    for factor_id, secret in secrets.items():
        assert after[factor_id] != before[factor_id]
        assert new_only.open(after[factor_id], factor_id.bytes) == secret.encode()
        with pytest.raises(UnsealError):
            old_only.open(after[factor_id], factor_id.bytes)
    # Audited per batch, in each tenant's log: acme's 3 in batches of 2 and 1, globex's 2.
    events = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "factor.secrets_resealed")
    ).all()
    assert sorted(e.data["resealed"] for e in events) == [1, 2, 2]
    assert {e.actor for e in events} == {"system:tessera reseal"}
    # After: the old key can go; a later step's code still signs in.
    assert log_in_with_factor(app_done, "globex/u0@globex.test", secrets[list(secrets)[3]]) == 200

    again = reseal(run_cli, settings)
    assert again.returncode == 0, again.stderr
    assert (
        "resealed 0 TOTP secrets under the current encryption key (5 were already)" in again.stdout
    )
    assert stored(db) == after
    assert (
        len(
            db.scalars(
                select(AuditEvent).where(AuditEvent.action == "factor.secrets_resealed")
            ).all()
        )
        == 3
    )


def test_a_rerun_after_a_partial_run_does_what_is_left(
    run_cli: RunCli, settings: Settings, db: Session
) -> None:
    """As after a crash: some secrets are under the new key, some not yet."""
    done = enrolled(db, settings, "acme", 2, key=NEW_KEY)
    left = enrolled(db, settings, "globex", 3)
    result = reseal(run_cli, settings, "--batch-size", "1")
    assert result.returncode == 0, result.stderr
    assert (
        "resealed 3 TOTP secrets under the current encryption key (2 were already)" in result.stdout
    )
    new_only = Sealer(NEW_KEY.encode(), Purpose.TOTP_SECRET)
    for factor_id, secret in (done | left).items():
        assert new_only.open(stored(db)[factor_id], factor_id.bytes) == secret.encode()


def test_two_runs_at_once_reseal_each_secret_once(
    run_cli: RunCli, settings: Settings, db: Session
) -> None:
    enrolled(db, settings, "acme", 6)
    tessera = shutil.which("tessera", path=os.path.dirname(sys.executable))
    assert tessera is not None
    env = worker_env(
        settings, TESSERA_ENCRYPTION_KEY=NEW_KEY, TESSERA_ENCRYPTION_KEYS_RETIRED=old_key(settings)
    )
    runs = [
        subprocess.Popen(
            [tessera, "reseal", "--batch-size", "2"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]  # fmt: skip
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    resealed = [int(out.split("resealed ")[1].split()[0]) for out, _ in outputs]
    assert sum(resealed) == 6
    events = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "factor.secrets_resealed")
    ).all()
    assert sum(e.data["resealed"] for e in events) == 6


def test_a_secret_no_configured_key_opens_is_left_and_said(
    run_cli: RunCli, settings: Settings, db: Session
) -> None:
    enrolled(db, settings, "acme", 2)
    lost = enrolled(db, settings, "globex", 1, key=UNKNOWN_KEY)
    before = stored(db)
    result = reseal(run_cli, settings)
    assert result.returncode == 1
    assert "resealed 2 TOTP secrets" in result.stdout
    assert "1 TOTP secrets open under no configured key" in result.stderr
    (lost_id,) = lost
    assert stored(db)[lost_id] == before[lost_id]


@pytest.mark.parametrize("size", ["0", "10001", "x", "-1"])
def test_a_batch_size_out_of_range_exits_2(run_cli: RunCli, settings: Settings, size: str) -> None:
    result = reseal(run_cli, settings, "--batch-size", size)
    assert result.returncode == 2
    assert "--batch-size" in result.stderr
    assert "Traceback" not in result.stderr
