"""The deploy configuration names only real settings, and names every one it must.

Settings ignore unknown TESSERA_* variables, so a typo in .env.example, the compose
file or the Kubernetes ConfigMap would be silently dropped; these tests catch it.
"""

import re
from pathlib import Path

import pytest
import yaml

from backend.settings import PROJECT_ROOT, Environment, Settings

ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
ENTRYPOINT = PROJECT_ROOT / "deploy" / "entrypoint.sh"
COMPOSE = PROJECT_ROOT / "docker-compose.yml"
CONFIGMAP = PROJECT_ROOT / "deploy" / "k8s" / "configmap.yaml"

NAME = re.compile(r"\bTESSERA_[A-Z0-9_]+")
ASSIGNMENT = re.compile(r"^\s*(#\s*)?(TESSERA_[A-Z0-9_]+)=(.*)$")
LOOPBACK = ("127.0.0.1", "localhost")
# Defaults that are wrong in any deployment, whatever their value looks like: the
# environment is development, and production refuses to start without a secret key or
# runs migrations as the application role without an owner URL.
MUST_BE_SET = {"TESSERA_ENV", "TESSERA_SECRET_KEY", "TESSERA_MIGRATION_DATABASE_URL"}


def setting_names() -> set[str]:
    return {f"TESSERA_{name.upper()}" for name in Settings.model_fields}


def unsafe_defaults() -> set[str]:
    """Settings whose default is unset, or points at this machine's loopback address."""
    return {
        f"TESSERA_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if field.default is None or any(host in str(field.default) for host in LOOPBACK)
    }


def example() -> tuple[dict[str, str], set[str]]:
    """(variables set, variables shown commented out) in .env.example."""
    assigned: dict[str, str] = {}
    commented: set[str] = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = ASSIGNMENT.match(line)
        if match is None:
            continue
        if match.group(1):
            commented.add(match.group(2))
        else:
            assigned[match.group(2)] = match.group(3)
    return assigned, commented


def knobs() -> set[str]:
    """Variables that are no setting but a knob of the entrypoint or of compose itself."""
    names = set(NAME.findall(ENTRYPOINT.read_text())) | set(NAME.findall(COMPOSE.read_text()))
    return names - setting_names()


def test_every_setting_without_a_safe_default_is_in_env_example() -> None:
    assigned, commented = example()
    missing = sorted(unsafe_defaults() - set(assigned) - commented)
    assert not missing, f"add to .env.example: {missing}"
    loopback = {
        name
        for name, field in Settings.model_fields.items()
        if any(host in str(field.default) for host in LOOPBACK)
    }
    must_set = MUST_BE_SET | {f"TESSERA_{name.upper()}" for name in loopback}
    unset = sorted(must_set - set(assigned))
    assert not unset, f"set (not just mention) in .env.example: {unset}"


def test_env_example_names_only_real_settings_and_knobs() -> None:
    assigned, commented = example()
    unknown = sorted((set(assigned) | commented) - setting_names() - knobs())
    assert not unknown, f"not a setting nor an entrypoint knob: {unknown}"


def test_env_example_is_a_valid_production_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    assigned, _ = example()
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in assigned.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.env is Environment.PRODUCTION
    assert settings.owner_database_url != settings.database_url


def test_configmap_names_only_real_settings_and_knobs() -> None:
    data = yaml.safe_load(CONFIGMAP.read_text())["data"]
    unknown = sorted(set(data) - setting_names() - knobs())
    assert not unknown, f"deploy/k8s/configmap.yaml: unknown {unknown}"
    # Its values must parse: a typo such as "tru" fails here, not in a pod.
    Settings.model_validate(
        {
            name.removeprefix("TESSERA_").lower(): value
            for name, value in data.items()
            if name in setting_names()
        }
        # The secrets come from the Secret, not the ConfigMap (docs/operations.md).
        | {"secret_key": "x" * 32, "encryption_key": "e" * 32}
    )


def test_the_image_runs_the_entrypoint_it_ships() -> None:
    dockerfile = (PROJECT_ROOT / "deploy" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/app/deploy/entrypoint.sh"]' in dockerfile
    assert "USER 10001" in dockerfile
    assert "/healthz" in dockerfile
    assert Path(ENTRYPOINT).stat().st_mode & 0o111, "entrypoint.sh must be executable"


def test_the_image_installs_the_lock_with_the_makefiles_uv() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    dockerfile = (PROJECT_ROOT / "deploy" / "Dockerfile").read_text()
    pinned = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert pinned, "the Makefile pins uv with UV_VERSION := X.Y.Z"
    # A different uv could read the lock differently, or not at all.
    assert f"ARG UV_VERSION={pinned.group(1)}\n" in dockerfile
    assert "uv sync --frozen" in dockerfile
    assert "!uv.lock" in (PROJECT_ROOT / "deploy" / "Dockerfile.dockerignore").read_text()
