"""Study report: the paper's tables, run records as frames, summaries beside the paper, verdicts, relevance
splits (Table 5), relevance heatmaps (Figure 4) and the data-size curve (Figure 5).

Every number a notebook shows is computed here; a notebook is parameters -> `ensure_runs` -> report calls
-> glue. Conventions:

* a *variant* is a labelled (method, config overrides, formulation) triple, e.g. Table 4's
  ``sample_q_alpha_elem`` = fgkf with ``relevance=sample_q, alpha=elem, warm_up=False``; a record belongs
  to a variant when its method, formulation and user overrides are exactly the variant's;
* long frames carry a ``metric`` column: ``score`` (the task's headline number: word F1, accuracy or entity
  F1), ``roov`` (CWS OOV recall), ``strong``/``weak`` (Table 5);
* scores are percentages, as in the paper.
"""
from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from .config import CODE_LR, FORMULATIONS, PROFILES, Config, resolve
from .metrics import bio_chunks, bmes_words
from .runs import RunSpec, iter_sweep, load_relevance, record_path
from .tasks import TASKS, Task, get_task

REPO_ROOT = Path(__file__).resolve().parents[1]

#: the paper's six settings, in the column order of Table 3
SETTINGS = ["cws_zx", "cws_weibo", "pos_zh", "pos_en", "ner_zh", "ner_en"]
PAPER_FILES = {
    "table3": "table3_main_results", "table4": "table4_cws_variants",
    "table5": "table5_relevance_split", "table7": "table7_ablation",
}
METRIC_SUFFIX = {"": "score", "f1": "score", "roov": "roov", "strong": "strong", "weak": "weak", "delta": "delta"}
METRIC_LABEL = {"score": "score", "roov": "R_oov", "strong": "strong", "weak": "weak"}
#: config keys that tell the study's variants apart (shown as columns of `runs_frame`)
CONFIG_COLUMNS = (
    "relevance", "alpha", "warm_up", "shared_embedding", "gradient_block", "target_pool", "target_fraction", "lr",
    "sample_weight", "loss_split", "domain_clf", "elem_map", "ps_refresh",
)


# ----------------------------------------------------------------------------- parameters and paths
def as_list(value: Any) -> list | None:
    """Notebook parameter -> list: None stays None, a YAML/str list (``'[a, b]'`` from `papermill -p`) is parsed,
    a scalar becomes a one-element list."""
    if value is None:
        return None
    if isinstance(value, str):
        import yaml

        value = yaml.safe_load(value)
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


#: tasks of each page when none are given. The committed quick study is sized for a 2-core CPU: pages whose
#: paper setting is CWS (Table 4, Figure 5) run their grid on ner_en there, Figure 4 uses ner_zh for Chinese,
#: and the main table leaves out cws_weibo (its CWS runs are the slowest on CPU); pass `tasks` to add it.
DEFAULT_TASKS: dict[str, list[str]] = {
    "main_results": SETTINGS, "cws_variants": ["cws_zx", "cws_weibo"], "relevance_split": ["pos_en", "ner_en"],
    "relevance_heatmaps": ["cws_zx", "ner_en"], "fidelity": ["ner_en"], "data_size": ["cws_weibo"],
}
PROFILE_TASKS: dict[str, dict[str, list[str]]] = {
    "smoke": {"main_results": ["cws_zx", "pos_en", "ner_en"], "cws_variants": ["cws_zx"], "data_size": ["ner_en"]},
    "quick": {
        "main_results": ["cws_zx", "pos_zh", "pos_en", "ner_zh", "ner_en"], "cws_variants": ["ner_en"],
        "relevance_heatmaps": ["ner_zh", "ner_en"], "data_size": ["ner_en"],
    },
}
#: seeds of each page when none are given: three where the paper's claims need a variance estimate
PROFILE_SEEDS: dict[str, dict[str, list[int]]] = {
    "smoke": {},
    "quick": {"relevance_split": [1, 2, 3]},
    "full": {"*": [1, 2, 3]},
}
#: the quick study's main table: every method on these tasks, the core methods on all six, three seeds here
QUICK_BASELINE_TASKS = ["ner_en", "cws_zx"]
QUICK_SEED_TASKS = ["ner_en", "pos_en"]
CORE_METHODS = ["target_only", "basic_kd", "fgkf"]


def default_tasks(page: str, profile: str) -> list[str]:
    """A page's tasks when none are given (fewer in reduced profiles, to fit their compute budget)."""
    return list(PROFILE_TASKS.get(profile, {}).get(page, DEFAULT_TASKS[page]))


def default_fractions(profile: str) -> list[float]:
    """Figure 5's shares of the target pool: 20%..100% (smoke and quick: the two ends)."""
    return {"smoke": [0.2, 1.0], "quick": [0.2, 1.0]}.get(profile, [0.2, 0.4, 0.6, 0.8, 1.0])


def default_pool(task: str) -> float:
    """Figure 5's pool: 10% of the Weibo training set as in the paper, the whole target train elsewhere."""
    return 0.10 if task == "cws_weibo" else 1.0


def default_seeds(profile: str, page: str = "*") -> list[int]:
    """Seeds of a page when none are given (see PROFILE_SEEDS)."""
    table = PROFILE_SEEDS.get(profile, {})
    return list(table.get(page, table.get("*", [1])))


