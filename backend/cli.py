"""The `tessera` console script: operator commands that run without the API."""

import argparse
import getpass
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy.exc import OperationalError

from backend import secret_files
from backend.cli_apis import add_commands as add_api_commands
from backend.cli_clients import add_commands as add_client_commands
from backend.cli_import import add_commands as add_import_commands
from backend.db.engine import Database
from backend.db.session import unit_of_work
from backend.domain.errors import DomainError
from backend.runtime import Runtime
from backend.services import demo, platform_admins, resealing, tenants, users
from backend.settings import get_settings

DEMO_SLUG = "demo"
DEMO_OWNER_EMAIL = "owner@demo.test"
# A batch's rows stay locked until it commits: logins of those users wait that long.
MAX_RESEAL_BATCH = 10_000


def _create_tenant(runtime: Runtime, args: argparse.Namespace) -> int:
    password = args.owner_password
    if password is None and not args.invite:
        # Keeps the password out of the shell history and the process list.
        password = getpass.getpass(f"Password for {args.owner_email}: ")
    with unit_of_work(runtime.database.sessions) as db:
        created = tenants.create_tenant(
            db,
            runtime.effects,
            runtime.passwords,
            slug=args.slug,
            name=args.name,
            owner_email=args.owner_email,
            owner_password=password,
        )
    print(f"created tenant {args.slug} ({created.tenant_id}) with owner {args.owner_email}")
    if created.invitation is not None:
        # The token goes by mail only: a terminal's scrollback is no place for it.
        expires = created.invitation.expires_at.isoformat(timespec="minutes")
        print(f"invitation mailed to {args.owner_email} (valid until {expires})")
    return 0


def _create_platform_admin(runtime: Runtime, args: argparse.Namespace) -> int:
    password = args.password
    if password is None:
        password = getpass.getpass(f"Password for {args.email}: ")
    slug = runtime.settings.platform_tenant_slug
    with unit_of_work(runtime.database.sessions) as db:
        created = platform_admins.create_platform_admin(
            db,
            runtime.effects,
            runtime.passwords,
            platform_tenant_slug=slug,
            email=args.email,
            password=password,
        )
    if created.tenant_created:
        print(f"created platform tenant {slug} ({created.tenant_id})")
    print(f"created platform admin {args.email}; log in with username '{slug}/{args.email}'")
    return 0


def _ensure_demo_tenant(runtime: Runtime, args: argparse.Namespace) -> int:
    password = None
    with unit_of_work(runtime.database.sessions) as db:
        existing = tenants.enter_by_slug(db, DEMO_SLUG)
        if existing is not None:
            print(f"demo tenant '{DEMO_SLUG}' already exists (owner {DEMO_OWNER_EMAIL})")
            tenant_id = existing.id
            owner = users.find_by_email(db, tenant_id, DEMO_OWNER_EMAIL)
            owner_id = owner.id if owner is not None else None
        else:
            password = secrets.token_urlsafe(12)
            created = tenants.create_tenant(
                db,
                runtime.effects,
                runtime.passwords,
                slug=DEMO_SLUG,
                name="Demo",
                owner_email=DEMO_OWNER_EMAIL,
                owner_password=password,
            )
            tenant_id, owner_id = created.tenant_id, created.owner_id
        editor: list[str] = []
        if args.editor_of is not None and owner_id is not None:
            editor = demo.ensure_editor_role(
                db, runtime.effects, tenant_id, owner_id, args.editor_of
            )
    if password is not None:
        # Printed once, on purpose: nowhere else holds it.
        print(f"created demo tenant '{DEMO_SLUG}': owner {DEMO_OWNER_EMAIL}, password {password}")
        print("(shown only now; log in with username 'demo/owner@demo.test')")
    if editor:
        print(f"demo tenant: role {demo.EDITOR_ROLE} ({' '.join(editor)}) held by the owner")
    elif args.editor_of is not None:
        print(f"demo tenant: no API {args.editor_of} registered, so no {demo.EDITOR_ROLE} role")
    return 0


def _ensure_projects_demo(runtime: Runtime, args: argparse.Namespace) -> int:
    slug = runtime.settings.platform_tenant_slug
    with unit_of_work(runtime.database.sessions) as db:
        made = demo.ensure_feed_account(db, runtime.effects, runtime.passwords, platform_slug=slug)
    # The secret goes to a 0600 file for make run to hand to the example, never to stdout.
    lines = f"PROJECTS_CLIENT_ID={made.client_id}\nPROJECTS_CLIENT_SECRET={made.client_secret}\n"
    secret_files.replace(args.credentials, lines.encode())
    print(f"projects example: feed account {made.client_id} (secret in {args.credentials})")
    if made.operator_password is not None:
        print(
            f"created platform operator {demo.DEMO_OPERATOR_EMAIL}, password "
            f"{made.operator_password} (shown only now; username '{slug}/"
            f"{demo.DEMO_OPERATOR_EMAIL}')"
        )
    return 0


