"""Opaque secrets (refresh tokens, API keys, client secrets): made, parsed and hashed.

A secret reads `<kind>_<tenant id hex>_<256 random bits, base64url>`. The tenant part
lets the server bind the transaction to the right tenant before the lookup, so the
lookup itself stays under row-level security; only the SHA-256 of the whole string is
stored. High-entropy secrets need no slow hash: nobody can guess 256 bits. The secret
of a client (an application, which no tenant owns) carries its client's id there instead.
"""

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

_SHAPE = re.compile(r"([a-z]{2,4})_([0-9a-f]{32})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True, slots=True)
class OpaqueSecret:
    kind: str
    tenant_id: uuid.UUID
    value: str

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.value.encode()).digest()

    @property
    def prefix(self) -> str:
        """What listings show: enough to recognise a secret, far too little to use it."""
        return self.value[: len(self.kind) + 1 + 8]


def new_secret(kind: str, tenant_id: uuid.UUID) -> OpaqueSecret:
    return _compose(kind, tenant_id, secrets.token_bytes(32))


def derived_secret(kind: str, tenant_id: uuid.UUID, key: bytes, parent: str) -> OpaqueSecret:
    """A secret that only the holder of `key` can compute from `parent`.

    Refresh rotation uses it so that a repeat of the same refresh request within the
    grace window gets the very same successor, with nothing stored but its hash.
    """
    random_part = hmac.new(key, b"successor:" + parent.encode(), hashlib.sha256).digest()
    return _compose(kind, tenant_id, random_part)


def parse_secret(kind: str, value: str) -> OpaqueSecret | None:
    """The secret if `value` has the shape of one of `kind`; None for anything else."""
    match = _SHAPE.fullmatch(value)
    if match is None or match.group(1) != kind:
        return None
    return OpaqueSecret(kind=kind, tenant_id=uuid.UUID(hex=match.group(2)), value=value)


def _compose(kind: str, tenant_id: uuid.UUID, random_part: bytes) -> OpaqueSecret:
    encoded = base64.urlsafe_b64encode(random_part).rstrip(b"=").decode()
    return OpaqueSecret(kind=kind, tenant_id=tenant_id, value=f"{kind}_{tenant_id.hex}_{encoded}")
