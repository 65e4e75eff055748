"""Asymmetric signing (EdDSA, RS256) under attack: the public key is public, so every
trick that turns it into a signing key must fail with 401 `invalid_token`."""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from fastapi.testclient import TestClient

from backend.main import create_app
from backend.settings import Settings
from tests.conftest import bearer
from tests.factories import DEFAULT_PASSWORD
from tests.security.conftest import (
    Owner,
    assert_invalid_token,
    b64url,
    claims_for,
    hs256,
    segments,
    unsigned,
)

pytestmark = pytest.mark.security

KID = "2026-11"
PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def generate(algorithm: str) -> PrivateKey:
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module", params=["EdDSA", "RS256"])
def algorithm(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def signing_key(algorithm: str) -> PrivateKey:
    return generate(algorithm)


@pytest.fixture(scope="module")
def asymmetric_client(
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    algorithm: str,
    signing_key: PrivateKey,
) -> Iterator[TestClient]:
    keys = tmp_path_factory.mktemp(f"keys-{algorithm}")
    (keys / f"{KID}.pem").write_bytes(
        signing_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    configured = settings.model_copy(
        update={"jwt_algorithm": algorithm, "jwt_private_keys_dir": Path(keys)}
    )
    with TestClient(create_app(configured)) as client:
        yield client


@pytest.fixture
def genuine(asymmetric_client: TestClient, acme: Owner) -> str:
    response = asymmetric_client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": acme.username,
            "password": DEFAULT_PASSWORD,
            "scope": "me",
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def public_key_forms(signing_key: PrivateKey, client: TestClient) -> dict[str, bytes]:
    """Every encoding of the public key an attacker might try as an HMAC secret."""
    public = signing_key.public_key()
    jwk = client.get("/.well-known/jwks.json").json()["keys"][0]
    forms = {
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwks-json": client.get("/.well-known/jwks.json").content,
    }
    if isinstance(public, ed25519.Ed25519PublicKey):
        forms["raw"] = public.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        forms["jwk-x"] = jwk["x"].encode()
    else:
        forms["pkcs1-pem"] = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        )
        forms["jwk-n"] = jwk["n"].encode()
    return forms


def test_control_the_genuine_token_works_and_verifies_with_the_jwks(
    asymmetric_client: TestClient, genuine: str, algorithm: str, settings: Settings
) -> None:
    assert asymmetric_client.get("/me", headers=bearer(genuine)).status_code == 200
    jwks = jwt.PyJWKSet.from_dict(asymmetric_client.get("/.well-known/jwks.json").json())
    claims = jwt.decode(genuine, jwks[KID], algorithms=[algorithm], audience=settings.jwt_audience)
    assert claims["scope"] == "me"


def test_hs256_signed_with_the_public_key_is_refused(
    asymmetric_client: TestClient,
    acme: Owner,
    genuine: str,
    settings: Settings,
    signing_key: PrivateKey,
) -> None:
    header = {**segments(genuine)[0], "alg": "HS256"}
    claims = claims_for(acme.user, settings, scope="me users:write roles:write")
    for form, secret in public_key_forms(signing_key, asymmetric_client).items():
        token = hs256(header, claims, secret)
        response = asymmetric_client.get("/me", headers=bearer(token))
        assert response.status_code == 401, f"public key as {form}: {response.text}"
        assert_invalid_token(response)


def test_alg_none_with_the_real_kid_is_refused(
    asymmetric_client: TestClient, acme: Owner, genuine: str, settings: Settings
) -> None:
    header = segments(genuine)[0]
    assert_invalid_token(
        asymmetric_client.get(
            "/me", headers=bearer(unsigned(header, claims_for(acme.user, settings)))
        )
    )


def test_a_token_signed_by_another_key_under_an_unknown_kid_is_refused(
    asymmetric_client: TestClient, acme: Owner, settings: Settings, algorithm: str
) -> None:
    token = jwt.encode(
        claims_for(acme.user, settings),
        generate(algorithm),
        algorithm=algorithm,
        headers={"typ": "at+jwt", "kid": "2099-01"},
    )
    assert_invalid_token(asymmetric_client.get("/me", headers=bearer(token)))


def test_a_token_signed_by_another_key_under_the_real_kid_is_refused(
    asymmetric_client: TestClient, acme: Owner, settings: Settings, algorithm: str
) -> None:
    token = jwt.encode(
        claims_for(acme.user, settings),
        generate(algorithm),
        algorithm=algorithm,
        headers={"typ": "at+jwt", "kid": KID},
    )
    assert_invalid_token(asymmetric_client.get("/me", headers=bearer(token)))


def test_the_other_asymmetric_algorithm_is_refused(
    asymmetric_client: TestClient, acme: Owner, settings: Settings, algorithm: str
) -> None:
    other = "RS256" if algorithm == "EdDSA" else "EdDSA"
    token = jwt.encode(
        claims_for(acme.user, settings),
        generate(other),
        algorithm=other,
        headers={"typ": "at+jwt", "kid": KID},
    )
    assert_invalid_token(asymmetric_client.get("/me", headers=bearer(token)))


def test_a_tampered_payload_under_the_genuine_signature_is_refused(
    asymmetric_client: TestClient, genuine: str, settings: Settings
) -> None:
    header, _, signature = genuine.split(".")
    claims = segments(genuine)[1]
    forged = {**claims, "scope": "me users:write", "exp": int(time.time()) + 86_400}
    body = b64url(json.dumps(forged).encode())
    assert_invalid_token(
        asymmetric_client.get("/me", headers=bearer(f"{header}.{body}.{signature}"))
    )


def test_an_hs256_token_made_with_the_shared_secret_is_refused(
    asymmetric_client: TestClient, acme: Owner, genuine: str, settings: Settings
) -> None:
    # TESSERA_SECRET_KEY stays configured (refresh tokens use it); it must not sign
    # access tokens once the algorithm is asymmetric.
    header = {**segments(genuine)[0], "alg": "HS256"}
    token = hs256(header, claims_for(acme.user, settings), settings.signing_secret())
    assert_invalid_token(asymmetric_client.get("/me", headers=bearer(token)))
