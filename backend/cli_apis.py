"""`tessera apis apply FILE`: declare the product's APIs and scopes from a TOML file."""

import argparse

from sqlalchemy.orm import Session

from backend.cli_apply import Declared, add_command
from backend.domain.api_manifest import ApiSpec, parse_manifest
from backend.runtime import Runtime
from backend.services import api_apply, apis
from backend.services.declared import Plan


def _plan(db: Session, _: Runtime, specs: list[ApiSpec], args: argparse.Namespace) -> Plan:
    return api_apply.plan(db, specs, prune=args.prune)


def _apply(
    db: Session,
    runtime: Runtime,
    operator: apis.Operator,
    specs: list[ApiSpec],
    args: argparse.Namespace,
) -> Plan:
    return api_apply.apply(
        db,
        runtime.effects,
        operator,
        runtime.settings.jwt_audience,
        specs,
        prune=args.prune,
        cascade=args.cascade,
    )


APIS = Declared(noun="apis", parse=parse_manifest, plan=_plan, apply=_apply)


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `tessera apis ...` on the top-level subparsers."""
    apply = add_command(
        commands,
        APIS,
        help="the product's APIs and their scopes",
        file_help="TOML: one [[api]] table per API (docs/product-apis.md)",
    )
    apply.add_argument(
        "--cascade",
        action="store_true",
        help="remove scopes roles still carry from those roles, cutting off their holders",
    )
