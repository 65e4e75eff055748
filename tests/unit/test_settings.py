from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from backend.settings import MAX_SESSION_SECONDS, Environment, Settings


def test_production_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TESSERA_SECRET_KEY must be set"):
        Settings(env=Environment.PRODUCTION, var_dir=tmp_path)


def test_production_reads_env_and_accepts_a_real_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TESSERA_ENV", "production")
    monkeypatch.setenv("TESSERA_SECRET_KEY", "s" * 48)
    settings = Settings(var_dir=tmp_path)
    assert settings.env is Environment.PRODUCTION
    assert settings.signing_secret() == b"s" * 48
    assert not (tmp_path / "secret_key").exists()


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(secret_key=SecretStr("short"))


def test_development_generates_one_secret_and_keeps_it(tmp_path: Path) -> None:
    first = Settings(env=Environment.DEVELOPMENT, var_dir=tmp_path / "var").signing_secret()
    second = Settings(env=Environment.DEVELOPMENT, var_dir=tmp_path / "var").signing_secret()
    assert first == second
    assert len(first) >= 32
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert list((tmp_path / "var").iterdir()) == [key_file]


def test_secret_is_not_shown_in_repr() -> None:
    settings = Settings(secret_key=SecretStr("p" * 40))
    assert "p" * 40 not in repr(settings)


@pytest.mark.parametrize("name", ["refresh_idle_ttl_seconds", "refresh_family_ttl_seconds"])
def test_a_session_lifetime_stays_within_storable_dates(name: str) -> None:
    # 10**12 s is some 31,700 years: every login would have failed to compute its expiry.
    with pytest.raises(ValidationError, match=name):
        Settings(**{name: 10**12})
    assert getattr(Settings(**{name: MAX_SESSION_SECONDS}), name) == MAX_SESSION_SECONDS
