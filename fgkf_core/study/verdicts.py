"""Reproduced numbers beside the paper's, the paper's claims (orderings a > b) and their verdicts.

`compare` puts a `stats.summary` beside a `paper.paper_long` table; a `Claim` is one ordering the paper
states, `claims_table` judges each with `verdict` (rule in `VERDICT_RULE`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import pandas as pd

from ..tasks import TASKS, get_task
from .glue import glue
from .grids import ABLATIONS
from .params import SETTINGS
from .stats import effect


METRIC_LABEL = {"score": "score", "roov": "R_oov", "strong": "strong", "weak": "weak"}


def fmt_ms(mean: float, std: float, n: int | float, digits: int = 2) -> str:
    """'mean ± std (n)'; a single seed has no std ('—'); nothing run gives 'not run'."""
    if n is None or (isinstance(n, float) and math.isnan(n)) or n == 0 or pd.isna(mean):
        return "not run"
    sd = "—" if pd.isna(std) else f"{std:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd} ({int(n)})"


def compare(summ: pd.DataFrame, paper: pd.DataFrame, keys: Sequence[str] = ("task", "variant"),
            rows: Sequence[str] | None = None, tasks: Sequence[str] | None = None) -> pd.DataFrame:
    """Reproduced mean ± std (n) beside the paper's value and the difference (reproduced − paper), long.

    Paper rows without a reproduction are kept ('not run') for the metrics the summary has; `rows`/`tasks`
    restrict and order the output.
    """
    keys = list(keys)
    paper = paper[paper["metric"].isin(set(summ["metric"]))][[*keys, "metric", "paper"]]
    out = summ.merge(paper, on=[*keys, "metric"], how="outer")
    if rows is not None:
        out = out[out["variant"].isin(rows)]
    if tasks is not None:
        out = out[out["task"].isin(tasks)]
    out["n"] = out["n"].fillna(0).astype(int)
    out["reproduced"] = [fmt_ms(m, s, n) for m, s, n in zip(out["mean"], out["std"], out["n"])]
    out["diff"] = out["mean"] - out["paper"]
    order_v = {v: i for i, v in enumerate(rows or [])}
    order_t = {t: i for i, t in enumerate(tasks or [])}
    out = out.assign(_t=out["task"].map(order_t), _v=out["variant"].map(order_v))
    out = out.sort_values(["_t", "_v", "metric"], na_position="last", kind="stable").drop(columns=["_t", "_v"])
    return out.reset_index(drop=True)


def compare_table(cmp: pd.DataFrame, index: Sequence[str] = ("task", "variant"), digits: int = 2) -> pd.DataFrame:
    """Display form of `compare`: one row per `index`, per metric the columns reproduced | paper | Δ."""
    def num(x: float, signed: bool = False) -> str:
        return "" if pd.isna(x) else (f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}")

    cells = cmp.assign(
        paper=cmp["paper"].map(num), diff=cmp["diff"].map(lambda x: num(x, True)),
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


VERDICT_RULE = (
    "A claim is an ordering (the paper's difference a − b has a sign). Reproduced: our mean difference has the "
    "paper's sign and exceeds the seed noise, sqrt(std_a² + std_b²), with at least two seeds on each side. "
    "Partly: the sign agrees but the difference is within the noise, or a side has a single seed. "
    "Not reproduced: the sign is opposite (or zero). Not comparable: a side was not run, the setting uses "
    "substitute data, or the paper gives no direction."
)


def verdict(reproduced: float, paper: float, noise: float = float("nan"), n: int = 0, comparable: bool = True) -> str:
    """Verdict on a claimed ordering from our difference, the paper's difference, the seed noise and min n.

    See `VERDICT_RULE`: "reproduced" | "partly" | "not reproduced" | "not comparable".
    """
    if not comparable or pd.isna(reproduced) or pd.isna(paper) or paper == 0:
        return "not comparable"
    if reproduced * paper <= 0:
        return "not reproduced"
    if n >= 2 and not pd.isna(noise) and abs(reproduced) > noise:
        return "reproduced"
    return "partly"


@dataclass(frozen=True)
class Claim:
    """`a` beats `b` on `task` (variant labels; `metric` of the summary)."""

    key: str
    task: str
    a: str
    b: str
    metric: str = "score"
    text: str = ""


def claims_table(claims: Sequence[Claim], summ: pd.DataFrame, paper: pd.DataFrame | None) -> pd.DataFrame:
    """One row per claim: our difference ± noise (n), the paper's difference, and the verdict."""
    rows = []
    for c in claims:
        e = effect(summ, c.task, c.a, c.b, c.metric)
        p = float("nan")
        if paper is not None:
            sel = paper[(paper["task"] == c.task) & (paper["metric"] == c.metric)].set_index("variant")["paper"]
            if c.a in sel and c.b in sel:
                p = sel[c.a] - sel[c.b]
        comparable = get_task(c.task).comparable if c.task in TASKS else True
        rows.append({
            "key": c.key, "claim": c.text or f"{c.a} > {c.b} on {c.task}", "task": c.task,
            "ours": fmt_diff(e["diff"], e["noise"], e["n"]), "paper": "" if pd.isna(p) else f"{p:+.2f}",
            "verdict": verdict(e["diff"], p, e["noise"], e["n"], comparable),
            "diff": e["diff"], "noise": e["noise"], "n": e["n"], "paper_diff": p,
        })
    return pd.DataFrame(rows)


