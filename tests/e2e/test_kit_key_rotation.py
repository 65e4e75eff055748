"""EdDSA key rotation in Tessera, seen by a product service guarded by the kit.

Tessera reads its keys at start-up, so each step of docs/security.md's rotation is a
restart on the same port (the issuer URL stays). The kit holds the JWKS it fetched at
start-up; a token naming a kid it lacks makes it fetch the set again (here at once: a
zero refetch interval; the limit itself is the kit's own tests').
"""

from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tessera_fastapi import TesseraGuard

from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory
from tests.support.kit import guarded_app, start_tessera

OLD, NEW = "2026-11", "2026-12"


def write_key(directory: Path, kid: str) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (directory / f"{kid}.pem").write_bytes(pem)


def login(url: str) -> str:
    form = {"grant_type": "password", "username": "acme/ann@acme.test"}
    response = httpx.post(f"{url}/token", data={**form, "password": DEFAULT_PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def test_tokens_of_a_new_key_pass_once_the_kit_refetches_and_old_ones_still_pass(
    db: Session, settings: Settings, tmp_path: Path
) -> None:
    tenant = TenantFactory(slug="acme")
    UserFactory(tenant=tenant, email="ann@acme.test", roles=[builtin_role(db, tenant, "member")])
    db.commit()
    keys = tmp_path / "keys"
    keys.mkdir()
    write_key(keys, OLD)
    env = {"TESSERA_JWT_PRIVATE_KEYS_DIR": str(keys)}
    tessera = start_tessera(settings, tmp_path / "var", tmp_path / "tessera.log", **env)
    guard = TesseraGuard(issuer=tessera.url, audience="tessera-api", jwks_refetch_seconds=0)
    try:
        old = login(tessera.url)
        assert kid_of(old) == OLD
        with TestClient(guarded_app(guard)) as service:
            assert service.get("/whoami", headers=bearer(old)).status_code == 200
            assert guard.keys is not None
            assert guard.keys.fetches == 1

            # Rotation: the new key joins the directory and signs (it sorts last); the
            # old one stays published until its tokens have expired.
            tessera.stop()
            write_key(keys, NEW)
            tessera = start_tessera(
                settings, tmp_path / "var", tmp_path / "tessera.log", port=tessera.port, **env
            )
            new = login(tessera.url)
            assert kid_of(new) == NEW
            assert guard.keys.get_held(NEW) is None
            assert service.get("/whoami", headers=bearer(new)).status_code == 200
            assert guard.keys.fetches == 2
            # The old key came back in the refetched set: its tokens pass until they expire.
            assert service.get("/whoami", headers=bearer(old)).status_code == 200
            assert service.get("/whoami", headers=bearer(new)).status_code == 200
            assert guard.keys.fetches == 2
    finally:
        tessera.stop()
