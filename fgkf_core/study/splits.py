"""ner_en over several random splits of Ritter's unsplit data: how much of a score's spread is the split's.

`split_variants` gives one variant per (method, split seed); `split_noise` puts, per method, the score of
every split (mean ± std over training seeds) beside two spreads: between splits (std of the split means) and
within a split (mean of the per-split seed stds). A split spread larger than the seed spread means a
single-split comparison with the paper's number is at the mercy of the split.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from .grids import Variant
from .tables import fmt_ms

#: the split of the main study (tasks.SPLIT_SEED), first
DEFAULT_SPLITS = (2019, 1, 2, 3, 4)


def split_variants(methods: Sequence[str], splits: Sequence[int]) -> list[Variant]:
    """One variant per method and split seed, labelled 'method@split'."""
    return [Variant(f"{m}@{s}", m, {"split_seed": int(s)}) for m in methods for s in splits]


def _with_split(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with a `split` column read back from the 'method@split' variant labels of `split_variants`."""
    return frame.assign(split=frame["variant"].str.rsplit("@", n=1).str[1].astype(int))


def split_noise(frame: pd.DataFrame, splits: Sequence[int]) -> pd.DataFrame:
    """Per method (rows): each split's test score 'mean ± std (n, profile)' and the two spreads."""
    if frame.empty:
        return pd.DataFrame()
    df = _with_split(frame)
    rows = []
    for method, part in df.groupby("method", sort=False):
        row: dict[str, object] = {"method": method}
        cells = part.groupby("split")["score"].agg(["mean", "std", "count"])
        profile = ", ".join(sorted(set(part["profile"])))
        for s in splits:
            c = cells.loc[s] if s in cells.index else None
            row[f"split {s}"] = "not run" if c is None else fmt_ms(c["mean"], c["std"], c["count"], profile)
        row["between splits (std of split means)"] = round(cells["mean"].std(), 2) if len(cells) > 1 else None
        row["within a split (mean seed std)"] = round(cells["std"].mean(), 2) if cells["std"].notna().any() else None
        rows.append(row)
    return pd.DataFrame(rows)


def split_mean_range(frame: pd.DataFrame, method: str) -> str:
    """'35.39 to 44.63 over 5 splits (3 seeds each, quick)': the lowest and highest split mean of `method`."""
    part = frame[frame["method"] == method]
    if part.empty:
        return f"{method}: not run"
    df = _with_split(part)
    means, counts = df.groupby("split")["score"].mean(), df.groupby("split")["score"].size()
    seeds = f"{counts.min()}" if counts.min() == counts.max() else f"{counts.min()}-{counts.max()}"
    profile = ", ".join(sorted(set(part["profile"])))
    return f"{means.min():.2f} to {means.max():.2f} over {len(means)} splits ({seeds} seeds each, {profile})"
