"""The bench's data, made with set-based SQL (generate_series) as the tables' owner.

Two tenants are made through the real service (built-in roles, an owner with a
password), so logins and guards see what production would; everything in bulk is
INSERT ... SELECT. Refresh tokens are derived from their family's id inside
PostgreSQL (sha256 of a seed, base64url), so the bench can export the plain tokens
it needs without ever making them one by one in Python.
"""

import base64
import hashlib
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from backend.db.models.service_accounts import ServiceAccount
from backend.domain.roles import BUILTIN_ROLES, MEMBER
from backend.security.opaque import new_secret
from backend.security.passwords import PasswordService
from backend.services import code_flow, tenants
from backend.services.service_accounts import client_id_of

PASSWORD = "bench correct horse battery"  # noqa: S105 (the bench's own users)
OWNER_EMAIL = "owner@bench.test"


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much data each scenario gets; the issue's sizes by default."""

    small_users: int = 2_000
    big_users: int = 100_000
    tokens_per_big_user: int = 2
    total_users: int = 1_000_000
    tenants: int = 1_000
    refresh_tokens: int = 100_000
    # More sessions of the small tenant, rotated only by the SQL ceiling's pgbench runs.
    ceiling_refresh_tokens: int = 100_000


@dataclass(frozen=True, slots=True)
class Dataset:
    small_tenant: uuid.UUID
    small_slug: str
    small_owner: uuid.UUID
    login_users: list[str]
    big_tenant: uuid.UUID
    big_owner: uuid.UUID
    counts: dict[str, int]
    seconds: float


SMALL = "bench-small"
BIG = "bench-big"


def generate(owner: Engine, passwords: PasswordService, sizes: Sizes) -> Dataset:
    """Every row the scenarios need; a few tens of seconds for a million users."""
    started = time.monotonic()
    small = _tenant_with_owner(owner, passwords, SMALL)
    big = _tenant_with_owner(owner, passwords, BIG)
    fillers = sizes.tenants - 2
    filler_users = sizes.total_users - sizes.small_users - sizes.big_users
    with owner.begin() as db, _bulk_load(db, ("users", "refresh_families", "refresh_tokens")):
        _add_users(db, small[0], sizes.small_users - 1, prefix="user")
        _grant_member_to_all(db, small[0])
        _add_users(db, big[0], sizes.big_users - 1, prefix="user")
        _add_filler_tenants(db, fillers, users=filler_users)
        _add_refresh_families(
            db, small[0], sizes.refresh_tokens + sizes.ceiling_refresh_tokens, tokens_each=1
        )
        _add_refresh_families(db, big[0], sizes.big_users, tokens_each=sizes.tokens_per_big_user)
    with owner.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    with owner.connect() as connection:
        counts = {
            table: int(connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)  # noqa: S608
            for table in ("tenants", "users", "refresh_tokens", "refresh_families")
        }
        logins = [
            f"{SMALL}/{email}"
            for email in connection.scalars(
                text("SELECT email FROM users WHERE tenant_id = :t ORDER BY email LIMIT 4"),
                {"t": small[0]},
            )
        ]
    return Dataset(
        small_tenant=small[0],
        small_slug=SMALL,
        small_owner=small[1],
        login_users=logins,
        big_tenant=big[0],
        big_owner=big[1],
        counts=counts,
        seconds=time.monotonic() - started,
    )


def set_passwords(owner: Engine, passwords: PasswordService, tenant_id: uuid.UUID) -> None:
    """Give every user of the tenant the bench password, hashed with these parameters.

    Hashed once and shared: a login then verifies with exactly the configured cost and
    has nothing to rehash.
    """
    hashed = passwords.hash(PASSWORD)
    with owner.begin() as db:
        db.execute(
            text("UPDATE users SET password_hash = :h WHERE tenant_id = :t"),
            {"h": hashed, "t": tenant_id},
        )


