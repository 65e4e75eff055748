"""OpenAPI operationIds by one naming rule, so generated clients get stable, readable names.

FastAPI's default (`list_users_users_get`) repeats the function name, the path and the
method, and changes whenever a function is renamed. Here the id is the path's resource
names and what the method does to them:

- the static segments of the path, `-` and `.` as `_`, a file extension dropped
  (`/users/{id}/effective-scopes` -> `users_effective_scopes`,
  `/.well-known/jwks.json` -> `well_known_jwks`);
- then the verb. GET lists (`_list`) when it answers a list or a page (`items` and
  `next_cursor`), and reads (`_get`) otherwise. POST to a collection (the path ends in a
  plural noun) creates (`_create`); POST to anything else performs the action its last
  segment names, so the segments alone are the id (`token`, `users_disable`,
  `invitations_accept`). PUT is `_put`, PATCH `_update`, DELETE `_delete`.

The id also names the request body and response components (`Body_token`), so the
generated client's classes are stable too. tests/integration/api/test_openapi.py holds
the set to the one in docs/api.md, so a rename is always deliberate.
"""

import re
import typing

from fastapi.routing import APIRoute
from pydantic import BaseModel

_PARAMETER = re.compile(r"\{[^}]*\}")
_VERBS = {"PUT": "put", "PATCH": "update", "DELETE": "delete"}


def operation_id(route: APIRoute) -> str:
    """The operationId of a route (one method per route, as every route here has).

    FastAPI calls this before it sets the route's response model and status code, so
    what a route answers is read from its function's return annotation.
    """
    (method,) = route.methods or {"GET"}
    segments = [s for s in route.path.split("/") if s]
    nouns = [_noun(s) for s in segments if not _PARAMETER.fullmatch(s)]
    if method == "GET":
        verb: str | None = "list" if _answers_many(route) else "get"
    elif method == "POST":
        to_collection = not _PARAMETER.fullmatch(segments[-1]) and nouns[-1].endswith("s")
        verb = "create" if to_collection else None
    else:
        verb = _VERBS[method]
    return "_".join([*nouns, verb] if verb else nouns)


def _noun(segment: str) -> str:
    # ".well-known" -> "well-known", "jwks.json" -> "jwks"
    name = segment.lstrip(".").split(".", 1)[0]
    return re.sub(r"[^a-z]+", "_", name.lower()).strip("_")


def _answers_many(route: APIRoute) -> bool:
    answer = typing.get_type_hints(route.endpoint).get("return")
    if typing.get_origin(answer) is list:
        return True
    return (
        isinstance(answer, type)
        and issubclass(answer, BaseModel)
        and {"items", "next_cursor"} <= answer.model_fields.keys()
    )
