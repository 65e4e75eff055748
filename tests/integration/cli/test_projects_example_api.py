"""The projects example's api.toml registers with `tessera apis apply`, as its README says."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Api, ApiScope
from backend.services.effects import Effects
from backend.settings import Settings
from examples.projects.settings import API_FILE
from tests.integration.cli.conftest import RunCli
from tests.support.platform import create_operator


def test_the_example_api_file_applies_and_then_changes_nothing(
    run_cli: RunCli, db: Session, effects: Effects, settings: Settings
) -> None:
    create_operator(db, effects, settings, "violet otters juggle lanterns")
    first = run_cli("apis", "apply", str(API_FILE))
    assert first.returncode == 0, first.stderr
    assert "plan: 3 to add, 0 to change, 0 to remove" in first.stdout
    db.expire_all()
    scopes = db.scalars(
        select(ApiScope.name)
        .join(Api, ApiScope.api_id == Api.id)
        .where(Api.identifier == "https://api.example.com/projects")
    ).all()
    assert set(scopes) == {"projects:read", "projects:write"}
    again = run_cli("apis", "apply", str(API_FILE))
    assert again.returncode == 0, again.stderr
    assert "no changes" in again.stdout
