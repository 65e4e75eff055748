from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from backend import devstack_env
from backend.settings import MAX_SESSION_SECONDS, Environment, Settings


def test_production_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TESSERA_SECRET_KEY must be set"):
        Settings(env=Environment.PRODUCTION, var_dir=tmp_path)


def test_production_reads_env_and_accepts_a_real_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TESSERA_ENV", "production")
    monkeypatch.setenv("TESSERA_SECRET_KEY", "s" * 48)
    monkeypatch.setenv("TESSERA_ENCRYPTION_KEY", "e" * 48)
    settings = Settings(var_dir=tmp_path)
    assert settings.env is Environment.PRODUCTION
    assert settings.signing_secret() == b"s" * 48
    assert settings.sealing_secret() == b"e" * 48
    assert not (tmp_path / "secret_key").exists()
    assert not (tmp_path / "encryption_key").exists()


def test_production_refuses_to_start_without_an_encryption_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TESSERA_ENCRYPTION_KEY must be set"):
        Settings(env=Environment.PRODUCTION, var_dir=tmp_path, secret_key=SecretStr("s" * 48))


def test_the_encryption_key_is_never_the_signing_key() -> None:
    with pytest.raises(ValidationError, match="must differ"):
        Settings(secret_key=SecretStr("s" * 48), encryption_key=SecretStr("s" * 48))


def test_retired_encryption_keys_are_read_comma_separated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TESSERA_ENCRYPTION_KEY", "e" * 48)
    monkeypatch.setenv("TESSERA_ENCRYPTION_KEYS_RETIRED", f"{'a' * 40}, {'b' * 40}")
    settings = Settings(var_dir=tmp_path)
    assert settings.retired_sealing_secrets() == (b"a" * 40, b"b" * 40)
    assert Settings(var_dir=tmp_path, encryption_keys_retired=None).retired_sealing_secrets() == ()


@pytest.mark.parametrize(
    ("retired", "message"),
    [
        ("short", "at least 32 characters"),
        ("a" * 40 + ",", "at least 32 characters"),
        ("e" * 48, "neither TESSERA_ENCRYPTION_KEY nor TESSERA_SECRET_KEY"),
        ("a" * 40 + "," + "s" * 48, "neither TESSERA_ENCRYPTION_KEY nor TESSERA_SECRET_KEY"),
    ],
    ids=["short", "empty-entry", "the-current-key", "the-signing-key"],
)
def test_a_retired_key_that_cannot_be_one_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, retired: str, message: str
) -> None:
    # From the environment, as deployments set it: the raw strings are the input.
    monkeypatch.setenv("TESSERA_SECRET_KEY", "s" * 48)
    monkeypatch.setenv("TESSERA_ENCRYPTION_KEY", "e" * 48)
    monkeypatch.setenv("TESSERA_ENCRYPTION_KEYS_RETIRED", retired)
    with pytest.raises(ValidationError, match=message) as refused:
        Settings()
    for secret in ("short", "a" * 32, "e" * 32, "s" * 32):
        assert secret not in str(refused.value)


def test_development_keeps_a_separate_encryption_key(tmp_path: Path) -> None:
    settings = Settings(env=Environment.DEVELOPMENT, var_dir=tmp_path)
    assert settings.sealing_secret() == settings.sealing_secret()
    assert settings.sealing_secret() != settings.signing_secret()
    assert (tmp_path / "encryption_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("url", ["http://evil.example/path", "ftp://x", "https://a/?q", ""])
def test_public_base_url_is_an_origin(url: str) -> None:
    with pytest.raises(ValidationError, match="public_base_url"):
        Settings(public_base_url=url)


def test_passkeys_default_to_the_public_base_urls_host_and_origin() -> None:
    settings = Settings(public_base_url="https://login.acme.example:8443")
    assert settings.webauthn_relying_party() == (
        "login.acme.example",
        ("https://login.acme.example:8443",),
    )


def test_passkeys_take_their_own_rp_id_and_origins() -> None:
    settings = Settings(
        public_base_url="https://login.acme.example",
        webauthn_rp_id="acme.example",
        webauthn_origins="https://login.acme.example, https://app.acme.example",
    )
    assert settings.webauthn_relying_party() == (
        "acme.example",
        ("https://login.acme.example", "https://app.acme.example"),
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("webauthn_rp_id", "https://acme.example"),
        ("webauthn_rp_id", "acme.example/"),
        ("webauthn_origins", "https://a.example/path"),
        ("webauthn_origins", "https://a.example,"),
        ("webauthn_origins", ""),
    ],
)
def test_passkey_settings_are_a_domain_and_origins(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: value})


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


