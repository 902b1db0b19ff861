"""Run grids: a `Variant` is a labelled (method, config overrides, formulation) row of a study table; here
are the rows of Tables 3, 4 and 7, the fidelity page and Figure 5, and the grids of runs they expand to.

A record belongs to a variant when its method and formulation are the variant's and its resolved ``config`` is
the variant's resolved configuration (in the record's task and profile), whatever overrides produced it: e.g.
Table 4's ``sample_q_alpha_multi`` (fgkf with ``relevance=sample_q, alpha=multi, warm_up=False``) is the record
run as Table 7's ``without_warm_up`` (``warm_up=False`` alone), since sample_q and multi are the defaults.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from ..config import CODE_LR, FORMULATIONS, Config, resolve, with_neutral
from ..methods import METHODS
from ..runs import RunSpec
from ..tasks import TASKS, Task, get_task
from .paper import paper_rows
from .params import default_seeds


@dataclass(frozen=True)
class Variant:
    """A labelled method configuration: one row of a study table."""

    label: str
    method: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    formulation: str = "paper"

    def spec(self, task: str | Task, seed: int) -> RunSpec:
        """The RunSpec of this variant."""
        return RunSpec(task, self.method, seed, dict(self.overrides), self.formulation)  # type: ignore[arg-type]

    def config(self, task: str, profile: str) -> dict[str, Any]:
        """This variant's resolved configuration on `task` in `profile` (what its records hold as ``config``)."""
        return dict(_resolved(task, profile, self.formulation, tuple(sorted(self.overrides.items()))))

    def matches(self, record: dict) -> bool:
        """Whether the record is a run of this variant: same method and formulation, and a resolved ``config``
        equal to the variant's on every key the record holds (keys since dropped from `Config` are ignored; a
        key added since, missing from an older record, counts at its neutral value, `config.KEY_NEUTRAL`)."""
        if record["method"] != self.method or record.get("formulation", "paper") != self.formulation:
            return False
        want = self.config(record["task"], record["profile"])
        have = with_neutral(record["config"])
        return all(want[k] == v for k, v in have.items() if k in want)


@lru_cache(maxsize=None)
def _resolved(task: str, profile: str, formulation: str, overrides: tuple[tuple[str, Any], ...]) -> tuple:
    """`config.resolve` as sorted (key, value) pairs, cached (pages match hundreds of records to a few variants)."""
    kind = get_task(task).kind if task in TASKS else None
    cfg, _ = resolve(task, profile, formulation, kind=kind, **dict(overrides))
    return tuple(sorted(cfg.to_dict().items()))


def plain(methods: Iterable[str]) -> list[Variant]:
    """One variant per method, with no overrides."""
    return [Variant(m, m) for m in methods]


def grid(tasks: Iterable[str | Task], variants: Iterable[Variant], seeds: Iterable[int]) -> list[RunSpec]:
    """Every (task, variant, seed) as a RunSpec."""
    return [v.spec(t, s) for t in tasks for v in variants for s in seeds]


def registered_methods() -> list[str]:
    """Names of the implemented methods, sorted."""
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


#: the quick study's main table: every method on these tasks, the core methods on all six, three seeds here
QUICK_BASELINE_TASKS = ["ner_en", "cws_zx"]
QUICK_SEED_TASKS = ["ner_en", "pos_en"]
CORE_METHODS = ["target_only", "basic_kd", "fgkf"]


def main_grid_note(seeds: Sequence[int] | None, profile: str) -> dict[str, str]:
    """Banner lines describing `main_grid`'s reduced grid (empty when the full grid runs)."""
    if seeds is not None or profile != "quick":
        return {}
    return {
        "extra seeds": f"2, 3 for {', '.join(CORE_METHODS)} on {', '.join(QUICK_SEED_TASKS)}",
        "baselines on": ", ".join(QUICK_BASELINE_TASKS) + " (the core methods run on every task)",
    }


def main_grid(tasks: Sequence[str], variants: Sequence[Variant], seeds: Sequence[int] | None, profile: str) -> list:
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
