"""Reproduced numbers beside the paper's: `compare` joins a `stats.summary` to a `paper.paper_long` table,
`compare_table` lays it out with one column group per metric, each saying which scoring it uses.

Two scorings exist for the same predictions (`fgkf_core.scoring`): ours (``score``: real tokens only) and the
authors' (``score_paper``: every sentence padded to L and the padding scored, assuming the model tags it with
tag 0, e.g. NN for POS). The paper's numbers come from the authors' code, hence its scoring. Where absolute
scores cannot be matched (`claims.absolute_reason`: substitute data, English NER), Δ says "not comparable".
"""
from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from .claims import absolute_reason

#: column group of each metric: the metric and the scoring of our numbers
METRIC_LABEL = {
    "score": "score (our scoring)", "score_paper": "score (authors' scoring)", "roov": "R_oov (our scoring)",
    "strong": "strong (our scoring)", "weak": "weak (our scoring)",
}
#: the paper value each metric is compared with (the authors' scoring of their headline number)
PAPER_METRIC = {"score_paper": "score"}


def fmt_ms(mean: float, std: float, n: int | float, profile: str | None = None, digits: int = 2) -> str:
    """'mean ± std (n, profile)'; a single seed has no std ('—'); nothing run gives 'not run'."""
    if n is None or (isinstance(n, float) and math.isnan(n)) or n == 0 or pd.isna(mean):
        return "not run"
    sd = "—" if pd.isna(std) else f"{std:.{digits}f}"
    where = f", {profile}" if profile else ""
    return f"{mean:.{digits}f} ± {sd} ({int(n)}{where})"


def compare(summ: pd.DataFrame, paper: pd.DataFrame, keys: Sequence[str] = ("task", "variant"),
            rows: Sequence[str] | None = None, tasks: Sequence[str] | None = None) -> pd.DataFrame:
    """Reproduced mean ± std (n, profile) beside the paper's value and the difference (reproduced − paper), long.

    Paper rows without a reproduction are kept ('not run') for the metrics the summary has; `rows`/`tasks`
    restrict and order the output; ``diff_text`` is the Δ cell ('not comparable' where `absolute_reason`).
    """
    keys = list(keys)
    metrics = set(summ["metric"])
    paper = paper[paper["metric"].isin(metrics | {PAPER_METRIC.get(m, m) for m in metrics})][[*keys, "metric", "paper"]]
    extra = [paper[paper["metric"] == src].assign(metric=m) for m, src in PAPER_METRIC.items() if m in metrics]
    paper = pd.concat([paper[paper["metric"].isin(metrics)], *extra], ignore_index=True)
    out = summ.merge(paper, on=[*keys, "metric"], how="outer")
    if rows is not None:
        out = out[out["variant"].isin(rows)]
    if tasks is not None:
        out = out[out["task"].isin(tasks)]
    out["n"] = out["n"].fillna(0).astype(int)
    profiles = out["profile"] if "profile" in out else [None] * len(out)
    out["reproduced"] = [fmt_ms(m, s, n, p if isinstance(p, str) else None)
                         for m, s, n, p in zip(out["mean"], out["std"], out["n"], profiles)]
    out["diff"] = out["mean"] - out["paper"]
    out["diff_text"] = [
        "" if pd.isna(d) else ("not comparable" if absolute_reason(t) else f"{d:+.2f}")
        for d, t in zip(out["diff"], out["task"])
    ]
    order_v = {v: i for i, v in enumerate(rows or [])}
    order_t = {t: i for i, t in enumerate(tasks or [])}
    reduced = out["profile"].ne("full") if "profile" in out else False
    out = out.assign(_t=out["task"].map(order_t), _v=out["variant"].map(order_v), _r=reduced)
    out = out.sort_values(["_t", "_v", "metric", "_r"], na_position="last", kind="stable").drop(columns=["_t", "_v", "_r"])
    return out.reset_index(drop=True)


def compare_table(cmp: pd.DataFrame, index: Sequence[str] = ("task", "variant"), digits: int = 2) -> pd.DataFrame:
    """Display form of `compare`: one row per `index`, per metric (and scoring) the columns reproduced |
    paper | Δ; where a cell is shown in two profiles (`summary`), one row per profile (index + ``profile``)."""
    if "profile" in cmp and cmp.duplicated([*index, "metric"]).any():
        cmp, index = cmp.assign(profile=cmp["profile"].fillna("")), [*index, "profile"]
    cells = cmp.assign(
        paper=cmp["paper"].map(lambda x: "" if pd.isna(x) else f"{x:.{digits}f}"), diff=cmp["diff_text"],
        metric=cmp["metric"].map(lambda m: METRIC_LABEL.get(m, m)),
    )
    wide = cells.pivot_table(index=list(index), columns="metric", values=["reproduced", "paper", "diff"],
                             aggfunc="first", sort=False)
    wide = wide.rename(columns={"diff": "Δ"}).swaplevel(0, 1, axis=1)
    rank = list(METRIC_LABEL.values())
    metrics = sorted(dict.fromkeys(cells["metric"]), key=lambda m: rank.index(m) if m in rank else len(rank))
    wide = wide.reindex(columns=pd.MultiIndex.from_product([metrics, ["reproduced", "paper", "Δ"]])).fillna("")
    order = list(dict.fromkeys(map(tuple, cmp[list(index)].values.tolist())))
    rows = pd.MultiIndex.from_tuples(order, names=list(index)) if len(index) > 1 else [o[0] for o in order]
    wide = wide.reindex(rows)
    wide.columns.names = [None, None]
    return wide
