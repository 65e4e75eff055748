"""`make run`: migrate, ensure the demo tenant, then run the API, a Celery worker and beat.

PostgreSQL and Redis come from the environment (TESSERA_DATABASE_URL, TESSERA_REDIS_URL);
whichever is unset is started embedded under the var dir for the lifetime of the run, and
its URLs are published in `var/devstack.env` for commands run in other shells.
"""

import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from backend import devstack_env
from backend.devstack.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    create_database_if_missing,
    with_credentials,
)
from backend.devstack.mail_sink import MailSink
from backend.devstack.processes import ProcessGroup, StopSignals, say
from backend.domain.api_manifest import parse_manifest
from backend.settings import PROJECT_ROOT, Settings

_DATABASE = "tessera"
# The application role the migrations create; a development-only credential.
_APP_ROLE = "tessera_app"
# The example product service (examples/projects): its own database and role.
_PROJECTS_DATABASE = "projects"
_PROJECTS_APP_ROLE = "projects_app"
_PROJECTS_DEFAULT_PORT = "8001"
_PROJECTS_API_FILE = PROJECT_ROOT / "examples" / "projects" / "api.toml"
# Where `tessera ensure-projects-demo` leaves the feed account's credentials (0600).
_PROJECTS_CREDENTIALS = "projects-feed.env"
# The client the example's /docs signs in as (examples/projects/settings.py), declared
# in this file under var/ for `tessera clients apply`.
_PROJECTS_DOCS_CLIENT_ID = "projects-docs"
_PROJECTS_DOCS_CLIENT_FILE = "projects-docs-client.toml"
_POLL_SECONDS = 0.2
_SMTP_DEFAULT_PORT = "1025"


def main() -> None:
    """Run the development stack until Ctrl-C, SIGTERM, or one of its processes dies."""
    signals = StopSignals()
    signals.install()
    var_dir = Settings().var_dir
    var_dir.mkdir(parents=True, exist_ok=True)
    # Unwinds in reverse: the children stop before the services they depend on.
    with ExitStack() as stack:
        code = _run(stack, var_dir, signals)
    say("stopped")
    sys.exit(code)


def docs_client_manifest(projects_port: str, resource: str) -> str:
    """The public client the example's Swagger UI signs in as, for `clients apply`: the
    code flow with PKCE back to its /docs/oauth2-redirect, its token exchange a CORS
    request from its origin, its tokens for the example's API only."""
    origin = f"http://127.0.0.1:{projects_port}"
    return (
        "[[client]]\n"
        f'client_id = "{_PROJECTS_DOCS_CLIENT_ID}"\n'
        'name = "Projects API docs (make run)"\n'
        'type = "public"\n'
        f'redirect_uris = ["{origin}/docs/oauth2-redirect"]\n'
        f'allowed_origins = ["{origin}"]\n'
        'grant_types = ["authorization_code"]\n'
        f'resources = ["{resource}"]\n'
    )


