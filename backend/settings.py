"""Tessera's configuration: one pydantic-settings class, environment prefix TESSERA_."""

import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from backend import devstack_env
from backend.domain.moments import MAX_EXPIRY_AHEAD
from backend.secret_files import write_once

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAX_SESSION_SECONDS = int(MAX_EXPIRY_AHEAD.total_seconds())


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Every knob Tessera reads. Values come from TESSERA_* environment variables."""

    # Errors never show the input: it holds the keys (a refusal at start-up is logged).
    model_config = SettingsConfigDict(
        env_prefix="TESSERA_", extra="ignore", hide_input_in_errors=True
    )

    env: Environment = Environment.DEVELOPMENT
    var_dir: Path = PROJECT_ROOT / "var"

    # The application's role: neither superuser nor owner of the tables, so that
    # row-level security applies to it.
    database_url: str = "postgresql+psycopg://tessera_app:tessera_app@127.0.0.1:5432/tessera"
    # The owner role that runs migrations. Defaults to the application URL, which only
    # works when that role may create tables (never in production).
    migration_database_url: str | None = None
    # Connections each API or worker process keeps open. A request holds one only in
    # its worker thread, and anyio runs at most 40 of those at once: a pool of 40 never
    # opens and closes connections under load (an overflow connection is closed when
    # it is returned, which at 32 concurrent grants was ~35 reconnections a second).
    database_pool_size: int = Field(default=40, ge=1)
    # Bounded waits, so a lost database answers 503 within seconds instead of hanging:
    # for a pooled connection, for a new connection, and for any one SQL statement
    # (0 turns the statement limit off). Migrations are not limited.
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    database_connect_timeout_seconds: int = Field(default=5, ge=1)
    database_statement_timeout_ms: int = Field(default=30_000, ge=0)
    redis_url: str = "redis://127.0.0.1:6379/0"

    # The one tenant whose roles may carry platform scopes (tenants:read, tenants:write).
    platform_tenant_slug: str = "platform"

    # None means "not configured": development generates one under var_dir,
    # production refuses to start.
    secret_key: SecretStr | None = None
    jwt_issuer: str = "tessera"
    jwt_audience: str = "tessera-api"
    jwt_algorithm: Literal["HS256", "EdDSA", "RS256"] = "HS256"
    # EdDSA and RS256 sign with a private key: either a directory of PEM files, each
    # named by its kid (every file verifies, so a rotated-out key keeps its tokens valid
    # until they expire), or one inline PEM. Without either, development generates a key
    # under var_dir and production refuses to start.
    jwt_private_keys_dir: Path | None = None
    # The file stem that signs; None means the lexicographically last file.
    jwt_current_kid: str | None = None
    jwt_private_key_pem: SecretStr | None = None
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)

    # Refresh tokens: a session lives at most refresh_family_ttl, and dies when idle
    # longer than refresh_idle_ttl. A repeat of the token just rotated is answered within
    # the grace window (two tabs, a retried request); 0 turns the grace off. At most 10
    # years, as any stored expiry: a session's expiry must stay a date the database and
    # Python can hold (a lifetime of centuries made every login fail).
    refresh_idle_ttl_seconds: int = Field(default=14 * 86_400, ge=60, le=MAX_SESSION_SECONDS)
    refresh_family_ttl_seconds: int = Field(default=60 * 86_400, ge=60, le=MAX_SESSION_SECONDS)
    refresh_reuse_grace_seconds: int = Field(default=10, ge=0, le=300)

    # Lifecycle jobs and sweeps: rows per transaction, how often beat runs the sweeps,
    # and how long Redis keeps a task a dead worker took before handing it out again.
    job_chunk_size: int = Field(default=2_000, ge=1, le=10_000)
    sweep_interval_seconds: int = Field(default=300, ge=5)
    inactivity_sweep_interval_seconds: int = Field(default=86_400, ge=5)
    celery_visibility_timeout_seconds: int = Field(default=3600, ge=1)
    # On SIGTERM a worker lets running tasks finish for this long, then hands the rest
    # back to the queue at once (not after the visibility timeout) and exits. Keep it
    # below the orchestrator's grace period (compose stop_grace_period, Kubernetes
    # terminationGracePeriodSeconds).
    worker_soft_shutdown_seconds: float = Field(default=20.0, ge=0)

    # pwdlib's recommended argon2id parameters; tests may lower them.
    argon2_memory_cost_kib: int = Field(default=65_536, ge=8)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_parallelism: int = Field(default=4, ge=1)
    # How many password hashes may run at once; None sizes it to the CPU count.
    password_hash_concurrency: int | None = Field(default=None, ge=1)

    # POST /token requests allowed per client address per minute (counted in Redis);
    # 0 turns the limit off. Account lockout is per tenant, in tenants.policy.
    token_rate_limit_per_minute: int = Field(default=30, ge=0)
    # Take the client address from the last X-Forwarded-For entry instead of the peer.
    # Only behind a proxy that appends it; otherwise any client could pick its own.
    trust_forwarded_for: bool = False

    # The standings feed (GET /standings/stream): how many changes Redis keeps for a
    # reconnecting resource server to resume from (older cursors are told to take a new
    # snapshot), and how often an idle stream sends a heartbeat.
    standings_stream_length: int = Field(default=100_000, ge=100)
    standings_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)

    # Second-factor secrets at rest and mails on the queue are sealed (AES-GCM) with keys
    # derived from this one; never the JWT key, so a leaked signing key reads no secret.
    # None: development generates one under var_dir, production refuses to start.
    encryption_key: SecretStr | None = None
    # Encryption keys that came before it, comma-separated: they still open what they
    # sealed, never seal. Set during a rotation (docs/operations.md) until `tessera
    # reseal` has moved every stored value to the current key and the queue has drained.
    encryption_keys_retired: SecretStr | None = None

    # Mail (invitations, password resets, email verification, security notices): sent by
    # the worker over SMTP after the request's commit. `make run` starts a local sink on
    # 127.0.0.1:1025. TLS: "none" (a local relay), "starttls" (usually port 587) or
    # "tls" (implicit, usually 465).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65_535)
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    mail_sender: str = "Tessera <no-reply@tessera.localhost>"
    # Where links in mails point (the hosted pages): from settings, never from a request's
    # Host header, which whoever sends the request chooses.
    public_base_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^/?#]+$")
    # Passkeys (WebAuthn): the relying party id credentials are bound to, and the origins
    # whose pages may use them (comma-separated). None: the host of public_base_url, and
    # its origin. Browsers take no IP address as an id: passkeys need a domain name
    # (`localhost` in development).
    webauthn_rp_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$"
    )
    webauthn_origins: str | None = Field(
        default=None, pattern=r"^https?://[^/?#,\s]+(,\s*https?://[^/?#,\s]+)*$"
    )

    # Logs: JSON lines on stderr (one object per record, with the request id), or plain
    # text for a terminal.
    # The cyclic garbage collector's gen-0 threshold once the API has started (Python's
    # default is 700; backend/heap.py says why it is higher); 0 leaves Python's own.
    gc_gen0_threshold: int = Field(default=50_000, ge=0)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    # The worker's Prometheus endpoint (the API serves /metrics itself); None: none.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65_535)
    worker_metrics_host: str = "0.0.0.0"  # noqa: S104 (inside a container or pod)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Below the environment and the arguments: a running dev stack fills in only
        # what nothing else configured.
        return (
            init_settings,
            env_settings,
            _DevStackSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    @model_validator(mode="after")
    def _require_secret_in_production(self) -> "Settings":
        if self.env is Environment.PRODUCTION and self.secret_key is None:
            raise ValueError("TESSERA_SECRET_KEY must be set in production")
        if self.secret_key is not None and len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("TESSERA_SECRET_KEY must be at least 32 characters")
        return self

    @model_validator(mode="after")
    def _require_encryption_key_in_production(self) -> "Settings":
        if self.env is Environment.PRODUCTION and self.encryption_key is None:
            raise ValueError("TESSERA_ENCRYPTION_KEY must be set in production")
        if self.encryption_key is None:
            return self
        value = self.encryption_key.get_secret_value()
        if len(value) < 32:
            raise ValueError("TESSERA_ENCRYPTION_KEY must be at least 32 characters")
        if self.secret_key is not None and value == self.secret_key.get_secret_value():
            raise ValueError("TESSERA_ENCRYPTION_KEY must differ from TESSERA_SECRET_KEY")
        return self

    @model_validator(mode="after")
    def _check_retired_encryption_keys(self) -> "Settings":
        current = self.encryption_key.get_secret_value() if self.encryption_key else None
        signing = self.secret_key.get_secret_value() if self.secret_key else None
        for key in self._retired_keys():
            # Never the key itself in a message: only which rule it breaks.
            if len(key) < 32:
                raise ValueError(
                    "each of TESSERA_ENCRYPTION_KEYS_RETIRED must be at least 32 characters "
                    "(they are separated by commas)"
                )
            if key in (current, signing):
                raise ValueError(
                    "TESSERA_ENCRYPTION_KEYS_RETIRED must hold neither TESSERA_ENCRYPTION_KEY "
                    "nor TESSERA_SECRET_KEY"
                )
        return self

    def _retired_keys(self) -> list[str]:
        raw = self.encryption_keys_retired
        return [] if raw is None else [k.strip() for k in raw.get_secret_value().split(",")]

    @model_validator(mode="after")
    def _require_private_key_in_production(self) -> "Settings":
        has_dir = self.jwt_private_keys_dir is not None
        has_pem = self.jwt_private_key_pem is not None
        if has_dir and has_pem:
            raise ValueError(
                "set TESSERA_JWT_PRIVATE_KEYS_DIR or TESSERA_JWT_PRIVATE_KEY_PEM, not both"
            )
        if self.jwt_current_kid is not None and not has_dir:
            raise ValueError("TESSERA_JWT_CURRENT_KID needs TESSERA_JWT_PRIVATE_KEYS_DIR")
        if (
            self.env is Environment.PRODUCTION
            and self.jwt_algorithm != "HS256"
            and not (has_dir or has_pem)
        ):
            raise ValueError(
                f"TESSERA_JWT_ALGORITHM={self.jwt_algorithm} needs a private key in production:"
                " set TESSERA_JWT_PRIVATE_KEYS_DIR or TESSERA_JWT_PRIVATE_KEY_PEM"
            )
        return self

    @property
    def owner_database_url(self) -> str:
        return self.migration_database_url or self.database_url

    def signing_secret(self) -> bytes:
        """The HS256 key: the configured one, else a development key kept under var_dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        return _development_secret(self.var_dir).encode()

    def webauthn_relying_party(self) -> tuple[str, tuple[str, ...]]:
        """The passkeys' relying party id and the origins allowed to use it."""
        base = urlsplit(self.public_base_url)
        rp_id = self.webauthn_rp_id or base.hostname or ""
        if self.webauthn_origins is None:
            return rp_id, (f"{base.scheme}://{base.netloc}",)
        return rp_id, tuple(o.strip() for o in self.webauthn_origins.split(","))

    def sealing_secret(self) -> bytes:
        """The key that sealing keys derive from: the configured one, else a development
        key kept under var_dir (beside, never equal to, the signing key)."""
        if self.encryption_key is not None:
            return self.encryption_key.get_secret_value().encode()
        return _development_secret(self.var_dir, "encryption_key").encode()

    def retired_sealing_secrets(self) -> tuple[bytes, ...]:
        """The retired encryption keys, which open what they sealed and seal nothing."""
        return tuple(key.encode() for key in self._retired_keys())