def fmt_diff(diff: float, noise: float, n: int, digits: int = 2) -> str:
    """'+1.23 ± 0.45 (n)' for a difference and its noise."""
    if pd.isna(diff):
        return "not run"
    sd = "—" if pd.isna(noise) else f"{noise:.{digits}f}"
    return f"{diff:+.{digits}f} ± {sd} ({n})"


def main_claims(tasks: Iterable[str] = SETTINGS) -> list[Claim]:
    """Table 3: FGKF beats basicKD and the target-only model in every setting."""
    out = []
    for t in tasks:
        out.append(Claim(f"{t}_fgkf_vs_basic_kd", t, "fgkf", "basic_kd", text=f"FGKF > basicKD ({t})"))
        out.append(Claim(f"{t}_fgkf_vs_target_only", t, "fgkf", "target_only", text=f"FGKF > target only ({t})"))
    return out


def table4_claims(tasks: Iterable[str] = ("cws_zx", "cws_weibo")) -> list[Claim]:
    """Table 4: finer alphas beat alpha_samp, Sample-q beats Domain-q, warm-up helps, alpha_samp beats basicKD."""
    out = []
    for t in tasks:
        out += [
            Claim(f"{t}_multi_vs_samp", t, "sample_q_alpha_multi", "sample_q_alpha_samp",
                  text=f"Sample-q: alpha_multi > alpha_samp ({t})"),
            Claim(f"{t}_elem_vs_samp", t, "sample_q_alpha_elem", "sample_q_alpha_samp",
                  text=f"Sample-q: alpha_elem > alpha_samp ({t})"),
            Claim(f"{t}_sample_vs_domain", t, "sample_q_alpha_multi", "domain_q_alpha_multi",
                  text=f"alpha_multi: Sample-q > Domain-q ({t})"),
            Claim(f"{t}_warm_up", t, "fgkf", "sample_q_alpha_multi", text=f"warm-up helps: FGKF > no warm-up ({t})"),
            Claim(f"{t}_samp_vs_basic_kd", t, "sample_q_alpha_samp", "basic_kd",
                  text=f"adaptive alpha_samp > constant alpha (basicKD) ({t})"),
        ]
    return out


def split_claims(tasks: Iterable[str] = ("pos_en", "ner_en")) -> list[Claim]:
    """Table 5: basicKD hurts weakly relevant tokens (below target-only); FGKF beats basicKD on both sides."""
    out = []
    for t in tasks:
        out += [
            Claim(f"{t}_weak_target_vs_basic_kd", t, "target_only", "basic_kd", "weak",
                  text=f"weak tokens: target only > basicKD ({t})"),
            Claim(f"{t}_weak_fgkf_vs_basic_kd", t, "fgkf", "basic_kd", "weak",
                  text=f"weak tokens: FGKF > basicKD ({t})"),
            Claim(f"{t}_strong_fgkf_vs_basic_kd", t, "fgkf", "basic_kd", "strong",
                  text=f"strong tokens: FGKF > basicKD ({t})"),
        ]
    return out


def ablation_claims(task: str, names: Iterable[str] | None = None) -> list[Claim]:
    """Table 7: every ablated component helps (FGKF > FGKF without it); keys name the ablation only."""
    return [Claim(n, task, "fgkf", n, text=f"FGKF > {n.replace('_', ' ')} ({task})")
            for n in (ABLATIONS if names is None else names)]


def effects_table(summ: pd.DataFrame, task: str, base: str, labels: Iterable[str], metric: str = "score",
                  prefix: str | None = None) -> pd.DataFrame:
    """Difference of each variant to `base` (mean ± seed noise (n)); no claim, no verdict.
    With `prefix`, glues `<prefix>_<label>` = that difference."""
    rows = []
    for label in labels:
        e = effect(summ, task, label, base, metric)
        if prefix:
            glue(f"{prefix}_{label}", fmt_diff(e["diff"], e["noise"], e["n"]))
        rows.append({"variant": label, f"Δ vs {base}": fmt_diff(e["diff"], e["noise"], e["n"]), "diff": e["diff"],
                     "noise": e["noise"], "n": e["n"]})
    return pd.DataFrame(rows)