EMBEDDED_APP_URL = "postgresql+psycopg://tessera_app:tessera_app@/tessera?host=/srv/var/postgres"
EMBEDDED_OWNER_URL = "postgresql+psycopg://postgres@/tessera?host=/srv/var/postgres"
EMBEDDED_REDIS_URL = "redis://127.0.0.1:41234/0"


@pytest.fixture
def dev_stack_var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A var dir where a running `make run` published its embedded services."""
    for name in ("ENV", "DATABASE_URL", "MIGRATION_DATABASE_URL", "REDIS_URL", "VAR_DIR"):
        monkeypatch.delenv(f"TESSERA_{name}", raising=False)
    devstack_env.publish(
        tmp_path,
        {
            "TESSERA_MIGRATION_DATABASE_URL": EMBEDDED_OWNER_URL,
            "TESSERA_DATABASE_URL": EMBEDDED_APP_URL,
            "TESSERA_REDIS_URL": EMBEDDED_REDIS_URL,
        },
    )
    return tmp_path


def test_a_running_dev_stack_supplies_the_unset_urls(dev_stack_var_dir: Path) -> None:
    settings = Settings(var_dir=dev_stack_var_dir)
    assert settings.database_url == EMBEDDED_APP_URL
    assert settings.owner_database_url == EMBEDDED_OWNER_URL
    assert settings.redis_url == EMBEDDED_REDIS_URL


def test_the_dev_stack_is_found_through_tessera_var_dir(
    dev_stack_var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERA_VAR_DIR", str(dev_stack_var_dir))
    assert Settings().database_url == EMBEDDED_APP_URL


def test_a_configured_database_takes_nothing_of_the_dev_stacks(
    dev_stack_var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = "postgresql+psycopg://app:pw@db.internal/tessera"
    monkeypatch.setenv("TESSERA_DATABASE_URL", configured)
    settings = Settings(var_dir=dev_stack_var_dir)
    assert settings.database_url == configured
    # Not the embedded owner: migrations run against the configured database.
    assert settings.owner_database_url == configured
    assert settings.redis_url == EMBEDDED_REDIS_URL


def test_a_configured_redis_takes_nothing_of_the_dev_stacks(dev_stack_var_dir: Path) -> None:
    settings = Settings(var_dir=dev_stack_var_dir, redis_url="redis://cache.internal:6379/2")
    assert settings.redis_url == "redis://cache.internal:6379/2"
    assert settings.database_url == EMBEDDED_APP_URL


@pytest.mark.parametrize("env", [Environment.TEST, Environment.PRODUCTION])
def test_only_development_reads_the_dev_stack(dev_stack_var_dir: Path, env: Environment) -> None:
    settings = Settings(
        env=env,
        var_dir=dev_stack_var_dir,
        secret_key=SecretStr("s" * 40),
        encryption_key=SecretStr("e" * 40),
    )
    defaults = Settings(
        env=env,
        var_dir=dev_stack_var_dir / "none",
        secret_key=SecretStr("s" * 40),
        encryption_key=SecretStr("e" * 40),
    )
    assert (settings.database_url, settings.redis_url) == (
        defaults.database_url,
        defaults.redis_url,
    )
    assert settings.database_url != EMBEDDED_APP_URL


@pytest.mark.parametrize("name", ["refresh_idle_ttl_seconds", "refresh_family_ttl_seconds"])
def test_a_session_lifetime_stays_within_storable_dates(name: str) -> None:
    # 10**12 s is some 31,700 years: every login would have failed to compute its expiry.
    with pytest.raises(ValidationError, match=name):
        Settings(**{name: 10**12})
    assert getattr(Settings(**{name: MAX_SESSION_SECONDS}), name) == MAX_SESSION_SECONDS
