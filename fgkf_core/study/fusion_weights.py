"""Beyond the paper: what FGKF's learned fusion weights do, and FGKF with them fixed.

Eq. 10's temperature τ and bias γ ("initial values" 1 and 0.5 in the paper, trainable in the authors' code) and
Eq. 14's map are trained on the target loss L_T alone. Raising α there weighs the KD cross-entropy up (never
below the teacher's entropy) and scales the emissions down, so L_T rarely rewards a larger α: the records'
alpha traces show γ falling and the KD weight shrinking towards zero. `fusion_weights=fixed` keeps them at their
initial values; this page compares the two with basicKD. None of it is a claim of the paper.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..config import Config, with_neutral
from ..ensure import results_root
from ..runs import load_records
from ..stats import Comparison, compare
from .glue import glue
from .grids import Variant, grid
from .pages import PageGrid
from .params import default_seeds
from .verdicts import BOOTSTRAP_SEED, N_DRAWS, pools, profile_order

#: the page's rows: FGKF as the paper trains it, with its fusion weights fixed, and basicKD
VARIANTS = [Variant("fgkf", "fgkf"), Variant("fgkf_fixed_fusion", "fgkf", {"fusion_weights": "fixed"}),
            Variant("basic_kd", "basic_kd")]
#: (better, worse) pairs the page compares: the hypothesis is that the first beats the second
PAIRS = [("fgkf_fixed_fusion", "fgkf"), ("fgkf_fixed_fusion", "basic_kd"), ("fgkf", "basic_kd")]
#: what a trace window logs of the fusion weights (means over its target steps; tau and gamma at its end)
WINDOW_KEYS = ("alpha_kd", "alpha_samp", "alpha_elem", "tau", "gamma")
TRACE_COLUMNS = ["task", "method", "profile", "seed", "fusion weights", "alpha", "step", *WINDOW_KEYS, "best step"]
SUMMARY_COLUMNS = ["task", "method", "profile", "seed", "formulation", "overrides", "fusion weights", "alpha",
                   "α_kd first", "α_kd at best", "α_kd last", "γ at best", "τ at best", "best step", "test"]


def fusion_weights_grid(profile: str, task: str, seeds: Sequence[int] | None = None) -> PageGrid:
    """The page's runs: `VARIANTS` on one task (no paper claims: the comparisons are `PAIRS`)."""
    specs = grid([task], VARIANTS, seeds or default_seeds(profile, "fusion_weights"))
    return PageGrid("fusion_weights", "fusion", [task], list(VARIANTS), specs)


def traced_records(results_dir: str | Path | None, profile: str) -> list[dict]:
    """Every recorded run the weights tables read: all profiles but smoke (a smoke page: smoke alone)."""
    records = load_records(results_root(results_dir))
    return [r for r in records if (r["profile"] == "smoke") == (profile == "smoke")]


def _overrides(rec: dict) -> str:
    """The record's own config overrides, 'k=v, ...' ('' for the method's defaults)."""
    return ", ".join(f"{k}={v}" for k, v in sorted(rec.get("config_layers", {}).get("overrides", {}).items()))


def trace_frame(records: Iterable[dict]) -> pd.DataFrame:
    """One row per logged window (eval_every target steps) of every record whose alpha trace holds the KD weight
    (FGKF runs with relevance): its mean α_kd, α_samp, α_elem and the τ, γ at the window's end."""
    rows = []
    for rec in records:
        trace = [t for t in rec.get("alpha_trace") or [] if "alpha_kd" in t]
        for t in trace:
            rows.append({"task": rec["task"], "method": rec["method"], "profile": rec["profile"], "seed": rec["seed"],
                         "formulation": rec.get("formulation", "paper"), "overrides": _overrides(rec),
                         "fusion weights": with_neutral(rec["config"])["fusion_weights"],
                         "alpha": rec["config"]["alpha"],
                         "step": int(t["step"]), **{k: float(t[k]) for k in WINDOW_KEYS},
                         "best step": int(rec["best_step"]), "_path": rec.get("_path")})
    return pd.DataFrame(rows, columns=[*TRACE_COLUMNS, "formulation", "overrides", "_path"])


def weights_summary(records: Iterable[dict]) -> pd.DataFrame:
    """Per FGKF run: the KD weight in its first logged window, at its best dev point (the last window ending at
    or before it) and at its end, τ and γ at the best point, and its test score."""
    records = list(records)
    trace = trace_frame(records)
    tests = {r.get("_path"): r["test"]["score"] for r in records}
    rows = []
    for _, run in trace.groupby("_path", sort=False):
        run = run.sort_values("step")
        at_best = run[run["step"] <= run["best step"]]
        best = at_best.iloc[-1] if len(at_best) else run.iloc[0]  # a best point before the first window: that one
        first, last = run.iloc[0], run.iloc[-1]
        rows.append({**{k: first[k] for k in ("task", "method", "profile", "seed", "formulation", "overrides",
                                               "fusion weights", "alpha")},
                     "α_kd first": first["alpha_kd"], "α_kd at best": best["alpha_kd"],
                     "α_kd last": last["alpha_kd"],
                     "γ at best": best["gamma"], "τ at best": best["tau"], "best step": int(first["best step"]),
                     "test": tests[first["_path"]]})
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return frame.sort_values(["fusion weights", "profile", "task", "method", "formulation", "overrides", "seed"],
                             ignore_index=True)


