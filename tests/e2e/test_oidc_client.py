"""A standard OpenID Connect client (Authlib) against a live Tessera on 127.0.0.1
(issue 18, item 7): discovery, PKCE, the hosted sign-in, the code exchange, id_token
validation, userinfo, refresh and RP-initiated logout; and two exchanges of one code
racing, of which exactly one wins.

Tessera runs as its own uvicorn process, signing with EdDSA under its URL as issuer.
Authlib's requests client plays the application; a plain HTTP client plays the person's
browser on the hosted page (fills the form, follows nothing)."""

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken
from sqlalchemy.orm import Session

from backend.db.models import User
from backend.settings import Settings
from tests.factories import DEFAULT_PASSWORD
from tests.support.kit import start_tessera
from tests.support.live_server import LiveServer
from tests.support.sign_in import LOGOUT_URI, REDIRECT_URI, ada_of_acme, form_fields

SCOPE = "openid profile email offline_access me"


@pytest.fixture
def tessera(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    server = start_tessera(settings, tmp_path / "var", tmp_path / "tessera.log")
    yield server
    server.stop()


@pytest.fixture
def ada(db: Session) -> User:
    return ada_of_acme(db)


def browser_signs_in(authorization_url: str) -> str:
    """What the person does on the hosted page; the redirect back to the application."""
    with httpx.Client() as browser:
        page = browser.get(authorization_url)
        assert page.status_code == 200, page.text
        assert "Sign in to Acme Corp" in page.text
        fields = form_fields(page) | {"email": "ada@acme.test", "password": DEFAULT_PASSWORD}
        answer = browser.post(str(page.url), data=fields)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    return location


def start(tessera: LiveServer) -> tuple[dict[str, str], OAuth2Session, str, str, str, str]:
    """Discovery, and an authorization URL with PKCE, state and nonce."""
    metadata = requests.get(f"{tessera.url}/.well-known/openid-configuration", timeout=10).json()
    client = OAuth2Session(
        client_id="spa",
        redirect_uri=REDIRECT_URI,
        scope=SCOPE,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier, nonce = generate_token(64), generate_token(20)
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, tenant="acme"
    )
    return metadata, client, url, verifier, nonce, state


def test_authlib_signs_in_validates_the_id_token_refreshes_and_logs_out(
    tessera: LiveServer, ada: User
) -> None:
    metadata, client, url, verifier, nonce, state = start(tessera)
    assert metadata["issuer"] == tessera.url
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    location = browser_signs_in(url)

    token = client.fetch_token(
        metadata["token_endpoint"],
        authorization_response=location,
        code_verifier=verifier,
        # Authlib refuses a redirect whose state is not this one: the round trip.
        state=state,
    )
    keys = JsonWebKey.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
    claims = jwt.decode(
        token["id_token"],
        keys,
        claims_cls=CodeIDToken,
        claims_options={"iss": {"value": metadata["issuer"]}, "aud": {"value": "spa"}},
        claims_params={"nonce": nonce, "access_token": token["access_token"]},
    )
    # iss, aud, exp, iat, auth_time, nonce and at_hash, as OpenID Connect Core §3.1.3.7.
    claims.validate()
    assert claims["sub"] == str(ada.id)
    assert claims["tid"] == str(ada.tenant_id)
    assert claims["email"] == "ada@acme.test"
    assert claims["name"] == "Ada Lovelace"

    info = client.get(metadata["userinfo_endpoint"], timeout=10)
    assert info.status_code == 200
    assert info.json()["sub"] == str(ada.id)
    me = client.get(f"{tessera.url}/me", timeout=10)
    assert me.status_code == 200
    assert me.json()["email"] == "ada@acme.test"

    refreshed = client.refresh_token(metadata["token_endpoint"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert client.get(metadata["userinfo_endpoint"], timeout=10).status_code == 200

    logout = requests.get(
        metadata["end_session_endpoint"],
        params={
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": LOGOUT_URI,
            "state": "bye",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert logout.status_code == 303
    assert logout.headers["location"] == f"{LOGOUT_URI}?state=bye"


def test_two_exchanges_of_one_code_racing_one_wins_and_the_winner_is_revoked(
    tessera: LiveServer, ada: User
) -> None:
    metadata, _, url, verifier, _, _ = start(tessera)
    code = httpx.QueryParams(httpx.URL(browser_signs_in(url)).query)["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": "spa",
        "code_verifier": verifier,
    }
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(2)

    def exchange() -> None:
        with httpx.Client(timeout=30) as http:
            barrier.wait()
            answers.append(http.post(metadata["token_endpoint"], data=form))

    racers = [threading.Thread(target=exchange) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=60)
    assert sorted(a.status_code for a in answers) == [200, 400]
    [won] = [a.json() for a in answers if a.status_code == 200]
    [lost] = [a.json() for a in answers if a.status_code == 400]
    assert lost["error"] == "invalid_grant"
    # The loser came after the winner's use: what the winner got is revoked.
    refreshed = httpx.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": won["refresh_token"]},
    )
    assert refreshed.status_code == 400
    me = httpx.get(f"{tessera.url}/me", headers={"Authorization": f"Bearer {won['access_token']}"})
    assert me.status_code == 401
