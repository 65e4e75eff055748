"""The bench's CPU accounting and its per-vCPU rows (cheap: no server, no load)."""

import os
import subprocess
import sys

from bench.cpu import descendants, process_cpu_seconds
from bench.scenarios_rates import KEYCLOAK_PER_VCPU, Rate, rate_rows


def test_a_process_tree_is_found_and_its_cpu_read_from_proc() -> None:
    busy = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    child = subprocess.Popen([sys.executable, "-c", busy])
    try:
        assert child.pid in descendants(os.getpid())
        child.wait(timeout=30)
    finally:
        child.kill()
    # A reaped process has no /proc entry: it counts as nothing, not as an error.
    assert process_cpu_seconds(child.pid) == 0.0
    assert process_cpu_seconds(os.getpid()) > 0.0


def rate(requests: int, api: float, postgres: float) -> Rate:
    return Rate(
        requests=requests,
        failed=0,
        seconds=4.0,
        api_cpu_seconds=api,
        postgres_cpu_seconds=postgres,
        commits=requests,
        wal_bytes=requests * 1000,
        new_connections=0,
    )


def test_a_rate_is_divided_by_the_cpu_of_the_api_and_postgresql_together() -> None:
    one = [rate(1200, 3.0, 1.0), rate(1000, 3.0, 2.0), rate(900, 2.0, 1.0)]
    two = [rate(2400, 6.0, 2.0)] * 3
    rows = rate_rows("refresh_token", KEYCLOAK_PER_VCPU["refresh_token"], {1: one, 2: two})
    per_vcpu = rows[0]
    assert per_vcpu.subject_values == [300.0, 200.0, 300.0]
    assert per_vcpu.ratio.median == 2.5  # 300 per vCPU-s against Keycloak's 120
    assert per_vcpu.met is False  # the target is 10x
    commits, wal = rows[1], rows[2]
    assert commits.ratio.median == 1.0
    assert wal.ratio.median == 1000.0
    workers = rows[-1]
    assert workers.ratios == [2.0, 2.4, 2400 / 900]