def add_service_account(
    owner: Engine, tenant_id: uuid.UUID, role: str = MEMBER.name
) -> tuple[str, str]:
    """A service account holding `role` (the member role by default); its client id and
    secret.

    Written as the owner: the grant reads only the secret's sha256, so the secret can be
    any text (the real one's shape is not needed to authenticate).
    """
    account_id, secret = uuid.uuid4(), "bench-service-secret-" + uuid.uuid4().hex
    with owner.begin() as db:
        db.execute(
            text(
                "INSERT INTO service_accounts (tenant_id, id, name, secret_hash, secret_prefix) "
                "VALUES (:t, :a, 'bench-' || :a, sha256(convert_to(:s, 'UTF8')), left(:s, 16))"
            ),
            {"t": tenant_id, "a": account_id, "s": secret},
        )
        db.execute(
            text(
                "INSERT INTO service_account_roles (tenant_id, service_account_id, role_id) "
                "SELECT :t, :a, id FROM roles WHERE tenant_id = :t AND name = :member"
            ),
            {"t": tenant_id, "a": account_id, "member": role},
        )
    return client_id_of(ServiceAccount(tenant_id=tenant_id, id=account_id)), secret


def add_introspector(owner: Engine, tenant_id: uuid.UUID) -> tuple[str, str]:
    """A service account whose role gives `tokens:introspect`; its client id and secret."""
    role_id = uuid.uuid4()
    with owner.begin() as db:
        db.execute(
            text(
                "INSERT INTO roles (tenant_id, id, name, description, builtin) "
                "VALUES (:t, :r, 'bench-introspector', '', false)"
            ),
            {"t": tenant_id, "r": role_id},
        )
        db.execute(
            text(
                "INSERT INTO role_scopes (tenant_id, role_id, scope) "
                "VALUES (:t, :r, 'tokens:introspect')"
            ),
            {"t": tenant_id, "r": role_id},
        )
    return add_service_account(owner, tenant_id, role="bench-introspector")


# The bench's registered public client of the code flow, and the PKCE pair its codes carry.
CODE_CLIENT = "bench-spa"
CODE_REDIRECT = "http://127.0.0.1:5173/callback"
CODE_VERIFIER = "bench-verifier-" + "v" * 40
CODE_SCOPE = "me"


def mint_codes(owner: Engine, tenant_id: uuid.UUID, files: list[Path], per_file: int) -> None:
    """Register CODE_CLIENT and write `per_file` authorization codes to each file, as
    /authorize issues them (code_flow.issue_code: the code's sha256 stored, its PKCE
    challenge, redirect URI and scope), for the tenant's users in turn.

    Written as the owner, in bulk; each code is valid for an hour instead of a minute
    (rules.CODE_LIFETIME_SECONDS), so that codes minted before the runs are still good.
    """
    challenge = base64.urlsafe_b64encode(hashlib.sha256(CODE_VERIFIER.encode()).digest())
    with owner.begin() as db:
        client_id = db.scalar(
            text(
                "INSERT INTO clients (id, client_id, name, type, redirect_uris, grant_types) "
                "VALUES (gen_random_uuid(), :c, 'Bench SPA', 'public', ARRAY[:r], "
                "ARRAY['authorization_code']) RETURNING id"
            ),
            {"c": CODE_CLIENT, "r": CODE_REDIRECT},
        )
        users = list(
            db.scalars(text("SELECT id FROM users WHERE tenant_id = :t"), {"t": tenant_id})
        )
        now = datetime.now(UTC)
        n = 0
        for path in files:
            rows, lines = [], []
            for _ in range(per_file):
                secret = new_secret(code_flow.KIND, tenant_id)
                lines.append(secret.value)
                rows.append({"h": secret.digest, "u": users[n % len(users)]})
                n += 1
            db.execute(
                text(
                    "INSERT INTO authorization_codes (tenant_id, id, code_hash, client_id, "
                    "user_id, redirect_uri, code_challenge, scope, auth_time, created_at, "
                    "expires_at) VALUES (:t, gen_random_uuid(), :h, :c, :u, :r, :ch, :s, "
                    ":now, :now, :now + interval '1 hour')"
                ),
                [
                    {
                        **row,
                        "t": tenant_id,
                        "c": client_id,
                        "r": CODE_REDIRECT,
                        "ch": challenge.rstrip(b"=").decode(),
                        "s": CODE_SCOPE,
                        "now": now,
                    }
                    for row in rows
                ],
            )
            path.write_text("\n".join(lines) + "\n")


