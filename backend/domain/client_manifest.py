"""The file `tessera clients apply` reads: one `[[client]]` table per client, in TOML.

    [[client]]
    client_id = "acme-web"
    name = "Acme web app"
    type = "public"
    redirect_uris = ["https://app.example.com/callback"]
    post_logout_redirect_uris = ["https://app.example.com/"]
    allowed_origins = ["https://app.example.com"]
    grant_types = ["authorization_code", "refresh_token"]
    resources = ["https://api.example.com/projects"]

Pure: parsing and every check that needs no database, each refusal naming its line.
Whether the resources exist and whether a stored client's type would change are checked
against the database by services/client_apply.py, with the lines kept here.
"""

from dataclasses import dataclass

from backend.domain import clients as rules
from backend.domain.clients import ClientMetadataError, ClientSpec, ClientType, GrantType
from backend.domain.manifest import ManifestError, Table, read_tables

_LISTS = (
    "redirect_uris",
    "post_logout_redirect_uris",
    "allowed_origins",
    "grant_types",
    "resources",
)
_CLIENT_KEYS = frozenset({"client_id", "name", "type", *_LISTS})
# What a client declared without `grant_types` may use, as at POST /clients.
DEFAULT_GRANTS = (GrantType.AUTHORIZATION_CODE.value,)


@dataclass(frozen=True, slots=True)
class DeclaredClient:
    spec: ClientSpec
    # The `[[client]]` header's line, and those of the keys checked against the database.
    line: int
    type_line: int
    resources_line: int


def parse_manifest(text: str) -> list[DeclaredClient]:
    """Every client the file declares, checked; ManifestError with the line otherwise."""
    declared: list[DeclaredClient] = []
    for table in read_tables(text, "client", _CLIENT_KEYS):
        client = _client(table)
        if any(d.spec.client_id == client.spec.client_id for d in declared):
            raise ManifestError(client.line, f"client {client.spec.client_id!r} is declared twice")
        declared.append(client)
    return declared


def _client(table: Table) -> DeclaredClient:
    table.require(("client_id", "name", "type"))
    values = {key: table.strings(key) for key in _LISTS}
    key = "client_id"
    try:
        client_id = rules.validate_client_id(table.string("client_id"))
        key = "name"
        name = rules.validate_name(table.string("name"))
        key = "type"
        kind = table.string("type")
        if kind not in {t.value for t in ClientType}:
            raise ClientMetadataError(f"type must be 'public' or 'confidential', not {kind!r}")
        key = "redirect_uris"
        redirect_uris = rules.validate_redirect_uris(key, values[key])
        key = "post_logout_redirect_uris"
        post_logout = rules.validate_redirect_uris(key, values[key])
        key = "allowed_origins"
        origins = rules.validate_origins(values[key])
        key = "grant_types"
        grants = rules.validate_grant_types(values[key] or DEFAULT_GRANTS, redirect_uris)
    except ClientMetadataError as exc:
        raise ManifestError(table.line_of(key), str(exc)) from None
    spec = ClientSpec(
        client_id=client_id,
        name=name,
        type=ClientType(kind),
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout,
        allowed_origins=origins,
        grant_types=[g.value for g in grants],
        resources=list(dict.fromkeys(values["resources"])),
    )
    return DeclaredClient(spec, table.header, table.line_of("type"), table.line_of("resources"))
