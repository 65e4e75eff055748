"""`tessera <kind> apply FILE`: the one engine of the declarative commands.

Each kind (APIs, clients) brings its parser, its planner and its applier; this module
reads the file, opens the one transaction as the platform operator's command, prints the
plan (and stops there on `--dry-run`), applies it and prints what changed. A refused file
or plan is a DomainError: the CLI prints it and exits 2, and nothing is written.
"""

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from backend.db.session import unit_of_work
from backend.db.tenant_context import enter_platform
from backend.domain.errors import DomainError
from backend.runtime import Runtime
from backend.services import apis, audit, tenants
from backend.services.declared import Plan

Spec = TypeVar("Spec")


class PlatformMissingError(DomainError):
    """There is no platform tenant to keep the audit log of the changes in."""


@dataclass(frozen=True, slots=True)
class Declared(Generic[Spec]):
    """One kind of declared thing: how its file is read, planned and applied."""

    # The command's group, `tessera <noun> apply`.
    noun: str
    parse: Callable[[str], list[Spec]]
    plan: Callable[[Session, Runtime, list[Spec], argparse.Namespace], Plan]
    apply: Callable[[Session, Runtime, apis.Operator, list[Spec], argparse.Namespace], Plan]

    @property
    def actor(self) -> str:
        """How the audit log names the command."""
        return f"{audit.SYSTEM}:tessera {self.noun} apply"


def run(declared: Declared[Spec], runtime: Runtime, args: argparse.Namespace) -> int:
    """Read, plan, and (unless --dry-run) apply the file in one transaction."""
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DomainError(f"cannot read {args.file}: {exc}") from None
    specs = declared.parse(text)
    slug = runtime.settings.platform_tenant_slug
    with unit_of_work(runtime.database.sessions) as db:
        platform = tenants.enter_by_slug(db, slug)
        if platform is None:
            raise PlatformMissingError(
                f"no platform tenant {slug!r}: run `tessera create-platform-admin` first"
            )
        # The operator's own command: it may write the platform-level tables.
        enter_platform(db)
        if args.dry_run:
            print(declared.plan(db, runtime, specs, args).render())
            print("(dry run: nothing changed)")
            return 0
        operator = apis.Operator(tenant_id=platform.id, actor=declared.actor)
        result = declared.apply(db, runtime, operator, specs, args)
    print(result.render())
    if not result.empty:
        print("applied")
    return 0


def add_command(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
    declared: Declared[Spec],
    *,
    help: str,
    file_help: str,
) -> argparse.ArgumentParser:
    """Register `tessera <noun> apply FILE [--dry-run] [--prune]`; the apply parser is
    returned for the kind's own options."""
    group = commands.add_parser(declared.noun, help=help)
    sub = group.add_subparsers(dest=f"{declared.noun}_command", required=True)
    apply = sub.add_parser(
        "apply",
        help=f"reconcile the {declared.noun} a TOML file names (plan, then apply in one "
        "transaction)",
    )
    apply.add_argument("file", help=file_help)
    apply.add_argument("--dry-run", action="store_true", help="print the plan only")
    apply.add_argument(
        "--prune", action="store_true", help=f"also remove {declared.noun} the file omits"
    )
    apply.set_defaults(handler=lambda runtime, args: run(declared, runtime, args))
    return apply
