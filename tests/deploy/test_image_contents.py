"""What the production image carries: no development-only code, and none needed."""

from backend.settings import PROJECT_ROOT
from tests.support.imports import imported_modules

BACKEND = PROJECT_ROOT / "backend"
DOCKERIGNORE = PROJECT_ROOT / "deploy" / "Dockerfile.dockerignore"
DEVSTACK = "backend.devstack"


def test_the_image_leaves_out_the_devstack() -> None:
    rules = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    assert "!backend/" in rules
    # After the re-include, or the re-include would win.
    assert rules.index("backend/devstack/") > rules.index("!backend/")


def test_no_production_module_imports_the_devstack() -> None:
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for path in BACKEND.rglob("*.py")
        if DEVSTACK not in ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
        and any(
            name == DEVSTACK or name.startswith(DEVSTACK + ".") for name in imported_modules(path)
        )
    ]
    assert offenders == [], f"production code imports {DEVSTACK}: {offenders}"
