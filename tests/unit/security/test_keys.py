import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import get_default_algorithms
from pydantic import SecretStr, ValidationError

from backend.domain.errors import InvalidTokenError
from backend.security.keys import KeyConfigurationError, KeyRing, PrivateKey, thumbprint
from backend.security.tokens import ACCESS_TOKEN_TYPE, AccessTokenCodec
from backend.settings import Environment, Settings

SECRET = "unit-test-secret-" + "k" * 32
ASYMMETRIC = ["EdDSA", "RS256"]
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

Signer = Callable[[bytes], bytes]


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": Environment.TEST,
        "secret_key": SecretStr(SECRET),
        "encryption_key": SecretStr("e" * 40),
        "var_dir": tmp_path / "var",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def new_key(algorithm: str) -> PrivateKey:
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_key(directory: Path, kid: str, key: PrivateKey) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{kid}.pem").write_bytes(pem(key))


def issue(codec: AccessTokenCodec) -> str:
    return codec.issue(
        user_id=uuid.uuid4(), tenant_id=uuid.uuid4(), scope="me", token_version=1
    ).token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def resign(token: str, header: dict[str, object], sign: Signer) -> str:
    """The token's claims under a new header, signed by `sign`."""
    _, payload, _ = token.split(".")
    signing_input = f"{_b64(json.dumps(header).encode())}.{payload}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def hmac_with(secret: bytes) -> Signer:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def signer(algorithm: str, key: PrivateKey) -> Signer:
    return lambda data: get_default_algorithms()[algorithm].sign(data, key)


def load_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey)
    return key


