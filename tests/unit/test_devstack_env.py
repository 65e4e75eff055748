"""var/devstack.env: owner-only, read back as written, and sourceable by a shell."""

import subprocess
from pathlib import Path

from backend import devstack_env

# A socket directory with a space and a quote: the file must survive both.
URL = "postgresql+psycopg://postgres@/tessera?host=/home/o'neil/my repo/var/postgres"


def test_published_variables_read_back_and_stay_private(tmp_path: Path) -> None:
    path = devstack_env.publish(tmp_path, {"TESSERA_DATABASE_URL": URL, "TESSERA_REDIS_URL": "r"})
    assert path == tmp_path / "devstack.env"
    assert path.stat().st_mode & 0o777 == 0o600
    assert devstack_env.read(tmp_path) == {"TESSERA_DATABASE_URL": URL, "TESSERA_REDIS_URL": "r"}
    # The temporary file it was written through is gone.
    assert list(tmp_path.iterdir()) == [path]


def test_a_shell_sources_the_same_values(tmp_path: Path) -> None:
    path = devstack_env.publish(tmp_path, {"TESSERA_DATABASE_URL": URL})
    shell = subprocess.run(
        ["/bin/sh", "-c", '. "$1" && printf %s "$TESSERA_DATABASE_URL"', "sh", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout == URL


def test_publishing_again_replaces_and_withdrawing_removes(tmp_path: Path) -> None:
    devstack_env.publish(tmp_path, {"TESSERA_DATABASE_URL": URL, "TESSERA_REDIS_URL": "r"})
    devstack_env.publish(tmp_path, {"TESSERA_REDIS_URL": "r2"})
    assert devstack_env.read(tmp_path) == {"TESSERA_REDIS_URL": "r2"}
    devstack_env.withdraw(tmp_path)
    assert devstack_env.read(tmp_path) == {}
    devstack_env.withdraw(tmp_path)  # nothing to remove: no error
