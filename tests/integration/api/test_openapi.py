"""The OpenAPI document as client generators and fuzzers read it: names, rules and links.

The operationIds are held to the checked-in list in docs/api.md by test_docs_api.py;
here, their form, and what the document states about input and about links.
"""

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from backend.api.schemas.users import Email
from backend.domain.policy import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH_FLOOR
from backend.domain.scopes import TENANT_SCOPES
from tests.conftest import bearer, builtin_role
from tests.factories import TenantFactory, UserFactory
from tests.support.openapi import openapi_document

OPENAPI = openapi_document()
SCHEMAS = OPENAPI["components"]["schemas"]
OPERATIONS = {
    spec["operationId"]: (method.upper(), path, spec)
    for path, methods in OPENAPI["paths"].items()
    for method, spec in methods.items()
}


def operation(operation_id: str) -> dict[str, Any]:
    return OPERATIONS[operation_id][2]


def property_of(schema: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = SCHEMAS[schema]["properties"][name]
    return found


# Operation ids


def test_every_operation_id_is_lower_snake_case_and_unique() -> None:
    ids = [
        spec["operationId"] for methods in OPENAPI["paths"].values() for spec in methods.values()
    ]
    assert [i for i in ids if not re.fullmatch(r"[a-z_]+", i)] == []
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("operation_id", "method", "path"),
    [
        ("users_list", "GET", "/users"),
        ("users_create", "POST", "/users"),
        ("users_get", "GET", "/users/{id}"),
        ("users_update", "PATCH", "/users/{id}"),
        ("users_disable", "POST", "/users/{id}/disable"),
        ("users_roles_put", "PUT", "/users/{id}/roles/{role_id}"),
        ("roles_create", "POST", "/roles"),
        ("roles_delete", "DELETE", "/roles/{id}"),
        ("token", "POST", "/token"),
        ("me_get", "GET", "/me"),
        ("well_known_jwks_get", "GET", "/.well-known/jwks.json"),
    ],
)
def test_operation_ids_name_the_resource_then_the_verb(
    operation_id: str, method: str, path: str
) -> None:
    assert OPERATIONS[operation_id][:2] == (method, path)


def test_the_bodies_are_named_by_what_they_are() -> None:
    token_body = operation("token")["requestBody"]["content"]
    assert token_body["application/x-www-form-urlencoded"]["schema"] == {
        "$ref": "#/components/schemas/TokenRequest"
    }
    assert not [name for name in SCHEMAS if name.startswith("Body_")]


# Rules stated in the schema


def test_new_passwords_state_the_bounds_every_tenant_keeps() -> None:
    bounds = {"minLength": MIN_PASSWORD_LENGTH_FLOOR, "maxLength": MAX_PASSWORD_LENGTH}
    for schema, field in [
        ("PasswordChange", "new_password"),
        ("InvitationAccept", "password"),
    ]:
        assert property_of(schema, field).items() >= bounds.items()
    for schema in ["UserCreate", "OwnerCreate"]:
        (string, _null) = property_of(schema, "password")["anyOf"]
        assert string.items() >= bounds.items()


@pytest.fixture
def floor_tenant(db: Session, issue_token: Any) -> str:
    """An owner's token in a tenant whose policy asks for no more than the floor."""
    tenant = TenantFactory(slug="floor", policy={"password_min_length": MIN_PASSWORD_LENGTH_FLOOR})
    owner = UserFactory(tenant=tenant, roles=[builtin_role(db, tenant, "owner")])
    db.commit()
    token: str = issue_token(owner, sorted(TENANT_SCOPES))
    return token


def stated_password_bounds() -> tuple[int, int]:
    stated = property_of("InvitationAccept", "password")
    return stated["minLength"], stated["maxLength"]


@pytest.mark.parametrize(
    ("bound", "beyond", "status"),
    [("minLength", 0, 201), ("minLength", -1, 422), ("maxLength", 0, 201), ("maxLength", 1, 422)],
)
def test_the_stated_password_bounds_are_the_enforced_ones(
    client: TestClient, floor_tenant: str, bound: str, beyond: int, status: int
) -> None:
    """In a tenant at the floor, the shortest and the longest new password the schema
    allows are accepted, and one character past either is refused."""
    length = property_of("InvitationAccept", "password")[bound] + beyond
    response = client.post(
        "/users",
        headers=bearer(floor_tenant),
        json={"email": f"n{length}@floor.test", "password": ("pale moth " * length)[:length]},
    )
    assert response.status_code == status, response.text


_ADDRESSISH = st.text(alphabet=st.sampled_from("ab.@ \t\x00\u00a0-"), max_size=12)


