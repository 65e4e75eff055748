"""Rules of the code's shape that no single behaviour test would notice breaking."""

import ast
import re
from collections.abc import Iterable
from pathlib import Path

from backend.settings import PROJECT_ROOT
from tests.support.imports import imported_modules

BACKEND = PROJECT_ROOT / "backend"
CUTOFF = BACKEND / "services" / "cutoff.py"
VERSION = "token_version"
# A write in SQL text: `SET token_version = ...`, `token_version = token_version + 1`.
_SQL_WRITE = re.compile(rf"\b{VERSION}\s*=(?!=)")


def token_version_writes(path: Path) -> list[str]:
    """Where the module writes a token version: `.values(token_version=...)` (or a dict
    with that key), `x.token_version = ...` or `+=`, or SQL text that assigns it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(PROJECT_ROOT)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call) and _called(node) == "values":
            keys = [k.arg for k in node.keywords] + [
                key.value
                for arg in node.args
                if isinstance(arg, ast.Dict)
                for key in arg.keys
                if isinstance(key, ast.Constant)
            ]
            if VERSION in keys:
                found.append(where)
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Attribute) and t.attr == VERSION for t in targets):
                found.append(where)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _SQL_WRITE.search(node.value)
        ):
            found.append(where)
    return found


def _called(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def test_only_the_cutoff_service_writes_token_versions() -> None:
    """Ending a subject's tokens has one home (services/cutoff.py), which also forgets
    what the processes remember of them: a bump written elsewhere would skip that."""
    assert token_version_writes(CUTOFF), "the check no longer sees the cut-off's own write"
    elsewhere = [
        where
        for path in sorted(BACKEND.rglob("*.py"))
        if path != CUTOFF
        for where in token_version_writes(path)
    ] + [
        str(path.relative_to(PROJECT_ROOT))
        for path in sorted(BACKEND.rglob("*.sql"))
        if _SQL_WRITE.search(path.read_text(encoding="utf-8"))
    ]
    assert elsewhere == [], f"token_version written outside services/cutoff.py: {elsewhere}"


PRESENTED = BACKEND / "services" / "presented_secrets.py"


def secret_bindings(path: Path) -> list[str]:
    """Where the module binds the tenant a presented secret names itself: a call of
    `enter_tenant` whose tenant argument is read off a parsed secret."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and _called(node) == "enter_tenant"
        and any("secret" in ast.unparse(arg) for arg in node.args[1:])
    ]


def test_presented_secrets_bind_their_tenant_in_one_place() -> None:
    """A presented secret's tenant is bound before its lookup in services/presented_secrets.py
    alone, so every lookup of one runs under row-level security the same way."""
    assert secret_bindings(PRESENTED), "the check no longer sees presented_secrets' own binding"
    elsewhere = [
        w for p in sorted(BACKEND.rglob("*.py")) if p != PRESENTED for w in secret_bindings(p)
    ]
    assert elsewhere == [], f"a presented secret's tenant bound elsewhere: {elsewhere}"


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in BACKEND.rglob("*.py")}


def imports_of(module: str) -> set[str]:
    """The backend modules `module` imports itself."""
    return {name for name in imported_modules(MODULES[module]) if name in MODULES}


def reached_from(roots: Iterable[str]) -> dict[str, str]:
    """Every backend module the roots import, directly or not, each with one importer."""
    seen: dict[str, str] = {}
    stack = list(roots)
    while stack:
        module = stack.pop()
        for imported in imports_of(module):
            if imported not in seen:
                seen[imported] = module
                stack.append(imported)
    return seen


def under(package: str) -> list[str]:
    return sorted(m for m in MODULES if m == package or m.startswith(package + "."))


def test_the_api_never_imports_the_worker() -> None:
    """The API enqueues jobs through backend.taskqueue; the worker package (its Celery app,
    its tasks and their import-time wiring) is the worker's alone."""
    reached = reached_from([*under("backend.api"), "backend.main"])
    assert under("backend.worker"), "the check no longer finds the worker package"
    offenders = {m: by for m, by in reached.items() if m.startswith("backend.worker")}
    assert offenders == {}, f"imported by the API (module: its importer): {offenders}"


def test_observability_imports_no_service() -> None:
    """Errors that several layers need are in backend.domain.errors, so logging, metrics
    and the worker's signals depend on no use case."""
    reached = reached_from(under("backend.observability"))
    offenders = {m: by for m, by in reached.items() if m.startswith("backend.services")}
    assert offenders == {}, f"imported by observability (module: its importer): {offenders}"


def test_the_backend_never_imports_the_bench_or_its_peers() -> None:
    """The bench's peers (fastapi-users, the docs example) come from an optional group
    that production never installs: nothing in backend may need them, or the bench."""
    imports = {
        name: imported_modules(path)
        for path in BACKEND.rglob("*.py")
        for name in [str(path.relative_to(PROJECT_ROOT))]
    }
    offenders = {
        module: sorted(i for i in found if i.split(".")[0] in {"bench", "fastapi_users"})
        for module, found in imports.items()
    }
    assert {m: found for m, found in offenders.items() if found} == {}
