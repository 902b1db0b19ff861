"""Figure 5's numbers: score per method and share of the target pool, the FGKF − basicKD margin per share,
and the claim that the margin shrinks as the target data grows."""
from __future__ import annotations

import pandas as pd

from .glue import glue
from .stats import difference_noise, seed_noise, summary
from .tables import fmt_share
from .verdicts import fmt_diff, fmt_ms, verdict


def data_size_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std (n) per method and target fraction, with the target training size actually used."""
    summ = summary(frame, by=("method", "target_fraction"), metrics=("score",))
    sizes = frame.groupby(["method", "target_fraction"])["n_target_train"].first().reset_index()
    return summ.merge(sizes, on=["method", "target_fraction"], how="left")


def data_size_table(summ: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per share of the pool: the target training sentences used (per method where they differ) and
    each method's target test `metric` (e.g. 'entity F1') as mean ± std (n)."""
    rows = []
    for fraction, part in summ.groupby("target_fraction", sort=True):
        sizes = list(dict.fromkeys(int(n) for n in part["n_target_train"].dropna()))
        row = {"share of the pool": fmt_share(fraction), "target train sentences": " / ".join(map(str, sizes))}
        for r in part.itertuples():
            row[f"{r.method} {metric}"] = fmt_ms(r.mean, r.std, r.n)
        rows.append(row)
    return pd.DataFrame(rows)


def margins(summ: pd.DataFrame, a: str = "fgkf", b: str = "basic_kd") -> pd.DataFrame:
    """Per target fraction: mean a − b, its seed noise and the smaller n."""
    rows = []
    for f, part in summ.groupby("target_fraction"):
        sa, sb = part[part["method"] == a], part[part["method"] == b]
        if sa.empty or sb.empty:
            continue
        ra, rb = sa.iloc[0], sb.iloc[0]
        diff, noise, n = ra["mean"] - rb["mean"], seed_noise(ra, rb), int(min(ra["n"], rb["n"]))
        rows.append({"target_fraction": f, "share of the pool": fmt_share(f), "margin": diff, "noise": noise,
                     "n": n, "margin ± noise (n)": fmt_diff(diff, noise, n)})
    return pd.DataFrame(rows)


def data_size_claim(summ: pd.DataFrame, prefix: str = "size", a: str = "fgkf", b: str = "basic_kd") -> pd.DataFrame:
    """Figure 5's claim, a − b margin at the smallest share > at the largest share (direction only, the paper
    gives no numbers); glues `<prefix>_margin_low/high`, `_low/_high` (shares), `_claim_ours`, `_claim_verdict`.
    Returns the margin per share."""
    marg = margins(summ, a, b)
    if marg.empty:
        for k in ("margin_low", "margin_high", "low", "high", "claim_ours"):
            glue(f"{prefix}_{k}", "not run")
        glue(f"{prefix}_claim_verdict", "not comparable")
        return marg
    lo, hi = marg.iloc[0], marg.iloc[-1]
    noise = difference_noise(lo["noise"], hi["noise"])
    diff, n = lo["margin"] - hi["margin"], int(min(lo["n"], hi["n"]))
    glue(f"{prefix}_margin_low", lo["margin ± noise (n)"])
    glue(f"{prefix}_margin_high", hi["margin ± noise (n)"])
    glue(f"{prefix}_low", f"{lo['target_fraction']:.0%}")
    glue(f"{prefix}_high", f"{hi['target_fraction']:.0%}")
    glue(f"{prefix}_claim_ours", fmt_diff(diff, noise, n))
    glue(f"{prefix}_claim_verdict", verdict(diff, +1.0, noise, n) if len(marg) > 1 else "not comparable")
    return marg
