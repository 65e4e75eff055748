"""The one-pass urlencoded parser against Starlette's own, on generated bodies."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers
from starlette.formparsers import FormParser, MultiPartException

from backend.api.forms import FormLimitError, parse_urlencoded

# The bytes that matter to the grammar, and a few that matter to decoding.
_BYTES = st.sampled_from([b"&", b"=", b"+", b"%", b"2", b"F", b"a", b"\x00", b"\xff", b"\xe2"])
BODIES = st.lists(_BYTES, max_size=40).map(b"".join)


def starlette(body: bytes, chunk: int, **limits: float) -> list[tuple[str, object]]:
    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), chunk):
            yield body[start : start + chunk]

    headers = Headers({"content-type": "application/x-www-form-urlencoded"})
    parser = FormParser(headers, stream(), **limits)  # type: ignore[arg-type]
    return list(asyncio.run(parser.parse()).multi_items())


@given(body=BODIES, chunk=st.integers(1, 8))
def test_fields_are_what_starlette_makes_of_the_body(body: bytes, chunk: int) -> None:
    ours = parse_urlencoded(body, max_fields=1000, max_part_size=1024 * 1024)
    assert list(ours.multi_items()) == starlette(body, chunk)


@given(body=BODIES, fields=st.integers(1, 3), size=st.integers(1, 6))
def test_limits_refuse_what_starlette_refuses(body: bytes, fields: int, size: int) -> None:
    try:
        expected: object = starlette(body, len(body) or 1, max_fields=fields, max_part_size=size)
    except MultiPartException as exc:
        expected = exc.message
    try:
        ours: object = list(
            parse_urlencoded(body, max_fields=fields, max_part_size=size).multi_items()
        )
    except FormLimitError as exc:
        ours = str(exc)
    assert ours == expected


def test_a_token_request_reads_as_before() -> None:
    body = b"grant_type=refresh_token&refresh_token=rt_ab%2Bc+d&scope=me+users%3Aread&x"
    parsed = parse_urlencoded(body, max_fields=1000, max_part_size=1024 * 1024)
    assert dict(parsed) == {
        "grant_type": "refresh_token",
        "refresh_token": "rt_ab+c d",
        "scope": "me users:read",
        "x": "",
    }
    with pytest.raises(FormLimitError):
        parse_urlencoded(body, max_fields=3, max_part_size=1024)
