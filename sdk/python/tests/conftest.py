"""The kit's tests against the stand-in issuer it ships (tessera_fastapi.testing).

They need no Tessera: they need an issuer whose keys they hold, and to count how often
the kit fetches the JWKS.
"""

import time
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Security
from fastapi.testclient import TestClient
from tessera_fastapi import TesseraCaller, TesseraGuard
from tessera_fastapi.testing import StandInIssuer

AUDIENCE = "https://api.example.test/projects"
SCOPES = {"projects:read": "Read projects", "projects:write": "Change projects"}


class Issuer(StandInIssuer):
    """The kit's own stand-in: tokens read projects unless told otherwise, and the JWKS
    can be made slow (requests then arrive while a fetch is under way)."""

    def __init__(self) -> None:
        super().__init__(audience=AUDIENCE)
        self.jwks_delay = 0.0

    def jwks(self) -> dict[str, Any]:
        time.sleep(self.jwks_delay)
        return super().jwks()

    def token(self, *, scope: str = "projects:read", **options: Any) -> str:
        return super().token(scope=scope, **options)


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with Issuer() as found:
        yield found


@pytest.fixture
def guard(issuer: Issuer) -> TesseraGuard:
    return TesseraGuard(issuer=issuer.url, audience=AUDIENCE, scopes=SCOPES, leeway=5)


@pytest.fixture
def client(guard: TesseraGuard) -> Iterator[TestClient]:
    with TestClient(app_for(guard)) as test_client:
        yield test_client


def app_for(guard: TesseraGuard) -> FastAPI:
    app = FastAPI(lifespan=guard.lifespan)
    reader = Annotated[TesseraCaller, Security(guard, scopes=["projects:read"])]
    writer = Annotated[TesseraCaller, Security(guard, scopes=["projects:write"])]

    @app.get("/projects")
    def projects(caller: reader) -> dict[str, Any]:
        return {
            "subject": str(caller.subject),
            "tenant_id": str(caller.tenant_id),
            "scopes": sorted(caller.scopes),
            "token_id": caller.token_id,
        }

    @app.post("/projects")
    def create(caller: writer) -> dict[str, str]:
        return {"subject": str(caller.subject)}

    return app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
