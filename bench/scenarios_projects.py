"""10: the kit's cost in a product service, and what it asks of Tessera per request.

The projects example (examples/projects) runs as its own uvicorn process on its own
database, guarded by tessera_fastapi and following the bench's EdDSA Tessera's feed.
`GET /projects/{id}` through the kit is compared with the same read on the bench's bare
endpoint of the same app (bench/projects_app.py), wrk -c32, alternating. Tessera's own
request counter (`tessera_http_requests_total` on its /metrics) is read before and after
each kit run: every request the kit made of Tessera in that run is counted there.
"""

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from backend.security.tokens import AccessTokenCodec
from bench.data import Dataset
from bench.load import Run, wrk
from bench.measure import Row, Step, alternate, at_least, at_most, runs_json
from bench.scenarios_kit import feed_account
from bench.stack import Server, Stack, server
from examples.projects.settings import ApiDeclaration
from tests.support.projects import projects_database

CONNECTIONS = 32
TARGET_RATIO = 0.85
REQUESTS_METRIC = "tessera_http_requests_total"

Raw = dict[str, object]


def kit_vs_bare(srv: Server, stack: Stack, made: Dataset) -> tuple[list[Row], Raw]:
    api = ApiDeclaration.load()
    token = _token(stack, made, api.identifier)
    client_id, secret = feed_account(stack)
    with projects_database(stack.admin_url, f"projects_bench_{uuid.uuid4().hex[:8]}") as settings:
        env = {
            "PROJECTS_DATABASE_URL": settings.database_url,
            "PROJECTS_MIGRATION_DATABASE_URL": settings.migration_database_url,
            "PROJECTS_TESSERA_ISSUER": srv.url,
            "PROJECTS_CLIENT_ID": client_id,
            "PROJECTS_CLIENT_SECRET": secret,
        }
        factory = "bench.projects_app:create_bench_projects_app"
        with server(stack, env, "projects", factory=factory, ready_path="/bench/ready") as app:
            auth = {"Authorization": f"Bearer {token}"}
            created = httpx.post(f"{app.url}/projects", json={"name": "Bench"}, headers=auth)
            if created.status_code != 201:
                raise RuntimeError(f"POST /projects answered {created.status_code}")
            project = created.json()["id"]
            return _measure(srv, app, project, auth, made.small_tenant)


def _measure(
    srv: Server, app: Server, project: str, auth: dict[str, str], tenant: uuid.UUID
) -> tuple[list[Row], Raw]:
    cpu: dict[str, list[float]] = {}
    asked: list[float] = []

    def get(name: str, path: str, headers: dict[str, str]) -> Step:
        def step(seconds: float) -> Run:
            before, tessera_before = app.cpu_seconds(), _tessera_requests(srv)
            run = wrk(app.url + path, seconds=seconds, connections=CONNECTIONS, headers=headers)
            cpu.setdefault(name, []).append((app.cpu_seconds() - before) / run.requests * 1e6)
            if name == "kit":
                asked.append((_tessera_requests(srv) - tessera_before) / run.requests)
            return run

        return step

    runs = alternate(
        {
            "bare": get("bare", f"/bench/bare/projects/{project}", {"X-Tenant-Id": str(tenant)}),
            "kit": get("kit", f"/projects/{project}", auth),
        }
    )
    bare = [r.rps for r in runs["bare"]]
    # The warm-up's figures are the first of each list: dropped.
    bare_cpu, kit_cpu, kit_asked = cpu["bare"][1:], cpu["kit"][1:], asked[1:]
    name = "10 kit in a product service"
    subject = "GET /projects/{id} via kit"
    rows = [
        Row(
            name,
            "req/s",
            "bare",
            subject,
            bare,
            [r.rps for r in runs["kit"]],
            f">= {TARGET_RATIO:.2f}x",
            at_least(TARGET_RATIO),
        ),
        Row(name, "CPU us/req", "bare", subject, bare_cpu, kit_cpu, "-", unit=" us"),
        # Against one introspection per request, what a kit without the feed would ask.
        Row(
            name,
            "Tessera requests per request",
            "one per request",
            subject,
            [1.0] * len(kit_asked),
            kit_asked,
            "0",
            at_most(0.0),
        ),
    ]
    return rows, {
        **runs_json(runs),
        "server_cpu_us_per_request": cpu,
        "tessera_requests_per_request": asked,
    }


def _tessera_requests(srv: Server) -> float:
    """Every request Tessera has answered, but for the scrapes of /metrics themselves."""
    body = httpx.get(f"{srv.url}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == REQUESTS_METRIC and sample.labels.get("route") != "/metrics"
    )


def _token(stack: Stack, made: Dataset, audience: str) -> str:
    """A token of the small tenant's owner for the projects API, signed by the bench's
    EdDSA Tessera's key (the same development key file), as `resource=` would issue it."""
    settings = stack.settings("EdDSA").model_copy(update={"jwt_audience": audience})
    with stack.owner.connect() as connection:
        version = connection.scalar(
            text("SELECT token_version FROM users WHERE tenant_id = :t AND id = :u"),
            {"t": made.small_tenant, "u": made.small_owner},
        )
    return (
        AccessTokenCodec(settings)
        .issue(
            user_id=made.small_owner,
            tenant_id=made.small_tenant,
            scope="projects:read projects:write",
            token_version=int(version or 1),
        )
        .token
    )