# Each service's URLs in var/devstack.env, by the setting that says it is configured: the
# database's two URLs come from the file together or not at all, never one of each.
_DEV_STACK_SERVICES = {
    "database_url": ("database_url", "migration_database_url"),
    "redis_url": ("redis_url",),
}


class _DevStackSource(PydanticBaseSettingsSource):
    """In development, the URLs a running `make run` published for services left unset.

    This is how the CLI, migrations, a worker or beat started in another shell reach the
    embedded PostgreSQL and Redis of `make run` (see backend/devstack_env.py).
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Unused: __call__ reads the file whole.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        state = self.current_state
        fields = self.settings_cls.model_fields
        if Environment(state.get("env", fields["env"].default)) is not Environment.DEVELOPMENT:
            return {}
        published = devstack_env.read(Path(state.get("var_dir", fields["var_dir"].default)))
        values: dict[str, Any] = {}
        for configured, names in _DEV_STACK_SERVICES.items():
            if configured in state:
                continue
            for name in names:
                variable = f"TESSERA_{name.upper()}"
                if variable in published:
                    values[name] = published[variable]
        return values


def _development_secret(var_dir: Path, name: str = "secret_key") -> str:
    path = var_dir / name
    if not path.exists():
        write_once(path, secrets.token_urlsafe(48).encode("ascii"))
    return path.read_text(encoding="ascii").strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
