"""Paired differences that carry no claim (the fidelity switches, Figure 5's margin per share): Δ of a
variant to a base variant, bootstrapped over test sentences with the seed spread added like the verdicts
(`Comparison.interval`), reported as Δ [95% CI]."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import pandas as pd

from ..stats import compare_counts
from .claims import Claim
from .glue import glue
from .verdicts import BOOTSTRAP_SEED, N_DRAWS, ScoreMeasure, pick_profile


@dataclass(frozen=True)
class PairedDelta:
    """Δ = label − base with its 95% CI and p, the records' profile (None: not run) and the display text."""

    delta: float
    ci_low: float
    ci_high: float
    p: float
    profile: str | None
    text: str  # 'Δ [low, high] (n v n, profile)' or 'not run'


def paired_delta(pool: dict, task: str, label: str, base: str, profile: str) -> PairedDelta:
    """Δ = label − base on `task`, paired over test sentences (seed spread added where both have 2+ seeds), on
    the records of one profile (see `verdicts.pick_profile`)."""
    probe = Claim(f"{label}_vs_{base}", task, label, base, f"{label} − {base} ({task})")
    used = pick_profile(probe, pool, profile)
    if used is None:
        nan = float("nan")
        return PairedDelta(nan, nan, nan, nan, None, "not run")
    measure = ScoreMeasure()
    a, b = (measure.counts(pool[(task, v, used)], probe) for v in (base, label))
    res = compare_counts(task, "score", measure.scoring, a.count_metric, a.counts, b.counts, N_DRAWS, BOOTSTRAP_SEED)
    low, high, p = res.interval()
    delta = res.test.delta
    text = f"{delta:+.2f} [{low:+.2f}, {high:+.2f}] ({res.n_b} v {res.n_a}, {used})"
    return PairedDelta(delta, low, high, p, used, text)


def effects_table(pool: dict, task: str, base: str, labels: Iterable[str], profile: str,
                  prefix: str | None = None) -> pd.DataFrame:
    """`paired_delta` of each label to `base`; no claim, no verdict. With `prefix`, glues `<prefix>_<label>`."""
    rows = []
    for label in labels:
        d = paired_delta(pool, task, label, base, profile)
        if prefix:
            glue(f"{prefix}_{label}", d.text)
        p = "" if d.profile is None else f"{d.p:.3f}"
        rows.append({"variant": label, f"Δ vs {base} [95% CI] (seeds, profile)": d.text, "p": p})
    return pd.DataFrame(rows)
