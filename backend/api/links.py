"""OpenAPI links from each creating operation to the operations that take what it made.

A link tells a client generator, or a stateful fuzzer, that the `id` in a creation's
answer is the path parameter of other operations (POST /users -> GET /users/{id}, PUT
/users/{id}/roles/{role_id}...). They are derived from the document by one rule, so a
new route gets its links without anyone remembering to add them:

- a creation is an operation answering 201 or 202 with a body that has an `id`;
- what it creates is its own collection (201: POST /users makes members of /users), or,
  for an accepted job (202), the collection whose item GET answers the same schema
  (POST /users/{id}/offboard answers a JobOut, as GET /jobs/{id} does);
- a path parameter names a member of the collection before it (`/users/{id}`), or, when
  called `<thing>_id`, of `/<thing>s` (`/users/{id}/roles/{role_id}` takes a role id).
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

_PARAMETER = re.compile(r"\{([^}]+)\}")
_CREATED = ("201", "202")


@dataclass(frozen=True, slots=True)
class _Operation:
    path: str
    method: str
    spec: dict[str, Any]

    @property
    def operation_id(self) -> str:
        return str(self.spec["operationId"])


def install_links(app: FastAPI) -> None:
    """Make the app's OpenAPI document carry the links (built once, as FastAPI does)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_links(build())
        return app.openapi_schema

    # FastAPI's documented way to customise the document is to replace this method.
    app.openapi = openapi  # type: ignore[method-assign]


def add_links(document: dict[str, Any]) -> dict[str, Any]:
    """Add the links to `document` in place, and return it."""
    operations = [
        _Operation(path, method, spec)
        for path, methods in document["paths"].items()
        for method, spec in methods.items()
    ]
    for creation in operations:
        for status in _CREATED:
            response = creation.spec["responses"].get(status)
            body = _body_schema(response)
            if body is None or "id" not in _resolve(document, body).get("properties", {}):
                continue
            collection = creation.path if status == "201" else _served_by(operations, body)
            links = {
                target.operation_id: {
                    "operationId": target.operation_id,
                    "parameters": {f"path.{name}": "$response.body#/id"},
                }
                for target, name in _taking_members_of(operations, collection)
            }
            if links:
                response["links"] = links
    return document


def _taking_members_of(
    operations: list[_Operation], collection: str | None
) -> Iterator[tuple[_Operation, str]]:
    """Every operation with a path parameter that names a member of `collection`."""
    for operation in operations:
        for match in _PARAMETER.finditer(operation.path):
            name = match.group(1)
            if name.endswith("_id"):
                owner = "/" + name.removesuffix("_id") + "s"
            else:
                owner = operation.path[: match.start()].rstrip("/")
            if owner == collection:
                yield operation, name


def _served_by(operations: list[_Operation], body: dict[str, Any]) -> str | None:
    """The collection whose item GET answers the schema `body` (a JobOut: /jobs)."""
    for operation in operations:
        item = _PARAMETER.fullmatch(operation.path.rsplit("/", 1)[-1])
        if (
            operation.method == "get"
            and item
            and _body_schema(operation.spec["responses"].get("200")) == body
        ):
            return operation.path.rsplit("/", 1)[0]
    return None


def _body_schema(response: dict[str, Any] | None) -> dict[str, Any] | None:
    if response is None:
        return None
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    return schema if isinstance(schema, dict) else None


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if not isinstance(reference, str):
        return schema
    resolved: dict[str, Any] = document["components"]["schemas"][reference.rsplit("/", 1)[1]]
    return resolved
