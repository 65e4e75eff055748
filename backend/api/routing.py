"""Route matching that passes over an included router none of whose paths fit.

FastAPI matches a request against the app's routers in turn, and each router against
its routes one by one, with Python-level bookkeeping per route. With 27 routers that
was the largest cost of a bare request (py-spy: ~40% of a bench-only route's samples,
matched last) and a share of every other. `skip_unfitting_routers` gives each included
router one regular expression, the union of its routes' own path patterns: a path that
fits none of them cannot match the router, neither fully nor partly (a wrong method is
a partial match of a fitting path), so the router answers "no match" without looking
at its routes. A path that fits is matched by FastAPI as before; the order of routers,
what matches and the OpenAPI document are unchanged. A router with anything but plain
routes (a mount, a nested router) is always asked.
"""

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, _EffectiveRouteContext, _IncludedRouter
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

# A named group of a route's pattern (a path parameter); the union needs none of them.
_GROUP = re.compile(r"\(\?P<[^>]+>")
Matches = Callable[[Scope], tuple[Match, Scope]]


def skip_unfitting_routers(app: FastAPI) -> None:
    """Wrap the `matches` of each router included in `app` (call after including them)."""
    for route in app.router.routes:
        if isinstance(route, _IncludedRouter):
            # Instance attribute over the method: FastAPI's loop calls `route.matches`.
            route.matches = _fitting_only(route)  # type: ignore[method-assign,assignment]


def _fitting_only(router: _IncludedRouter) -> Matches:
    original: Matches = router.matches
    built: dict[str, Any] = {"version": None, "fits": None}

    def matches(scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            version = router.original_router._get_routes_version()
            if version != built["version"]:
                # Routes added since (never, after start-up): the union is made again.
                built["fits"], built["version"] = _union(router), version
            fits = built["fits"]
            if fits is not None and fits.match(get_route_path(scope)) is None:
                return Match.NONE, {}
        return original(scope)

    return matches


def _union(router: _IncludedRouter) -> re.Pattern[str] | None:
    """One pattern matching exactly the paths some route of `router` matches; None if
    the router holds anything whose matching is not its path pattern's."""
    patterns = []
    for candidate in router.effective_candidates():
        if not (
            isinstance(candidate, _EffectiveRouteContext)
            and isinstance(candidate.original_route, APIRoute)
            and candidate.path_regex is not None
        ):
            return None
        patterns.append(_GROUP.sub("(?:", candidate.path_regex.pattern))
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{pattern})" for pattern in dict.fromkeys(patterns)))