def _run(stack: ExitStack, var_dir: Path, signals: StopSignals) -> int:
    # A file left by a run that could not clean up (SIGKILL) names servers long gone.
    devstack_env.withdraw(var_dir)
    started = _provide_services(stack, var_dir)
    mails = _provide_mail_sink(stack, var_dir)
    setup = {"migrations": [sys.executable, "-m", "alembic", "upgrade", "head"]}
    demo_tenant = [sys.executable, "-m", "backend.cli", "ensure-demo-tenant"]
    projects = bool(os.environ.get("PROJECTS_DATABASE_URL"))
    projects_port = os.environ.get("PROJECTS_PORT", _PROJECTS_DEFAULT_PORT)
    credentials = var_dir / _PROJECTS_CREDENTIALS
    if projects:
        setup["projects migrations"] = [
            sys.executable, "-m", "alembic", "-c", "examples/projects/alembic.ini",
            "upgrade", "head",
        ]  # fmt: skip
        if not os.environ.get("PROJECTS_CLIENT_ID"):
            # The platform tenant, and the example's feed account with a new secret.
            setup["projects feed account"] = [
                sys.executable, "-m", "backend.cli", "ensure-projects-demo",
                "--credentials", str(credentials),
            ]  # fmt: skip
        setup["projects API"] = [
            sys.executable, "-m", "backend.cli", "apis", "apply", str(_PROJECTS_API_FILE),
        ]  # fmt: skip
        # The demo tenant's editor role carries the API's scopes once it is registered.
        (api,) = parse_manifest(_PROJECTS_API_FILE.read_text(encoding="utf-8"))
        demo_tenant += ["--editor-of", api.identifier]
        # /docs' Authorize signs in as this client, for the API's tokens.
        docs_client = var_dir / _PROJECTS_DOCS_CLIENT_FILE
        docs_client.write_text(docs_client_manifest(projects_port, api.identifier), "utf-8")
        setup["projects docs client"] = [
            sys.executable, "-m", "backend.cli", "clients", "apply", str(docs_client),
        ]  # fmt: skip
    setup["demo tenant"] = demo_tenant
    for step, argv in setup.items():
        if _stop_requested(signals):
            return 0
        result = subprocess.run(argv, cwd=PROJECT_ROOT, check=False)  # noqa: S603 (fixed argv)
        # A terminal Ctrl-C reaches the step too, which then fails: not an error.
        if _stop_requested(signals):
            return 0
        if result.returncode != 0:
            say(f"{step} failed with exit code {result.returncode}; stopping")
            return 1

    if credentials.exists():
        # Into the example's environment only: the file goes once read.
        lines = credentials.read_text(encoding="utf-8").splitlines()
        os.environ.update(line.partition("=")[::2] for line in lines if "=" in line)
        credentials.unlink()
    children = stack.enter_context(ProcessGroup())
    port = os.environ.get("TESSERA_PORT", "8000")
    # Browser sign-in's id_tokens need an asymmetric key (a development one is made under
    # var/), and OpenID clients check that the issuer is the URL they discovered it at.
    os.environ.setdefault("TESSERA_JWT_ALGORITHM", "EdDSA")
    os.environ.setdefault("TESSERA_JWT_ISSUER", f"http://127.0.0.1:{port}")
    for name, argv in _children(var_dir, port, projects_port if projects else None).items():
        children.start(name, argv, cwd=PROJECT_ROOT)
    if started:
        # Published once the database is migrated, and withdrawn first on the way out,
        # so that other shells are sent only to servers that are ready and staying.
        stack.callback(devstack_env.withdraw, var_dir)
        say(f"embedded services' URLs are in {devstack_env.publish(var_dir, started)}")
    _print_banner(port, projects_port if projects else None, mails)
    return _supervise(children, signals)


def _provide_services(stack: ExitStack, var_dir: Path) -> dict[str, str]:
    """Start what the environment does not configure; the variables that now reach it."""
    started: dict[str, str] = {}
    if not os.environ.get("TESSERA_DATABASE_URL"):
        say(f"TESSERA_DATABASE_URL unset: starting embedded PostgreSQL in {var_dir / 'postgres'}")
        postgres = stack.enter_context(EmbeddedPostgres(var_dir / "postgres"))
        create_database_if_missing(postgres.admin_url(), _DATABASE)
        owner_url = postgres.admin_url(_DATABASE)
        started["TESSERA_MIGRATION_DATABASE_URL"] = owner_url
        started["TESSERA_DATABASE_URL"] = with_credentials(
            owner_url, user=_APP_ROLE, password=_APP_ROLE, database=_DATABASE
        )
        if not os.environ.get("PROJECTS_DATABASE_URL"):
            create_database_if_missing(postgres.admin_url(), _PROJECTS_DATABASE)
            projects_owner = postgres.admin_url(_PROJECTS_DATABASE)
            started["PROJECTS_MIGRATION_DATABASE_URL"] = projects_owner
            started["PROJECTS_DATABASE_URL"] = with_credentials(
                projects_owner,
                user=_PROJECTS_APP_ROLE,
                password=_PROJECTS_APP_ROLE,
                database=_PROJECTS_DATABASE,
            )
    if not os.environ.get("TESSERA_REDIS_URL"):
        say(f"TESSERA_REDIS_URL unset: starting embedded Redis in {var_dir / 'redis'}")
        redis_server = stack.enter_context(EmbeddedRedis(var_dir / "redis"))
        started["TESSERA_REDIS_URL"] = redis_server.url
    # Into os.environ, which every later subprocess inherits.
    os.environ.update(started)
    return started


