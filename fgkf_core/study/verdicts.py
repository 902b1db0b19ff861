"""Verdicts on the paper's claims from paired statistics (`fgkf_core.stats`): each claim's Δ = better − worse
is bootstrapped over test sentences (the same resampled sentences for both sides, seeds pooled); its 95% CI,
p-value and minimum detectable effect add the spread between training seeds (`stats.seed_interval`), and are
read against the paper's Δ by the rule in `VERDICT_RULE`.

A claim is judged on the records of one profile: the full profile where every variant it reads has full
records, the page's profile otherwise (the row says which, and how many seeds each side has).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

import numpy as np
import pandas as pd

from ..scoring import ROOV_MEASURES, count_metric
from ..stats import MAX_SEEDS, Comparison, compare_counts, record_counts, seeds_for_power, verdict
from ..tasks import get_task
from .claims import Claim, difference_reason, paper_delta
from .glue import glue
from .grids import Variant
from .oov import side_oov_counts

#: draws of every claim's paired bootstrap, and its seed (verdicts are deterministic)
N_DRAWS, BOOTSTRAP_SEED = 2000, 0
#: verdict categories in the order the overview counts them
CATEGORIES = ("reproduced", "contradicted", "inconclusive", "not comparable", "no verdict", "not run")

VERDICT_RULE = (
    "Δ = better − worse, bootstrapped over test sentences (2000 paired draws, seeds pooled); its 95% CI and p add "
    "the spread between training seeds (SE² = SE_sentences² + Σ std_seeds² / seeds, Student t with Welch "
    "degrees of freedom; the sentences-only CI is shown beside it). MDE = the smallest true |Δ| this SE "
    "detects with 80% power at α = 0.05. Reproduced: the paper's sign and a 95% CI that "
    "excludes 0 (smaller / larger than the paper's Δ when the CI excludes that too). Contradicted: the opposite "
    "sign, CI excluding 0. Inconclusive: the CI includes 0 (underpowered when the MDE exceeds the paper's |Δ|; "
    "excludes the paper's Δ when the CI lies wholly on one side of it), or fewer than 3 seeds on a side (n<3). "
    "Not comparable: substitute data, or the paper has no value for the setting. No verdict: a smoke-profile "
    "page (its numbers validate the pipeline only), or a relevance-split side with too few gold units in a seed "
    "(a seed with none on that side is left out of its comparison)."
)


@dataclass(frozen=True)
class SideCounts:
    """One side of a claim: per-sentence counts [seeds, n, k] in the columns of COUNT_METRICS[count_metric]."""

    counts: np.ndarray
    count_metric: str
    gold_units: int | None = None  # fewest gold units of a seed on the measured part (Table 5 sides), else None


class Measure(Protocol):
    """What a claim is scored on: per-sentence counts of a side's records."""

    scoring: str
    min_units: int

    def counts(self, records: list[dict], claim: Claim) -> SideCounts: ...

    def usable(self, records: list[dict]) -> bool:
        """Whether `counts` can score these records (a profile whose records it cannot score is not picked)."""
        ...


@dataclass(frozen=True)
class ScoreMeasure:
    """Table 3's columns: the task's headline score under `scoring` (standard = ours, paper = the authors'), or
    for a claim on ``roov`` / ``roov_target`` the CWS OOV recall (`oov.oov_counts` with word list "both" /
    "target"; the authors' code scores no R_oov, so it is the standard one under either scoring)."""

    scoring: str = "standard"
    min_units: int = 0

    def counts(self, records: list[dict], claim: Claim) -> SideCounts:
        if claim.measure in ROOV_MEASURES:  # right / all OOV words: the accuracy formula
            return SideCounts(side_oov_counts(records, ROOV_MEASURES[claim.measure]), "accuracy")
        counts, _, _, metric = record_counts(records, self.scoring, claim.text)
        return SideCounts(counts, count_metric(metric, self.scoring))

    def usable(self, records: list[dict]) -> bool:
        return True


@dataclass(frozen=True)
class Judgement:
    """One claim, the records it was judged on and the verdict."""

    claim: Claim
    page: str
    profile: str | None  # the records' profile; None when a side was not run
    n_better: int
    n_worse: int
    paper_delta: float | None
    result: Comparison | None
    gold_units: int | None
    verdict: str

    @property
    def category(self) -> str:
        return next(c for c in CATEGORIES if self.verdict.startswith(c))

    def ours(self) -> str:
        """'Δ [CI low, CI high]' of the interval the verdict reads (seeds and sentences), or 'not run'."""
        if self.result is None:
            return "not run"
        low, high, _ = self.result.interval()
        return f"{self.result.test.delta:+.2f} [{low:+.2f}, {high:+.2f}]"

    def sentences_only(self) -> str:
        """'[CI low, CI high]' of the bootstrap over test sentences alone, or '' when not run."""
        if self.result is None:
            return ""
        return f"[{self.result.test.ci_low:+.2f}, {self.result.test.ci_high:+.2f}]"

    def power_seeds(self) -> str:
        """Seeds a side for 80% power against the paper's Δ at this test set and these seed spreads
        (`stats.seeds_for_power`): 'n', '> MAX_SEEDS (test set)' when seeds alone cannot get there, '' when undefined
        (no paper size, or a side with one seed)."""
        if self.result is None or self.result.seeds is None or self.paper_delta is None or self.claim.direction_only:
            return ""
        need = seeds_for_power(self.result.seeds, self.paper_delta)
        return f"> {MAX_SEEDS} (test set)" if need is None else str(need)

    def paper(self) -> str:
        if self.paper_delta is None:
            return "n/a"
        return "positive (figure only)" if self.claim.direction_only else f"{self.paper_delta:+.2f}"

    def seeds(self) -> str:
        return f"{self.n_better} v {self.n_worse}"


