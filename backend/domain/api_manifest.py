"""The file `tessera apis apply` reads: one `[[api]]` table per API, in TOML.

    [[api]]
    identifier = "https://api.example.com/projects"
    name = "Projects"
    description = "The projects service"

    [api.scopes]
    "projects:read" = "Read projects"

Pure: parsing and every check that needs no database, each refusal naming its line.
"""

from dataclasses import dataclass, field

from backend.domain.apis import (
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    InvalidApiError,
    validate_identifier,
    validate_scope_name,
    validate_text,
)
from backend.domain.manifest import ManifestError, Table, read_tables
from backend.domain.scopes import Scope

_API_KEYS = frozenset({"identifier", "name", "description", "scopes"})


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
    specs: list[ApiSpec] = []
    owners: dict[str, str] = {}
    for table in read_tables(text, "api", _API_KEYS):
        spec = _spec(table)
        if any(s.identifier == spec.identifier for s in specs):
            raise ManifestError(spec.line, f"API {spec.identifier!r} is declared twice")
        for scope, line in spec.scope_lines.items():
            if scope in owners:
                raise ManifestError(line, f"scope {scope!r} is already used by {owners[scope]}")
            owners[scope] = spec.identifier
        specs.append(spec)
    return specs


def _spec(table: Table) -> ApiSpec:
    table.require(("identifier", "name"))
    identifier, name = table.string("identifier"), table.string("name")
    description = table.string("description", "")
    scopes = table.values.get("scopes", {})
    if not isinstance(scopes, dict):
        raise ManifestError(table.line_of("scopes"), "'scopes' must be a table")
    try:
        key = "identifier"
        validate_identifier(identifier)
        key = "name"
        validate_text("name", name, max_length=MAX_NAME_LENGTH, required=True)
        key = "description"
        validate_text("description", description, max_length=MAX_DESCRIPTION_LENGTH)
    except InvalidApiError as exc:
        raise ManifestError(table.line_of(key), str(exc)) from None
    scope_lines: dict[str, int] = {}
    for scope, text in scopes.items():
        line = table.line_of(scope)
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
    return ApiSpec(identifier, name, description, dict(scopes), table.header, scope_lines)
