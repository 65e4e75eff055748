import base64
import json
import time
import uuid

import jwt
import pytest
from pydantic import SecretStr

from backend.domain.errors import InvalidTokenError
from backend.security.tokens import ACCESS_TOKEN_TYPE, LEEWAY_SECONDS, AccessTokenCodec
from backend.settings import Environment, Settings

SECRET = "unit-test-secret-" + "k" * 32


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"env": Environment.TEST, "secret_key": SecretStr(SECRET)}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def codec() -> AccessTokenCodec:
    return AccessTokenCodec(make_settings())


def issue(codec: AccessTokenCodec, **kwargs: object) -> str:
    values: dict[str, object] = {
        "user_id": uuid.uuid4(),
        "tenant_id": uuid.uuid4(),
        "scope": "me users:read",
        "token_version": 3,
    }
    values.update(kwargs)
    return codec.issue(**values).token  # type: ignore[arg-type]


def test_round_trip_carries_every_claim(codec: AccessTokenCodec) -> None:
    user, tenant = uuid.uuid4(), uuid.uuid4()
    issued = codec.issue(user_id=user, tenant_id=tenant, scope="me users:read", token_version=7)
    claims = codec.decode(issued.token)
    assert (claims.user_id, claims.tenant_id, claims.token_version) == (user, tenant, 7)
    assert claims.scopes == {"me", "users:read"}
    assert issued.expires_in == 900
    header = jwt.get_unverified_header(issued.token)
    assert header["typ"] == ACCESS_TOKEN_TYPE
    assert header["alg"] == "HS256"
    assert header["kid"].startswith("hs-")
    payload = jwt.decode(issued.token, options={"verify_signature": False})
    assert set(payload) == {"iss", "aud", "sub", "tid", "scope", "jti", "iat", "exp", "ver"}


def test_each_token_has_its_own_jti(codec: AccessTokenCodec) -> None:
    assert codec.decode(issue(codec)).jti != codec.decode(issue(codec)).jti


def test_expired_token_is_refused(codec: AccessTokenCodec) -> None:
    token = issue(codec, now=int(time.time()) - 900 - LEEWAY_SECONDS - 1)
    with pytest.raises(InvalidTokenError, match="expired"):
        codec.decode(token)


def test_token_signed_with_another_key_is_refused(codec: AccessTokenCodec) -> None:
    other = AccessTokenCodec(make_settings(secret_key=SecretStr("another-secret-" + "z" * 32)))
    with pytest.raises(InvalidTokenError):
        codec.decode(issue(other))


@pytest.mark.parametrize("field", ["jwt_issuer", "jwt_audience"])
def test_wrong_issuer_or_audience_is_refused(codec: AccessTokenCodec, field: str) -> None:
    foreign = AccessTokenCodec(make_settings(**{field: "someone-else"}))
    with pytest.raises(InvalidTokenError):
        codec.decode(issue(foreign))


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_tampered_payload_is_refused(codec: AccessTokenCodec) -> None:
    header, payload, signature = issue(codec).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "me users:read users:write"
    with pytest.raises(InvalidTokenError):
        codec.decode(f"{header}.{_b64(claims)}.{signature}")


def test_alg_none_is_refused(codec: AccessTokenCodec) -> None:
    _, payload, _ = issue(codec).split(".")
    header = _b64({"alg": "none", "typ": ACCESS_TOKEN_TYPE})
    with pytest.raises(InvalidTokenError):
        codec.decode(f"{header}.{payload}.")


def test_token_without_access_token_type_is_refused(codec: AccessTokenCodec) -> None:
    claims = jwt.decode(issue(codec), options={"verify_signature": False})
    plain = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(InvalidTokenError):
        codec.decode(plain)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "\x00\xff", "Bearer x"])
def test_garbage_is_refused(codec: AccessTokenCodec, garbage: str) -> None:
    with pytest.raises(InvalidTokenError):
        codec.decode(garbage)
