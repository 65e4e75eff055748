"""A live Tessera and the kit following it: what the kit's end-to-end tests and the feed
bench share. Tessera signs with EdDSA under its own URL as issuer; the kit's service
account is a platform service account holding standings:read."""

import contextlib
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Security
from sqlalchemy.orm import Session
from tessera_fastapi import TesseraCaller, TesseraGuard

from backend.db.models import Tenant
from backend.domain.scopes import Scope
from backend.security.opaque import new_secret
from backend.services.service_accounts import SECRET_KIND
from backend.settings import Settings
from tests.factories import RoleFactory, ServiceAccountFactory, TenantFactory
from tests.support.live_server import HOST, LiveServer, free_port, server_env, start_server


@dataclass(frozen=True)
class FeedAccount:
    client_id: str
    client_secret: str


def feed_account(db: Session, settings: Settings) -> FeedAccount:
    """A service account of the platform tenant (made if missing) that reads the feed."""
    slug = settings.platform_tenant_slug
    platform = db.query(Tenant).filter_by(slug=slug).one_or_none() or TenantFactory(slug=slug)
    role = RoleFactory(
        tenant=platform,
        name="standings-reader",
        scopes=[Scope.STANDINGS_READ, Scope.TOKENS_INTROSPECT],
    )
    secret = new_secret(SECRET_KIND, platform.id)
    account = ServiceAccountFactory(tenant=platform, secret_hash=secret.digest, roles=[role])
    db.commit()
    return FeedAccount(f"sa_{platform.id.hex}_{account.id.hex}", secret.value)


def start_tessera(
    settings: Settings, var_dir: Path, log: Path, *, port: int | None = None, **env: str
) -> LiveServer:
    """Tessera on `port` (a free one if None): a restart keeps its port, so its issuer."""
    port = port or free_port()
    url = f"http://{HOST}:{port}"
    overrides = {"TESSERA_JWT_ALGORITHM": "EdDSA", "TESSERA_JWT_ISSUER": url, **env}
    return start_server(server_env(settings, var_dir, **overrides), log, port=port)


def guarded_app(guard: TesseraGuard) -> FastAPI:
    """A product service of one route, guarded by the kit."""
    app = FastAPI(lifespan=guard.lifespan)
    app.state.guard = guard
    caller_type = Annotated[TesseraCaller, Security(guard, scopes=["me"])]

    @app.get("/whoami")
    def whoami(caller: caller_type) -> dict[str, Any]:
        return {"subject": str(caller.subject), "tenant_id": str(caller.tenant_id)}

    return app


class CuttableProxy:
    """A TCP relay to `target` on 127.0.0.1 that a test can cut: close every relayed
    connection and refuse new ones, as when the network between two hosts fails."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._listener = socket.create_server((HOST, 0))
        self.port = int(self._listener.getsockname()[1])
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def mend(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self.cut()
        _close(self._listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._cut:
                    _close(client)
                    continue
                upstream = socket.create_connection((HOST, self._target))
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
