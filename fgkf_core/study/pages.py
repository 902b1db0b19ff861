"""Each experiment page's grid (tasks, variants, runs and claims) from its parameters, the records behind it
(the page's profile, plus full-profile records of the same runs where they exist) and its judged claims.

The pages and the overview (`overview`) call the same functions, so the overview judges exactly the claims the
pages judge with their default parameters.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..ensure import ensure_runs
from ..runs import RunSpec, locate, read_record
from .claims import Claim, ablation_claims, main_claims, split_claims, table4_claims
from .grids import (
    Variant, ablation_variants, data_size_variants, grid, main_grid, plain, table3_variants, table4_variants,
)
from .params import default_fractions, default_pool, default_seeds, default_tasks
from .relevance_split import SplitMeasure, relevance_sources
from .verdicts import Judgement, judge_all

@dataclass(frozen=True)
class PageGrid:
    """A page's runs and the claims it judges on them."""

    page: str
    prefix: str  # of the page's glue keys
    tasks: list[str]
    variants: list[Variant]
    specs: list[RunSpec]
    claims: list[Claim] = field(default_factory=list)


def main_results_grid(profile: str, tasks: Sequence[str] | None = None, methods: Sequence[str] | None = None,
                      seeds: Sequence[int] | None = None) -> tuple[PageGrid, list[str]]:
    """Table 3 and the labels of its methods not implemented yet."""
    tasks = list(tasks or default_tasks("main_results", profile))
    variants, missing = table3_variants(methods)
    specs = main_grid(tasks, variants, seeds, profile)
    return PageGrid("main_results", "main", tasks, variants, specs, main_claims(tasks)), missing


def cws_variants_grid(profile: str, tasks: Sequence[str] | None = None, labels: Sequence[str] | None = None,
                      seeds: Sequence[int] | None = None) -> PageGrid:
    """Table 4's rows the profile runs (or `labels`) on its tasks."""
    tasks = list(tasks or default_tasks("cws_variants", profile))
    rows = [v for v in table4_variants(profile) if labels is None or v.label in labels]
    known = {v.label for v in rows}
    claims = [c for c in table4_claims(tasks) if {c.better, c.worse} <= known]
    specs = grid(tasks, rows, seeds or default_seeds(profile, "cws_variants"))
    return PageGrid("cws_variants", "cws", tasks, rows, specs, claims)


def relevance_split_grid(profile: str, tasks: Sequence[str] | None = None, methods: Sequence[str] | None = None,
                         seeds: Sequence[int] | None = None) -> PageGrid:
    """Table 5: the methods (FGKF always, its relevance splits the test set) on the Twitter settings."""
    tasks = list(tasks or default_tasks("relevance_split", profile))
    methods = list(methods or ["source_only", "target_only", "basic_kd", "fgkf"])
    if "fgkf" not in methods:
        methods.append("fgkf")
    variants = plain(methods)
    specs = grid(tasks, variants, seeds or default_seeds(profile, "relevance_split"))
    return PageGrid("relevance_split", "split", tasks, variants, specs, split_claims(tasks))


def ablation_grid(profile: str, task: str = "ner_en", ablations: Sequence[str] | None = None,
                  seeds: Sequence[int] | None = None) -> PageGrid:
    """Table 7: FGKF and its ablations on one task."""
    variants = ablation_variants(ablations)
    specs = grid([task], variants, seeds or default_seeds(profile, "ablation"))
    return PageGrid("ablation", "ablation", [task], variants, specs, ablation_claims(task, ablations))


def data_size_grid(profile: str, task: str | None = None, pool: float | None = None,
                   fractions: Sequence[float] | None = None, methods: Sequence[str] = ("fgkf", "basic_kd"),
                   seeds: Sequence[int] | None = None) -> tuple[PageGrid, float, list[float]]:
    """Figure 5's runs (its claim is judged by `data_size.data_size_claim`), the pool and the shares."""
    task = task or default_tasks("data_size", profile)[0]
    pool = float(pool) if pool is not None else default_pool(task)
    fractions = [float(f) for f in fractions or default_fractions(profile)]
    variants = data_size_variants(methods, fractions, pool)
    specs = grid([task], variants, seeds or default_seeds(profile, "data_size"))
    return PageGrid("data_size", "size", [task], variants, specs), pool, fractions


def full_records(specs: Sequence[RunSpec], profile: str, results_dir: str | Path | None = None,
                 data_dir: str | Path | None = None) -> list[dict]:
    """Full-profile records of the specs' (task, method, overrides), every seed recorded (the plan's tiers add
    seeds 4-5), sorted by seed; none for a smoke or full page (smoke never mixes, a full page has them)."""
    if profile in ("smoke", "full"):
        return []
    keys = {(s.task, s.method, tuple(sorted(s.overrides.items())), s.formulation) for s in specs}
    out = []
    for task, method, overrides, formulation in sorted(keys, key=repr):
        first = locate(task, method, 1, "full", formulation, data_dir, results_dir, **dict(overrides)).record
        name = re.compile(re.escape(first.name.removesuffix("1.json")) + r"(\d+)\.json")  # the key holds no seed
        found = {int(m.group(1)): p for p in first.parent.glob("*.json") if (m := name.fullmatch(p.name))}
        out += [read_record(found[seed]) for seed in sorted(found)]
    return out


def page_records(page: PageGrid, profile: str, results_dir: str | Path | None = None,
                 data_dir: str | Path | None = None, device: str | None = None, workers: int = 1,
                 threads: int | None = None, train: bool | None = None) -> list[dict]:
    """The page's records in its profile (`ensure_runs`: trains missing ones only in smoke unless `train`)
    followed by the full-profile records of the same runs (`full_records`)."""
    records = ensure_runs(page.specs, profile, results_dir, data_dir, device, workers, threads, train=train)
    return records + full_records(page.specs, profile, results_dir, data_dir)


def judge_page(page: PageGrid, records: list[dict], profile: str, key: str = "alpha_elem",
               ner_unit: str = "entity") -> list[Judgement]:
    """The page's claims judged on its records (Table 5's on the relevance split, see `SplitMeasure`)."""
    measure = None
    if page.page == "relevance_split":
        measure = SplitMeasure(relevance_sources(records), key, ner_unit)
    return judge_all(page.claims, page.page, records, page.variants, profile, measure)
