"""Tokens verified before: a repeat costs only its expiry check, and nothing more is
taken on trust than the same bytes under the same, still-published key."""

import time
import types
import uuid
from typing import Any

import jwt
import pytest
from conftest import AUDIENCE, Issuer, app_for, bearer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from tessera_fastapi import TesseraGuard, guard


def counted_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every full verification the guard makes (PyJWT's decode), by token."""
    decoded: list[str] = []
    decode = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        decoded.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    return decoded


def test_a_repeated_token_is_verified_once_and_still_expires(
    client: TestClient, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = counted_decodes(monkeypatch)
    token, other = issuer.token(), issuer.token()
    for _ in range(3):
        assert client.get("/projects", headers=bearer(token)).status_code == 200
    assert client.get("/projects", headers=bearer(other)).status_code == 200
    assert decoded == [token, other]
    # Past exp and the guard's 5 s leeway, the remembered token is refused all the same.
    later = time.time() + 300 + 6
    monkeypatch.setattr(
        guard, "time", types.SimpleNamespace(time=lambda: later, monotonic=time.monotonic)
    )
    response = client.get("/projects", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["detail"]["error_description"] == "token has expired"


def test_a_remembered_token_whose_key_was_replaced_is_verified_afresh(issuer: Issuer) -> None:
    tessera_guard = TesseraGuard(issuer=issuer.url, audience=AUDIENCE, jwks_refetch_seconds=0)
    with TestClient(app_for(tessera_guard)) as client:
        token = issuer.token()
        assert client.get("/projects", headers=bearer(token)).status_code == 200
        # The issuer now publishes another key under the same kid; a token naming an
        # unknown kid makes the guard refetch the set.
        issuer.key = Ed25519PrivateKey.generate()
        bogus = issuer.token(headers={"kid": uuid.uuid4().hex})
        assert client.get("/projects", headers=bearer(bogus)).status_code == 401
        response = client.get("/projects", headers=bearer(token))
        assert response.status_code == 401
        assert response.json()["detail"]["error_description"] == "token is invalid"


def test_a_callers_claims_are_read_only(issuer: Issuer) -> None:
    # One caller serves every request presenting the token: no request may change it.
    tessera_guard = TesseraGuard(issuer=issuer.url, audience=AUDIENCE)
    tessera_guard.start()
    try:
        verified = tessera_guard._verify(issuer.token())
        assert verified is not None
        with pytest.raises(TypeError):
            verified.caller.claims["scope"] = "projects:write"  # type: ignore[index]
    finally:
        tessera_guard.close()
