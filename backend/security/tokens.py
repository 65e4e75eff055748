"""Access tokens: JWTs per RFC 9068 (header typ `at+jwt`), signed with a key loaded once."""

import base64
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import jwt

from backend.domain.assurance import acr_for
from backend.domain.errors import InvalidTokenError
from backend.domain.subjects import SubjectKind
from backend.security.keys import Jwk, KeyRing
from backend.settings import Settings

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, not a secret)
# Clock skew tolerated on `iat` and `nbf` between the processes that issue and check
# tokens. Not on `exp`, which is checked exactly (see AccessTokenCodec.decode).
LEEWAY_SECONDS = 5
# Verified tokens a process remembers (each well under 1 KiB): a client sends the same
# access token with every request for its lifetime, so repeats are the common case.
VERIFIED_TOKENS = 4096


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    scopes: frozenset[str]
    token_version: int
    jti: str
    expires_at: int
    # Whose id `sub` is: a user's, or a service account's (client-credentials grant).
    subject_kind: SubjectKind = SubjectKind.USER
    # How the user's login authenticated (RFC 8176): `pwd`, and `otp`, `mfa` after a
    # second factor. Empty for a service account.
    amr: frozenset[str] = frozenset()
    # The API it is for (`aud`) and when it was issued (`iat`), for introspection.
    audience: str = ""
    issued_at: int = 0


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    expires_in: int


class AccessTokenCodec:
    """Issues and verifies access tokens. Build one per process: it holds the keys."""

    def __init__(self, settings: Settings) -> None:
        self._keys = KeyRing.from_settings(settings)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._ttl = settings.access_token_ttl_seconds
        self._jwt = jwt.PyJWT(
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"], "verify_sub": True}
        )
        # Only successes are kept (lru_cache keeps no exception), keyed by the token's
        # exact text: the same bytes under the same keys verify the same way every time,
        # so a repeat needs only the expiry check that decode() does on every call.
        self._verified = lru_cache(maxsize=VERIFIED_TOKENS)(self._verify)

    def issue(
        self,
        *,
        user_id: uuid.UUID,
        tenant_id: uuid.UUID,
        scope: str,
        token_version: int,
        now: int | None = None,
        not_after: int | None = None,
        subject_kind: SubjectKind = SubjectKind.USER,
        amr: Sequence[str] = (),
        audience: str | None = None,
    ) -> IssuedAccessToken:
        """Sign a token for the configured lifetime, or until `not_after` (seconds since
        the epoch) if that comes first: a time-bound grant lapsing (domain/token_lifetime.py).
        A user's login methods `amr` go in with the `acr` they make.

        `audience` is the API the token is for (its `aud`); None is Tessera's own API,
        the only one `decode` accepts.
        """
        issued_at = int(time.time()) if now is None else now
        expires_at = (
            issued_at + self._ttl if not_after is None else min(issued_at + self._ttl, not_after)
        )
        claims: dict[str, object] = {
            "iss": self._issuer,
            "aud": self._audience if audience is None else audience,
            "sub": str(user_id),
            "tid": str(tenant_id),
            "scope": scope,
            "jti": uuid.uuid4().hex,
            "iat": issued_at,
            "exp": expires_at,
            "ver": token_version,
        }
        if subject_kind != SubjectKind.USER:
            claims["kind"] = subject_kind.value
        if amr:
            claims["amr"] = list(amr)
            claims["acr"] = acr_for(amr)
        token = self._jwt.encode(
            claims,
            self._keys.signing_key,
            algorithm=self._keys.algorithm,
            headers={"typ": ACCESS_TOKEN_TYPE, "kid": self._keys.current_kid},
        )
        return IssuedAccessToken(token=token, expires_in=expires_at - issued_at)

    @property
    def audience(self) -> str:
        """Tessera's own API's identifier: the `aud` of its admin tokens."""
        return self._audience

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def keys(self) -> KeyRing:
        """The key ring, shared with the id_tokens (security/id_tokens.py)."""
        return self._keys

    def jwks(self) -> dict[str, list[Jwk]]:
        """The public keys that verify these tokens (RFC 7517); empty under HS256."""
        return self._keys.jwks()

    def decode(self, token: str, *, any_audience: bool = False) -> AccessClaims:
        """Verify type, key, signature, algorithm, expiry, issuer and audience; raise otherwise.

        The audience must be Tessera's own API: one audience per token, so a token a
        product service was given can never call Tessera's admin API. `any_audience`
        leaves the audience to the caller (introspection, which answers for every API).

        A token verified before is not parsed again: only its expiry is checked. PyJWT's
        decode costs hundreds of microseconds (it checks every character of the token in
        Python), which would otherwise be paid on every request.

        The expiry is exact, without the leeway: `exp` was set by this server's clock,
        and may be the moment a role grant lapses, after which the token's scopes are no
        longer held. The leeway serves `iat` and `nbf`, for skew between processes.
        """
        claims = self._verified(token)
        if claims.expires_at <= time.time():
            raise InvalidTokenError("token expired")
        if not any_audience and claims.audience != self._audience:
            raise InvalidTokenError("token is for another API")
        return claims

    def _verify(self, token: str) -> AccessClaims:
        """The full verification, expiry included; the audience only as a string
        (`decode` compares it).

        The key is chosen by the header's kid, but the algorithm list is pinned to the
        configured one: a header cannot talk the codec into HMAC with a public key, or none.
        """
        key = self._keys.verification_key(_unverified_kid(token))
        if key is None:
            raise InvalidTokenError("token is invalid")
        try:
            decoded = self._jwt.decode_complete(
                token,
                key,
                algorithms=[self._keys.algorithm],
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidTokenError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidTokenError("token is invalid") from exc
        header, payload = decoded["header"], decoded["payload"]
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidTokenError("token is invalid")
        try:
            return AccessClaims(
                user_id=uuid.UUID(payload["sub"]),
                tenant_id=uuid.UUID(payload["tid"]),
                scopes=frozenset(str(payload.get("scope", "")).split()),
                token_version=int(payload["ver"]),
                jti=str(payload["jti"]),
                expires_at=int(payload["exp"]),
                subject_kind=_subject_kind(payload.get("kind", SubjectKind.USER)),
                amr=_methods(payload.get("amr", [])),
                audience=_string(payload["aud"]),
                issued_at=int(payload["iat"]),
            )
        # AttributeError: uuid.UUID() of a non-string claim (`"tid": 42`) in a signed token.
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidTokenError("token is invalid") from exc


def _string(value: object) -> str:
    # We issue `aud` as one string; a list (RFC 7519 allows it) never comes from us.
    if not isinstance(value, str):
        raise TypeError("aud is not a string")
    return value


def _subject_kind(value: object) -> SubjectKind:
    if not isinstance(value, str):
        raise ValueError("unknown subject kind")
    return SubjectKind(value)


def _methods(value: object) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
        raise ValueError("amr is not a list of strings")
    return frozenset(value)


def _unverified_kid(token: str) -> object:
    """The header's kid, read only to choose the key; the signature then covers the header.

    Cheaper than jwt.get_unverified_header, which checks every character of all three
    segments in Python: that would double the parse cost of every verification.
    """
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:
        return None
    return header.get("kid") if isinstance(header, dict) else None
