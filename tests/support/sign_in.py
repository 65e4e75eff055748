"""The browser sign-in flow as a test drives it: a registered client, PKCE, the hosted
form filled in, the code taken from the redirect."""

import base64
import hashlib
import html
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.db.models import Client, User
from backend.domain.clients import ClientType
from tests.conftest import builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory

REDIRECT_URI = "http://127.0.0.1:5173/callback"
LOGOUT_URI = "http://127.0.0.1:5173/"
ORIGIN = "http://127.0.0.1:5173"
# The test app's issuer: the URL TestClient calls it by.
ISSUER = "http://testserver"


def ada_of_acme(db: Session, **client: Any) -> User:
    """Ada, a member of Acme Corp (slug `acme`), and the public client `spa` (keywords go
    to register_client), committed."""
    tenant = TenantFactory(slug="acme", name="Acme Corp")
    ada: User = UserFactory(
        tenant=tenant,
        email="ada@acme.test",
        full_name="Ada Lovelace",
        roles=[builtin_role(db, tenant, "member")],
    )
    register_client(db, **client)
    return ada


def register_client(
    db: Session,
    client_id: str = "spa",
    *,
    redirect_uris: list[str] | None = None,
    origins: list[str] | None = None,
    grants: list[str] | None = None,
    resources: list[str] | None = None,
    logout_uris: list[str] | None = None,
) -> Client:
    """A public client, committed (the owner's session passes row-level security)."""
    client = Client(
        id=uuid.uuid4(),
        client_id=client_id,
        name=f"{client_id} app",
        type=ClientType.PUBLIC,
        redirect_uris=redirect_uris or [REDIRECT_URI],
        post_logout_redirect_uris=logout_uris or [LOGOUT_URI],
        allowed_origins=origins if origins is not None else [ORIGIN],
        grant_types=grants or ["authorization_code", "refresh_token"],
        resources=resources or [],
    )
    db.add(client)
    db.commit()
    return client


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> "Pkce":
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


def authorize_params(pkce: Pkce, **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": "spa",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email offline_access me",
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(4),
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
    }
    return {k: v for k, v in (params | overrides).items() if v != ""}


def form_fields(page: httpx.Response) -> dict[str, str]:
    """Every hidden field of the page's form, the CSRF token among them."""
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
    return {name: html.unescape(value) for name, value in found}


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def target_of(location: str) -> str:
    parts = urlsplit(location)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def sign_in(
    web: TestClient, params: dict[str, str], password: str = DEFAULT_PASSWORD
) -> httpx.Response:
    """GET /authorize, then the form with the user's credentials; the answer to the form."""
    page = web.get("/authorize", params=params)
    assert page.status_code == 200, page.text
    fields = form_fields(page) | {"email": "ada@acme.test", "password": password}
    fields.setdefault("tenant", "acme")
    return web.post("/authorize", data=fields)


def exchange(web: TestClient, code: str, pkce: Pkce, **overrides: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": "spa",
        "code_verifier": pkce.verifier,
    }
    return web.post("/token", data={k: v for k, v in (form | overrides).items() if v != ""})


def code_for(web: TestClient, pkce: Pkce, **overrides: str) -> str:
    params = authorize_params(pkce, tenant="acme", **overrides)
    answer = sign_in(web, params)
    assert answer.status_code == 303, answer.text
    query = query_of(answer.headers["location"])
    assert query["state"] == params["state"]
    return query["code"]