def export_refresh_tokens(
    owner: Engine, tenant_id: uuid.UUID, files: list[Path], *, leave: int = 0
) -> int:
    """Write the tenant's live refresh tokens, split evenly over `files`; how many each.

    The last `leave` sessions (by id) are left out, for `refresh_ceiling` to take.
    """
    with owner.connect() as connection:
        tokens = list(
            connection.scalars(
                text(
                    f"SELECT {_PLAIN_REFRESH} FROM refresh_families f "  # noqa: S608
                    "WHERE f.tenant_id = :t ORDER BY f.id"
                ),
                {"t": tenant_id, "kind": "live"},
            )
        )
    tokens = tokens[: len(tokens) - leave]
    share = len(tokens) // len(files)
    for index, path in enumerate(files):
        path.write_text("\n".join(tokens[index * share : (index + 1) * share]) + "\n")
    return share


CEILING_TABLE = "bench_refresh_ceiling"


def refresh_ceiling(owner: Engine, tenant_id: uuid.UUID, count: int) -> None:
    """A table of the hashes pgbench presents: the tenant's last `count` sessions' live
    tokens (numbered from 0) and a successor hash for each, readable by the app role."""
    with owner.begin() as db:
        db.execute(text(f"DROP TABLE IF EXISTS {CEILING_TABLE}"))
        db.execute(
            text(
                f"CREATE TABLE {CEILING_TABLE} AS "  # noqa: S608
                "SELECT (row_number() OVER (ORDER BY id) - 1)::int AS n, "
                "  sha256(convert_to(plain, 'UTF8')) AS token_hash, "
                "  sha256(convert_to('successor:' || plain, 'UTF8')) AS successor_hash "
                f"FROM (SELECT f.id, {_PLAIN_REFRESH} AS plain FROM refresh_families f "
                "  WHERE f.tenant_id = :t ORDER BY f.id DESC LIMIT :n) last"
            ),
            {"t": tenant_id, "kind": "live", "n": count},
        )
        db.execute(text(f"ALTER TABLE {CEILING_TABLE} ADD PRIMARY KEY (n)"))
        db.execute(text(f"GRANT SELECT ON {CEILING_TABLE} TO PUBLIC"))


@contextmanager
def _bulk_load(db: Connection, tables: tuple[str, ...]) -> Iterator[None]:
    """Load fast: secondary indexes built once afterwards, foreign keys not re-checked.

    Every row is consistent by construction (its tenant and user rows are made first),
    so the per-row foreign-key triggers would only double the load time. The indexes
    are recreated from their own definitions, so the schema ends as migrated.
    """
    db.execute(text("SET LOCAL session_replication_role = replica"))
    indexes = db.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes i WHERE tablename = ANY(:tables) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        ),
        {"tables": list(tables)},
    ).all()
    for name, _ in indexes:
        db.execute(text(f'DROP INDEX "{name}"'))
    yield
    for _, definition in indexes:
        db.execute(text(definition))
    db.execute(text("SET LOCAL session_replication_role = DEFAULT"))


def _tenant_with_owner(
    owner: Engine, passwords: PasswordService, slug: str
) -> tuple[uuid.UUID, uuid.UUID]:
    with Session(owner) as db:
        created = tenants.create_tenant(
            db,
            passwords,
            slug=slug,
            name=slug,
            owner_email=OWNER_EMAIL,
            owner_password=PASSWORD,
        )
        db.commit()
    return created.tenant_id, created.owner_id


def _add_users(db: Connection, tenant_id: uuid.UUID, count: int, *, prefix: str) -> None:
    # A tenth never logged in; the rest at spread-out times, as the sweeps would see.
    db.execute(
        text(
            "INSERT INTO users (tenant_id, id, email, full_name, last_login_at) "
            "SELECT :t, gen_random_uuid(), :prefix || g || '@bench.test', 'Bench User ' || g, "
            "  CASE WHEN g % 10 = 0 THEN NULL ELSE now() - (g % 90) * interval '1 day' END "
            "FROM generate_series(1, :n) AS g"
        ),
        {"t": tenant_id, "n": count, "prefix": prefix},
    )


def _grant_member_to_all(db: Connection, tenant_id: uuid.UUID) -> None:
    db.execute(
        text(
            "INSERT INTO grants (tenant_id, user_id, role_id) "
            "SELECT u.tenant_id, u.id, r.id FROM users u "
            "JOIN roles r ON r.tenant_id = u.tenant_id AND r.name = :member "
            "WHERE u.tenant_id = :t "
            "ON CONFLICT DO NOTHING"
        ),
        {"t": tenant_id, "member": MEMBER.name},
    )


