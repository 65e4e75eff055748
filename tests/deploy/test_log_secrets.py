"""No password, token or key in any log line, even at DEBUG.

A real API process (deploy/entrypoint.sh api) logs a whole session: a failed and a good
login, a refresh, a replayed refresh token, /me, an API key created and used, a user
created with a password. Then its output is searched for every secret the session used.
"""

from pathlib import Path

import httpx
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from backend.settings import Settings
from tests.conftest import builtin_role
from tests.deploy.conftest import Starter, answers, stack_env, wait_until
from tests.factories import TenantFactory, UserFactory
from tests.support.ports import free_port

PASSWORD = "correct horse battery staple"
WRONG_PASSWORD = "incorrect donkey battery clip"
NEW_USER_PASSWORD = "a brand new users passphrase"


def test_a_full_session_leaves_no_secret_in_the_logs(
    settings: Settings, db: Session, start_role: Starter, tmp_path: Path
) -> None:
    tenant = TenantFactory(slug="acme")
    UserFactory(
        tenant=tenant,
        email="boss@acme.test",
        password=PASSWORD,
        roles=[builtin_role(db, tenant, "owner")],
    )
    db.commit()
    port = free_port()
    env = stack_env(
        settings,
        tmp_path,
        TESSERA_PORT=str(port),
        TESSERA_API_WORKERS="1",
        TESSERA_LOG_LEVEL="DEBUG",
        # No grace for a repeated refresh, so the replay below is a reuse at once.
        TESSERA_REFRESH_REUSE_GRACE_SECONDS="0",
    )
    api = start_role("api", env)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(f"{base}/readyz"), timeout=60, what=f"/readyz\n{api.output()}")

    login = {"grant_type": "password", "username": "acme/boss@acme.test"}
    with httpx.Client(base_url=base, timeout=10) as client:
        refused = client.post("/token", data={**login, "password": WRONG_PASSWORD})
        assert refused.status_code == 400
        first = client.post("/token", data={**login, "password": PASSWORD})
        assert first.status_code == 200, first.text
        tokens = first.json()
        refreshed = client.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        second = refreshed.json()
        auth = {"Authorization": f"Bearer {second['access_token']}"}
        assert client.get("/me", headers=auth).status_code == 200
        created = client.post(
            "/api-keys", headers=auth, json={"name": "ci", "scopes": ["users:read"]}
        )
        assert created.status_code == 201, created.text
        api_key = created.json()["key"]
        assert client.get("/users", headers={"X-API-Key": api_key}).status_code == 200
        user = client.post(
            "/users", headers=auth, json={"email": "new@acme.test", "password": NEW_USER_PASSWORD}
        )
        assert user.status_code == 201, user.text
        # Presenting the rotated token again ends the session (reuse detection).
        replayed = client.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        )
        assert replayed.status_code == 400
        metrics = client.get("/metrics").text
    assert api.stop(timeout=30) == 0
    logs = api.output()

    assert settings.secret_key is not None
    secrets = {
        "password": PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "new user's password": NEW_USER_PASSWORD,
        "access token": tokens["access_token"],
        "refreshed access token": second["access_token"],
        "refresh token": tokens["refresh_token"],
        "rotated refresh token": second["refresh_token"],
        "API key": api_key,
        "signing key": settings.secret_key.get_secret_value(),
        "database password": str(make_url(settings.database_url).password),
    }
    leaked = [name for name, value in secrets.items() if value in logs]
    assert not leaked, f"found in the logs: {leaked}"
    # The logs were not empty by accident: DEBUG was on and the session is in them.
    assert '"level": "DEBUG"' in logs
    assert '"POST /token HTTP/1.1\\" 200' in logs
    assert 'tessera_logins_total{outcome="invalid_grant"} 1.0' in metrics
    assert 'tessera_token_refreshes_total{outcome="reuse_detected"} 1.0' in metrics
    assert "tessera_refresh_token_reuse_detected_total 1.0" in metrics
