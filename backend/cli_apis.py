"""`tessera apis apply FILE`: declare the product's APIs and scopes from a TOML file."""

import argparse
from pathlib import Path

from backend.db.session import unit_of_work
from backend.db.tenant_context import enter_platform
from backend.domain.api_manifest import parse_manifest
from backend.domain.errors import DomainError
from backend.runtime import Runtime
from backend.services import api_apply, apis, audit, tenants

# How the audit log names the command.
ACTOR = f"{audit.SYSTEM}:tessera apis apply"


class PlatformMissingError(DomainError):
    """There is no platform tenant to keep the audit log of API changes in."""


def _apply(runtime: Runtime, args: argparse.Namespace) -> int:
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DomainError(f"cannot read {args.file}: {exc}") from None
    specs = parse_manifest(text)
    slug = runtime.settings.platform_tenant_slug
    with unit_of_work(runtime.database.sessions) as db:
        platform = tenants.enter_by_slug(db, slug)
        if platform is None:
            raise PlatformMissingError(
                f"no platform tenant {slug!r}: run `tessera create-platform-admin` first"
            )
        # The operator's own command: it may write the platform-level tables.
        enter_platform(db)
        operator = apis.Operator(tenant_id=platform.id, actor=ACTOR)
        if args.dry_run:
            print(api_apply.plan(db, specs, prune=args.prune).render())
            print("(dry run: nothing changed)")
            return 0
        result = api_apply.apply(
            db,
            runtime.effects,
            operator,
            runtime.settings.jwt_audience,
            specs,
            prune=args.prune,
            cascade=args.cascade,
        )
    print(result.render())
    if not result.empty:
        print("applied")
    return 0


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `tessera apis ...` on the top-level subparsers."""
    group = commands.add_parser("apis", help="the product's APIs and their scopes")
    sub = group.add_subparsers(dest="apis_command", required=True)
    apply = sub.add_parser(
        "apply",
        help="reconcile the APIs a TOML file names (plan, then apply in one transaction)",
    )
    apply.add_argument("file", help="TOML: one [[api]] table per API (docs/product-apis.md)")
    apply.add_argument("--dry-run", action="store_true", help="print the plan only")
    apply.add_argument("--prune", action="store_true", help="also remove APIs the file omits")
    apply.add_argument(
        "--cascade",
        action="store_true",
        help="remove scopes roles still carry from those roles, cutting off their holders",
    )
    apply.set_defaults(handler=_apply)
