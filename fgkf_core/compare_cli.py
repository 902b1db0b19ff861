"""`python -m fgkf_core compare TASK A B`: paired bootstrap of two recorded systems, with the paper's verdict.

A and B are method names or variants with config overrides, e.g. ``fgkf[warm_up=false]`` or
``fgkf[alpha=elem,relevance=domain_q]`` (``formulation=code`` selects the formulation). A record belongs to a
variant when its profile matches and `study.Variant.matches` holds: same method and formulation, and its resolved
``config`` equal to the variant's resolved config on every field the record holds.
"""
from __future__ import annotations

import argparse
import json
import math
import re
from typing import TYPE_CHECKING, Any

from .scoring import ROOV_MEASURES, SCORINGS
from .stats import MAX_SEEDS, Comparison, compare, compare_counts, seeds_for_power, verdict

if TYPE_CHECKING:
    from .study import Variant
from .tasks import get_task

_VARIANT = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(?:\[(.*)\])?\s*$")


def parse_variant(text: str) -> Variant:
    """``method`` or ``method[k=v,...]`` as a Variant labelled by the text; values are parsed as JSON where
    possible (true, 0.2, null)."""
    from .study import Variant  # lazy: the study package (pandas) loads only for `compare`

    m = _VARIANT.match(text)
    if not m:
        raise ValueError(f"expected METHOD or METHOD[key=value,...], got {text!r}")
    overrides: dict[str, Any] = {}
    for pair in filter(None, (p.strip() for p in (m.group(2) or "").split(","))):
        if "=" not in pair:
            raise ValueError(f"{text!r}: expected key=value inside the brackets, got {pair!r}")
        key, value = (s.strip() for s in pair.split("=", 1))
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    formulation = overrides.pop("formulation", "paper")
    return Variant(text.strip(), m.group(1), overrides, formulation)


def matching_records(records: list[dict], task: str, spec: Variant, profile: str) -> list[dict]:
    """The records of `spec` on `task` in `profile` (see the module docstring), sorted by seed."""
    out = [r for r in records if r["task"] == task and r["profile"] == profile and spec.matches(r)]
    if not out:
        mine = [r for r in records if r["method"] == spec.method]
        if not mine:
            have = sorted({r["method"] for r in records}) or ["none"]
            raise ValueError(f"no {profile} records of method {spec.method!r} on {task}; methods with records: "
                             f"{', '.join(have)}")
        seen = sorted({json.dumps(r["config_layers"].get("overrides", {}), sort_keys=True) for r in mine})
        raise ValueError(f"no {profile} record of {spec.label!r} on {task}; recorded overrides of "
                         f"{spec.method}: {'; '.join(seen)}")
    return sorted(out, key=lambda r: r["seed"])


def paper_delta(task: str, a: Variant, b: Variant, metric: str = "score") -> tuple[float, str] | None:
    """The paper's Δ (B − A) of the task's headline score (or its R_oov, `metric="roov"`) and its table, when
    both are rows of Table 3 or 7."""
    key = get_task(task).paper_key
    from .study import ABLATIONS, PAPER_METHOD, paper_long

    methods = {v: k for k, v in PAPER_METHOD.items()}

    def row_of(spec: Variant, table: str) -> str | None:
        if spec.formulation != "paper":
            return None
        if not spec.overrides:
            return methods.get(spec.method, spec.method)
        if table == "table7" and spec.method == "fgkf":
            return next((n for n, ov in ABLATIONS.items() if ov == spec.overrides), None)
        return None

    for table in ("table3", "table7"):
        rows = paper_long(table)
        rows = rows[(rows.task == key) & (rows.metric == metric)].set_index("variant")["paper"]
        la, lb = row_of(a, table), row_of(b, table)
        if la in rows.index and lb in rows.index:
            return float(rows[lb] - rows[la]), table
    return None