def main_grid_note(seeds: Sequence[int] | None, profile: str) -> dict[str, str]:
    """Banner lines describing `main_grid`'s reduced grid (empty when the full grid runs)."""
    if seeds is not None or profile != "quick":
        return {}
    return {
        "extra seeds": f"2, 3 for {', '.join(CORE_METHODS)} on {', '.join(QUICK_SEED_TASKS)}",
        "baselines on": ", ".join(QUICK_BASELINE_TASKS) + " (the core methods run on every task)",
    }


def main_grid(tasks: Sequence[str], variants: Sequence["Variant"], seeds: Sequence[int] | None, profile: str) -> list:
    """Table 3's runs. Explicit seeds: the full grid. Otherwise, in the quick profile, every method on
    QUICK_BASELINE_TASKS, the core methods on every task, and seeds 1-3 for the core methods on QUICK_SEED_TASKS."""
    if seeds is not None or profile != "quick":
        return grid(tasks, variants, seeds or default_seeds(profile, "main_results"))
    specs = []
    for t in tasks:
        for v in variants:
            if v.method in CORE_METHODS or t in QUICK_BASELINE_TASKS:
                specs += grid([t], [v], [1, 2, 3] if v.method in CORE_METHODS and t in QUICK_SEED_TASKS else [1])
    return specs


def results_root(results_dir: str | Path | None = None) -> Path:
    """The results folder: the argument, else $FGKF_RESULTS, else <repo>/results."""
    return Path(results_dir or os.environ.get("FGKF_RESULTS") or REPO_ROOT / "results")


def paper_dir(path: str | Path | None = None) -> Path:
    """Folder of the paper's CSVs: the argument, else $FGKF_RESULTS/paper when it exists, else <repo>/results/paper."""
    if path:
        return Path(path)
    env = os.environ.get("FGKF_RESULTS")
    if env and (Path(env) / "paper").is_dir():
        return Path(env) / "paper"
    return REPO_ROOT / "results" / "paper"


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    return profile


def banner(profile: str, seeds: Sequence[int] | None, **grid: Any) -> None:
    """Print the profile and seeds that produce the page (and the grid), flagging reduced profiles loudly."""
    from IPython.display import Markdown, display

    reduced = profile != "full"
    print(f"profile: {profile}{' (REDUCED)' if reduced else ''}")
    if seeds is not None:
        print(f"seeds: {list(seeds)}")
    for key, value in grid.items():
        print(f"{key}: {value}")
    if reduced:
        what = {
            "smoke": "tiny data slices and a few steps: it validates the pipeline, its numbers mean nothing",
            "quick": "shrunk data, schedule and capsules on CPU: numbers are indicative, not the paper's setting",
        }.get(profile, "a reduced configuration (see fgkf_core.config.PROFILES)")
        seeds_text = f" Seeds {list(seeds)}." if seeds is not None else ""
        display(Markdown(f"> **Reduced profile `{profile}`**: {what}.{seeds_text}"))


# ----------------------------------------------------------------------------- variants and runs
@dataclass(frozen=True)
class Variant:
    """A labelled method configuration: one row of a study table."""

    label: str
    method: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    formulation: str = "paper"

    def spec(self, task: str | Task, seed: int) -> RunSpec:
        """The RunSpec of this variant (a non-paper formulation travels as the `formulation` override)."""
        extra = {"formulation": self.formulation} if self.formulation != "paper" else {}
        return RunSpec(task, self.method, seed, {**self.overrides, **extra})  # type: ignore[arg-type]

    def matches(self, record: dict) -> bool:
        return (
            record["method"] == self.method and record.get("formulation", "paper") == self.formulation
            and record.get("config_layers", {}).get("overrides", {}) == dict(self.overrides)
        )


def plain(methods: Iterable[str]) -> list[Variant]:
    """One variant per method, with no overrides."""
    return [Variant(m, m) for m in methods]


def grid(tasks: Iterable[str | Task], variants: Iterable[Variant], seeds: Iterable[int]) -> list[RunSpec]:
    """Every (task, variant, seed) as a RunSpec."""
    return [v.spec(t, s) for t in tasks for v in variants for s in seeds]


def registered_methods() -> list[str]:
    from .methods import METHODS

    return sorted(METHODS)


#: paper row label -> registered method name, where they differ
PAPER_METHOD = {"fgkf_pretrained_embedding": "fgkf_pe"}


def table3_variants(methods: Iterable[str] | None = None) -> tuple[list[Variant], list[str]]:
    """Table 3's rows (or the given paper labels / method names) as variants labelled like the paper, and the
    labels whose method is not implemented yet."""
    to_label = {m: label for label, m in PAPER_METHOD.items()}
    labels = paper_rows("table3") if methods is None else [to_label.get(m, m) for m in methods]
    known = set(registered_methods())
    found = [Variant(label, PAPER_METHOD.get(label, label)) for label in labels]
    return [v for v in found if v.method in known], [v.label for v in found if v.method not in known]


def _spec_location(spec: RunSpec, profile: str, results: Path) -> tuple[str, dict, Path]:
    overrides = dict(spec.overrides)
    formulation = overrides.pop("formulation", "paper")
    task = get_task(spec.task)
    cfg, _ = resolve(task.name, profile, formulation, **overrides)
    return formulation, overrides, record_path(results, task.name, spec.method, profile, cfg.hash(), spec.seed)


