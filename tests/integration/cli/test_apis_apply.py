"""`tessera apis apply FILE`, run as operators run it: plan, dry run, idempotency,
refusals with the line, prune and cascade (issue 16, item 2)."""

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Api, ApiScope, AuditEvent, Role, RoleScope, User
from tests.conftest import builtin_role
from tests.factories import TenantFactory, UserFactory
from tests.integration.cli.conftest import RunCli, assert_refused, manifest

PROJECTS = """
[[api]]
identifier = "https://api.example.com/projects"
name = "Projects"
description = "The projects service"

[api.scopes]
"projects:read" = "Read projects"
"projects:write" = "Create and edit projects"
"""
BILLING = """
[[api]]
identifier = "https://api.example.com/billing"
name = "Billing"

[api.scopes]
"invoices:read" = "Read invoices"
"""


pytestmark = pytest.mark.usefixtures("platform_operator")


def write(tmp_path: Path, text: str) -> str:
    return manifest(tmp_path, "apis.toml", text)


def stored(db: Session) -> dict[str, set[str]]:
    db.expire_all()
    result: dict[str, set[str]] = {}
    for identifier, scope in db.execute(
        select(Api.identifier, ApiScope.name).outerjoin(ApiScope, ApiScope.api_id == Api.id)
    ):
        result.setdefault(identifier, set()).update({scope} if scope else set())
    return result


def test_apply_plans_applies_and_changes_nothing_the_second_time(
    run_cli: RunCli, db: Session, tmp_path: Path
) -> None:
    file = write(tmp_path, PROJECTS + BILLING)
    dry = run_cli("apis", "apply", file, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "+ api https://api.example.com/projects" in dry.stdout
    assert "+ scope invoices:read (https://api.example.com/billing)" in dry.stdout
    assert stored(db) == {}

    first = run_cli("apis", "apply", file)
    assert first.returncode == 0, first.stderr
    assert "plan: 5 to add, 0 to change, 0 to remove" in first.stdout
    assert stored(db) == {
        "https://api.example.com/projects": {"projects:read", "projects:write"},
        "https://api.example.com/billing": {"invoices:read"},
    }
    again = run_cli("apis", "apply", file)
    assert again.returncode == 0, again.stderr
    assert "no changes" in again.stdout
    created = db.scalars(select(AuditEvent).where(AuditEvent.action == "api.created")).all()
    assert len(created) == 2


def test_apply_changes_and_removes_scopes_and_prunes_only_when_asked(
    run_cli: RunCli, db: Session, tmp_path: Path
) -> None:
    assert run_cli("apis", "apply", write(tmp_path, PROJECTS + BILLING)).returncode == 0
    edited = PROJECTS.replace('"Projects"', '"Projects v2"').replace(
        '"projects:write" = "Create and edit projects"', '"tasks:read" = "Read tasks"'
    )
    result = run_cli("apis", "apply", write(tmp_path, edited))
    assert result.returncode == 0, result.stderr
    assert "~ api https://api.example.com/projects name: 'Projects' -> 'Projects v2'" in (
        result.stdout
    )
    assert "- scope projects:write (https://api.example.com/projects)" in result.stdout
    assert "+ scope tasks:read (https://api.example.com/projects)" in result.stdout
    assert stored(db)["https://api.example.com/projects"] == {"projects:read", "tasks:read"}
    assert "https://api.example.com/billing" in stored(db)

    pruned = run_cli("apis", "apply", write(tmp_path, edited), "--prune")
    assert pruned.returncode == 0, pruned.stderr
    assert "- api https://api.example.com/billing" in pruned.stdout
    assert set(stored(db)) == {"https://api.example.com/projects"}


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (PROJECTS.replace('name = "Projects"', 'name = "Projects"\ncolour = "red"'), 5,
         "unknown key 'colour'"),
        (PROJECTS.replace("https://api.example.com/projects", "not a uri"), 3, "absolute URI"),
        (PROJECTS.replace('"projects:read"', '"ProjectsRead"'), 8, "resource:action"),
        (PROJECTS.replace('"projects:read"', '"users:read"'), 8, "Tessera's own API"),
        (PROJECTS + BILLING.replace("invoices:read", "projects:read"), 16, "already used"),
        (PROJECTS.replace("Read projects", "nul \\u0000"), 8, "NUL"),
        (PROJECTS.replace('[api.scopes]', '[api.scopes'), 7, "not TOML"),
    ],
    ids=["unknown-key", "bad-identifier", "bad-scope", "catalogue-scope", "duplicate-scope",
         "nul", "syntax"],
)  # fmt: skip
def test_a_bad_file_exits_2_with_the_line_and_changes_nothing(
    run_cli: RunCli, db: Session, tmp_path: Path, text: str, line: int, reason: str
) -> None:
    assert_refused(run_cli("apis", "apply", write(tmp_path, text)), line, reason)
    assert stored(db) == {}


def test_a_scope_of_another_stored_api_is_refused_with_its_line(
    run_cli: RunCli, db: Session, tmp_path: Path
) -> None:
    assert run_cli("apis", "apply", write(tmp_path, BILLING)).returncode == 0
    clash = PROJECTS.replace('"projects:write"', '"invoices:read"')
    result = run_cli("apis", "apply", write(tmp_path, clash))
    assert result.returncode == 2
    assert "line 9" in result.stderr
    assert "already used by API 'https://api.example.com/billing'" in result.stderr
    assert set(stored(db)) == {"https://api.example.com/billing"}


def test_removing_a_carried_scope_needs_cascade_which_cuts_off_its_holders(
    run_cli: RunCli, db: Session, tmp_path: Path
) -> None:
    assert run_cli("apis", "apply", write(tmp_path, PROJECTS)).returncode == 0
    tenant = TenantFactory(slug="acme")
    db.flush()
    editor = Role(tenant_id=tenant.id, name="editor")
    db.add(editor)
    db.flush()
    db.add(RoleScope(tenant_id=tenant.id, role_id=editor.id, scope="projects:write"))
    user = UserFactory(tenant=tenant, email="ed@acme.test", roles=[editor])
    bystander = UserFactory(
        tenant=tenant, email="m@acme.test", roles=[builtin_role(db, tenant, "member")]
    )
    db.commit()
    versions = {u.id: u.token_version for u in (user, bystander)}
    narrowed = PROJECTS.replace('"projects:write" = "Create and edit projects"\n', "")

    refused = run_cli("apis", "apply", write(tmp_path, narrowed))
    assert refused.returncode == 2
    assert "acme/editor" in refused.stderr
    assert "--cascade" in refused.stderr
    assert stored(db)["https://api.example.com/projects"] == {"projects:read", "projects:write"}

    cascaded = run_cli("apis", "apply", write(tmp_path, narrowed), "--cascade")
    assert cascaded.returncode == 0, cascaded.stderr
    db.expire_all()
    assert stored(db)["https://api.example.com/projects"] == {"projects:read"}
    assert db.scalars(select(RoleScope).where(RoleScope.role_id == editor.id)).all() == []
    assert db.get_one(User, (tenant.id, user.id)).token_version == versions[user.id] + 1
    assert db.get_one(User, (tenant.id, bystander.id)).token_version == versions[bystander.id]
    audited = db.scalars(
        select(AuditEvent).where(
            AuditEvent.tenant_id == tenant.id, AuditEvent.action == "role.scopes_removed"
        )
    ).all()
    assert [e.target for e in audited] == [f"role:{editor.id}"]
