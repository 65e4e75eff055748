"""Access tokens: JWTs per RFC 9068 (header typ `at+jwt`), signed with a key loaded once."""

import hashlib
import time
import uuid
from dataclasses import dataclass

import jwt

from backend.domain.errors import InvalidTokenError
from backend.settings import Settings

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, not a secret)
# Clock skew tolerated between this server and whoever checks its tokens.
LEEWAY_SECONDS = 5


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    scopes: frozenset[str]
    token_version: int
    jti: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    expires_in: int


class AccessTokenCodec:
    """Issues and verifies access tokens. Build one per process: it holds the key."""

    def __init__(self, settings: Settings) -> None:
        self._key = settings.signing_secret()
        self._algorithm = settings.jwt_algorithm
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._ttl = settings.access_token_ttl_seconds
        # The kid names the key without revealing it, so a rotated key can be told apart.
        self._kid = "hs-" + hashlib.sha256(self._key).hexdigest()[:12]
        self._jwt = jwt.PyJWT(
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"], "verify_sub": True}
        )

    def issue(
        self,
        *,
        user_id: uuid.UUID,
        tenant_id: uuid.UUID,
        scope: str,
        token_version: int,
        now: int | None = None,
    ) -> IssuedAccessToken:
        issued_at = int(time.time()) if now is None else now
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "tid": str(tenant_id),
            "scope": scope,
            "jti": uuid.uuid4().hex,
            "iat": issued_at,
            "exp": issued_at + self._ttl,
            "ver": token_version,
        }
        token = self._jwt.encode(
            claims,
            self._key,
            algorithm=self._algorithm,
            headers={"typ": ACCESS_TOKEN_TYPE, "kid": self._kid},
        )
        return IssuedAccessToken(token=token, expires_in=self._ttl)

    def decode(self, token: str) -> AccessClaims:
        """Verify signature, algorithm, type, expiry, issuer and audience; raise otherwise."""
        try:
            decoded = self._jwt.decode_complete(
                token,
                self._key,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=LEEWAY_SECONDS,
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidTokenError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidTokenError("token is invalid") from exc
        header, payload = decoded["header"], decoded["payload"]
        if header.get("typ") != ACCESS_TOKEN_TYPE or header.get("kid") != self._kid:
            raise InvalidTokenError("token is invalid")
        try:
            return AccessClaims(
                user_id=uuid.UUID(payload["sub"]),
                tenant_id=uuid.UUID(payload["tid"]),
                scopes=frozenset(str(payload.get("scope", "")).split()),
                token_version=int(payload["ver"]),
                jti=str(payload["jti"]),
                expires_at=int(payload["exp"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidTokenError("token is invalid") from exc
