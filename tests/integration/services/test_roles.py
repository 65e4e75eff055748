"""One role expansion, written twice: in SQL (`tessera_user_grants`, behind a user's
access tokens) and in Python (`RoleGraph`, behind service accounts, the explanations and
the cut-off after a role change). A property: over random role graphs, every path gives
the same scopes, and the same lapses where it tells them, and the ones the arranged rows
call for.

Each example is a fresh tenant (sometimes the platform tenant) with the built-in roles
and a few custom ones including earlier roles (a DAG), scopes from the whole catalogue,
a product API's, and some registered nowhere (retired), and two users whose grants
never expire, have expired, or expire soon or later. Every user has a service account
twin holding the roles of the user's live grants. The expansions run as the application
runs them: its database role, under row-level security; the example's rows are rolled
back after it.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.db.models import Api, ApiScope, Grant, Role, RoleScope, ServiceAccount, Tenant, User
from backend.db.tenant_context import enter_tenant
from backend.domain.roles import BUILTIN_ROLES
from backend.domain.scopes import PLATFORM_SCOPES, Scope, format_scopes
from backend.domain.subjects import SubjectKind
from backend.services import role_impact, roles, subjects
from backend.settings import Settings
from tests.factories import RoleFactory, ServiceAccountFactory, TenantFactory, UserFactory
from tests.support.database import APP_ROLE
from tests.support.role_model import lapses

# Stored in role_scopes, gone from the catalogue: they must grant nothing.
RETIRED = ("reports:read", "billing:manage", "users:impersonate")
# A product API's scopes: registered (api_scopes), so they count like the catalogue's.
PRODUCT = ("projects:read", "projects:write")
STORED_SCOPES = sorted(Scope) + list(PRODUCT) + list(RETIRED)
# How a grant expires, from the arrangement's start (None: never).
EXPIRIES: dict[str, timedelta | None] = {
    "never": None,
    "expired": timedelta(minutes=-5),
    "soon": timedelta(hours=1),
    "later": timedelta(days=1),
}


@dataclass(frozen=True)
class RoleSpec:
    # Extra scopes for a built-in role (which keeps its own), all of a custom role's.
    scopes: frozenset[str]
    # Indexes of earlier roles in the arrangement: inclusion stays acyclic.
    includes: frozenset[int]


@dataclass(frozen=True)
class Arrangement:
    platform: bool
    custom: list[RoleSpec]
    builtin_extras: list[frozenset[str]]
    # Per user: role index -> how its grant expires.
    grants: list[dict[int, str]]


@st.composite
def arrangements(draw: st.DrawFn) -> Arrangement:
    builtins = len(BUILTIN_ROLES)
    stored = st.frozensets(st.sampled_from(STORED_SCOPES), max_size=4)
    builtin_extras = [
        draw(stored if draw(st.integers(0, 3)) == 3 else st.just(frozenset()))
        for _ in range(builtins)
    ]
    custom = [
        RoleSpec(
            scopes=draw(stored, label="scopes"),
            includes=draw(st.frozensets(st.integers(0, index - 1), max_size=3), label="includes"),
        )
        for index in range(builtins, builtins + draw(st.integers(0, 5), label="custom roles"))
    ]
    every_role = st.integers(0, builtins + len(custom) - 1)
    grants = [
        draw(
            st.dictionaries(every_role, st.sampled_from(sorted(EXPIRIES)), max_size=4),
            label="grants",
        )
        for _ in range(2)
    ]
    return Arrangement(draw(st.booleans(), label="platform"), custom, builtin_extras, grants)


def stored_scopes(arrangement: Arrangement) -> list[frozenset[str]]:
    """Each role's rows in role_scopes, by role index (built-ins first)."""
    builtins = [
        frozenset(str(scope) for scope in builtin.scopes) | extra
        for builtin, extra in zip(BUILTIN_ROLES, arrangement.builtin_extras, strict=True)
    ]
    return builtins + [spec.scopes for spec in arrangement.custom]


def expected(
    arrangement: Arrangement, grants: dict[int, str], start: datetime
) -> dict[str, datetime | None]:
    """What the rows call for, from the arrangement alone: each scope of the live grants'
    closure and when it lapses, registered scopes only (the catalogue's and the product
    API's), platform scopes only in the platform tenant."""
    includes = [frozenset[int]()] * len(BUILTIN_ROLES) + [r.includes for r in arrangement.custom]
    graph = list(zip(stored_scopes(arrangement), includes, strict=True))
    live = {
        index: None if offset is None else start + offset
        for index, offset in ((i, EXPIRIES[e]) for i, e in grants.items() if e != "expired")
    }
    return {
        name: lapse
        for name, lapse in lapses(graph, live).items()
        if name not in RETIRED and (arrangement.platform or name not in PLATFORM_SCOPES)
    }