def ensure_runs(
    specs: Iterable[RunSpec], profile: str, results_dir: str | Path | None = None, data_dir: str | Path | None = None,
    device: str | None = None, workers: int = 1, threads: int | None = None,
) -> list[dict]:
    """Train only the runs of `specs` that have no record yet (progress bar on stdout) and return every record.

    A spec may carry ``formulation`` among its overrides. Records come back in spec order, with ``_path``.
    """
    from tqdm.std import tqdm

    check_profile(profile)
    results = results_root(results_dir)
    specs = list(specs)
    located = [_spec_location(s, profile, results) for s in specs]
    missing: dict[Path, tuple[RunSpec, str, dict]] = {}
    for spec, (form, overrides, path) in zip(specs, located):
        if not path.exists():
            missing.setdefault(path, (spec, form, overrides))
    n_unique = len({p for _, _, p in located})
    where = results.resolve().relative_to(REPO_ROOT) if results.resolve().is_relative_to(REPO_ROOT) else results
    header = (f"{n_unique - len(missing)} of {n_unique} runs already recorded in {where}; "
              f"training {len(missing)} in the {profile} profile")
    print(header)
    common = dict(profile=profile, data_dir=data_dir, results_dir=results, device=device, progress=False)
    todo = list(missing.values())
    if todo:
        t0 = time.time()
        with tqdm(total=len(todo), file=sys.stdout, ascii=True, ncols=100, mininterval=2.0, desc="runs") as bar:
            for form in dict.fromkeys(f for _, f, _ in todo):
                group = [replace(s, overrides=o) for s, f, o in todo if f == form]
                for line in iter_sweep(group, workers=workers, threads=threads, formulation=form, **common):
                    bar.set_postfix_str(line.split(":")[0])
                    bar.update(1)
        _clear_cell_output()  # the live bar served its purpose; the stored output keeps two lines
        print(header)
        print(f"trained {len(todo)} runs in {(time.time() - t0) / 60:.1f} min")
    return [load_record(path) for _, _, path in located]


def _clear_cell_output() -> None:
    """Clear the current cell's output when running in a Jupyter kernel (papermill included)."""
    try:
        from IPython import get_ipython
        from IPython.display import clear_output
    except ImportError:  # pragma: no cover
        return
    shell = get_ipython()
    if shell is not None and "IPKernelApp" in shell.config:
        clear_output()


def load_record(path: str | Path) -> dict:
    """One run record, with ``_path`` set (as `runs.load_records`)."""
    rec = json.loads(Path(path).read_text())
    rec["_path"] = str(path)
    return rec


# ----------------------------------------------------------------------------- paper tables
def paper_table(name: str, path: str | Path | None = None) -> pd.DataFrame:
    """A paper CSV as transcribed (``table3``/``table4``/``table5``/``table7`` or the file stem)."""
    stem = PAPER_FILES.get(name, name)
    return pd.read_csv(paper_dir(path) / f"{stem}.csv")


def _split_column(col: str) -> tuple[str, str]:
    task = max((t for t in TASKS if col == t or col.startswith(t + "_")), key=len, default=None)
    if task is None:
        raise ValueError(f"paper column {col!r} names no task")
    suffix = col[len(task) + 1:]
    if suffix not in METRIC_SUFFIX:
        raise ValueError(f"paper column {col!r}: unknown metric suffix {suffix!r}")
    return task, METRIC_SUFFIX[suffix]


def paper_long(name: str, path: str | Path | None = None) -> pd.DataFrame:
    """A paper table in long form: variant, task, metric, paper (rows in the paper's order)."""
    wide = paper_table(name, path)
    key = wide.columns[0]  # "method" or "variant"
    rows = []
    for order, rec in enumerate(wide.to_dict("records")):
        for col in wide.columns[1:]:
            task, metric = _split_column(col)
            rows.append({"variant": rec[key], "task": task, "metric": metric, "paper": rec[col], "order": order})
    return pd.DataFrame(rows).dropna(subset=["paper"])


def paper_rows(name: str) -> list[str]:
    """Row labels of a paper table, in order."""
    wide = paper_table(name)
    return list(wide[wide.columns[0]])


# ----------------------------------------------------------------------------- frames and summaries
def variant_of(record: dict, variants: Sequence[Variant] | None) -> str | None:
    """Label of the first variant matching the record (the method name when no variants are given)."""
    if variants is None:
        return record["method"]
    return next((v.label for v in variants if v.matches(record)), None)