def _provide_mail_sink(stack: ExitStack, var_dir: Path) -> str:
    """Start the SMTP sink unless a server is configured; where the mails go, for the banner."""
    if os.environ.get("TESSERA_SMTP_HOST"):
        return f"sent to {os.environ['TESSERA_SMTP_HOST']}:{os.environ.get('TESSERA_SMTP_PORT')}"
    port = int(os.environ.get("TESSERA_SMTP_PORT", _SMTP_DEFAULT_PORT))
    sink = stack.enter_context(MailSink(var_dir / "mail", port))
    say(f"TESSERA_SMTP_HOST unset: starting an SMTP sink on {sink.host}:{port}")
    # The worker, a child, sends to it.
    os.environ.update(TESSERA_SMTP_HOST=sink.host, TESSERA_SMTP_PORT=str(port))
    return f"written to {sink.directory}/*.eml (SMTP sink on {sink.host}:{port})"


def _children(var_dir: Path, port: str, projects_port: str | None) -> dict[str, list[str]]:
    celery = [sys.executable, "-m", "celery", "-A", "backend.worker.app"]
    children = {
        "api": [
            sys.executable, "-m", "uvicorn", "backend.main:create_app", "--factory",
            "--host", "127.0.0.1", "--port", port,
        ],
        "worker": [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"],
        "beat": [
            *celery, "beat", "--loglevel", "INFO",
            "--schedule", str(var_dir / "celerybeat-schedule"),
        ],
    }  # fmt: skip
    if projects_port is not None:
        # The example waits (PROJECTS_DISCOVERY_WAIT_SECONDS) for the API to come up.
        os.environ.setdefault("PROJECTS_TESSERA_ISSUER", f"http://127.0.0.1:{port}")
        children["projects"] = [
            sys.executable, "-m", "uvicorn", "examples.projects.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", projects_port,
        ]  # fmt: skip
    return children


def _print_banner(port: str, projects_port: str | None, mails: str) -> None:
    base = f"http://127.0.0.1:{port}"
    example = (
        f"  Projects      http://127.0.0.1:{projects_port} (example service, /docs)\n"
        if projects_port is not None
        else "  Projects      not started: set PROJECTS_DATABASE_URL to run the example\n"
    )
    print(
        f"\n  Tessera API   {base}\n"
        f"  API docs      {base}/docs\n"
        f"{example}"
        f"  Mails         {mails}\n"
        f"  Stop with Ctrl-C, or SIGTERM to pid {os.getpid()}.\n",
        flush=True,
    )


def _supervise(children: ProcessGroup, signals: StopSignals) -> int:
    while True:
        # Checked before the children: a Ctrl-C also kills them, and that is no failure.
        if _stop_requested(signals):
            return 0
        exited = children.first_exited()
        if exited is not None:
            name, code = exited
            say(f"{name} exited on its own with exit code {code}; stopping the rest")
            return 1
        time.sleep(_POLL_SECONDS)


def _stop_requested(signals: StopSignals) -> bool:
    if signals.received is None:
        return False
    say(f"received {signals.received.name}; stopping")
    return True


if __name__ == "__main__":
    main()