@given(st.one_of(st.from_regex(property_of("UserCreate", "email")["pattern"]), _ADDRESSISH))
def test_the_email_pattern_accepts_exactly_what_the_api_accepts(value: str) -> None:
    stated = property_of("UserCreate", "email")
    in_schema = len(value) <= stated["maxLength"] and re.search(stated["pattern"], value)
    try:
        TypeAdapter(Email).validate_python(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert bool(in_schema) == accepted


def test_a_password_or_an_invitation_is_stated_for_new_users_and_owners() -> None:
    for schema in ["UserCreate", "OwnerCreate"]:
        rule = SCHEMAS[schema]
        assert rule["then"]["properties"]["invite"] == {"const": False}
        assert rule["else"]["properties"]["invite"] == {"const": True}


def test_the_token_form_states_each_grants_fields() -> None:
    form = SCHEMAS["TokenRequest"]
    assert form["required"] == ["grant_type"]
    assert property_of("TokenRequest", "grant_type")["enum"] == [
        "password",
        "refresh_token",
        "client_credentials",
        "authorization_code",
        "urn:tessera:params:oauth:grant-type:mfa",
    ]
    needs = {c["if"]["properties"]["grant_type"]["const"]: c["then"] for c in form["allOf"]}
    assert needs == {
        "password": {"required": ["username", "password"]},
        "refresh_token": {"required": ["refresh_token"]},
        "authorization_code": {"required": ["code", "redirect_uri", "code_verifier"]},
        "urn:tessera:params:oauth:grant-type:mfa": {"required": ["mfa_token"]},
    }
    assert re.search(property_of("TokenRequest", "scope")["pattern"], "me users:read")
    assert re.search(property_of("TokenRequest", "tenant")["pattern"], "acme")
    assert SCHEMAS["RevocationRequest"]["required"] == ["token"]


# Links


def links_of(operation_id: str, status: str) -> dict[str, dict[str, str]]:
    response = operation(operation_id)["responses"][status]
    return {name: link["parameters"] for name, link in response.get("links", {}).items()}


@pytest.mark.parametrize(
    ("creation", "status", "expected"),
    [
        (
            "users_create",
            "201",
            {
                "users_get": "id",
                "users_update": "id",
                "users_delete": "id",
                "users_disable": "id",
                "users_enable": "id",
                "users_offboard": "id",
                "users_roles_list": "id",
                "users_roles_put": "id",
                "users_roles_delete": "id",
                "users_effective_scopes_get": "id",
            },
        ),
        (
            "roles_create",
            "201",
            {
                "roles_get": "id",
                "roles_update": "id",
                "roles_delete": "id",
                "users_roles_put": "role_id",
                "users_roles_delete": "role_id",
            },
        ),
        (
            "service_accounts_create",
            "201",
            {"service_accounts_get": "id", "service_accounts_delete": "id"},
        ),
        ("api_keys_create", "201", {"api_keys_delete": "id"}),
        (
            "tenants_create",
            "201",
            {
                "tenants_get": "id",
                "tenants_update": "id",
                "tenants_suspend": "id",
                "tenants_reactivate": "id",
            },
        ),
        ("users_offboard", "202", {"jobs_get": "id"}),
        ("users_bulk_disable", "202", {"jobs_get": "id"}),
    ],
)
def test_each_creation_links_to_the_operations_that_take_its_id(
    creation: str, status: str, expected: dict[str, str]
) -> None:
    wanted = {target: {f"path.{name}": "$response.body#/id"} for target, name in expected.items()}
    # At least these: a new route under the same collection is linked too.
    assert links_of(creation, status).items() >= wanted.items()


def test_every_link_names_an_operation_and_one_of_its_path_parameters() -> None:
    for _method, _path, spec in OPERATIONS.values():
        for response in spec["responses"].values():
            for link in response.get("links", {}).values():
                target = operation(link["operationId"])
                names = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
                assert {key.removeprefix("path.") for key in link["parameters"]} <= names


def test_every_operation_taking_an_id_is_reached_by_a_link() -> None:
    linked = {
        link["operationId"]
        for _method, _path, spec in OPERATIONS.values()
        for response in spec["responses"].values()
        for link in response.get("links", {}).values()
    }
    taking_an_id = {name for name, (_m, path, _s) in OPERATIONS.items() if "{" in path}
    # A session is opened by POST /token, whose answer carries no session id; a factor
    # by POST /me/factors/totp, whose answer names it `factor_id` (the issue's contract).
    assert taking_an_id - linked == {"me_sessions_delete", "me_factors_delete"}