@pytest.fixture(params=ASYMMETRIC)
def algorithm(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def key_dir(tmp_path: Path, algorithm: str) -> Path:
    write_key(tmp_path / "keys", "2026-01", new_key(algorithm))
    return tmp_path / "keys"


@pytest.fixture
def codec(tmp_path: Path, algorithm: str, key_dir: Path) -> AccessTokenCodec:
    return AccessTokenCodec(
        make_settings(tmp_path, jwt_algorithm=algorithm, jwt_private_keys_dir=key_dir)
    )


def test_round_trip_names_the_key_by_file_stem(codec: AccessTokenCodec, algorithm: str) -> None:
    user = uuid.uuid4()
    token = codec.issue(user_id=user, tenant_id=uuid.uuid4(), scope="me", token_version=2).token
    header = jwt.get_unverified_header(token)
    assert header == {"alg": algorithm, "typ": ACCESS_TOKEN_TYPE, "kid": "2026-01"}
    claims = codec.decode(token)
    assert (claims.user_id, claims.token_version, claims.scopes) == (user, 2, {"me"})


def test_published_jwks_verifies_the_token(codec: AccessTokenCodec, algorithm: str) -> None:
    token = issue(codec)
    key = jwt.PyJWKSet.from_dict(codec.jwks())["2026-01"]
    payload = jwt.decode(token, key, algorithms=[algorithm], audience="tessera-api")
    assert payload["scope"] == "me"


def test_jwks_holds_public_members_only(codec: AccessTokenCodec, algorithm: str) -> None:
    (jwk,) = codec.jwks()["keys"]
    assert not PRIVATE_MEMBERS & set(jwk)
    public = {"crv", "x"} if algorithm == "EdDSA" else {"n", "e"}
    assert set(jwk) == {"kty", "use", "alg", "kid"} | public
    assert (jwk["alg"], jwk["use"], jwk["kid"]) == (algorithm, "sig", "2026-01")


def test_jwks_cannot_be_altered_through_a_returned_copy(codec: AccessTokenCodec) -> None:
    codec.jwks()["keys"][0]["d"] = "leaked"
    assert "d" not in codec.jwks()["keys"][0]


def test_hs256_publishes_no_key(tmp_path: Path) -> None:
    assert AccessTokenCodec(make_settings(tmp_path)).jwks() == {"keys": []}


def test_rotation_keeps_tokens_of_the_previous_key_valid(
    tmp_path: Path, algorithm: str, key_dir: Path, codec: AccessTokenCodec
) -> None:
    old_token = issue(codec)
    write_key(key_dir, "2026-02", new_key(algorithm))
    rotated = AccessTokenCodec(
        make_settings(tmp_path, jwt_algorithm=algorithm, jwt_private_keys_dir=key_dir)
    )
    new_token = issue(rotated)
    assert jwt.get_unverified_header(new_token)["kid"] == "2026-02"
    assert [jwk["kid"] for jwk in rotated.jwks()["keys"]] == ["2026-01", "2026-02"]
    rotated.decode(old_token)
    rotated.decode(new_token)


def test_current_kid_setting_picks_the_signing_key(
    tmp_path: Path, algorithm: str, key_dir: Path
) -> None:
    write_key(key_dir, "2026-02", new_key(algorithm))
    settings = make_settings(
        tmp_path, jwt_algorithm=algorithm, jwt_private_keys_dir=key_dir, jwt_current_kid="2026-01"
    )
    assert jwt.get_unverified_header(issue(AccessTokenCodec(settings)))["kid"] == "2026-01"
    with pytest.raises(KeyConfigurationError, match="kid"):
        KeyRing.from_settings(settings.model_copy(update={"jwt_current_kid": "2027-01"}))


def test_removed_key_no_longer_verifies(
    tmp_path: Path, algorithm: str, key_dir: Path, codec: AccessTokenCodec
) -> None:
    old_token = issue(codec)
    write_key(key_dir, "2026-02", new_key(algorithm))
    (key_dir / "2026-01.pem").unlink()
    pruned = AccessTokenCodec(
        make_settings(tmp_path, jwt_algorithm=algorithm, jwt_private_keys_dir=key_dir)
    )
    with pytest.raises(InvalidTokenError, match="token is invalid"):
        pruned.decode(old_token)


@pytest.mark.parametrize("kid", ["2099-01", None, 7])
def test_unknown_or_missing_kid_is_refused(
    codec: AccessTokenCodec, algorithm: str, key_dir: Path, kid: object
) -> None:
    # Signed with the real key, so the kid alone decides.
    sign = signer(algorithm, load_key(key_dir / "2026-01.pem"))
    token = issue(codec)
    header: dict[str, object] = {"alg": algorithm, "typ": ACCESS_TOKEN_TYPE, "kid": "2026-01"}
    codec.decode(resign(token, header, sign))
    if kid is None:
        del header["kid"]
    else:
        header["kid"] = kid
    with pytest.raises(InvalidTokenError, match="token is invalid"):
        codec.decode(resign(token, header, sign))


def test_same_kid_with_another_key_is_refused(tmp_path: Path, algorithm: str) -> None:
    def codec_in(name: str) -> AccessTokenCodec:
        write_key(tmp_path / name, "2026-01", new_key(algorithm))
        return AccessTokenCodec(
            make_settings(tmp_path, jwt_algorithm=algorithm, jwt_private_keys_dir=tmp_path / name)
        )

    with pytest.raises(InvalidTokenError):
        codec_in("ours").decode(issue(codec_in("theirs")))


def test_hs256_forged_with_the_public_key_is_refused(
    codec: AccessTokenCodec, algorithm: str, key_dir: Path
) -> None:
    key = load_key(key_dir / "2026-01.pem")
    token = issue(codec)
    header: dict[str, object] = {"alg": "HS256", "typ": ACCESS_TOKEN_TYPE, "kid": "2026-01"}
    jwk = codec.jwks()["keys"][0]
    for secret in (public_pem(key), json.dumps(jwk).encode(), (jwk.get("x") or jwk["n"]).encode()):
        with pytest.raises(InvalidTokenError, match="token is invalid"):
            codec.decode(resign(token, header, hmac_with(secret)))


def test_alg_none_is_refused(codec: AccessTokenCodec) -> None:
    _, payload, _ = issue(codec).split(".")
    header = {"alg": "none", "typ": ACCESS_TOKEN_TYPE, "kid": "2026-01"}
    with pytest.raises(InvalidTokenError, match="token is invalid"):
        codec.decode(f"{_b64(json.dumps(header).encode())}.{payload}.")


def test_inline_pem_is_named_by_its_rfc7638_thumbprint(tmp_path: Path, algorithm: str) -> None:
    key = new_key(algorithm)
    settings = make_settings(
        tmp_path, jwt_algorithm=algorithm, jwt_private_key_pem=SecretStr(pem(key).decode())
    )
    ring = KeyRing.from_settings(settings)
    assert ring.current_kid == thumbprint(key.public_key())
    assert ring.jwks()["keys"][0]["kid"] == ring.current_kid


def test_thumbprint_matches_rfc8037_example() -> None:
    x = base64.urlsafe_b64decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    public = ed25519.Ed25519PublicKey.from_public_bytes(x)
    assert thumbprint(public) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_development_key_is_generated_once_and_reused(tmp_path: Path, algorithm: str) -> None:
    settings = make_settings(tmp_path, env=Environment.DEVELOPMENT, jwt_algorithm=algorithm)
    first = AccessTokenCodec(settings)
    token = issue(first)
    second = AccessTokenCodec(settings)
    assert second.jwks() == first.jwks()
    second.decode(token)
    key_dir = tmp_path / "var" / "jwt-keys"
    (key_file,) = key_dir.iterdir()
    assert key_file.name == f"dev-{algorithm.lower()}.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_dir.stat().st_mode & 0o077 == 0


def test_hs256_generates_no_private_key(tmp_path: Path) -> None:
    AccessTokenCodec(make_settings(tmp_path, env=Environment.DEVELOPMENT))
    assert not (tmp_path / "var" / "jwt-keys").exists()


def test_production_without_a_private_key_refuses_to_start(tmp_path: Path, algorithm: str) -> None:
    with pytest.raises(ValidationError, match="needs a private key in production"):
        make_settings(tmp_path, env=Environment.PRODUCTION, jwt_algorithm=algorithm)


def test_production_with_a_key_directory_starts(
    tmp_path: Path, algorithm: str, key_dir: Path
) -> None:
    settings = make_settings(
        tmp_path, env=Environment.PRODUCTION, jwt_algorithm=algorithm, jwt_private_keys_dir=key_dir
    )
    AccessTokenCodec(settings).decode(issue(AccessTokenCodec(settings)))
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"jwt_private_keys_dir": Path("k"), "jwt_private_key_pem": SecretStr("x")}, "not both"),
        ({"jwt_current_kid": "2026-01"}, "needs TESSERA_JWT_PRIVATE_KEYS_DIR"),
    ],
)
def test_contradictory_key_settings_are_refused(
    tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        make_settings(tmp_path, jwt_algorithm="EdDSA", **overrides)


def test_key_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    write_key(tmp_path / "keys", "2026-01", new_key("EdDSA"))
    settings = make_settings(
        tmp_path, jwt_algorithm="RS256", jwt_private_keys_dir=tmp_path / "keys"
    )
    with pytest.raises(KeyConfigurationError, match="needs an RSA private key"):
        KeyRing.from_settings(settings)


def test_short_rsa_key_is_refused(tmp_path: Path) -> None:
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (too short on purpose)
    settings = make_settings(
        tmp_path, jwt_algorithm="RS256", jwt_private_key_pem=SecretStr(pem(short).decode())
    )
    with pytest.raises(KeyConfigurationError, match="2048"):
        KeyRing.from_settings(settings)


@pytest.mark.parametrize(
    "content", [b"", b"garbage-C0FFEE", b"-----BEGIN PRIVATE KEY-----\nC0FFEE\n"]
)
def test_unreadable_key_file_is_refused_without_echoing_it(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "2026-01.pem").write_bytes(content)
    settings = make_settings(
        tmp_path, jwt_algorithm="EdDSA", jwt_private_keys_dir=tmp_path / "keys"
    )
    with pytest.raises(KeyConfigurationError, match=r"2026-01\.pem: not an unencrypted") as caught:
        KeyRing.from_settings(settings)
    assert "C0FFEE" not in str(caught.value)


def test_empty_key_directory_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, jwt_algorithm="EdDSA", jwt_private_keys_dir=tmp_path)
    with pytest.raises(KeyConfigurationError, match=r"no \*\.pem"):
        KeyRing.from_settings(settings)
