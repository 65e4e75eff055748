"""CPU seconds from /proc: a process tree (uvicorn and its workers) and PostgreSQL's
backends serving one database, so a rate can be divided by the CPU it consumed.

Backends are found in pg_stat_activity by database; another database's traffic on the
same server is not counted. The server's shared processes (WAL writer, checkpointer)
are left out: a backend flushes its own commit's WAL, so they are a small share.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU time of one process so far; 0 for one that has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (uvicorn's --workers children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def backends(owner: Engine) -> list[int]:
    """PostgreSQL backends connected to the owner engine's database (but this one)."""
    with owner.connect() as connection:
        return list(
            connection.scalars(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        )


@dataclass(frozen=True, slots=True)
class Usage:
    api_seconds: float
    postgres_seconds: float

    @property
    def total(self) -> float:
        return self.api_seconds + self.postgres_seconds


class Meter:
    """CPU used between `start()` and `stop()` by the API's process tree and the
    database's backends (a backend that started meanwhile counts from zero)."""

    def __init__(self, api_pid: int, owner: Engine) -> None:
        self._api_pid, self._owner = api_pid, owner
        self._api: dict[int, float] = {}
        self._postgres: dict[int, float] = {}

    def _snapshot(self) -> tuple[dict[int, float], dict[int, float]]:
        api = {pid: process_cpu_seconds(pid) for pid in descendants(self._api_pid)}
        postgres = {pid: process_cpu_seconds(pid) for pid in backends(self._owner)}
        return api, postgres

    def start(self) -> None:
        self._api, self._postgres = self._snapshot()

    def stop(self) -> Usage:
        api, postgres = self._snapshot()
        return Usage(
            api_seconds=sum(cpu - self._api.get(pid, 0.0) for pid, cpu in api.items()),
            postgres_seconds=sum(
                cpu - self._postgres.get(pid, 0.0) for pid, cpu in postgres.items()
            ),
        )