def _reseal(runtime: Runtime, args: argparse.Namespace) -> int:
    found = resealing.reseal_factors(
        runtime.database.sessions, runtime.factor_sealer, batch_size=args.batch_size
    )
    print(
        f"resealed {found.resealed} TOTP secrets under the current encryption key "
        f"({found.current} were already)"
    )
    if found.unopenable:
        print(
            f"tessera: {found.unopenable} TOTP secrets open under no configured key, left as "
            "they are: list the key that sealed them in TESSERA_ENCRYPTION_KEYS_RETIRED and "
            "run again",
            file=sys.stderr,
        )
        return 1
    return 0


def _batch_size(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
    if not 1 <= value <= MAX_RESEAL_BATCH:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_RESEAL_BATCH}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tessera", description="Tessera operator commands")
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create-tenant", help="create a tenant and its first owner")
    create.add_argument("slug", help="lowercase id used at login: [a-z0-9-]{2,63}")
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--owner-email", required=True)
    owner = create.add_mutually_exclusive_group()
    owner.add_argument("--owner-password", help="at least 12 characters; prompted for when omitted")
    owner.add_argument(
        "--invite",
        action="store_true",
        help="no password: mail the owner an invitation to set one (needs a worker and SMTP)",
    )
    create.set_defaults(handler=_create_tenant)

    admin = commands.add_parser(
        "create-platform-admin",
        help="create a platform operator (tenants:read, tenants:write), and the platform "
        "tenant (TESSERA_PLATFORM_TENANT_SLUG) if missing",
    )
    admin.add_argument("email")
    admin.add_argument("--password", help="at least 12 characters; prompted for when omitted")
    admin.set_defaults(handler=_create_platform_admin)

    demo_tenant = commands.add_parser(
        "ensure-demo-tenant", help="create the 'demo' tenant once, printing its password"
    )
    demo_tenant.add_argument(
        "--editor-of",
        metavar="IDENTIFIER",
        help="also give it an 'editor' role with every scope of this registered API, "
        "held by its owner (make run: the projects example's)",
    )
    demo_tenant.set_defaults(handler=_ensure_demo_tenant)

    projects = commands.add_parser(
        "ensure-projects-demo",
        help="make run's set-up for examples/projects: the platform tenant (with an "
        "operator if new) and a service account following the standings feed, its new "
        "secret written to a file",
    )
    projects.add_argument(
        "--credentials", type=Path, required=True, help="file (0600) for the credentials"
    )
    projects.set_defaults(handler=_ensure_projects_demo)

    reseal = commands.add_parser(
        "reseal",
        help="seal every stored TOTP secret under the current TESSERA_ENCRYPTION_KEY "
        "(after a rotation; safe to run again)",
    )
    reseal.add_argument(
        "--batch-size",
        type=_batch_size,
        default=500,
        help=f"factors per transaction (1 to {MAX_RESEAL_BATCH}, default 500)",
    )
    reseal.set_defaults(handler=_reseal)

    add_import_commands(commands)
    add_api_commands(commands)
    add_client_commands(commands)
    return parser


class DatabaseUnreachableError(Exception):
    """The configured database refused or never answered a connection."""


def _connect(database: Database) -> None:
    """Open a first connection, so that a missing database is named before any work."""
    # Unquoted for reading: a socket directory shows as a path, not %2F-escaped.
    url = unquote(database.engine.url.render_as_string(hide_password=True))
    try:
        database.engine.connect().close()
    except OperationalError as exc:
        # libpq's message: a first line ending in the server's reason, then hints.
        first_line = str(exc.orig).splitlines()[0]
        reason = " ".join(first_line.rsplit("failed: ", 1)[-1].split())
        raise DatabaseUnreachableError(
            f"cannot connect to the database at {url} ({reason}); start `make run` in "
            "another shell, or set TESSERA_DATABASE_URL"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runtime = Runtime.from_settings(get_settings())
    try:
        _connect(runtime.database)
        code: int = args.handler(runtime, args)
    except (DomainError, DatabaseUnreachableError) as exc:
        print(f"tessera: error: {exc}", file=sys.stderr)
        return 2
    finally:
        runtime.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
