"""Where the API knowingly departs from what schemathesis expects, stated narrowly.

The OpenAPI fuzz test skips a check for a case only through these two functions, so
every tolerance is here, with its reason. Delete an entry when its cause is fixed.
"""

import re
from typing import Any

import schemathesis
from schemathesis.core.parameters import ParameterLocation

# Operation -> (checks skipped for it, why).
KNOWN_DEVIATIONS: dict[str, tuple[tuple[Any, ...], str]] = {
    # Other methods on /users/bulk-disable reach the routes of /users/{id}, whose `{id}`
    # is not constrained to a UUID in the route path: PATCH answers 422 (not a UUID)
    # instead of 405, and a 405 lists GET, PATCH and DELETE as allowed. Fix: `{id:uuid}`
    # in the paths of backend/api/routes/users.py.
    "POST /users/bulk-disable": (
        (schemathesis.checks.unsupported_method, schemathesis.checks.allow_header_conformance),
        "/users/{id} routes also match /users/bulk-disable",
    ),
}

# Pydantic's lax mode, FastAPI's default, turns these into the documented type where JSON
# Schema calls them invalid: 0/1 and "yes"/"off"... into booleans, "12" and 1.0 into
# integers, a number or a string of digits into a date-time (Unix time: `until=356`,
# `"expires_at": 0`, though OpenAPI documents ISO 8601). Schemathesis's negative cases
# use exactly such values, and the API accepts them on purpose (booleans, numbers) or
# harmlessly (date-times), so a negative case is not held against the API when every
# value it made invalid is one of these.
_BODY_FIELD = re.compile(r"/properties/([^/]+)")
_NUMBER = re.compile(r"[-+]?[0-9]+(\.[0-9]*)?")
_INTEGER = re.compile(r"\s*[-+]?[0-9]+(\.0*)?\s*")
_BOOLEAN_WORDS = {"0", "1", "true", "false", "t", "f", "yes", "no", "y", "n", "on", "off"}


def skipped_checks(case: schemathesis.Case, openapi: dict[str, Any]) -> list[Any]:
    """The checks not to run for this case, per the deviations above."""
    skipped = []
    # Keyed by the operation: a check may send the case with another method.
    deviation = KNOWN_DEVIATIONS.get(f"{case.operation.method.upper()} {case.operation.path}")
    if deviation is not None:
        skipped.extend(deviation[0])
    if _only_lax_coercions(case, openapi):
        skipped.append(schemathesis.checks.negative_data_rejection)
    return skipped


def _only_lax_coercions(case: schemathesis.Case, openapi: dict[str, Any]) -> bool:
    meta = case.meta
    if meta is None:
        return False
    data = meta.phase.data
    # What the case made invalid: a parameter by name, a body field by its schema
    # location (the coverage phase names the media type as the "parameter" then), or
    # the first step of each mutation's path (the fuzzing phase).
    mutated: set[str] = set()
    if data.parameter_location is ParameterLocation.BODY:
        field = _BODY_FIELD.match(data.location or "")
        if field:
            mutated.add(field.group(1))
    elif data.parameter:
        mutated.add(data.parameter)
    for mutation in data.mutations:
        name = mutation.path[0] if mutation.path else mutation.parameter
        if name is None:  # the body as a whole, or a header: not a coercion
            return False
        mutated.add(str(name))
    if not mutated:
        return False
    inputs = _inputs(case, openapi)
    values = {**(case.query or {}), **(case.body if isinstance(case.body, dict) else {})}
    return all(
        name in inputs and name in values and _lax_coercion(values[name], inputs[name], openapi)
        for name in mutated
    )


def _inputs(case: schemathesis.Case, openapi: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The operation's query parameters and top-level body fields, with their schemas."""
    # The coverage phase also sends methods the path lacks (TRACE...): no inputs then.
    operation = openapi["paths"][case.path].get(case.method.lower(), {})
    inputs = {p["name"]: p["schema"] for p in operation.get("parameters", [])}
    for media in operation.get("requestBody", {}).get("content", {}).values():
        inputs.update(_resolve(media["schema"], openapi).get("properties", {}))
    return inputs


def _resolve(node: dict[str, Any], openapi: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in node:
        return node
    resolved: dict[str, Any] = openapi["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return resolved


def _kinds(node: dict[str, Any], openapi: dict[str, Any]) -> set[str]:
    """The node's JSON types, with `date-time` for a string of that format."""
    node = _resolve(node, openapi)
    kinds = {node["type"]} if isinstance(node.get("type"), str) else set()
    if node.get("format") == "date-time":
        kinds.add("date-time")
    for option in node.get("anyOf", []):
        kinds |= _kinds(option, openapi)
    return kinds


def _lax_coercion(value: object, node: dict[str, Any], openapi: dict[str, Any]) -> bool:
    kinds = _kinds(node, openapi)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    text = value if isinstance(value, str) else None
    if "date-time" in kinds and (is_number or (text is not None and _NUMBER.fullmatch(text))):
        return True
    if "boolean" in kinds and not isinstance(value, bool):
        return (is_number and value in (0, 1)) or (
            text is not None and text.lower() in _BOOLEAN_WORDS
        )
    if "integer" in kinds and not (is_number and isinstance(value, int)):
        return (
            isinstance(value, bool)
            or (isinstance(value, float) and value.is_integer())
            or (text is not None and _INTEGER.fullmatch(text) is not None)
        )
    if "number" in kinds and not is_number:
        return isinstance(value, bool) or (text is not None and _NUMBER.fullmatch(text) is not None)
    return False