@dataclass(frozen=True)
class Rows:
    tenant: Tenant
    users: list[User]
    # Per user, a service account holding the roles of the user's live grants.
    twins: list[ServiceAccount]


def arrange(db: Session, arrangement: Arrangement, platform_slug: str, start: datetime) -> Rows:
    api = Api(identifier="https://api.example.com/projects", name="Projects")
    db.add(api)
    db.flush()
    db.add_all(ApiScope(name=name, api_id=api.id) for name in PRODUCT)
    tenant = TenantFactory(slug=platform_slug) if arrangement.platform else TenantFactory()
    by_name = {
        role.name: role for role in db.scalars(select(Role).where(Role.tenant_id == tenant.id))
    }
    all_roles = [by_name[builtin.name] for builtin in BUILTIN_ROLES]
    for builtin, role, extra in zip(
        BUILTIN_ROLES, all_roles, arrangement.builtin_extras, strict=True
    ):
        db.add_all(
            RoleScope(tenant_id=tenant.id, role_id=role.id, scope=name)
            for name in sorted(extra - {str(scope) for scope in builtin.scopes})
        )
    for spec in arrangement.custom:
        all_roles.append(
            RoleFactory(
                tenant=tenant,
                scopes=sorted(spec.scopes),
                includes=[all_roles[index] for index in sorted(spec.includes)],
            )
        )
    users, twins = [], []
    for grants in arrangement.grants:
        user = UserFactory(tenant=tenant)
        db.add_all(
            Grant(
                tenant_id=tenant.id,
                user_id=user.id,
                role_id=all_roles[index].id,
                expires_at=None if offset is None else start + offset,
            )
            for index, offset in ((i, EXPIRIES[expiry]) for i, expiry in grants.items())
        )
        users.append(user)
        live = [all_roles[index] for index, expiry in grants.items() if expiry != "expired"]
        twins.append(ServiceAccountFactory(tenant=tenant, roles=live))
    db.flush()
    return Rows(tenant, users, twins)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(arrangement=arrangements())
def test_sql_and_python_expansions_give_the_same_scopes_and_lapses(
    db: Session, settings: Settings, arrangement: Arrangement
) -> None:
    try:
        start = datetime.now(UTC)
        rows = arrange(db, arrangement, settings.platform_tenant_slug, start)
        tenant, users, twins = rows.tenant, rows.users, rows.twins
        # As the application: its role, row-level security, the tenant bound.
        db.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        enter_tenant(db, tenant.id)
        platform = tenant.slug == settings.platform_tenant_slug
        keys = {(SubjectKind.USER, u.id) for u in users} | {
            (SubjectKind.SERVICE_ACCOUNT, a.id) for a in twins
        }
        snapshot = role_impact.snapshot(db, tenant.id, keys, platform=platform).scopes
        for user, twin, grants in zip(users, twins, arrangement.grants, strict=True):
            want = expected(arrangement, grants, start)
            login = subjects.load_login(db, tenant.slug, user.email, datetime.now(UTC))
            assert login is not None
            assert login.subject is not None
            sql = login.subject.scopes_in(settings.platform_tenant_slug)
            scopes = {
                "SQL, effective_scopes": roles.effective_scopes(
                    db, tenant.id, user.id, platform=platform
                ),
                "SQL, the login's read": sql,
                "Python, holding": roles.holding(db, tenant.id, user.id, platform=platform).scopes,
                "Python, explain": frozenset(
                    e.scope for e in roles.explain(db, tenant.id, user.id, platform=platform)
                ),
                "Python, role change snapshot": frozenset(snapshot[(SubjectKind.USER, user.id)]),
                "Python, the twin service account": roles.service_account_scopes(
                    db, tenant.id, twin.id, platform=platform
                ),
                "Python, the twin's snapshot": frozenset(
                    snapshot[(SubjectKind.SERVICE_ACCOUNT, twin.id)]
                ),
            }
            note(f"grants {grants}: expected {want}")
            disagree = {
                how: format_scopes(got) for how, got in scopes.items() if got != want.keys()
            }
            assert not disagree, f"expected {format_scopes(set(want))!r}, but {disagree}"
            # Where the scopes lapse (a service account's never do).
            lapse_of = {
                "SQL, the login's read": {s: login.subject.lapses.get(s) for s in sql},
                "Python, role change snapshot": snapshot[(SubjectKind.USER, user.id)],
            }
            for how, got in lapse_of.items():
                assert got == want, how
            assert set(snapshot[(SubjectKind.SERVICE_ACCOUNT, twin.id)].values()) <= {None}
    finally:
        db.rollback()
