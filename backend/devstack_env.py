"""`var/devstack.env`: how processes in other shells find the servers `make run` started.

`make run` writes it once its embedded PostgreSQL and Redis are up and removes it when
it stops cleanly; settings loading (`backend.settings`) reads it in development, so that
the CLI, `make migrate`, `make worker` and `make beat` reach the same servers. It holds
only the URLs of services `make run` started itself, as `NAME=value` lines a POSIX shell
can also source. The URLs carry credentials, so the file is readable by its owner only.
"""

import shlex
from collections.abc import Mapping
from pathlib import Path

from backend.secret_files import replace

FILE_NAME = "devstack.env"
_HEADER = "# Written by `make run` while it runs; removed when it stops.\n"


def path_in(var_dir: Path) -> Path:
    """Where the dev stack of `var_dir` publishes its URLs."""
    return var_dir / FILE_NAME


def publish(var_dir: Path, variables: Mapping[str, str]) -> Path:
    """Write `variables` to the file of `var_dir`, replacing any earlier one."""
    lines = "".join(f"{name}={shlex.quote(value)}\n" for name, value in variables.items())
    target = path_in(var_dir)
    replace(target, (_HEADER + lines).encode())
    return target


def withdraw(var_dir: Path) -> None:
    """Remove the file of `var_dir`, if there is one."""
    path_in(var_dir).unlink(missing_ok=True)


def read(var_dir: Path) -> dict[str, str]:
    """The variables published in `var_dir`; none when no dev stack runs there."""
    try:
        text = path_in(var_dir).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    variables: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 1 and "=" in words[0]:
            name, value = words[0].split("=", 1)
            variables[name] = value
    return variables
