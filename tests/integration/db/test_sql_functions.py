"""The SQL functions the migrated database runs are the ones in backend/db/sql/.

Each file holds one function's current definition; migrations embed frozen copies (an
old revision must keep meaning what it meant), so this test is what ties the two. It
installs a file into a scratch schema, inside a transaction it rolls back, and compares
PostgreSQL's own rendering of both functions (`pg_get_functiondef`: arguments, return
type, language, volatility, SECURITY DEFINER, SET search_path, body) and whether PUBLIC
may execute them. Layout does not count; any other change does.
"""

import difflib
import itertools
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

import backend.db

SQL_DIR = Path(backend.db.__file__).parent / "sql"
FILES = sorted(SQL_DIR.glob("*.sql"))

# One row per function: its name, PostgreSQL's rendering of it, whether PUBLIC may run it.
_FUNCTIONS = text(
    r"""
    SELECT p.proname, pg_get_functiondef(p.oid),
           coalesce(bool_or(a.grantee = 0 AND a.privilege_type = 'EXECUTE'), false)
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    LEFT JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a ON true
    WHERE n.nspname = :schema AND p.proname LIKE 'tessera\_%'
    GROUP BY p.oid, p.proname
    """
)

# String literals and quoted identifiers are kept as written, a line comment keeps the
# line break that ends it (what follows is code again), any other run of whitespace
# counts as one space.
_LAYOUT = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\s+""")

_scratch_names = itertools.count()


@dataclass(frozen=True, order=True)
class Function:
    """One function as PostgreSQL renders it: compared on `text`, shown by its lines."""

    text: str
    lines: tuple[str, ...] = field(compare=False)


Definitions = dict[str, list[Function]]


def normalised(definition: str) -> str:
    def one(match: re.Match[str]) -> str:
        token = match.group()
        if token.startswith(("'", '"')):
            return token
        if token.startswith("--"):
            return token.rstrip() + "\n"
        return " "

    return _LAYOUT.sub(one, definition).strip()


def definitions(connection: Connection, schema: str) -> Definitions:
    """The schema's tessera_* functions by name (overloads sorted)."""
    found: Definitions = {}
    for name, definition, public_may_execute in connection.execute(_FUNCTIONS, {"schema": schema}):
        grant = "-- EXECUTE " + ("granted to" if public_may_execute else "revoked from") + " PUBLIC"
        rendered = definition.replace(f"FUNCTION {schema}.", "FUNCTION ", 1) + "\n" + grant
        lines = tuple(line.strip() for line in rendered.splitlines() if line.strip())
        found.setdefault(name, []).append(Function(normalised(rendered), lines))
    return {name: sorted(functions) for name, functions in found.items()}


def installed(connection: Connection, sql: str) -> Definitions:
    """What PostgreSQL makes of `sql` (a file's text), run in a fresh scratch schema."""
    schema = f"tessera_sql_check_{next(_scratch_names)}"
    connection.execute(text(f"CREATE SCHEMA {schema}"))
    connection.execute(text(f"SET LOCAL search_path = {schema}"))
    # The driver's cursor, with no parameters: the text goes as written (`%ROWTYPE` is
    # no placeholder), several statements at once.
    connection.connection.cursor().execute(sql)
    connection.execute(text("SET LOCAL search_path = DEFAULT"))
    return definitions(connection, schema)


@pytest.fixture
def connection(owner_engine: Engine) -> Iterator[Connection]:
    """The owner's connection, in a transaction that is rolled back: scratch leaves nothing."""
    with owner_engine.connect() as connection, connection.begin() as transaction:
        yield connection
        transaction.rollback()


def test_every_function_has_a_file_and_every_file_a_function(connection: Connection) -> None:
    in_database = set(definitions(connection, "public"))
    in_files = {path.stem for path in FILES}
    assert in_database, "the migrated database has no tessera_* function"
    assert in_database - in_files == set(), f"functions without a file in {SQL_DIR}"
    assert in_files - in_database == set(), "files of functions the migrations do not create"


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_the_file_is_what_the_migrated_database_runs(connection: Connection, path: Path) -> None:
    from_file = installed(connection, path.read_text())
    assert set(from_file) == {path.stem}, (
        f"{path.name} must define {path.stem} (unqualified, one function per file), "
        f"defines {sorted(from_file)}"
    )
    running = definitions(connection, "public").get(path.stem, [])
    assert from_file[path.stem] == running, (
        f"{path.name} differs from what the migrated database runs: if the file is the "
        "new definition, add a migration that installs its text (docs/architecture.md, "
        "SQL functions)\n"
        + "\n".join(
            difflib.unified_diff(
                [line for function in running for line in function.lines],
                [line for function in from_file[path.stem] for line in function.lines],
                "database",
                path.name,
                lineterm="",
            )
        )
    )


def _file(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def _edited(name: str, old: str, new: str) -> str:
    sql = _file(name)
    assert old in sql, f"{name}.sql no longer contains {old!r}: update this test's edit"
    return sql.replace(old, new, 1)


# Pairs of texts with the same meaning, built when a test runs (a missing file fails
# that test, not the collection).
RELAID: dict[str, Callable[[], tuple[str, str]]] = {
    "indented as a migration embeds it": lambda: (
        _file("tessera_user_grants"),
        textwrap.indent(_file("tessera_user_grants"), " " * 8),
    ),
    "lines joined and split": lambda: (
        _file("tessera_rotate_refresh_token"),
        _edited(
            "tessera_rotate_refresh_token",
            "outcome := 'unknown';\n        RETURN NEXT;",
            "outcome := 'unknown';   RETURN NEXT;",
        ).replace("ELSIF tok.used_at", "ELSIF\n\ttok.used_at"),
    ),
}

# Edits of one file, (function, old text, new text), each a change of meaning.
CHANGED: dict[str, tuple[str, str, str]] = {
    "an operator": ("tessera_user_grants", "g.expires_at > p_now", "g.expires_at >= p_now"),
    "a string literal's spaces": (
        "tessera_enter_tenant_as_service_account",
        "ELSE 'disabled'",
        "ELSE ' disabled'",
    ),
    # The same words, but a statement now ends the comment's line: it no longer runs.
    "code moved into a comment": (
        "tessera_rotate_refresh_token",
        "never issued.\n        outcome := 'unknown';",
        "never issued. outcome := 'unknown';",
    ),
    "volatility": ("tessera_user_grants", "LANGUAGE plpgsql STABLE", "LANGUAGE plpgsql VOLATILE"),
    "search_path": ("tessera_enter_tenant_as", "pg_catalog, public", "public, pg_catalog"),
    "SECURITY DEFINER": ("tessera_enter_tenant_by_slug", "VOLATILE SECURITY DEFINER", "VOLATILE"),
    "EXECUTE for PUBLIC": (
        "tessera_enter_tenant_by_slug",
        "REVOKE ALL ON FUNCTION tessera_enter_tenant_by_slug(text) FROM PUBLIC;",
        "",
    ),
}


@pytest.mark.parametrize("how", sorted(RELAID))
def test_layout_does_not_count(connection: Connection, how: str) -> None:
    before, after = RELAID[how]()
    assert installed(connection, after) == installed(connection, before)


@pytest.mark.parametrize("what", sorted(CHANGED))
def test_any_other_change_does(connection: Connection, what: str) -> None:
    name, old, new = CHANGED[what]
    first, second = (
        installed(connection, _file(name)),
        installed(connection, _edited(name, old, new)),
    )
    assert set(first) == set(second) != set()
    assert first != second
