"""Two tenants, each with an owner, and the tools to forge, tamper with and check tokens."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.orm import Session

from backend.db.models import Tenant, User
from backend.settings import Settings
from tests.conftest import builtin_role
from tests.factories import TenantFactory, UserFactory


@dataclass(frozen=True)
class Owner:
    tenant: Tenant
    user: User

    @property
    def username(self) -> str:
        return f"{self.tenant.slug}/{self.user.email}"


@pytest.fixture
def acme(db: Session) -> Owner:
    tenant = TenantFactory(slug="acme")
    user = UserFactory(
        tenant=tenant, email="ada@acme.test", roles=[builtin_role(db, tenant, "owner")]
    )
    db.commit()
    return Owner(tenant, user)


@pytest.fixture
def globex(db: Session) -> Owner:
    tenant = TenantFactory(slug="globex")
    user = UserFactory(
        tenant=tenant, email="grace@globex.test", roles=[builtin_role(db, tenant, "owner")]
    )
    db.commit()
    return Owner(tenant, user)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: object) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def segments(token: str) -> tuple[dict[str, object], dict[str, object], str]:
    """(header, payload, signature) of a compact JWS, unverified."""
    header, payload, signature = token.split(".")
    return _json(header), _json(payload), signature


def _json(segment: str) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


def with_payload(token: str, **changes: object) -> str:
    """The token with claims changed and the original signature kept (a tampered token)."""
    header, payload, signature = token.split(".")
    return ".".join([header, b64url_json({**_json(payload), **changes}), signature])


def hs256(header: dict[str, object], payload: dict[str, object], secret: bytes) -> str:
    """An HS256 JWS made by hand: PyJWT refuses to use a public key as an HMAC secret,
    which is exactly what an algorithm-confusion attacker does."""
    signing_input = f"{b64url_json(header)}.{b64url_json(payload)}"
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def unsigned(header: dict[str, object], payload: dict[str, object]) -> str:
    """`alg: none`: an empty signature segment."""
    return f"{b64url_json({**header, 'alg': 'none'})}.{b64url_json(payload)}."


def claims_for(
    user: User, settings: Settings, scope: str = "me", **changes: object
) -> dict[str, object]:
    """The claims Tessera itself would put in a fresh token for `user`, then `changes`."""
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user.id),
        "tid": str(user.tenant_id),
        "scope": scope,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + settings.access_token_ttl_seconds,
        "ver": user.token_version,
    }
    claims.update(changes)
    return claims


def assert_invalid_token(response: httpx.Response) -> None:
    """RFC 6750 §3.1: 401 with `invalid_token` in the body and the challenge."""
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