def weights_conclusion(summary: pd.DataFrame, gamma0: float = Config.gamma, kd_alpha: float = Config.kd_alpha) -> str:
    """One sentence on the runs with trained fusion weights: how many lowered γ (those whose α uses α_samp) and
    the KD weight at their best dev point beside the first window's and basicKD's constant."""
    trained = summary[summary["fusion weights"] == "trained"]
    if trained.empty:
        return "no FGKF run with trained fusion weights is recorded"
    uses_samp = trained[trained["alpha"].isin(["samp", "multi"])]
    fell = int((uses_samp["γ at best"] < gamma0).sum())
    q = lambda col: trained[col].quantile([0.0, 0.5, 1.0]).to_numpy()  # noqa: E731 - min, median, max
    lo, med, hi = q("α_kd at best")
    f_lo, f_med, f_hi = q("α_kd first")
    return (f"In {fell} of the {len(uses_samp)} recorded FGKF runs whose α uses α_samp, L_T lowered γ below its "
            f"initial {gamma0:g}; over all {len(trained)} runs with trained fusion weights ("
            f"{', '.join(sorted(set(trained['profile'])))} profiles) the mean KD weight α_kd at the best dev point "
            f"was {med:.3f} (median; range {lo:.4f}–{hi:.3f}), against {f_med:.3f} ({f_lo:.3f}–{f_hi:.3f}) in the "
            f"first logged window and basicKD's constant {kd_alpha:g}.")


def hypothesis_reading(result: Comparison) -> str:
    """The study's rule for a hypothesis 'better beats worse' (Δ = better − worse): decided only with at least 3
    seeds a side and a CI (seeds and sentences) that excludes 0."""
    if min(result.n_a, result.n_b) < 3:
        return "undecided (n<3)"
    low, high, _ = result.interval()
    if low > 0:
        return "supported"
    if high < 0:
        return "the opposite holds"
    return f"undecided (CI includes 0; MDE {result.mde:.2f})"


def comparisons(records: Iterable[dict], task: str, profile: str,
                pairs: Sequence[tuple[str, str]] = PAIRS) -> pd.DataFrame:
    """Each pair (better, worse) of `VARIANTS` on `task`: Δ = better − worse with the verdicts' CI (full records
    where both sides have them, else `profile`'s), p, MDE and its reading; 'not run' where a side is missing."""
    pool = pools(records, VARIANTS)
    rows = []
    for better, worse in pairs:
        used = next((p for p in profile_order(profile) if pool.get((task, better, p)) and pool.get((task, worse, p))),
                    None)
        row = {"hypothesis": f"{better} > {worse}", "profile": used or "", "seeds": ""}
        if used is None:
            rows.append(row | {"Δ [95% CI]": "not run", "p": "", "MDE": "", "reading": "not run"})
            continue
        res = compare(pool[(task, worse, used)], pool[(task, better, used)], "standard", N_DRAWS, BOOTSTRAP_SEED)
        low, high, p = res.interval()
        rows.append(row | {"seeds": f"{res.n_b} v {res.n_a}",
                           "Δ [95% CI]": f"{res.test.delta:+.2f} [{low:+.2f}, {high:+.2f}]",
                           "p": "< 0.0001" if p < 1e-4 else f"{p:.4f}",
                           "MDE": "" if math.isnan(res.mde) else f"{res.mde:.2f}",
                           "reading": hypothesis_reading(res)})
    return pd.DataFrame(rows, columns=["hypothesis", "profile", "seeds", "Δ [95% CI]", "p", "MDE", "reading"])


def glue_comparisons(table: pd.DataFrame, prefix: str = "fusion") -> None:
    """Glue `<prefix>_<i>_reading` per row of `comparisons`: 'better > worse: Δ [CI] (profile), reading'."""
    for i, row in table.iterrows():
        done = f"{row['Δ [95% CI]']} ({row['profile']}, seeds {row['seeds']}), {row['reading']}"
        glue(f"{prefix}_{i}_reading", f"{row['hypothesis']}: {done if row['profile'] else 'not run'}")


def kd_weight_curves(trace: pd.DataFrame) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Per (task, profile, fusion weights) label: each run's (target steps, α_kd) for a plot; the label counts
    the runs with settings of their own besides the fusion weights (ablations, bfloat16, re-splits)."""
    out: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for (task, profile, weights), group in trace.groupby(["task", "profile", "fusion weights"], sort=True):
        runs = [run.sort_values("step") for _, run in group.groupby("_path", sort=True)]
        other = sum(bool(_other_settings(run["overrides"].iloc[0])) for run in runs)
        label = f"{task}, {profile}, {weights}" + (f"; {other} with other settings" if other else "")
        out[label] = [(run["step"].to_numpy(), run["alpha_kd"].to_numpy()) for run in runs]
    return out


def _other_settings(overrides: str) -> str:
    """'k=v, ...' overrides less the fusion-weights switch (which the label already names)."""
    return ", ".join(o for o in overrides.split(", ") if o and not o.startswith("fusion_weights="))
