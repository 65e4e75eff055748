"""The API's OpenAPI document, built once per test process.

Half a dozen modules read it at import, so every test worker built it as often while
collecting; it depends on the routes only, not on settings. Each caller gets its own
copy: schemathesis and the sweeps may change what they are given.
"""

import copy
import functools
from typing import Any

from backend.main import create_app
from backend.settings import Settings


@functools.cache
def _built() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def openapi_document() -> dict[str, Any]:
    return copy.deepcopy(_built())
