"""Cursors built by hand, as a client could send them, without the server's codec."""

import base64
import json


def raw_cursor(values: object) -> str:
    """base64url (unpadded) of JSON `values`, non-ASCII escaped: `"\\ud800"` stays a lone
    surrogate once decoded, which no encoder of Python text could produce."""
    raw = json.dumps(values, separators=(",", ":")).encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
