"""What a source file imports, read from its syntax tree (nothing is imported to find out)."""

import ast
from pathlib import Path


def imported_modules(path: Path) -> set[str]:
    """The names `path` imports: each `import a.b`, and for `from a import b` both `a` and
    `a.b` (a module if `b` is one, else a name in `a` that matches no module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names
