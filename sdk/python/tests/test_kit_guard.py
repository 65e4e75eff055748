"""The guard against a real issuer on 127.0.0.1: what it admits, and every refusal."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from conftest import AUDIENCE, SCOPES, Issuer, bearer
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from tessera_fastapi import TesseraGuard

JWKS = "/.well-known/jwks.json"


def hs256(header: dict[str, str], claims: dict[str, object], secret: bytes) -> str:
    def part(value: object) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{part(header)}.{part(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def refused(client: TestClient, token: str) -> str:
    response = client.get("/projects", headers=bearer(token))
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token"')
    return str(response.json()["detail"]["error_description"])


def test_a_valid_token_is_verified_locally_into_a_caller(
    client: TestClient, issuer: Issuer
) -> None:
    subject, tenant = uuid.uuid4(), uuid.uuid4()
    token = issuer.token(sub=str(subject), tid=str(tenant), scope="projects:read other")
    before = len(issuer.requests)
    for _ in range(3):
        response = client.get("/projects", headers=bearer(token))
        assert response.status_code == 200, response.text
    assert response.json()["subject"] == str(subject)
    assert response.json()["tenant_id"] == str(tenant)
    assert response.json()["scopes"] == ["other", "projects:read"]
    assert (
        response.json()["token_id"] == jwt.decode(token, options={"verify_signature": False})["jti"]
    )
    # Not one request to the issuer per product request.
    assert len(issuer.requests) == before


def test_a_missing_token_is_401_and_a_missing_scope_403(client: TestClient, issuer: Issuer) -> None:
    response = client.get("/projects")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    response = client.post("/projects", headers=bearer(issuer.token(scope="projects:read")))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="projects:write"'
    )


def test_a_flood_of_bogus_kids_refetches_the_jwks_at_most_once_per_interval(
    client: TestClient, issuer: Issuer
) -> None:
    assert issuer.fetches(JWKS) == 1  # at start-up, which starts the interval
    for _ in range(50):
        token = issuer.token(headers={"kid": uuid.uuid4().hex})
        assert refused(client, token) == "unknown signing key"
    assert issuer.fetches(JWKS) == 1


def test_an_unknown_kid_past_the_interval_refetches_and_finds_a_rotated_key(
    issuer: Issuer,
) -> None:
    guard = TesseraGuard(issuer=issuer.url, audience=AUDIENCE, jwks_refetch_seconds=0)
    guard.start()
    old = issuer.token()
    issuer.rotate()
    keys = guard.keys
    assert keys is not None
    assert keys.get("key-2") is not None
    assert issuer.fetches(JWKS) == 2
    # The retired key stays published until its tokens expire, so they still verify.
    assert keys.get_held("key-1") is not None
    assert guard._verify(old) is not None
    assert guard._verify(issuer.token(kid="key-2")) is not None
    guard.close()


def test_an_hs256_token_keyed_with_the_public_key_is_refused(
    client: TestClient, issuer: Issuer
) -> None:
    public = issuer.key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    pem = issuer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk = json.dumps(issuer.jwks()["keys"][0]).encode()
    claims = jwt.decode(issuer.token(), options={"verify_signature": False})
    for secret in (public, pem, jwk):
        # By hand: PyJWT itself refuses an asymmetric key as an HMAC secret.
        forged = hs256({"alg": "HS256", "typ": "at+jwt", "kid": "key-1"}, claims, secret)
        assert refused(client, forged) == "unacceptable signing algorithm or key id"
    unsigned = jwt.encode(claims, "", algorithm="none", headers={"typ": "at+jwt", "kid": "key-1"})
    assert refused(client, unsigned) == "unacceptable signing algorithm or key id"
    # Refused on the header alone: none of them made the kit fetch the JWKS again.
    assert issuer.fetches(JWKS) == 1


@pytest.mark.parametrize("typ", [None, "JWT", "id_token+jwt"])
def test_a_token_without_typ_at_jwt_is_refused(
    client: TestClient, issuer: Issuer, typ: str | None
) -> None:
    headers = {"typ": typ} if typ else {}
    token = issuer.token(headers=headers)
    if typ is None:
        # PyJWT writes typ JWT unless told otherwise: strip the header member entirely.
        token = jwt.encode(
            jwt.decode(token, options={"verify_signature": False}),
            issuer.key,
            algorithm="EdDSA",
            headers={"kid": "key-1", "typ": None},
        )
        assert "typ" not in jwt.get_unverified_header(token)
    assert refused(client, token) == "not an access token (typ)"


def test_expiry_and_not_before_allow_only_the_leeway(client: TestClient, issuer: Issuer) -> None:
    now = int(time.time())
    assert refused(client, issuer.token(exp=now - 60)) == "token has expired"
    assert refused(client, issuer.token(nbf=now + 60)) == "token is invalid"
    # Within the 5 s leeway both ways: clocks a little apart still agree.
    ok = issuer.token(exp=now - 1, nbf=now + 1)
    assert client.get("/projects", headers=bearer(ok)).status_code == 200


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "https://tessera.example.test/api"},
        {"iss": "http://127.0.0.1:1"},
        {"aud": [AUDIENCE + "/other"]},
    ],
)
def test_another_audience_or_issuer_is_refused(
    client: TestClient, issuer: Issuer, claims: dict[str, Any]
) -> None:
    assert refused(client, issuer.token(**claims)) == "token is invalid"


def test_a_token_signed_by_another_key_with_a_known_kid_is_refused(
    client: TestClient, issuer: Issuer
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    assert refused(client, issuer.token(key=Ed25519PrivateKey.generate())) == "token is invalid"


def test_openapi_offers_tessera_login_with_the_apis_scopes(
    client: TestClient, issuer: Issuer, guard: TesseraGuard
) -> None:
    document = client.get("/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["Tessera"]
    assert scheme["type"] == "oauth2"
    # The code flow, from the metadata: Swagger UI's password flow cannot send `resource`.
    assert scheme["flows"] == {
        "authorizationCode": {
            "authorizationUrl": f"{issuer.url}/authorize",
            "tokenUrl": f"{issuer.url}/token",
            "scopes": SCOPES,
        }
    }
    assert document["paths"]["/projects"]["post"]["security"] == [{"Tessera": ["projects:write"]}]


def test_swagger_ui_signs_in_with_pkce_for_this_api(guard: TesseraGuard) -> None:
    assert guard.swagger_ui_init_oauth("projects-docs") == {
        "clientId": "projects-docs",
        "usePkceWithAuthorizationCodeGrant": True,
        "additionalQueryStringParams": {"resource": AUDIENCE},
    }


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"typ": ["at+jwt"]}, "not an access token (typ)"),
        ({"typ": {"at+jwt": 1}}, "not an access token (typ)"),
        ({"alg": ["EdDSA"]}, "unacceptable signing algorithm or key id"),
        ({"alg": {"EdDSA": 1}}, "unacceptable signing algorithm or key id"),
        ({"kid": ["key-1"]}, "malformed token"),
        ({"kid": 1}, "malformed token"),
    ],
)
def test_header_members_of_the_wrong_json_type_are_a_401(
    client: TestClient, issuer: Issuer, header: dict[str, object], reason: str
) -> None:
    # Signed by the issuer's key, so only the header's shape is wrong; built by hand,
    # since PyJWT writes alg and kid as strings.
    good = issuer.token()
    claims = jwt.decode(good, options={"verify_signature": False})
    signing_input = ".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
        for part in ({"alg": "EdDSA", "typ": "at+jwt", "kid": "key-1", **header}, claims)
    )
    signature = issuer.key.sign(signing_input.encode())
    token = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    assert refused(client, token) == reason


@pytest.mark.parametrize(
    "claims",
    [
        {"ver": "1"},
        {"ver": [1]},
        {"ver": True},
        {"scope": ["projects:read"]},
        {"sub": 5},
        {"tid": None},
        {"sub": "not-a-uuid"},
    ],
)
def test_claims_of_the_wrong_json_type_are_a_401(
    client: TestClient, issuer: Issuer, claims: dict[str, Any]
) -> None:
    assert refused(client, issuer.token(**claims)) == "token is invalid"
