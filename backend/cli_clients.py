"""`tessera clients apply FILE`: declare the applications users sign in to, from TOML."""

import argparse

from sqlalchemy.orm import Session

from backend.cli_apply import Declared, add_command
from backend.domain.client_manifest import DeclaredClient, parse_manifest
from backend.runtime import Runtime
from backend.services import apis, client_apply
from backend.services.declared import Plan


def _plan(
    db: Session, runtime: Runtime, declared: list[DeclaredClient], args: argparse.Namespace
) -> Plan:
    return client_apply.plan(
        db, declared, prune=args.prune, own_audience=runtime.settings.jwt_audience
    )


def _apply(
    db: Session,
    runtime: Runtime,
    operator: apis.Operator,
    declared: list[DeclaredClient],
    args: argparse.Namespace,
) -> Plan:
    return client_apply.apply(
        db,
        runtime.effects,
        operator,
        declared,
        prune=args.prune,
        own_audience=runtime.settings.jwt_audience,
    )


CLIENTS = Declared(noun="clients", parse=parse_manifest, plan=_plan, apply=_apply)


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `tessera clients ...` on the top-level subparsers."""
    add_command(
        commands,
        CLIENTS,
        help="the applications users sign in to (OAuth clients)",
        file_help="TOML: one [[client]] table per client (docs/browser-sign-in.md)",
    )