def pools(records: Iterable[dict], variants: Sequence[Variant]) -> dict[tuple[str, str, str], list[dict]]:
    """(task, variant label, profile) -> its records sorted by seed (a record joins every variant it matches)."""
    out: dict[tuple[str, str, str], list[dict]] = {}
    for rec in records:
        for v in variants:
            if v.matches(rec):
                out.setdefault((rec["task"], v.label, rec["profile"]), []).append(rec)
    return {k: sorted(rs, key=lambda r: r["seed"]) for k, rs in out.items()}


def profile_order(profile: str) -> list[str]:
    """The profiles a page's numbers are read from, preferred first: full, then the page's own (smoke alone)."""
    return list(dict.fromkeys(["full", profile] if profile != "smoke" else [profile]))


def pick_profile(claim: Claim, pool: dict[tuple[str, str, str], list[dict]], profile: str,
                 measure: Measure | None = None) -> str | None:
    """The profile a claim is judged in: full where all its variants have full records (that `measure` can
    score: Table 5's need an FGKF relevance run of that profile), else `profile`; None when neither has them."""
    usable = measure.usable if measure is not None else (lambda records: True)
    for p in profile_order(profile):
        if all(pool.get((claim.task, v, p)) and usable(pool[(claim.task, v, p)]) for v in claim.variants()):
            return p
    return None


def judge(claim: Claim, page: str, pool: dict[tuple[str, str, str], list[dict]], profile: str,
          measure: Measure | None = None) -> Judgement:
    """The claim's paired comparison on its records (see `pick_profile`) and its verdict (`VERDICT_RULE`)."""
    measure = measure or ScoreMeasure()
    expected, why_none = paper_delta(claim)
    used = pick_profile(claim, pool, profile, measure)
    if used is None:
        return Judgement(claim, page, None, 0, 0, expected, None, None, "not run")
    side = {v: measure.counts(pool[(claim.task, v, used)], claim) for v in claim.variants()}
    get = lambda v: None if v is None else side[v].counts  # noqa: E731
    metric = side[claim.better].count_metric
    result = compare_counts(claim.task, f"{get_task(claim.task).metric} ({claim.measure})", measure.scoring, metric,
                            get(claim.worse), get(claim.better), N_DRAWS, BOOTSTRAP_SEED,
                            get(claim.worse_base), get(claim.better_base))
    units = [s.gold_units for s in side.values() if s.gold_units is not None]
    gold_units = min(units) if units else None
    reason = difference_reason(claim.task)
    if used == "smoke":
        text = "no verdict (smoke profile)"
    elif reason:
        text = f"not comparable ({reason})"
    elif expected is None:
        text = f"not comparable ({why_none})"
    elif gold_units is not None and gold_units < measure.min_units:
        text = f"no verdict ({claim.measure} side: {gold_units} < {measure.min_units} gold units in a seed)"
    else:
        text = verdict(expected, result, direction_only=claim.direction_only)
    return Judgement(claim, page, used, result.n_b, result.n_a, expected, result, gold_units, text)


def judge_all(claims: Iterable[Claim], page: str, records: Iterable[dict], variants: Sequence[Variant],
              profile: str, measure: Measure | None = None) -> list[Judgement]:
    """`judge` for every claim on the page's records."""
    pool = pools(records, variants)
    return [judge(c, page, pool, profile, measure) for c in claims]


def claims_table(judgements: Sequence[Judgement]) -> pd.DataFrame:
    """Display form: claim, profile, seeds (better v worse), Δ [95% CI], the sentences-only CI, p, MDE, seeds a
    side for 80% power, the paper's Δ, verdict."""
    def num(x: float | None, fmt: str) -> str:
        return "" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)

    return pd.DataFrame([{
        "claim": j.claim.text, "profile": j.profile or "", "seeds": j.seeds() if j.profile else "",
        "ours: Δ [95% CI]": j.ours(), "CI, sentences only": j.sentences_only(),
        "p": num(j.result and j.result.interval()[2], ".3f"),
        "MDE": num(j.result and j.result.mde, ".2f"), "seeds for power": j.power_seeds(), "paper Δ": j.paper(),
        "verdict": j.verdict,
    } for j in judgements])


def glue_judgements(judgements: Sequence[Judgement], prefix: str) -> None:
    """Glue `<prefix>_<key>_{verdict,ours,paper,profile,seeds}` for the page's prose."""
    for j in judgements:
        name = f"{prefix}_{j.claim.key}"
        glue(f"{name}_verdict", j.verdict)
        glue(f"{name}_ours", j.ours())
        glue(f"{name}_paper", j.paper())
        glue(f"{name}_profile", j.profile or "not run")
        glue(f"{name}_seeds", j.seeds() if j.profile else "0 v 0")


def verdict_counts(judgements: Sequence[Judgement]) -> dict[str, int]:
    """Number of claims in each of `CATEGORIES` (every category listed, zeros included)."""
    seen = Counter(j.category for j in judgements)
    return {c: seen.get(c, 0) for c in CATEGORIES}