def runs_frame(records: Iterable[dict], variants: Sequence[Variant] | None = None) -> pd.DataFrame:
    """One row per run: identity, the distinguishing config values, test score (+ R_oov), time and device.

    With `variants`, records matching none of them are dropped and ``variant`` holds the matching label.
    """
    rows = []
    for rec in records:
        label = variant_of(rec, variants)
        if label is None:
            continue
        cfg = rec.get("config", {})
        test = rec.get("test", {})
        overrides = rec.get("config_layers", {}).get("overrides", {})
        rows.append({
            "task": rec["task"], "variant": label, "method": rec["method"], "seed": rec["seed"],
            "profile": rec["profile"], "formulation": rec.get("formulation", "paper"),
            "overrides": ", ".join(f"{k}={v}" for k, v in sorted(overrides.items())),
            **{k: cfg.get(k) for k in CONFIG_COLUMNS},
            "score": test.get("score"), "roov": test.get("roov"), "best_dev": rec.get("best_dev"),
            "n_target_train": rec.get("task_info", {}).get("sizes", {}).get("target_train"),
            "comparable": rec.get("task_info", {}).get("comparable_to_paper", True),
            "wall_seconds": rec.get("wall_seconds"), "device": rec.get("device"),
            "stop_reason": rec.get("stop_reason"), "config_hash": rec.get("config_hash"), "path": rec.get("_path"),
        })
    cols = ["task", "variant", "method", "seed", "profile", "formulation", "overrides", *CONFIG_COLUMNS, "score",
            "roov", "best_dev", "n_target_train", "comparable", "wall_seconds", "device", "stop_reason",
            "config_hash", "path"]
    return pd.DataFrame(rows, columns=cols)


def summary(frame: pd.DataFrame, by: Sequence[str] = ("task", "variant"), metrics: Sequence[str] = ("score", "roov")
            ) -> pd.DataFrame:
    """Mean, sample std and n over seeds, long over `metrics` (metrics that are all missing are left out)."""
    parts = []
    for metric in metrics:
        if metric not in frame or frame[metric].isna().all():
            continue
        g = frame.dropna(subset=[metric]).groupby(list(by), sort=False)
        part = g[metric].agg(mean="mean", std="std", n="count").reset_index()
        part["seeds"] = g["seed"].agg(lambda s: sorted(s.tolist())).values if "seed" in frame else None
        part.insert(len(by), "metric", metric)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=[*by, "metric", "mean", "std", "n", "seeds"])
    return pd.concat(parts, ignore_index=True)


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


# ----------------------------------------------------------------------------- claims and verdicts
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


def effect(summ: pd.DataFrame, task: str, a: str, b: str, metric: str = "score") -> dict[str, float]:
    """Mean difference a − b, its seed noise sqrt(std_a² + std_b²) and the smaller n, from a `summary`."""
    def row(v: str) -> pd.Series | None:
        m = summ[(summ["task"] == task) & (summ["variant"] == v) & (summ["metric"] == metric)]
        return None if m.empty else m.iloc[0]

    ra, rb = row(a), row(b)
    if ra is None or rb is None:
        return {"diff": float("nan"), "noise": float("nan"), "n": 0, "a": float("nan"), "b": float("nan")}
    noise = math.sqrt(ra["std"] ** 2 + rb["std"] ** 2) if ra["n"] > 1 and rb["n"] > 1 else float("nan")
    return {"diff": ra["mean"] - rb["mean"], "noise": noise, "n": int(min(ra["n"], rb["n"])), "a": ra["mean"],
            "b": rb["mean"]}


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


def paper_reference(task: str, labels: Iterable[str], name: str = "table3", row: str = "fgkf") -> pd.DataFrame:
    """The paper's value of `row` on `task` as the reference of every label (long, as `paper_long`)."""
    p = paper_long(name)
    p = p[(p["variant"] == row) & (p["task"] == task)]
    return pd.concat([p.assign(variant=label) for label in labels], ignore_index=True)


