"""The one table `make bench` prints, and bench/results/latest.json."""

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from bench.measure import ROUNDS, SECONDS, Row

RESULTS = Path(__file__).parent / "results"
HEADERS = ["Scenario", "Subject vs baseline", "Baseline", "Subject", "Ratio", "Target", "Met"]


def table(rows: list[Row]) -> str:
    cells = [HEADERS] + [row.cells() for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADERS))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def machine(owner: Engine, redis_version: str) -> dict[str, Any]:
    """What the figures were measured on; they mean little without it."""
    with owner.connect() as connection:
        postgres = connection.scalar(text("SHOW server_version"))
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_memory_kib() / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": postgres,
        "redis": redis_version,
        "wrk": _first_line(["wrk", "-v"]),
        # Other work on the machine skews every figure; the ratios less so.
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "commit": _first_line(["git", "rev-parse", "--short", "HEAD"]),
    }


def write(
    rows: list[Row], raw: dict[str, Any], about: dict[str, Any], seconds: float, name: str
) -> Path:
    """Write the run's figures to bench/results/<name>.json (atomically)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    draft = path.with_suffix(".json.tmp")
    document = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": about,
        "method": {
            "rounds": ROUNDS,
            "seconds_per_run": SECONDS,
            "warmup": "one short run of every step before the rounds",
            "order": "baseline and subjects alternate within each round",
            "total_seconds": round(seconds, 1),
        },
        "rows": [row.as_json() for row in rows],
        "raw": raw,
    }
    draft.write_text(json.dumps(document, indent=2, default=str) + "\n")
    draft.replace(path)
    return path


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _memory_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
    except OSError:
        return "unknown"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else ""
    )
