"""The file `tessera apis apply` reads: one `[[api]]` table per API, in TOML.

    [[api]]
    identifier = "https://api.example.com/projects"
    name = "Projects"
    description = "The projects service"

    [api.scopes]
    "projects:read" = "Read projects"

Pure: parsing and every check that needs no database, each refusal naming its line.
"""

import re
import tomllib
from dataclasses import dataclass, field

from backend.domain.apis import (
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    InvalidApiError,
    validate_identifier,
    validate_scope_name,
    validate_text,
)
from backend.domain.errors import DomainError
from backend.domain.scopes import Scope

_API_KEYS = frozenset({"identifier", "name", "description", "scopes"})
_API_HEADER = re.compile(r"^\s*\[\[\s*api\s*\]\]")
_TOML_LINE = re.compile(r"at line (\d+)")


class ManifestError(DomainError):
    """A file `apply` refuses: `line` (1-based; 0 when no line can be named) and why."""

    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}" if line else reason)


@dataclass(frozen=True, slots=True)
class ApiSpec:
    identifier: str
    name: str
    description: str
    scopes: dict[str, str] = field(default_factory=dict)
    # Where its `[[api]]` header is, for refusals found against the database.
    line: int = 0
    # The line of each scope's key.
    scope_lines: dict[str, int] = field(default_factory=dict)


def parse_manifest(text: str) -> list[ApiSpec]:
    """Every API the file declares, checked; ManifestError with the line otherwise."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        raise ManifestError(int(found.group(1)) if found else 0, f"not TOML: {exc}") from None
    lines = text.splitlines()
    unknown = sorted(set(data) - {"api"})
    if unknown:
        raise ManifestError(_find(lines, 0, len(lines), unknown[0]), f"unknown key {unknown[0]!r}")
    tables = data.get("api", [])
    if not isinstance(tables, list):
        raise ManifestError(_find(lines, 0, len(lines), "api"), "'api' must be [[api]] tables")
    headers = [i for i, line in enumerate(lines) if _API_HEADER.match(line)]
    specs: list[ApiSpec] = []
    owners: dict[str, str] = {}
    for index, table in enumerate(tables):
        start = headers[index] if index < len(headers) else 0
        end = headers[index + 1] if index + 1 < len(headers) else len(lines)
        spec = _spec(table, lines, start, end)
        if any(s.identifier == spec.identifier for s in specs):
            raise ManifestError(spec.line, f"API {spec.identifier!r} is declared twice")
        for scope, line in spec.scope_lines.items():
            if scope in owners:
                raise ManifestError(line, f"scope {scope!r} is already used by {owners[scope]}")
            owners[scope] = spec.identifier
        specs.append(spec)
    return specs


def _spec(table: object, lines: list[str], start: int, end: int) -> ApiSpec:
    header = start + 1
    if not isinstance(table, dict):
        raise ManifestError(header, "each [[api]] must be a table")
    for key in sorted(set(table) - _API_KEYS):
        raise ManifestError(_find(lines, start, end, key), f"unknown key {key!r} in [[api]]")
    for key in ("identifier", "name"):
        if key not in table:
            raise ManifestError(header, f"[[api]] needs {key!r}")
    identifier, name = table["identifier"], table["name"]
    description = table.get("description", "")
    scopes = table.get("scopes", {})
    for key, value in (("identifier", identifier), ("name", name), ("description", description)):
        if not isinstance(value, str):
            raise ManifestError(_find(lines, start, end, key), f"{key!r} must be a string")
    if not isinstance(scopes, dict):
        raise ManifestError(_find(lines, start, end, "scopes"), "'scopes' must be a table")
    try:
        key = "identifier"
        validate_identifier(identifier)
        key = "name"
        validate_text("name", name, max_length=MAX_NAME_LENGTH, required=True)
        key = "description"
        validate_text("description", description, max_length=MAX_DESCRIPTION_LENGTH)
    except InvalidApiError as exc:
        raise ManifestError(_find(lines, start, end, key), str(exc)) from None
    scope_lines: dict[str, int] = {}
    for scope, text in scopes.items():
        line = _find(lines, start, end, scope)
        if not isinstance(text, str):
            raise ManifestError(line, f"the description of {scope!r} must be a string")
        try:
            validate_scope_name(scope)
            validate_text(f"description of {scope}", text, max_length=MAX_DESCRIPTION_LENGTH)
        except InvalidApiError as exc:
            raise ManifestError(line, str(exc)) from None
        if scope in Scope.__members__.values():
            raise ManifestError(line, f"scope {scope!r} is already used by Tessera's own API")
        scope_lines[scope] = line
    return ApiSpec(identifier, name, description, dict(scopes), header, scope_lines)


def _find(lines: list[str], start: int, end: int, key: str) -> int:
    """The 1-based line in [start, end) where `key` is assigned (bare or quoted), or the
    block's first line."""
    pattern = re.compile(r'^\s*(?:"|\')?' + re.escape(key) + r'(?:"|\')?\s*=')
    for number in range(start, end):
        if pattern.match(lines[number]):
            return number + 1
    return start + 1
