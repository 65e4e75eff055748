"""Authorization past the guard's scopes: what a principal may hand out to others.

Granting a role, creating a role, an API key or a service account hands out scopes;
the no-escalation rule (domain.policy.require_within) allows only scopes the actor
holds, and `acting_scopes` is what they hold now.
"""

from sqlalchemy.orm import Session

from backend.domain.scopes import Scope
from backend.domain.subjects import SubjectKind
from backend.services import roles
from backend.services.principals import Principal


def acting_scopes(db: Session, principal: Principal) -> frozenset[str]:
    """What the principal may hand out: its credential's scopes, cut to what its roles give
    now, and the product scopes its roles give now.

    A token narrowed at login cannot be used to grant more of Tessera's scopes than it
    carries, and a role removed since the token was issued grants nothing. Product scopes
    count as held through the roles alone: a credential for Tessera's own API never
    carries them (one audience per token, services/audiences.py).
    """
    tenant_id, subject_id, platform = principal.tenant_id, principal.subject_id, principal.platform
    if principal.kind == SubjectKind.USER:
        held = roles.effective_scopes(db, tenant_id, subject_id, platform=platform)
    else:
        held = roles.service_account_scopes(db, tenant_id, subject_id, platform=platform)
    return (principal.scopes & held) | (held - _CATALOGUE)


_CATALOGUE: frozenset[str] = frozenset(Scope)