def formulation_switches(task: str) -> pd.DataFrame:
    """The sub-switches of the code formulation: paper value, code value (from `config.FORMULATIONS`)."""
    defaults = Config()
    cfg_code, _ = resolve(get_task(task).name, "full", "code")
    rows = []
    for key in FORMULATIONS["code"]:
        k = "lr" if key == "code_lr" else key
        rows.append({"switch": key, "config key": k, "paper formulation": getattr(defaults, k),
                     "code formulation": getattr(cfg_code, k),
                     "alone changes the config": getattr(defaults, k) != getattr(cfg_code, k)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- glue
def glue_key(name: str) -> str:
    """A glue name safe inside a MyST role: letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")


def glue(name: str, value: Any) -> None:
    """myst_nb.glue without display under `glue_key(name)` (a no-op where myst_nb is missing)."""
    try:
        from myst_nb import glue as _glue
    except ImportError:  # pragma: no cover
        return
    _glue(glue_key(name), value, display=False)


def glue_claims(table: pd.DataFrame, prefix: str) -> None:
    """Glue `<prefix>_<key>_{verdict,ours,paper}` for every claim row (text for the book's prose)."""
    for rec in table.to_dict("records"):
        glue(f"{prefix}_{rec['key']}_verdict", rec["verdict"])
        glue(f"{prefix}_{rec['key']}_ours", rec["ours"])
        glue(f"{prefix}_{rec['key']}_paper", rec["paper"] or "n/a")


def glue_compare(cmp: pd.DataFrame, prefix: str) -> None:
    """Glue `<prefix>_<task>_<variant>[_<metric>]` = 'mean ± std (n)' (or 'not run') and `..._reported` (the
    paper's value) for every row of a `compare` frame (metric ``score`` has no suffix)."""
    for rec in cmp.to_dict("records"):
        suffix = "" if rec["metric"] == "score" else f"_{rec['metric']}"
        name = f"{prefix}_{rec['task']}_{rec['variant']}{suffix}"
        glue(name, rec["reproduced"])
        glue(f"{name}_reported", "n/a" if pd.isna(rec["paper"]) else f"{rec['paper']:.2f}")


def glue_settings(prefix: str, profile: str, seeds: Sequence[int], task: str | None = None) -> None:
    """Glue `<prefix>_profile`, `<prefix>_seeds` (and `<prefix>_task`) for the page's prose."""
    glue(f"{prefix}_profile", profile)
    glue(f"{prefix}_seeds", ", ".join(map(str, seeds)))
    if task is not None:
        glue(f"{prefix}_task", task)


# ----------------------------------------------------------------------------- study definitions
#: the Table 4 relevance x alpha cells the quick study runs (the CPU budget leaves out Domain-q samp/elem)
QUICK_TABLE4 = ("sample_q_alpha_samp", "sample_q_alpha_multi", "domain_q_alpha_multi")


def table4_variants(profile: str = "full") -> list[Variant]:
    """Table 4 rows: baselines, relevance (sample_q | domain_q) x alpha (samp | elem | multi) w/o warm-up, FGKF."""
    rows = plain(["source_only", "target_only", "basic_kd"])
    for rel in ("domain_q", "sample_q"):
        for alpha in ("samp", "elem", "multi"):
            label = f"{rel}_alpha_{alpha}"
            if profile != "quick" or label in QUICK_TABLE4:
                rows.append(Variant(label, "fgkf", {"relevance": rel, "alpha": alpha, "warm_up": False}))
    return rows + [Variant("fgkf", "fgkf")]


ABLATIONS: dict[str, dict[str, Any]] = {
    "without_shared_embedding": {"shared_embedding": False},
    "without_gradient_block": {"gradient_block": False},
    "without_alpha_samp": {"alpha": "elem"},
    "without_alpha_elem": {"alpha": "samp"},
    "without_alpha_multi": {"alpha": "basic"},
    "without_warm_up": {"warm_up": False},
}


def ablation_variants(names: Iterable[str] | None = None) -> list[Variant]:
    """FGKF and its Table 7 ablations (each switches one component off)."""
    names = list(ABLATIONS) if names is None else list(names)
    unknown = sorted(set(names) - set(ABLATIONS))
    if unknown:
        raise ValueError(f"unknown ablations {unknown}; valid: {', '.join(ABLATIONS)}")
    return [Variant("fgkf", "fgkf")] + [Variant(n, "fgkf", ABLATIONS[n]) for n in names]


def code_switches(task: str) -> dict[str, dict[str, Any]]:
    """Each sub-switch of the `code` formulation as a single override on top of the paper formulation.

    ``code_lr`` becomes the authors' per-task learning rate; switches whose code value equals the paper
    default (e.g. l2 = 0) are left out, since alone they change nothing.
    """
    defaults = Config()
    out = {}
    for key, value in FORMULATIONS["code"].items():
        if key == "code_lr":
            key, value = "lr", CODE_LR.get(get_task(task).name.split("_")[0], defaults.lr)
        if getattr(defaults, key) == value:
            continue
        out[f"{key}={value}"] = {key: value}
    return out


#: the code sub-switches the quick study measures alone (the CPU budget leaves out the others)
QUICK_SWITCHES = ("sample_weight", "domain_clf")


def fidelity_variants(task: str, profile: str = "full") -> list[Variant]:
    """FGKF in the paper formulation, in the code formulation, and with each code sub-switch alone."""
    rows = [Variant("paper formulation", "fgkf"), Variant("code formulation", "fgkf", formulation="code")]
    switches = {
        name: ov for name, ov in code_switches(task).items() if profile != "quick" or next(iter(ov)) in QUICK_SWITCHES
    }
    return rows + [Variant(f"paper + {name}", "fgkf", ov) for name, ov in switches.items()]


def data_size_variants(methods: Iterable[str], fractions: Iterable[float], pool: float = 0.10) -> list[Variant]:
    """One variant per (method, share of the target pool) for Figure 5 (run on ``cws_weibo``).

    `tasks.load_task` shuffles the target training set once with a fixed seed; ``target_pool`` keeps its
    first `pool` share instead of the task's own (5% for ``cws_weibo``) and ``target_fraction`` keeps the first
    share of that pool. Everything is nested: smaller shares are subsets of larger ones, and 50% of the 10%
    pool is exactly the 5% training set of the main Weibo setting.
    """
    return [Variant(f"{m}@{f:g}", m, {"target_pool": float(pool), "target_fraction": float(f)})
            for m in methods for f in fractions]


# ----------------------------------------------------------------------------- relevance (Table 5, Figure 4)
def load_predictions(record: dict) -> list[tuple[list[str], list[str], list[str]]]:
    """The run's target test (tokens, gold tags, predicted tags), one triple per sentence, in test order."""
    path = Path(record["_path"]).parent / record["files"]["predictions"]
    out, cur = [], ([], [], [])
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line:
            if cur[0]:
                out.append(cur)
            cur = ([], [], [])
            continue
        tok, gold, pred = line.rsplit("\t", 2)
        cur[0].append(tok)
        cur[1].append(gold)
        cur[2].append(pred)
    if cur[0]:
        out.append(cur)
    return out


def relevance_threshold(rel: dict, key: str = "alpha_elem") -> float:
    """Average relevance score over all target TRAIN tokens (the paper's strong/weak threshold)."""
    values = [v for s in rel["target_train"] for v in s[key]]
    return sum(values) / len(values)


def _spans(scheme: str, tags: list[str]) -> list[tuple[Any, int, int]]:
    if scheme == "bio":
        return bio_chunks(tags)
    return [(None, a, b) for a, b in bmes_words(tags)]


def strong_weak_split(record: dict, relevance_record: dict | None = None, key: str = "alpha_elem") -> dict[str, Any]:
    """Scores of a run on the strongly vs weakly relevant part of the target test set (paper Table 5).

    Relevance per token = the stored ``alpha_elem`` of an FGKF run (`relevance_record`, default the run itself):
    the element-level fusion weight, i.e. how much the token is trusted to the source teacher. The threshold
    is its mean over the target TRAIN tokens. POS: token accuracy on each side. NER (CWS): an entity (word)
    is strong when the mean relevance of its tokens is >= the threshold; gold and predicted entities are
    split this way and entity (word) F1 is computed on each side (a correct prediction has the gold span,
    hence the same side). Tokens past the relevance output (sentences longer than MAX_LEN) are left out.
    """
    rel = load_relevance(relevance_record or record)
    thr = relevance_threshold(rel, key)
    test = rel["target_test"]
    sents = load_predictions(record)
    if len(sents) != len(test):
        raise ValueError(f"{record['_path']}: {len(sents)} test sentences but the relevance run has {len(test)}")
    scheme = record["task_info"]["scheme"]
    n_excluded = 0
    if scheme == "tags":
        counts = {"strong": [0, 0], "weak": [0, 0]}
        for (tokens, gold, pred), r in zip(sents, test):
            _check_alignment(tokens, r, record)
            scores = r[key]
            n_excluded += len(tokens) - len(scores)
            for g, p, s in zip(gold, pred, scores):
                side = counts["strong" if s >= thr else "weak"]
                side[0] += g == p
                side[1] += 1
        res = {side: 100.0 * c / n if n else float("nan") for side, (c, n) in counts.items()}
        sizes = {side: n for side, (_, n) in counts.items()}
        unit = "tokens"
    else:
        tally = {side: {"gold": 0, "pred": 0, "correct": 0} for side in ("strong", "weak")}
        for (tokens, gold, pred), r in zip(sents, test):
            _check_alignment(tokens, r, record)
            scores = r[key]
            g_spans, p_spans = set(_spans(scheme, gold)), set(_spans(scheme, pred))
            for spans, what in ((g_spans, "gold"), (p_spans, "pred")):
                for span in spans:
                    if span[2] > len(scores):
                        n_excluded += what == "gold"
                        continue
                    mean = sum(scores[span[1]:span[2]]) / (span[2] - span[1])
                    side = "strong" if mean >= thr else "weak"
                    tally[side][what] += 1
                    if what == "gold" and span in p_spans:
                        tally[side]["correct"] += 1
        res = {side: _f1(**t) for side, t in tally.items()}
        sizes = {side: t["gold"] for side, t in tally.items()}
        unit = "entities" if scheme == "bio" else "words"
    return {"threshold": thr, "strong": res["strong"], "weak": res["weak"], "n_strong": sizes["strong"],
            "n_weak": sizes["weak"], "n_excluded": n_excluded, "unit": unit, "key": key}


def _check_alignment(tokens: list[str], rel_sentence: dict, record: dict) -> None:
    n = len(rel_sentence["tokens"])
    if tokens[:n] != rel_sentence["tokens"]:
        raise ValueError(f"{record['_path']}: its test sentences differ from the relevance run's (same profile?)")


def _f1(gold: int, pred: int, correct: int) -> float:
    """Entity/word F1 of one side of the split; NaN when the side holds no gold unit (F1 is undefined)."""
    if not gold:
        return float("nan")
    p = correct / pred if pred else 0.0
    r = correct / gold if gold else 0.0
    return 100.0 * 2 * p * r / (p + r) if p + r else 0.0


def relevance_split_frame(records: Iterable[dict], key: str = "alpha_elem", method: str = "fgkf") -> pd.DataFrame:
    """Strong/weak scores of every run, each split by the relevance of a plain FGKF run (`method`, no overrides)
    of the same task and profile, preferably of the same seed: all methods are scored on the same split, as in
    the paper. Runs without such an FGKF run are left out."""
    records = list(records)
    fgkf = [r for r in records if Variant(method, method).matches(r) and r.get("files", {}).get("relevance")]
    rows = []
    for rec in records:
        same = [r for r in fgkf if r["task"] == rec["task"] and r["profile"] == rec["profile"]]
        if not same:
            continue
        src = next((r for r in same if r["seed"] == rec["seed"]), same[0])
        res = strong_weak_split(rec, src, key)
        rows.append({"task": rec["task"], "variant": rec["method"], "seed": rec["seed"],
                     "relevance_seed": src["seed"], **res})
    return pd.DataFrame(rows)


def heatmap_data(record: dict, n_sentences: int = 4, split: str = "target_test", key: str = "alpha_elem",
                 min_len: int = 6, max_len: int = 24, sentences: Sequence[int] | None = None) -> pd.DataFrame:
    """Per-token relevance of real sentences, long: sentence, position, token, tag, score.

    Sentences: `sentences` (indices into the split), else the first `n_sentences` whose length lies in
    [min_len, max_len] (deterministic, so two runs of a task show the same sentences).
    """
    rel = load_relevance(record)[split]
    if sentences is None:
        sentences = [i for i, s in enumerate(rel) if min_len <= len(s["tokens"]) <= max_len][:n_sentences]
    rows = []
    for i in sentences:
        s = rel[i]
        for j, (tok, tag, score) in enumerate(zip(s["tokens"], s["tags"], s[key])):
            rows.append({"sentence": i, "position": j, "token": tok, "tag": tag, "score": score})
    return pd.DataFrame(rows, columns=["sentence", "position", "token", "tag", "score"])


def plot_heatmap(data: Mapping[str, pd.DataFrame], cmap: str = "Reds", uuid: str = "relevance"):
    """Figure 4 as an HTML heatmap (a pandas Styler): per sentence one row per relevance model, tokens as
    cells, shaded by relevance normalised to [0, 1] within the row; the raw range is in the last column.

    HTML rather than a matplotlib figure: the browser draws the Chinese characters (no CJK font needed).
    """
    tokens, shade, index = [], [], []
    sentences = list(dict.fromkeys(s for d in data.values() for s in d["sentence"]))
    for i in sentences:
        for label, frame in data.items():
            part = frame[frame["sentence"] == i].sort_values("position")
            if part.empty:
                continue
            lo, hi = part["score"].min(), part["score"].max()
            norm = (part["score"] - lo) / (hi - lo) if hi > lo else part["score"] * 0.0
            tokens.append(list(part["token"]) + [f"{lo:.3f}–{hi:.3f}"])
            shade.append(list(norm) + [math.nan])
            index.append((i, label))
    if not tokens:
        return pd.DataFrame({"note": ["no sentence of the requested length"]}).style
    width = max(len(t) for t in tokens)
    tok = pd.DataFrame([t[:-1] + [""] * (width - len(t)) + t[-1:] for t in tokens],
                       index=pd.MultiIndex.from_tuples(index, names=["sentence", "relevance"]),
                       columns=[*range(width - 1), "range"])
    gmap = pd.DataFrame([g[:-1] + [math.nan] * (width - len(g)) + g[-1:] for g in shade], index=tok.index,
                        columns=tok.columns)
    return (tok.style.set_uuid(uuid).background_gradient(cmap=cmap, gmap=gmap, axis=None, vmin=0, vmax=1)
            .set_properties(**{"font-size": "0.85em", "padding": "2px 4px"}))


def spread_table(runs: Mapping[str, Mapping[str, dict]], key: str = "alpha_elem", prefix: str = "heat") -> pd.DataFrame:
    """`within_sentence_spread` of every {task: {label: record}}; glues `<prefix>_<task>_<label>_spread` and,
    for the page's prose, the same under `<prefix>_first_...` / `<prefix>_last_...` with `<prefix>_first_task`."""
    rows = []
    tasks = list(runs)
    for task, recs in runs.items():
        where = [w for w, t in (("first", tasks[0]), ("last", tasks[-1])) if t == task]
        for w in where:
            glue(f"{prefix}_{w}_task", task)
        for label, rec in recs.items():
            value = within_sentence_spread(rec, key=key)
            for name in [task, *where]:
                glue(f"{prefix}_{name}_{label.lower()}_spread", f"{value:.4f}")
            rows.append({"task": task, "relevance": label, "within-sentence std": value})
    return pd.DataFrame(rows)


def within_sentence_spread(record: dict, split: str = "target_test", key: str = "alpha_elem") -> float:
    """Mean over sentences of the within-sentence std of the relevance (how token-specific it is)."""
    values = []
    for s in load_relevance(record)[split]:
        xs = s[key]
        if len(xs) > 1:
            m = sum(xs) / len(xs)
            values.append(math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)))
    return sum(values) / len(values) if values else float("nan")


# ----------------------------------------------------------------------------- Figure 5
def data_size_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std (n) per method and target fraction, with the target training size actually used."""
    summ = summary(frame, by=("method", "target_fraction"), metrics=("score",))
    sizes = frame.groupby(["method", "target_fraction"])["n_target_train"].first().reset_index()
    return summ.merge(sizes, on=["method", "target_fraction"], how="left")


def data_size_table(summ: pd.DataFrame) -> pd.DataFrame:
    """Per share of the pool and method: word F1 as mean ± std (n) and the target training sentences used."""
    table = summ.assign(F1=[fmt_ms(m, s, n) for m, s, n in zip(summ["mean"], summ["std"], summ["n"])])
    return table.pivot_table(index="target_fraction", columns="method", values=["F1", "n_target_train"],
                             aggfunc="first", sort=False)


def data_size_figure(summ: pd.DataFrame, ylabel: str = "target test word F1"):
    """Figure 5 as a matplotlib Figure: score vs share of the target pool, one line per method, seed std bars."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for method, part in summ.groupby("method", sort=False):
        part = part.sort_values("target_fraction")
        ax.errorbar(part["target_fraction"] * 100, part["mean"], yerr=part["std"].fillna(0), marker="o",
                    capsize=3, label=method)
    ax.set_xlabel("share of the target training pool (%)")
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def plot_data_size(summ: pd.DataFrame, ylabel: str = "target test word F1"):
    """`data_size_figure` rendered to a PNG for the notebook (no pyplot or inline backend involved)."""
    import io

    from IPython.display import Image

    buf = io.BytesIO()
    data_size_figure(summ, ylabel).savefig(buf, format="png", dpi=110)
    return Image(data=buf.getvalue(), format="png")


def margins(summ: pd.DataFrame, a: str = "fgkf", b: str = "basic_kd") -> pd.DataFrame:
    """Per target fraction: mean a − b, its seed noise and the smaller n."""
    rows = []
    for f, part in summ.groupby("target_fraction"):
        sa, sb = part[part["method"] == a], part[part["method"] == b]
        if sa.empty or sb.empty:
            continue
        ra, rb = sa.iloc[0], sb.iloc[0]
        noise = math.sqrt(ra["std"] ** 2 + rb["std"] ** 2) if min(ra["n"], rb["n"]) > 1 else float("nan")
        rows.append({"target_fraction": f, "margin": ra["mean"] - rb["mean"], "noise": noise,
                     "n": int(min(ra["n"], rb["n"])), "margin ± noise (n)": fmt_diff(ra["mean"] - rb["mean"], noise,
                                                                                    int(min(ra["n"], rb["n"])))})
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
    noise = math.sqrt(lo["noise"] ** 2 + hi["noise"] ** 2)
    diff, n = lo["margin"] - hi["margin"], int(min(lo["n"], hi["n"]))
    glue(f"{prefix}_margin_low", lo["margin ± noise (n)"])
    glue(f"{prefix}_margin_high", hi["margin ± noise (n)"])
    glue(f"{prefix}_low", f"{lo['target_fraction']:.0%}")
    glue(f"{prefix}_high", f"{hi['target_fraction']:.0%}")
    glue(f"{prefix}_claim_ours", fmt_diff(diff, noise, n))
    glue(f"{prefix}_claim_verdict", verdict(diff, +1.0, noise, n) if len(marg) > 1 else "not comparable")
    return marg


# ----------------------------------------------------------------------------- reproducibility
def provenance(records: Iterable[dict]) -> pd.DataFrame:
    """Per task, method and profile: runs, seeds, wall time, devices, code and library versions."""
    rows = []
    for rec in records:
        v = rec.get("versions", {})
        code = rec.get("code", {})
        rows.append({
            "task": rec["task"], "method": rec["method"], "profile": rec["profile"], "seed": rec["seed"],
            "wall_seconds": rec.get("wall_seconds"), "device": rec.get("device"), "threads": rec.get("threads"),
            "torch": v.get("torch"), "python": v.get("python"),
            "commit": (code.get("commit") or "?")[:10] + ("+dirty" if code.get("dirty") else ""),
            "started_at": rec.get("started_at"),
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    g = frame.groupby(["task", "method", "profile"], sort=True)
    return g.agg(
        runs=("seed", "size"), seeds=("seed", lambda s: sorted(set(s))), wall_total_s=("wall_seconds", "sum"),
        wall_mean_s=("wall_seconds", "mean"), devices=("device", lambda s: sorted(set(s))),
        torch=("torch", lambda s: sorted(set(s))), commits=("commit", lambda s: sorted(set(s))),
    ).reset_index()


def glue_provenance(records: Sequence[dict], prefix: str = "repro") -> pd.DataFrame:
    """Glue run count, wall hours, devices, torch versions and seeds of `records`; return `provenance`."""
    hours = sum(r.get("wall_seconds") or 0 for r in records) / 3600
    glue(f"{prefix}_runs", str(len(records)))
    glue(f"{prefix}_hours", f"{hours:.2f}")
    glue(f"{prefix}_devices", ", ".join(sorted({r.get("device") or "?" for r in records})) or "none")
    glue(f"{prefix}_torch", ", ".join(sorted({r.get("versions", {}).get("torch", "?") for r in records})) or "none")
    glue(f"{prefix}_seeds", ", ".join(map(str, sorted({r["seed"] for r in records}))) or "none")
    print(f"{len(records)} runs, {hours:.2f} hours of wall time in total")
    return provenance(records)


def data_sizes(records: Iterable[dict]) -> pd.DataFrame:
    """Sentences per split each (task, profile, target fraction) actually used, from the records."""
    rows = []
    for rec in records:
        sizes = rec.get("task_info", {}).get("sizes", {})
        rows.append({"task": rec["task"], "profile": rec["profile"],
                     "target_fraction": rec.get("config", {}).get("target_fraction"), **sizes})
    cols = ["task", "profile", "target_fraction", "source_train", "target_train", "target_dev", "target_test"]
    frame = pd.DataFrame(rows, columns=cols)
    return frame.drop_duplicates().sort_values(["task", "profile"], kind="stable").reset_index(drop=True)


def data_files(records: Iterable[dict]) -> pd.DataFrame:
    """Every data file the runs read, with its sha256 (one row per distinct file and digest)."""
    seen = {}
    for rec in records:
        for path, digest in rec.get("data", {}).get("root_relative_sha256", {}).items():
            seen[(path, digest)] = seen.get((path, digest), 0) + 1
    return pd.DataFrame([{"file": p, "sha256": d, "runs": n} for (p, d), n in sorted(seen.items())],
                        columns=["file", "sha256", "runs"])
