"""`tessera clients apply FILE`, run as operators run it: plan, dry run, idempotency,
refusals with the line, prune, and the one-time secret of a confidential client
(issue 18, item 1). The engine is `tessera apis apply`'s (backend/cli_apply.py)."""

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import AuditEvent, Client
from backend.services import clients
from tests.integration.cli.conftest import RunCli, assert_refused, manifest, succeeded

SPA = """
[[client]]
client_id = "acme-spa"
name = "Acme single-page app"
type = "public"
redirect_uris = ["https://app.acme.test/callback", "http://127.0.0.1:5173/callback"]
post_logout_redirect_uris = ["https://app.acme.test/"]
allowed_origins = ["https://app.acme.test"]
grant_types = ["authorization_code", "refresh_token"]
resources = ["tessera-api"]
"""
BACKEND = """
[[client]]
client_id = "acme-portal"
name = "Acme portal"
type = "confidential"
redirect_uris = ["https://portal.acme.test/oauth/callback"]
"""


pytestmark = pytest.mark.usefixtures("platform_operator")


def write(tmp_path: Path, text: str) -> str:
    return manifest(tmp_path, "clients.toml", text)


def stored(db: Session) -> dict[str, Client]:
    db.expire_all()
    return {c.client_id: c for c in db.scalars(select(Client))}


def test_apply_plans_applies_and_changes_nothing_the_second_time(
    run_cli: RunCli, db: Session, tmp_path: Path
) -> None:
    file = write(tmp_path, SPA + BACKEND)
    dry = succeeded(run_cli("clients", "apply", file, "--dry-run"))
    assert "+ client acme-spa ('Acme single-page app', public)" in dry
    assert "(dry run: nothing changed)" in dry
    assert stored(db) == {}

    first = succeeded(run_cli("clients", "apply", file))
    assert "plan: 2 to add, 0 to change, 0 to remove" in first
    spa, portal = stored(db)["acme-spa"], stored(db)["acme-portal"]
    assert spa.redirect_uris == ["https://app.acme.test/callback", "http://127.0.0.1:5173/callback"]
    assert spa.grant_types == ["authorization_code", "refresh_token"]
    assert spa.secret_hash is None
    # Without grant_types a client gets the code grant, as at POST /clients.
    assert portal.grant_types == ["authorization_code"]
    # The confidential client's secret is printed once, and it is the stored one.
    [line] = [x for x in first.splitlines() if "secret (shown only now)" in x]
    assert clients.authenticate_secret(portal, line.rsplit(": ", 1)[1])

    assert succeeded(run_cli("clients", "apply", file)).strip() == "no changes"
    created = db.scalars(select(AuditEvent).where(AuditEvent.action == "client.created")).all()
    assert sorted(e.actor for e in created) == ["system:tessera clients apply"] * 2


def test_apply_changes_fields_and_prunes_only_when_asked(
    run_cli: RunCli, db: Session, tmp_path: Path
) -> None:
    succeeded(run_cli("clients", "apply", write(tmp_path, SPA + BACKEND)))
    renamed = SPA.replace('"Acme single-page app"', '"Acme app"')
    edited = renamed.replace(', "http://127.0.0.1:5173/callback"', "")
    changed = succeeded(run_cli("clients", "apply", write(tmp_path, edited)))
    assert "~ client acme-spa name: 'Acme single-page app' -> 'Acme app'" in changed
    assert "~ client acme-spa redirect_uris:" in changed
    assert "plan: 0 to add, 2 to change, 0 to remove" in changed
    assert stored(db)["acme-spa"].redirect_uris == ["https://app.acme.test/callback"]
    assert "acme-portal" in stored(db)
    updated = db.scalars(select(AuditEvent).where(AuditEvent.action == "client.updated")).all()
    assert len(updated) == 1

    pruned = succeeded(run_cli("clients", "apply", write(tmp_path, edited), "--prune"))
    assert "- client acme-portal" in pruned
    assert set(stored(db)) == {"acme-spa"}


# Each bad file: what is wrong with it, the line the refusal names, and the reason.
REFUSALS = {
    "unknown-key": (SPA.replace('type = "public"', 'type = "public"\ncolour = "red"'), 6,
                    "unknown key 'colour'"),
    "bad-type": (SPA.replace('type = "public"', 'type = "secret"'), 5,
                 "'public' or 'confidential'"),
    "fragment": (SPA.replace("https://app.acme.test/callback", "https://app.acme.test/cb#x"), 6,
                 "fragment"),
    "http-elsewhere": (SPA.replace("http://127.0.0.1:5173/callback", "http://evil.test/cb"), 6,
                       "only for 127.0.0.1"),
    "origin-with-path": (SPA.replace('["https://app.acme.test"]', '["https://app.acme.test/"]'),
                         8, "not an origin"),
    "unknown-grant": (SPA.replace('"refresh_token"]', '"implicit"]'), 9, "unknown grant"),
    "unknown-resource": (SPA.replace('["tessera-api"]', '["https://nope.test"]'), 10,
                         "no API has the identifier"),
    "nul": (SPA.replace('name = "Acme single-page app"', 'name = "nul \\u0000"'), 4, "NUL"),
    "syntax": (SPA.replace("redirect_uris = [", 'redirect_uris = "'), 6, "not TOML"),
    "twice": (SPA + SPA.replace("\n[[client]]", "\n\n[[client]]"), 13, "declared twice"),
    "missing-name": (SPA.replace('name = "Acme single-page app"\n', ""), 2, "needs 'name'"),
    "not-a-list": (SPA.replace('["tessera-api"]', '"tessera-api"'), 10, "array of strings"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_bad_file_exits_2_with_the_line_and_changes_nothing(
    run_cli: RunCli, db: Session, tmp_path: Path, case: str
) -> None:
    text, line, reason = REFUSALS[case]
    assert_refused(run_cli("clients", "apply", write(tmp_path, text)), line, reason)
    assert not stored(db)


def test_a_type_change_is_refused_with_its_line(
    run_cli: RunCli, db: Session, tmp_path: Path
) -> None:
    succeeded(run_cli("clients", "apply", write(tmp_path, SPA)))
    confidential = write(tmp_path, SPA.replace('"public"', '"confidential"'))
    assert_refused(run_cli("clients", "apply", confidential), 5, "a type never changes")
    assert stored(db)["acme-spa"].secret_hash is None


def test_a_registered_api_may_be_a_resource(run_cli: RunCli, db: Session, tmp_path: Path) -> None:
    api = '[[api]]\nidentifier = "https://api.acme.test/projects"\nname = "Projects"\n'
    succeeded(run_cli("apis", "apply", write(tmp_path, api)))
    text = SPA.replace('["tessera-api"]', '["https://api.acme.test/projects"]')
    succeeded(run_cli("clients", "apply", write(tmp_path, text)))
    assert stored(db)["acme-spa"].resources == ["https://api.acme.test/projects"]