def _add_filler_tenants(db: Connection, count: int, *, users: int) -> None:
    """`count` tenants with their built-in roles and `users` users between them."""
    db.execute(
        text(
            "INSERT INTO tenants (id, slug, name) "
            "SELECT gen_random_uuid(), 'bench-t' || lpad(g::text, 4, '0'), 'Tenant ' || g "
            "FROM generate_series(1, :n) AS g"
        ),
        {"n": count},
    )
    fillers = (
        "SELECT id, row_number() OVER (ORDER BY slug) AS n FROM tenants WHERE slug LIKE 'bench-t%'"
    )
    for role in BUILTIN_ROLES:
        db.execute(
            text(
                "INSERT INTO roles (tenant_id, id, name, description, builtin) "  # noqa: S608
                f"SELECT id, gen_random_uuid(), :name, :description, true FROM ({fillers}) t"
            ),
            {"name": role.name, "description": role.description},
        )
        db.execute(
            text(
                "INSERT INTO role_scopes (tenant_id, role_id, scope) "  # noqa: S608
                "SELECT r.tenant_id, r.id, s FROM roles r "
                "CROSS JOIN unnest(CAST(:scopes AS text[])) AS s "
                f"WHERE r.name = :name AND r.tenant_id IN (SELECT id FROM ({fillers}) t)"
            ),
            {"name": role.name, "scopes": sorted(role.scopes)},
        )
    # The first `users % count` tenants get one user more, so the total is exact.
    db.execute(
        text(
            "INSERT INTO users (tenant_id, id, email, full_name, last_login_at) "  # noqa: S608
            "SELECT t.id, gen_random_uuid(), 'user' || g || '@bench.test', 'Bench User ' || g, "
            "  now() - (g % 90) * interval '1 day' "
            f"FROM ({fillers}) t CROSS JOIN LATERAL "
            "  generate_series(1, :base + CASE WHEN t.n <= :extra THEN 1 ELSE 0 END) AS g"
        ),
        {"base": users // count, "extra": users % count},
    )


# A token's plain value, derived from its family: `rt_<tenant hex>_<43 base64url chars>`,
# the shape backend/security/opaque.py parses. Only its sha256 is stored.
_PLAIN_REFRESH = (
    "'rt_' || replace(f.tenant_id::text, '-', '') || '_' || "
    "rtrim(translate(encode(sha256(convert_to(:kind || ':' || f.id::text, 'UTF8')), "
    "'base64'), '+/', '-_'), '=')"
)


def _add_refresh_families(
    db: Connection, tenant_id: uuid.UUID, count: int, *, tokens_each: int
) -> None:
    """`count` sessions spread over the tenant's users; each has `tokens_each` tokens, the
    earlier ones already rotated (used) and the last one live."""
    db.execute(
        text(
            "CREATE TEMP TABLE bench_users AS "
            "SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM users "
            "WHERE tenant_id = :t"
        ),
        {"t": tenant_id},
    )
    db.execute(
        text(
            "INSERT INTO refresh_families "
            "  (tenant_id, id, user_id, created_at, last_used_at, expires_at) "
            "SELECT :t, gen_random_uuid(), u.id, now(), now(), now() + interval '60 days' "
            "FROM generate_series(0, :n - 1) AS g "
            "JOIN bench_users u ON u.n = g % (SELECT count(*) FROM bench_users)"
        ),
        {"t": tenant_id, "n": count},
    )
    for index in range(tokens_each):
        live = index == tokens_each - 1
        db.execute(
            text(
                "INSERT INTO refresh_tokens (tenant_id, id, family_id, user_id, token_hash, "  # noqa: S608
                "  scope, issued_at, expires_at, used_at) "
                f"SELECT f.tenant_id, gen_random_uuid(), f.id, f.user_id, "
                f"  sha256(convert_to({_PLAIN_REFRESH}, 'UTF8')), 'me', now(), "
                f"  now() + interval '14 days', CASE WHEN :live THEN NULL ELSE now() END "
                "FROM refresh_families f WHERE f.tenant_id = :t"
            ),
            {"t": tenant_id, "kind": "live" if live else f"used{index}", "live": live},
        )
    db.execute(text("DROP TABLE bench_users"))
