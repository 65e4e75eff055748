"""The rules a client's registration keeps: redirect URIs, origins, grants, client_id."""

import pytest

from backend.domain.clients import (
    ClientMetadataError,
    GrantType,
    validate_client_id,
    validate_grant_types,
    validate_name,
    validate_origins,
    validate_redirect_uris,
)


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/callback",
        "https://app.example.com:8443/cb?x=1",
        "http://127.0.0.1:5173/callback",
        "http://localhost/callback",
        "http://[::1]:8080/cb",
        "com.example.app:/oauth2redirect",
    ],
)
def test_redirect_uris_that_can_only_reach_the_app_are_accepted(uri: str) -> None:
    assert validate_redirect_uris("redirect_uris", [uri, uri]) == [uri]


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("/callback", "not absolute"),
        ("app.example.com/callback", "not absolute"),
        ("https://app.example.com/cb#frag", "fragment"),
        ("https://app.example.com/cb#", "fragment"),
        ("http://app.example.com/cb", "http"),
        ("http://127.0.0.1.evil.test/cb", "http"),
        ("http://localhost.evil.test/cb", "http"),
        ("javascript:alert(1)", "private-use"),
        ("data:text/html,x", "private-use"),
        ("myapp:/cb", "private-use"),
        ("https:///cb", "no host"),
        ("https://user:pw@app.example.com/cb", "credentials"),
        ("https://app.example.com/c b", "characters"),
        ("https://app.example.com/\x00", "characters"),
        ("https://app.example.com/\ud800", "characters"),
        ("https://bücher.example/cb", "characters"),
        ("https://app.example.com:99999/cb", "not a valid URI"),
        ("https://app.example.com/" + "a" * 2000, "longer"),
    ],
)
def test_redirect_uris_that_could_leak_a_code_are_refused(uri: str, reason: str) -> None:
    with pytest.raises(ClientMetadataError, match=reason):
        validate_redirect_uris("redirect_uris", [uri])


def test_too_many_uris_are_refused() -> None:
    uris = [f"https://app.example.com/{n}" for n in range(51)]
    with pytest.raises(ClientMetadataError, match="at most 50"):
        validate_redirect_uris("redirect_uris", uris)


@pytest.mark.parametrize(
    "origin", ["https://app.example.com", "http://127.0.0.1:5173", "https://a.example:8443"]
)
def test_origins_are_accepted_as_browsers_send_them(origin: str) -> None:
    assert validate_origins([origin]) == [origin]


@pytest.mark.parametrize(
    ("origin", "reason"),
    [
        ("https://app.example.com/", "not an origin"),
        ("https://app.example.com/path", "not an origin"),
        ("https://App.example.com", "lowercase"),
        ("http://app.example.com", "http"),
        ("com.example.app:", "http or https"),
        ("*", "not absolute"),
        ("null", "not absolute"),
    ],
)
def test_anything_but_an_origin_is_refused(origin: str, reason: str) -> None:
    with pytest.raises(ClientMetadataError, match=reason):
        validate_origins([origin])


def test_grants_are_known_deduplicated_and_the_code_grant_needs_a_redirect_uri() -> None:
    cb = ["https://app.example.com/cb"]
    assert validate_grant_types(
        ["authorization_code", "refresh_token", "authorization_code"], cb
    ) == [
        GrantType.AUTHORIZATION_CODE,
        GrantType.REFRESH_TOKEN,
    ]
    with pytest.raises(ClientMetadataError, match="unknown grant 'implicit'"):
        validate_grant_types(["implicit"], cb)
    with pytest.raises(ClientMetadataError, match="needs at least one redirect_uri"):
        validate_grant_types(["authorization_code"], [])
    assert validate_grant_types(["password"], []) == [GrantType.PASSWORD]


@pytest.mark.parametrize("client_id", ["acme-web", "a", "App.2_x", "a" * 64])
def test_client_ids(client_id: str) -> None:
    assert validate_client_id(client_id) == client_id


@pytest.mark.parametrize("client_id", ["", "-acme", "a" * 65, "acme web", "acme\x00", "ü"])
def test_bad_client_ids(client_id: str) -> None:
    with pytest.raises(ClientMetadataError, match="client_id"):
        validate_client_id(client_id)


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, "a\x00b", "a\udc80b"])
def test_bad_names(name: str) -> None:
    with pytest.raises(ClientMetadataError, match="name"):
        validate_name(name)
