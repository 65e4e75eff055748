"""docs/api.md lists every operation of the app, with its operationId and its guard.

The table is written by hand (its last column says what each route does, with links);
this test keeps its first four columns equal to the app's OpenAPI document, and prints
the rows to add or fix when they drift.
"""

import re
from typing import Any

from backend.settings import PROJECT_ROOT
from tests.support.openapi import openapi_document

API_MD = PROJECT_ROOT / "docs" / "api.md"
ROW = re.compile(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \| `([a-z_]+)` \| ([^|]+) \|", re.M)
OPENAPI = openapi_document()

Row = tuple[str, str, str, str]


def documented() -> list[Row]:
    """(method, path, operationId, guard) of every row of the endpoint tables."""
    return [
        (method, path, operation_id, _guard_of_cell(cell))
        for method, path, operation_id, cell in ROW.findall(API_MD.read_text())
    ]


def served() -> dict[Row, str]:
    """The same for every operation of the app, with its summary (for a row to paste)."""
    return {
        (method.upper(), path, spec["operationId"], _guard_of(spec)): spec.get("summary", "")
        for path, methods in OPENAPI["paths"].items()
        for method, spec in methods.items()
    }


def _guard_of(spec: dict[str, Any]) -> str:
    scopes = sorted({s for requirement in spec.get("security", []) for s in _scopes(requirement)})
    return " ".join(f"scope `{s}`" for s in scopes) or "none"


def _scopes(requirement: dict[str, list[str]]) -> set[str]:
    return {scope for scopes in requirement.values() for scope in scopes}


def _guard_of_cell(cell: str) -> str:
    # "none (`client_credentials`: HTTP Basic)" is `none`; scopes are written `scope `x``.
    cell = cell.strip()
    return "none" if cell.startswith("none") else cell


def test_every_operation_is_listed_once_with_its_operation_id_and_guard() -> None:
    rows = documented()
    operations = served()
    missing = [row for row in operations if row not in rows]
    unknown = [row for row in rows if row not in operations]
    repeated = sorted({row for row in rows if rows.count(row) > 1})
    paste = "\n".join(
        f"| {m} | `{p}` | `{o}` | {g} | {operations[(m, p, o, g)]} |" for m, p, o, g in missing
    )
    assert not missing, (
        "docs/api.md is out of date with the app's OpenAPI. Add (or fix) these rows, then "
        f"describe each route in the last column:\n{paste}"
    )
    assert not unknown, f"rows for no operation of the app (or with another id or guard): {unknown}"
    assert not repeated, f"rows listed more than once: {repeated}"
