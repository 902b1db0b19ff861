"""Figure 5's numbers: score per method and share of the target pool, the FGKF − basicKD margin per share
(paired over test sentences, seed spread added), and the claim that the margin shrinks as the target data grows."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from .claims import data_size_claims
from .effects import paired_delta
from .glue import glue
from .display import fmt_share
from .grids import Variant
from .seed_summary import summary
from .tables import fmt_ms
from .verdicts import Judgement, judge, pools


def data_size_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std (n) per method and target fraction, with the target training size actually used."""
    summ = summary(frame, by=("method", "target_fraction"), metrics=("score",))
    sizes = frame.groupby(["method", "target_fraction"])["n_target_train"].first().reset_index()
    return summ.merge(sizes, on=["method", "target_fraction"], how="left")


def data_size_table(summ: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per share of the pool: the target training sentences used (per method where they differ) and
    each method's target test `metric` (e.g. 'entity F1') as mean ± std (n, profile)."""
    rows = []
    for fraction, part in summ.groupby("target_fraction", sort=True):
        sizes = list(dict.fromkeys(int(n) for n in part["n_target_train"].dropna()))
        row = {"share of the pool": fmt_share(fraction), "target train sentences": " / ".join(map(str, sizes))}
        for r in part.itertuples():
            row[f"{r.method} {metric}"] = fmt_ms(r.mean, r.std, r.n, r.profile)
        rows.append(row)
    return pd.DataFrame(rows)


def _label(method: str, fraction: float) -> str:
    return f"{method}@{fraction:g}"  # as `grids.data_size_variants`


def margins(records: list[dict], variants: Sequence[Variant], task: str, fractions: Sequence[float],
            profile: str, a: str = "fgkf", b: str = "basic_kd") -> pd.DataFrame:
    """Per target fraction: the paired a − b margin, Δ [95% CI] (seeds, profile)."""
    pool = pools(records, variants)
    rows = []
    for f in sorted(fractions):
        d = paired_delta(pool, task, _label(a, f), _label(b, f), profile)
        rows.append({"target_fraction": f, "share of the pool": fmt_share(f), "margin": d.delta,
                     "margin [95% CI] (seeds, profile)": d.text})
    return pd.DataFrame(rows)


def data_size_claim(records: list[dict], variants: Sequence[Variant], task: str, fractions: Sequence[float],
                    profile: str, prefix: str = "size") -> Judgement:
    """Figure 5's claim, judged as the paired difference of the FGKF − basicKD margins at the smallest and the
    largest share; glues `<prefix>_low/_high` (shares), `_claim_ours`, `_claim_verdict`."""
    lo, hi = min(fractions), max(fractions)
    labels = {"fgkf_low": _label("fgkf", lo), "basic_low": _label("basic_kd", lo),
              "fgkf_high": _label("fgkf", hi), "basic_high": _label("basic_kd", hi)}
    (claim,) = data_size_claims(task, labels)
    j = judge(claim, "data_size", pools(records, variants), profile)
    glue(f"{prefix}_low", f"{lo:.0%}")
    glue(f"{prefix}_high", f"{hi:.0%}")
    glue(f"{prefix}_claim_ours", j.ours())
    glue(f"{prefix}_claim_verdict", j.verdict)
    return j
