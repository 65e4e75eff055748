"""Which API a token is for (RFC 8707 resource indicators), and the scopes it may carry.

Every token grant resolves its request's `resource` here and narrows what it issues
here, so the rules have one home: one audience per token; no `resource` is Tessera's own
API; an unknown one, or more than one, is `invalid_target`; the scope is requested ∩
held ∩ the API's scopes. Tessera's own API costs no read (its scopes are the code
catalogue); a product API is one indexed statement at issuance. The guards never look
APIs up: a token's `aud` is checked against Tessera's own identifier when it is decoded.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.domain.errors import InvalidScopeError, InvalidTargetError
from backend.domain.scopes import Scope

_CATALOGUE: frozenset[str] = frozenset(Scope)
# Cut in messages: the resource is the client's text.
_SHOWN = 200


@dataclass(frozen=True, slots=True)
class Audience:
    """The API a token is for: its identifier (the token's `aud`) and its scopes."""

    identifier: str
    scopes: frozenset[str]
    builtin: bool

    @property
    def stored(self) -> str | None:
        """What a session keeps as its resource: None for Tessera's own API."""
        return None if self.builtin else self.identifier

    def grant(self, requested: frozenset[str], held: frozenset[str]) -> frozenset[str]:
        """requested ∩ held ∩ this API's scopes; all that is held of it if nothing is
        requested (the grant refuses a request left with nothing: invalid_scope)."""
        mine = held & self.scopes
        return mine & requested if requested else mine


def own(identifier: str) -> Audience:
    """Tessera's own API: its admin tokens, the code catalogue's scopes."""
    return Audience(identifier=identifier, scopes=_CATALOGUE, builtin=True)


def resolve(
    db: Session,
    own_identifier: str,
    resources: Sequence[str],
    requested: frozenset[str] = frozenset(),
    *,
    allowed: Collection[str] | None = None,
) -> Audience:
    """The API the `resource` values of a token request name (none: Tessera's own).

    More than one, or one no API has, is InvalidTargetError; so is one a registered
    client names that is not among its `allowed` resources (a client's request without
    `resource` is for Tessera's own API, as any other). A requested scope that no API
    has is InvalidScopeError (scopes of other APIs are only left out of the token).
    """
    if len(resources) > 1:
        raise InvalidTargetError(
            "give at most one resource: a token is for one API (its aud), so that no API "
            "can replay it to another; ask for one token per API"
        )
    identifier = resources[0] if resources else own_identifier
    if resources and allowed is not None and identifier not in allowed:
        raise InvalidTargetError(
            f"resource: this client may not ask for tokens for {identifier[:_SHOWN]!r}"
        )
    if identifier == own_identifier:
        audience = own(own_identifier)
    else:
        row = db.execute(_API_SCOPES, {"identifier": identifier}).one_or_none()
        if row is None:
            raise InvalidTargetError(f"resource: no API has the identifier {identifier[:_SHOWN]!r}")
        audience = Audience(identifier=identifier, scopes=frozenset(row.scopes), builtin=False)
    _require_registered(db, requested - audience.scopes - _CATALOGUE)
    return audience


def for_session(
    db: Session,
    own_identifier: str,
    stored: str | None,
    resources: Sequence[str],
    requested: frozenset[str] = frozenset(),
) -> Audience:
    """A refresh's API: the one its session was opened for. A `resource` naming any
    other is InvalidTargetError: a session's tokens are all for one API."""
    kept = stored if stored is not None else own_identifier
    if any(resource != kept for resource in resources):
        raise InvalidTargetError(
            f"resource: this session's tokens are for {kept[:_SHOWN]!r}; a refresh cannot "
            "change it (log in again for another API)"
        )
    return resolve(db, own_identifier, list(resources) or [kept], requested)


def _require_registered(db: Session, names: frozenset[str]) -> None:
    """Requested names that are neither the audience's nor the catalogue's: each must be a
    product scope of some API. Read only when a request names such a scope."""
    if not names:
        return
    found = set(db.scalars(_REGISTERED, {"names": sorted(names)}))
    unknown = sorted(names - found)
    if unknown:
        raise InvalidScopeError("unknown scope(s): " + " ".join(unknown))


# Plain SQL built once: an API and its scope names, by identifier (uq_apis_identifier).
_API_SCOPES = text(
    "SELECT coalesce(array_agg(s.name) FILTER (WHERE s.name IS NOT NULL), '{}') AS scopes "
    "FROM apis a LEFT JOIN api_scopes s ON s.api_id = a.id "
    "WHERE a.identifier = :identifier GROUP BY a.id"
)
_REGISTERED = text("SELECT name FROM api_scopes WHERE name = ANY(:names)")
