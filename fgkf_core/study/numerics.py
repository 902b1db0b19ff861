"""Numerics checks: a run with one numerics setting switched (a `Switch`) against its twin (same task, method,
seed and every other setting), read against the spread between seeds of the reference setting.

bfloat16 capsule matmuls (`BF16`; AMX/AVX512-BF16 on CPU) make the FGKF steps faster (`bench`'s bf16 columns);
"within seed noise" for dev and test is the condition for `full` to adopt them, not the decision (README, Speed). `FLUSH` reads how far
flushing denormals (on in `full`) moved the full runs made before it. A single seed cannot separate a numeric
effect from the chaos of training, so the twin difference is compared with what two reference seeds differ by.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist, stdev
from typing import Any, Iterable

import pandas as pd

from ..config import with_neutral

#: reference seeds needed before the noise band is trusted (the study's n >= 3 rule)
MIN_SEEDS = 3
RULE = ("within seed noise when |switched − reference| of the same seed is at most 1.96 · √2 · σ for dev and for "
        f"test, σ the standard deviation of the reference runs over at least {MIN_SEEDS} seeds (the 95% band of the "
        "difference between two reference seeds)")


@dataclass(frozen=True)
class Switch:
    """A numerics setting read by paired runs: `candidate` records against `reference` twins of the same seed."""

    key: str  # the Config field
    reference: Any  # the full profile's value: its seeds give the noise band
    candidate: Any
    names: tuple[str, str]  # short names of the reference and candidate sides, for column labels
    inside: str  # verdict when both differences are within the band
    outside: str


#: bfloat16 capsule matmuls: `full` could adopt them only if within seed noise (it keeps float32, README)
BF16 = Switch("routing_dtype", "float32", "bfloat16", ("fp32", "bf16"), "within seed noise",
              "outside seed noise: keep float32")
#: denormals kept (the full records made before `full` flushed them) against flushed: how far flushing moved them
FLUSH = Switch("flush_denormal", True, False, ("flushed", "kept"), "within seed noise", "outside seed noise")


@dataclass(frozen=True)
class NumericsCheck:
    """One candidate run, its reference twin and the spread between reference seeds."""

    task: str
    method: str
    seed: int
    dev: tuple[float, float]  # (reference, candidate) best dev score
    test: tuple[float, float]  # (reference, candidate) test score
    wall: tuple[float, float]  # (reference, candidate) wall seconds
    reference_seeds: int
    band_dev: float  # 1.96 * sqrt(2) * sigma_dev (NaN below MIN_SEEDS seeds)
    band_test: float
    verdict: str
    also: str = ""  # how else the twins ran apart ('device cpu:A → cpu:B; threads 1 → 2'), '' when only the switch


def _value(rec: dict, key: str) -> Any:
    return with_neutral(rec["config"]).get(key)


def _twin_key(rec: dict, key: str) -> str:
    """Everything twins share: task, method, formulation, profile and the configuration but the switch's key."""
    cfg = sorted((k, repr(v)) for k, v in with_neutral(rec["config"]).items() if k != key)
    return repr((rec["task"], rec["method"], rec.get("formulation", "paper"), rec["profile"], cfg))


def _as_run(twin: dict, rec: dict) -> str:
    """The as-run differences of two twins besides the switch (processor, threads): what the check conflates."""
    return "; ".join(f"{k} {twin.get(k)} → {rec.get(k)}" for k in ("device", "threads") if twin.get(k) != rec.get(k))


def numerics_checks(records: Iterable[dict], switch: Switch = BF16) -> list[NumericsCheck]:
    """A `NumericsCheck` for every candidate record among `records` that has a reference twin of the same seed."""
    records = list(records)
    refs: dict[str, dict[int, dict]] = {}
    for rec in records:
        if _value(rec, switch.key) == switch.reference:
            refs.setdefault(_twin_key(rec, switch.key), {})[rec["seed"]] = rec
    z = NormalDist().inv_cdf(0.975) * math.sqrt(2)
    out = []
    for rec in records:
        twins = refs.get(_twin_key(rec, switch.key), {}) if _value(rec, switch.key) == switch.candidate else {}
        twin = twins.get(rec["seed"])
        if twin is None:
            continue
        n = len(twins)
        dev, test = (twin["best_dev"], rec["best_dev"]), (twin["test"]["score"], rec["test"]["score"])
        if n >= MIN_SEEDS:
            band_dev = z * stdev(r["best_dev"] for r in twins.values())
            band_test = z * stdev(r["test"]["score"] for r in twins.values())
            inside = abs(dev[1] - dev[0]) <= band_dev and abs(test[1] - test[0]) <= band_test
            verdict = switch.inside if inside else switch.outside
        else:
            band_dev = band_test = math.nan
            verdict = f"waiting for {switch.names[0]} seeds ({n} of {MIN_SEEDS})"
        wall = (float(twin.get("wall_seconds") or math.nan), float(rec.get("wall_seconds") or math.nan))
        out.append(NumericsCheck(rec["task"], rec["method"], rec["seed"], dev, test, wall, n, band_dev, band_test,
                                 verdict, _as_run(twin, rec)))
    return out


def numerics_table(checks: list[NumericsCheck], switch: Switch = BF16) -> pd.DataFrame:
    """One row per check: both twins' scores, the differences beside their noise bands, the speed-up, verdict."""
    a, b = switch.names

    def band(x: float) -> str:
        return "—" if math.isnan(x) else f"±{x:.2f}"

    rows = [{"task": c.task, "method": c.method, "seed": c.seed,
             f"dev {a} → {b}": f"{c.dev[0]:.2f} → {c.dev[1]:.2f}", "Δ dev": f"{c.dev[1] - c.dev[0]:+.2f}",
             "dev band": band(c.band_dev), f"test {a} → {b}": f"{c.test[0]:.2f} → {c.test[1]:.2f}",
             "Δ test": f"{c.test[1] - c.test[0]:+.2f}", "test band": band(c.band_test), f"{a} seeds": c.reference_seeds,
             f"wall {a} / {b} (as run)": "—" if math.isnan(c.wall[0] / c.wall[1]) else f"{c.wall[0] / c.wall[1]:.2f}x",
             "also ran apart in": c.also or "—", "verdict": c.verdict}
            for c in checks]
    columns = ["task", "method", "seed", f"dev {a} → {b}", "Δ dev", "dev band", f"test {a} → {b}", "Δ test",
               "test band", f"{a} seeds", f"wall {a} / {b} (as run)", "also ran apart in", "verdict"]
    return pd.DataFrame(rows, columns=columns)
