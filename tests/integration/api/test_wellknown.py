"""The discovery documents, and asymmetric tokens verified against the published JWKS."""

from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.db.models import Api, ApiScope
from backend.domain.scopes import Scope
from backend.main import create_app
from backend.settings import Settings
from tests.conftest import bearer, builtin_role
from tests.factories import DEFAULT_PASSWORD, TenantFactory, UserFactory


def test_hs256_publishes_an_empty_jwks(client: TestClient) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.json() == {"keys": []}
    assert response.headers["cache-control"] == "public, max-age=300"


def test_metadata_names_the_endpoints_under_the_request_base_url(
    client: TestClient, settings: Settings, db: Session
) -> None:
    api = Api(identifier="https://api.example.com/projects", name="Projects")
    db.add(api)
    db.flush()
    db.add_all(ApiScope(name=name, api_id=api.id) for name in ("projects:write", "projects:read"))
    db.commit()
    response = client.get(
        "/.well-known/oauth-authorization-server", headers={"Host": "id.example.test"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "issuer": settings.jwt_issuer,
        "authorization_endpoint": "http://id.example.test/authorize",
        "token_endpoint": "http://id.example.test/token",
        "revocation_endpoint": "http://id.example.test/revoke",
        "introspection_endpoint": "http://id.example.test/introspect",
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "jwks_uri": "http://id.example.test/.well-known/jwks.json",
        "standings_endpoint": "http://id.example.test/standings",
        "grant_types_supported": [
            "password",
            "refresh_token",
            "client_credentials",
            "authorization_code",
            "urn:tessera:params:oauth:grant-type:mfa",
        ],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
        # Every API's: Tessera's own, each product API's, then OpenID Connect's.
        "scopes_supported": [
            *(scope.value for scope in Scope),
            *["projects:read", "projects:write"],
            *["email", "offline_access", "openid", "profile"],
        ],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
    }


@pytest.mark.parametrize("algorithm", ["EdDSA", "RS256"])
def test_asymmetric_token_verifies_against_the_published_key(
    settings: Settings, db: Session, tmp_path: Path, algorithm: str
) -> None:
    key = (
        ed25519.Ed25519PrivateKey.generate()
        if algorithm == "EdDSA"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    (tmp_path / "2026-11.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    tenant = TenantFactory(slug="acme")
    UserFactory(tenant=tenant, email="ada@acme.test", roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    asymmetric = settings.model_copy(
        update={"jwt_algorithm": algorithm, "jwt_private_keys_dir": tmp_path}
    )

    with TestClient(create_app(asymmetric)) as client:
        login = client.post(
            "/token",
            data={
                "grant_type": "password",
                "username": "acme/ada@acme.test",
                "password": DEFAULT_PASSWORD,
                "scope": "me",
            },
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        jwks = client.get("/.well-known/jwks.json").json()
        me = client.get("/me", headers=bearer(token))
        metadata = client.get("/.well-known/oauth-authorization-server").json()

    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["kid"]) == (algorithm, "2026-11")
    assert [jwk["kid"] for jwk in jwks["keys"]] == ["2026-11"]
    # Exactly the public members: nothing private, and no nulls for the other key type.
    public_members = {"crv", "x"} if algorithm == "EdDSA" else {"n", "e"}
    assert set(jwks["keys"][0]) == {"kty", "use", "alg", "kid"} | public_members
    public = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    claims = jwt.decode(
        token,
        public,
        algorithms=[algorithm],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    assert claims["scope"] == "me"
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "ada@acme.test"
    assert metadata["jwks_uri"] == "http://testserver/.well-known/jwks.json"
