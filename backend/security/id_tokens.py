"""OpenID Connect id_tokens: signed with the asymmetric key ring of the access tokens.

An id_token is read by the client (and by anyone it shows it to), so it is signed with a
private key whose public half is in the JWKS: EdDSA or RS256. Under HS256 the ring has
only a shared secret, and OpenID Connect is not offered (`available` is False).
"""

import time
import uuid
from collections.abc import Sequence
from typing import Any

import jwt

from backend.domain.assurance import acr_for
from backend.domain.code_flow import half_hash
from backend.domain.errors import DomainError
from backend.security.keys import KeyRing

ID_TOKEN_TYPE = "JWT"  # noqa: S105 (a media type, not a secret)
# How long an id_token is valid: it proves a sign-in to the client, which checks it once.
ID_TOKEN_TTL_SECONDS = 300


class IdTokenHintError(DomainError):
    """An id_token_hint that this server did not sign, or that is not for the client."""


class IdTokenSigner:
    """Signs id_tokens and verifies them when they come back as `id_token_hint`."""

    def __init__(self, keys: KeyRing, issuer: str) -> None:
        self._keys = keys
        self._issuer = issuer

    @property
    def available(self) -> bool:
        return self._keys.algorithm != "HS256"

    @property
    def algorithm(self) -> str:
        return self._keys.algorithm

    def sign(
        self,
        *,
        user_id: uuid.UUID,
        tenant_id: uuid.UUID,
        client_id: str,
        auth_time: int,
        access_token: str,
        nonce: str | None,
        claims: dict[str, Any],
        amr: Sequence[str],
        now: int | None = None,
    ) -> str:
        """An id_token for `client_id` (its `aud`), with the standard claims, `tid`, how
        the sign-in authenticated (`amr`, and the `acr` it makes, as the access token
        has them), and the user's `claims` (email, name) the scopes asked for."""
        issued_at = int(time.time()) if now is None else now
        payload: dict[str, Any] = {
            **claims,
            "iss": self._issuer,
            "sub": str(user_id),
            "aud": client_id,
            "iat": issued_at,
            "exp": issued_at + ID_TOKEN_TTL_SECONDS,
            "auth_time": auth_time,
            "at_hash": half_hash(access_token, self._keys.algorithm),
            "tid": str(tenant_id),
            "amr": list(amr),
            "acr": acr_for(amr),
        }
        if nonce is not None:
            payload["nonce"] = nonce
        return jwt.encode(
            payload,
            self._keys.signing_key,
            algorithm=self._keys.algorithm,
            headers={"typ": ID_TOKEN_TYPE, "kid": self._keys.current_kid},
        )

    def read_hint(self, token: str) -> dict[str, Any]:
        """The claims of an id_token this server signed (RP-initiated logout's
        `id_token_hint`); an expired one still names its user and client (OpenID Connect
        RP-Initiated Logout §2). IdTokenHintError for anything else."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.verification_key(kid)
            if key is None or not self.available:
                raise IdTokenHintError("id_token_hint was not issued here")
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[self._keys.algorithm],
                issuer=self._issuer,
                options={"verify_exp": False, "verify_aud": False, "require": ["sub", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise IdTokenHintError("id_token_hint was not issued here") from exc
        return claims
