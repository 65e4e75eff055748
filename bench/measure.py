"""Alternating runs and what is reported of them: medians, min-max, per-round ratios.

Absolute figures drift 5-25% between runs on a shared machine, so every subject is run
right after its baseline, round after round (A B A B ...), after a warm-up, and the
ratio is taken within each round before its median is.
"""

import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.load import Run

SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
ROUNDS = max(3, int(os.environ.get("BENCH_ROUNDS", "3")))
WARMUP_SECONDS = 1.0

Step = Callable[[float], Run]


def alternate(steps: dict[str, Step], *, seconds: float = SECONDS) -> dict[str, list[Run]]:
    """Each step once for a warm-up (discarded), then all of them in turn, ROUNDS times."""
    for step in steps.values():
        step(WARMUP_SECONDS)
    runs: dict[str, list[Run]] = {name: [] for name in steps}
    for _ in range(ROUNDS):
        for name, step in steps.items():
            runs[name].append(step(seconds))
    return runs


@dataclass(frozen=True, slots=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "Spread":
        return cls(statistics.median(values), min(values), max(values))

    def show(self, unit: str = "") -> str:
        return f"{_num(self.median)}{unit} ({_num(self.low)}-{_num(self.high)})"


@dataclass
class Row:
    """One line of the table: a subject against its baseline on one metric."""

    scenario: str
    metric: str
    baseline: str
    subject: str
    baseline_values: list[float]
    subject_values: list[float]
    target: str
    # The target holds when `check(median ratio)` is true; None when it is informational.
    check: Callable[[float], bool] | None = field(default=None, repr=False)
    unit: str = ""
    ratios: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.ratios:
            self.ratios = [
                s / b if b else float("inf")
                for b, s in zip(self.baseline_values, self.subject_values, strict=True)
            ]

    @property
    def ratio(self) -> Spread:
        return Spread.of(self.ratios)

    @property
    def met(self) -> bool | None:
        return None if self.check is None else self.check(self.ratio.median)

    def cells(self) -> list[str]:
        met = {True: "yes", False: "NO", None: "-"}[self.met]
        return [
            self.scenario,
            f"{self.subject} vs {self.baseline} ({self.metric})",
            Spread.of(self.baseline_values).show(self.unit),
            Spread.of(self.subject_values).show(self.unit),
            f"{self.ratio.show()}x",
            self.target,
            met,
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "metric": self.metric,
            "unit": self.unit,
            "baseline": {"name": self.baseline, **_spread(self.baseline_values)},
            "subject": {"name": self.subject, **_spread(self.subject_values)},
            "ratio": _spread(self.ratios),
            "target": self.target,
            "met": self.met,
        }


def at_least(target: float) -> Callable[[float], bool]:
    return lambda ratio: ratio >= target


def at_most(target: float) -> Callable[[float], bool]:
    return lambda ratio: ratio <= target


def runs_json(runs: dict[str, list[Run]]) -> dict[str, object]:
    return {
        name: [{**asdict(run), "rps": round(run.rps, 1)} for run in series]
        for name, series in runs.items()
    }


def _spread(values: Sequence[float]) -> dict[str, Any]:
    spread = Spread.of(values)
    return {
        "median": round(spread.median, 4),
        "min": round(spread.low, 4),
        "max": round(spread.high, 4),
        "values": [round(v, 4) for v in values],
    }


def _num(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
