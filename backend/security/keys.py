"""The access-token key ring: the key that signs now and every key that still verifies.

HS256 signs and verifies with the shared secret and publishes nothing. EdDSA (Ed25519)
and RS256 sign with a private key and publish the public halves as a JWKS (RFC 7517),
so resource servers verify tokens without holding a secret. Every key has a `kid` that
tokens carry in their header: a new key can become current while tokens signed by the
previous one still verify until they expire.

Keys are parsed once, when the ring is built; signing with a PEM re-parsed per call
would cost tens of milliseconds per token for RSA.
"""

import base64
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from backend.secret_files import write_once
from backend.settings import Settings

PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ed25519.Ed25519PublicKey | rsa.RSAPublicKey
Jwk = dict[str, str]

# NIST SP 800-131A: RSA below 2048 bits no longer signs anything.
MIN_RSA_BITS = 2048
DEVELOPMENT_KEYS_DIR = "jwt-keys"


class KeyConfigurationError(ValueError):
    """The configured signing keys cannot be used; the process must not start."""


class KeyRing:
    """The current signing key and every verification key, by kid. Build once per process."""

    def __init__(
        self, algorithm: str, keys: Mapping[str, bytes | PrivateKey], current_kid: str
    ) -> None:
        if current_kid not in keys:
            raise KeyConfigurationError(f"no signing key has kid {current_kid!r}")
        self.algorithm = algorithm
        self.current_kid = current_kid
        self.signing_key = keys[current_kid]
        self._verification_keys: dict[str, bytes | PublicKey] = {
            kid: key if isinstance(key, bytes) else key.public_key() for kid, key in keys.items()
        }
        # A shared secret is never published, so an HS256 ring's JWKS is empty.
        self._jwks: tuple[Jwk, ...] = tuple(
            {**public_members(key), "kid": kid, "alg": algorithm, "use": "sig"}
            for kid, key in sorted(self._verification_keys.items())
            if not isinstance(key, bytes)
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> "KeyRing":
        """Load the keys the settings name, generating a development key when none is."""
        algorithm = settings.jwt_algorithm
        if algorithm == "HS256":
            secret = settings.signing_secret()
            # The kid names the secret without revealing it, so a rotated one is told apart.
            kid = "hs-" + hashlib.sha256(secret).hexdigest()[:12]
            return cls(algorithm, {kid: secret}, kid)
        if settings.jwt_private_keys_dir is not None:
            keys = _load_directory(settings.jwt_private_keys_dir, algorithm)
            return cls(algorithm, keys, settings.jwt_current_kid or list(keys)[-1])
        if settings.jwt_private_key_pem is not None:
            pem = settings.jwt_private_key_pem.get_secret_value().encode()
            source = "TESSERA_JWT_PRIVATE_KEY_PEM"
        else:
            # Settings refuse production without a key, so this is development or tests.
            path = _development_key(settings.var_dir, algorithm)
            pem, source = path.read_bytes(), str(path)
        key = _parse_private_key(pem, algorithm, source)
        kid = thumbprint(key.public_key())
        return cls(algorithm, {kid: key}, kid)

    def verification_key(self, kid: object) -> bytes | PublicKey | None:
        """The key that verifies tokens with this kid; None for an unknown or absent kid."""
        return self._verification_keys.get(kid) if isinstance(kid, str) else None

    def jwks(self) -> dict[str, list[Jwk]]:
        """The public JWK Set: public members only, copied so callers cannot alter the ring."""
        return {"keys": [dict(jwk) for jwk in self._jwks]}


def public_members(key: PublicKey) -> Jwk:
    """The JWK members that define a public key (RFC 7638 §3.2), and nothing private."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    numbers = key.public_numbers()
    return {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}


def thumbprint(key: PublicKey) -> str:
    """The RFC 7638 JWK thumbprint: SHA-256 of the required members, sorted, no spaces."""
    canonical = json.dumps(public_members(key), sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def _load_directory(directory: Path, algorithm: str) -> dict[str, PrivateKey]:
    """Every `*.pem` in the directory, by file stem, in file-name order."""
    files = sorted(path for path in directory.glob("*.pem") if path.is_file())
    if not files:
        raise KeyConfigurationError(f"{directory} holds no *.pem private key")
    return {
        path.stem: _parse_private_key(path.read_bytes(), algorithm, str(path)) for path in files
    }


def _parse_private_key(pem: bytes, algorithm: str, source: str) -> PrivateKey:
    # The messages name the source, never the key's content.
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (TypeError, ValueError) as exc:
        raise KeyConfigurationError(f"{source}: not an unencrypted PEM private key") from exc
    if algorithm == "EdDSA" and isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if algorithm == "RS256" and isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyConfigurationError(f"{source}: RSA keys need at least {MIN_RSA_BITS} bits")
        return key
    expected = "an Ed25519" if algorithm == "EdDSA" else "an RSA"
    raise KeyConfigurationError(f"{source}: {algorithm} needs {expected} private key")


def _development_key(var_dir: Path, algorithm: str) -> Path:
    """One key per algorithm under var_dir, made by whichever process starts first."""
    directory = var_dir / DEVELOPMENT_KEYS_DIR
    path = directory / f"dev-{algorithm.lower()}.pem"
    if path.exists():
        return path
    key: PrivateKey = (
        ed25519.Ed25519PrivateKey.generate()
        if algorithm == "EdDSA"
        else rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_once(path, pem)
    return path


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int) -> str:
    # RFC 7518 §6.3.1: big-endian, the minimum number of octets.
    return _b64url(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))
