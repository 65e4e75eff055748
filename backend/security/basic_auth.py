"""HTTP Basic client authentication as RFC 6749 §2.3.1 specifies it."""

import base64
import binascii
from urllib.parse import unquote_plus


def parse_basic(authorization: str | None) -> tuple[str, str] | None:
    """(client_id, client_secret) from an `Authorization: Basic ...` header, else None.

    Both parts are form-urlencoded before base64 (RFC 6749 §2.3.1), so they are
    decoded here; anything malformed is None, never an exception.
    """
    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, separator, secret = decoded.partition(":")
    if not separator:
        return None
    return unquote_plus(client_id), unquote_plus(secret)
