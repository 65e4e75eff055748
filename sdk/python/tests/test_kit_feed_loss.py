"""With the standings feed lost: introspection per new subject, or fail closed after the
grace period. The stand-in issuer's stream never answers, so the feed is lost from the
start; its introspection endpoint answers what each test sets."""

import uuid

from conftest import AUDIENCE, Issuer, app_for, bearer
from fastapi.testclient import TestClient
from tessera_fastapi import TesseraGuard
from tessera_fastapi.standings import Standings, _events


def guard_for(issuer: Issuer, **options: object) -> TesseraGuard:
    return TesseraGuard(
        issuer=issuer.url, audience=AUDIENCE, client_id="sa_kit", client_secret="s3cret",
        feed_reconnect_seconds=60, **options,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_lost_feed_introspects_each_new_subject_once(issuer: Issuer) -> None:
    live, revoked = issuer.token(), issuer.token()
    issuer.active.update({live: True, revoked: False})
    with TestClient(app_for(guard_for(issuer, grace_seconds=0))) as client:
        assert client.get("/projects", headers=bearer(live)).status_code == 200
        assert client.get("/projects", headers=bearer(live)).status_code == 200
        response = client.get("/projects", headers=bearer(revoked))
        assert response.status_code == 401
        assert response.json()["detail"]["error_description"] == "token is not active"
    # Once per subject (and version) while the feed is lost, not once per request.
    assert issuer.fetches("/introspect") == 2


def test_with_introspection_failing_it_fails_closed_past_the_grace_period(
    issuer: Issuer,
) -> None:
    token = issuer.token()
    issuer.active[token] = None  # introspection answers 500
    with TestClient(app_for(guard_for(issuer, grace_seconds=0))) as client:
        response = client.get("/projects", headers=bearer(token))
        assert response.status_code == 503
        assert response.json()["detail"]["error"] == "temporarily_unavailable"
    with TestClient(app_for(guard_for(issuer, grace_seconds=3600))) as client:
        # Within the grace period the last-known standings decide (none known: admitted).
        assert client.get("/projects", headers=bearer(token)).status_code == 200


def test_without_introspection_it_fails_closed_past_the_grace_period(issuer: Issuer) -> None:
    token = issuer.token()
    issuer.active[token] = True
    strict = guard_for(issuer, grace_seconds=0, introspect_on_feed_loss=False)
    with TestClient(app_for(strict)) as client:
        assert client.get("/projects", headers=bearer(token)).status_code == 503
    assert issuer.fetches("/introspect") == 0


def test_standings_refuse_a_suspended_tenant_a_disabled_subject_and_an_older_version() -> None:
    tenant, ann, bob = (str(uuid.uuid4()) for _ in range(3))
    standings = Standings()
    standings.replace(
        {"cursor": "1-0", "tenants": [{"tenant_id": tenant, "status": "active", "subjects": [
            {"kind": "user", "subject": ann, "token_version": 3, "status": "active"}]}]}
    )  # fmt: skip
    assert standings.refusal(tenant, "user", ann, 3) is None
    assert standings.refusal(tenant, "user", ann, 2) == "token has been revoked"
    assert standings.refusal(tenant, "user", bob, 1) is None
    change = {"kind": "user", "subject": ann, "token_version": 4, "status": "disabled"}
    standings.apply({"tenant_id": tenant, "reason": "disabled", "subjects": [change]})
    assert standings.refusal(tenant, "user", ann, 4) == "subject is disabled"
    # An older event replayed after a newer state changes nothing.
    older = {"kind": "user", "subject": ann, "token_version": 3, "status": "active"}
    standings.apply({"tenant_id": tenant, "reason": "enabled", "subjects": [older]})
    assert standings.refusal(tenant, "user", ann, 4) == "subject is disabled"
    standings.apply({"tenant_id": tenant, "reason": "tenant_suspended", "subjects": [],
                     "tenant_status": "suspended"})  # fmt: skip
    assert standings.refusal(tenant, "user", bob, 1) == "tenant is suspended"


def test_server_sent_events_are_parsed_with_their_ids() -> None:
    lines = [": following", "", "id: 5-0", "event: standing", 'data: {"a":', "data: 1}", "",
             ": heartbeat", "", "event: reset", "data: {}", ""]  # fmt: skip
    assert list(_events(iter(lines))) == [
        ("connected", None, ""),
        ("standing", "5-0", '{"a":\n1}'),
        ("reset", None, "{}"),
    ]
