"""Load generators: wrk for HTTP, pgbench for raw SQL; each run bounded in time.

wrk's own summary is replaced by a Lua `done` hook that prints one JSON line, so the
figures are read exactly rather than parsed from rounded text.
"""

import json
import os
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).parent / "lua"
MARKER = "BENCH_RESULT "
# A run that has not ended this long after its duration is killed and reported.
GRACE_SECONDS = 30


@dataclass(frozen=True, slots=True)
class Run:
    """One load run: throughput and latency percentiles (milliseconds)."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @classmethod
    def of_latencies(cls, latencies_ms: list[float], seconds: float) -> "Run":
        """A run measured by the bench itself (one caller, one latency per operation)."""
        ordered = sorted(latencies_ms)
        if not ordered:
            raise LoadError("no operation completed")
        return cls(
            requests=len(ordered),
            seconds=seconds,
            errors=0,
            p50_ms=_percentile(ordered, 50),
            p90_ms=_percentile(ordered, 90),
            p99_ms=_percentile(ordered, 99),
            mean_ms=statistics.fmean(ordered),
        )


class LoadError(RuntimeError):
    """A load run did not produce figures, or produced errors where none are expected."""


def ensure_wrk() -> str:
    """The wrk binary; Debian's package is installed if it is missing (root, apt-get)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("bench: wrk is missing; installing Debian's package", flush=True)
    subprocess.run(["apt-get", "update"], check=True, timeout=300)  # noqa: S607
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, timeout=300)  # noqa: S607
    found = shutil.which("wrk")
    if not found:
        raise LoadError("wrk could not be installed")
    return found


def wrk(
    url: str,
    *,
    seconds: float,
    connections: int,
    script: str = "",
    args: list[str] | None = None,
    headers: dict[str, str] | None = None,
    allow_errors: bool = False,
) -> Run:
    """One wrk run (one thread) of `seconds` at `connections` concurrent connections.

    `script` is Lua run before the reporting hook: it may set wrk.method, wrk.body or a
    request() function; `args` reach its init(args).
    """
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script + "\n" + (LUA / "report.lua").read_text())
        path = file.name
    argv = [
        ensure_wrk(),
        "-t1",
        f"-c{connections}",
        # wrk takes whole seconds only.
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        path,
    ]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    if args:
        argv += ["--", *args]
    try:
        done = subprocess.run(  # noqa: S603 (fixed argv)
            argv, capture_output=True, text=True, timeout=seconds + GRACE_SECONDS, check=False
        )
    finally:
        Path(path).unlink()
    line = next((x for x in done.stdout.splitlines() if x.startswith(MARKER)), None)
    if done.returncode != 0 or line is None:
        raise LoadError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    raw = json.loads(line[len(MARKER) :])
    run = Run(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=sum(raw["errors"].values()),
        p50_ms=raw["p50"] / 1000,
        p90_ms=raw["p90"] / 1000,
        p99_ms=raw["p99"] / 1000,
        mean_ms=raw["mean"] / 1000,
    )
    if run.errors and not allow_errors:
        raise LoadError(f"{url}: {run.errors} of {run.requests} requests failed: {raw['errors']}")
    if run.requests == 0:
        raise LoadError(f"{url}: no request completed")
    return run


def pgbench(
    url: str,
    sql: str,
    *,
    seconds: float,
    scratch: Path,
    clients: int = 1,
    variables: dict[str, str] | None = None,
) -> Run:
    """`clients` pgbench clients running `sql` as one transaction, prepared, for `seconds`.

    Latencies come from pgbench's per-transaction log, so percentiles are exact;
    `variables` are the script's initial ones (-D), which persist across a client's
    transactions.
    """
    script = scratch / "pgbench.sql"
    script.write_text(sql)
    logs = scratch / "pgbench-log"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    argv = [
        "pgbench",
        "-n",
        "-M",
        "prepared",
        f"-c{clients}",
        f"-j{min(clients, os.cpu_count() or 1)}",
        f"-T{max(1, round(seconds))}",
        *(f"-D{name}={value}" for name, value in (variables or {}).items()),
        "-f",
        str(script),
        "--log",
        f"--log-prefix={logs / 'tx'}",
        url,
    ]
    done = subprocess.run(  # noqa: S603 (fixed argv)
        argv, capture_output=True, text=True, timeout=seconds + GRACE_SECONDS, check=False
    )
    if done.returncode != 0:
        raise LoadError(f"pgbench failed ({done.returncode}): {done.stderr or done.stdout}")
    # Each line: client_id tx_no latency_us script_no epoch_s epoch_us
    latencies = [
        int(line.split()[2]) / 1000
        for log in logs.iterdir()
        for line in log.read_text().splitlines()
        if line
    ]
    return Run.of_latencies(latencies, seconds)


def _percentile(ordered: list[float], pct: float) -> float:
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]