def format_comparison(res: Comparison, a: Variant, b: Variant, paper: tuple[float, str] | None) -> str:
    """The report lines printed by `compare`."""
    t = res.test
    std = lambda x: "n/a" if math.isnan(x) else f"{x:.2f}"  # noqa: E731 - one seed has no spread
    lines = [
        f"{res.task}: {res.metric}, {res.scoring} scoring, {t.n_sentences} test sentences",
        f"A = {a.label}: {res.n_a} seed(s), {res.mean_a:.2f} ± {std(res.std_a)} (mean ± std over seeds)",
        f"B = {b.label}: {res.n_b} seed(s), {res.mean_b:.2f} ± {std(res.std_b)}",
        f"Δ (B − A) = {t.delta:+.2f}  95% CI [{t.ci_low:+.2f}, {t.ci_high:+.2f}]  p = {t.p_value:.3g}"
        f"  (paired bootstrap over sentences, {t.n_draws} draws, seeds pooled; SE {t.se:.2f})",
    ]
    s = res.seeds
    if s is None:
        lines.append("with the seed spread: n/a (a side has one seed); the verdict reads the bootstrap CI")
    else:
        p = f"p = {s.p_value:.3g}" if s.p_value >= 1e-4 else "p < 0.0001"  # a t tail, not a finite draw count
        lines.append(f"with the seed spread: 95% CI [{s.ci_low:+.2f}, {s.ci_high:+.2f}]  {p}"
                     f"  (SE {s.se:.2f}: seeds {s.se_seeds:.2f}, sentences {t.se:.2f}; t, {s.df:.1f} df); "
                     "the verdict reads this")
    lines.append(f"MDE at 80% power (α = 0.05, on the SE the verdict reads): {res.mde:.2f}")
    if paper is None:
        lines.append("paper Δ: none (only plain Table 3 methods and Table 7 ablations have one)")
    else:
        task = get_task(res.task)
        why = "; ".join(task.notes) or "the task is not the paper's setting"
        lines.append(f"paper Δ (B − A, {paper[1]}) = {paper[0]:+.2f}; verdict: "
                     f"{verdict(paper[0], res, task.comparable, why)}")
        if s is not None:
            need = seeds_for_power(s, paper[0])
            lines.append(f"seeds a side for 80% power against the paper's Δ (this test set, these seed spreads): "
                         f"{need if need is not None else f'more than {MAX_SEEDS} (the test set limits)'}")
    return "\n".join(lines)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the `compare` subcommand."""
    p = subparsers.add_parser("compare", help="paired bootstrap of two recorded systems (B − A) and the verdict")
    p.add_argument("task", help="task name (see `list`)")
    p.add_argument("a", metavar="A", help="baseline: method or method[key=value,...]")
    p.add_argument("b", metavar="B", help="system compared with A, same syntax")
    p.add_argument("--profile", default="quick", help="profile of the records (default quick)")
    p.add_argument("--scoring", default="standard", choices=list(SCORINGS), help="standard (default) or paper")
    p.add_argument("--measure", default="score", choices=["score", *ROOV_MEASURES],
                   help="score (default), or on CWS the OOV recall with OOV = not in both domains' training words "
                        "(roov, every record's R_oov) or not in the target's (roov_target)")
    p.add_argument("--results-dir", default=None, help="results folder (default: $FGKF_RESULTS or ./results)")
    p.add_argument("--draws", type=int, default=1000, help="bootstrap draws (default 1000)")


def run(args: argparse.Namespace) -> int:
    """Print the comparison of A and B on the task; 0 on success."""
    from .runs import load_records

    task = get_task(args.task).name
    if args.measure != "score" and get_task(task).metric != "word_f1":
        raise ValueError(f"--measure {args.measure}: OOV recall is a word-segmentation measure; {task} is scored "
                         f"by {get_task(task).metric} (use --measure score)")
    records = load_records(args.results_dir, task=task, profile=args.profile)
    a, b = parse_variant(args.a), parse_variant(args.b)
    recs_a, recs_b = (matching_records(records, task, v, args.profile) for v in (a, b))
    if args.measure == "score":
        res = compare(recs_a, recs_b, args.scoring, args.draws)
        print(format_comparison(res, a, b, paper_delta(task, a, b)))
        return 0
    from .study.oov import WORD_LIST_NAMES, side_oov_counts  # lazy, as `parse_variant`'s study import

    words = ROOV_MEASURES[args.measure]
    counts = [side_oov_counts(recs, words) for recs in (recs_a, recs_b)]  # [seeds, n, 2] each
    res = compare_counts(task, f"R_oov (OOV: not in {WORD_LIST_NAMES[words]})", "standard", "accuracy", *counts,
                         args.draws)
    print(format_comparison(res, a, b, paper_delta(task, a, b, "roov")))
    return 0
