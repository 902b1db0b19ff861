"""Paired significance and power for comparing two systems on the same test sentences.

* `paired_bootstrap`: resample test sentences (the same indices for both systems), re-score from per-sentence
  sufficient statistics, and report Δ = score(B) − score(A) with its percentile CI, p-value and SE;
* `seed_interval`: Δ's CI with the spread between training seeds added (what a verdict reads), and
  `seeds_for_power`: how many seeds a side would give 80% power against a given Δ;
* `minimum_detectable_effect`: the smallest |Δ| a two-sided test at level α detects with the given power;
* `compare` / `verdict`: the above from run records, and the study's reading of it against the paper's Δ.

Several seeds of one system are pooled by averaging their per-sentence counts, so the bootstrap sees one
"mean system" per side (its score is the score of the mean counts, close to but not exactly the mean score).
The resampled sums are taken over whole counts and divided by the seed count afterwards: sums of integers
in float64 are exact in any order, so the draws (and p) do not depend on the BLAS or processor.
The bootstrap CI is over test sentences only. A claim is about a training procedure, so a verdict reads
`seed_interval`: the same Δ with SE² = SE_sentences² + Σ s_i² / n_i (s_i the std over seeds of each system
Δ reads, n_i its seeds) and a Student t interval with Welch–Satterthwaite degrees of freedom. With 3 seeds a side this is
the wider of the two (law of total variance over seeds and sentences; the sentence term, taken with these
seeds fixed, also holds a little seed-by-sentence variation, so the sum slightly over-counts: conservative).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import student_t
from .scoring import COUNT_METRICS, count_metric, record_sentences, sentence_counts
from .tasks import get_task

#: bootstrap draws are generated in blocks of about this many resampled indices (bounds the memory)
_BLOCK = 4_000_000


@dataclass(frozen=True)
class BootstrapResult:
    """Δ = score(B) − score(A) on the full test set and its paired-bootstrap distribution summary."""

    score_a: float
    score_b: float
    delta: float
    ci_low: float  # 2.5th percentile of the bootstrap Δ*
    ci_high: float  # 97.5th percentile
    p_value: float  # two-sided, see `paired_bootstrap`
    se: float  # standard deviation of Δ* (ddof=1)
    n_draws: int
    n_sentences: int

    @property
    def excludes_zero(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


def _pooled(counts: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """([n, k] counts, 1) as given; [seeds, n, k] as (their sum over seeds [n, k], seeds): the mean is sum / seeds."""
    counts = np.asarray(counts, dtype=float)
    seeds = 1
    if counts.ndim == 3:
        seeds = counts.shape[0]
        counts = counts.sum(axis=0)  # [n, k], whole numbers when the counts are
    if counts.ndim != 2 or len(counts) == 0 or seeds == 0:
        raise ValueError(f"{name}: expected counts of shape [n_sentences, k] or [seeds, n_sentences, k], got {counts.shape}")
    return counts, seeds


def _score_fn(metric: str):
    if metric not in COUNT_METRICS:
        raise ValueError(f"unknown count metric {metric!r}; valid: {', '.join(COUNT_METRICS)}")
    return COUNT_METRICS[metric][1]


def _resampled_totals(counts: np.ndarray, n_draws: int, seed: int) -> np.ndarray:
    """[n_draws, k] sums of `counts` over n_draws resamples (with replacement) of its rows."""
    n = len(counts)
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK // n)
    out = []
    for start in range(0, n_draws, block):
        m = min(block, n_draws - start)
        idx = rng.integers(0, n, size=(m, n), dtype=np.int32) + (np.arange(m, dtype=np.int32) * n)[:, None]
        weights = np.bincount(idx.ravel(), minlength=m * n).reshape(m, n)  # times each sentence was drawn
        out.append(weights @ counts)
    return np.concatenate(out)


def paired_bootstrap(
    a_counts: np.ndarray, b_counts: np.ndarray, metric: str, n_draws: int = 1000, seed: int = 0,
    a_base: np.ndarray | None = None, b_base: np.ndarray | None = None,
) -> BootstrapResult:
    """Paired bootstrap of Δ = score(B) − score(A) over test sentences.

    `a_counts`/`b_counts`: per-sentence counts [n, k] (or [seeds, n, k], averaged over seeds) in the columns of
    `scoring.COUNT_METRICS[metric]`, rows aligned on the same sentences. Each draw resamples n sentence indices
    (the same for A and B) and re-scores both. CI = the 2.5th and 97.5th percentiles of Δ*; p (two-sided,
    twice the smaller tail) = min(1, 2 · (1 + min(#{Δ* ≤ 0}, #{Δ* ≥ 0})) / (1 + n_draws)): below 0.05 about
    when the percentile CI excludes 0, 1 when A and B are identical, never 0 from a finite number of draws.

    With `a_base` (`b_base`), side A's (B's) score is itself a margin, score(A) − score(A_base), resampled on
    the same sentences: Δ is then a difference of two margins (e.g. Figure 5's FGKF − basicKD margin at a
    small vs a large target share, all four systems scored on one test set).
    """
    pooled = [_pooled(c, name) for c, name in ((a_counts, "a_counts"), (b_counts, "b_counts"),
                                                (a_base, "a_base"), (b_base, "b_base")) if c is not None]
    parts = [p for p, _ in pooled]
    if len({p.shape for p in parts}) != 1:
        raise ValueError(f"every system must have counts for the same sentences: got shapes {[p.shape for p in parts]}")
    if n_draws < 2:
        raise ValueError(f"n_draws must be >= 2, got {n_draws}")
    score = _score_fn(metric)
    k = parts[0].shape[1]
    seeds = np.repeat([s for _, s in pooled], k)  # [len(parts) * k] divisor of each column
    sums = np.concatenate(parts, axis=1)  # [n, len(parts) * k]
    totals = _resampled_totals(sums, n_draws, seed) / seeds  # [n_draws, len(parts) * k] mean-system totals
    full = sums.sum(0) / seeds  # [len(parts) * k]
    names = [n for n, c in (("a", a_counts), ("b", b_counts), ("a_base", a_base), ("b_base", b_base)) if c is not None]

    def side(t: np.ndarray, name: str) -> np.ndarray:
        """Score of side `name` (minus its base when given) from totals laid out as `parts`."""
        col = lambda n: t[..., names.index(n) * k:(names.index(n) + 1) * k]  # noqa: E731
        base = f"{name}_base"
        return score(col(name)) - (score(col(base)) if base in names else 0.0)

    deltas = side(totals, "b") - side(totals, "a")
    a = parts[0]
    score_a, score_b = float(side(full, "a")), float(side(full, "b"))
    delta = score_b - score_a
    tail = min(np.count_nonzero(deltas <= 0), np.count_nonzero(deltas >= 0))
    low, high = np.percentile(deltas, [2.5, 97.5])
    return BootstrapResult(
        score_a, score_b, delta, float(low), float(high), min(1.0, 2 * (1 + int(tail)) / (1 + n_draws)),
        float(deltas.std(ddof=1)), n_draws, len(a),
    )


def bootstrap_se(counts: np.ndarray, metric: str, n_draws: int = 1000, seed: int = 0) -> float:
    """Bootstrap SE of one system's score. Without a second system, √2 · this is the SE of a difference
    (two independent systems of equal variance; the paired SE is smaller when the systems err alike)."""
    sums, seeds = _pooled(counts, "counts")
    totals = _resampled_totals(sums, n_draws, seed) / seeds  # [n_draws, k]
    return float(_score_fn(metric)(totals).std(ddof=1))


def minimum_detectable_effect(se: float, alpha: float = 0.05, power: float = 0.8, df: float = math.inf) -> float:
    """MDE = (q_{1−α/2} + q_power) · se: the true |Δ| a two-sided level-α test detects with probability
    `power`, q the quantiles of Student t with `df` degrees of freedom (default: the normal, 2.80 · se at
    α = 0.05, power = 0.8). `se` is the SE of the difference."""
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"expected 0 < alpha < 1 and 0 < power < 1, got alpha={alpha}, power={power}")
    return (student_t.quantile(1 - alpha / 2, df) + student_t.quantile(power, df)) * se


@dataclass(frozen=True)
class SeedInterval:
    """Δ's 95% CI and two-sided p with the spread between training seeds added to the test-sentence sampling
    (see the module docstring): Student t with `df` Welch–Satterthwaite degrees of freedom."""

    se: float  # √(SE_sentences² + Σ s_i² / n_i)
    se_seeds: float  # √(Σ s_i² / n_i), the seed part alone
    df: float  # math.inf when every system's seeds agree exactly
    ci_low: float
    ci_high: float
    p_value: float
    se_sentences: float = 0.0  # the bootstrap's SE it was built on
    seed_vars: tuple[float, ...] = ()  # s_i² of each system Δ reads (for `seeds_for_power`)

    @property
    def excludes_zero(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


def seed_interval(delta: float, se_sentences: float, seed_scores: list[np.ndarray]) -> SeedInterval | None:
    """`SeedInterval` of Δ, a ± combination of the mean scores of the systems in `seed_scores` (each one's
    per-seed scores); None when a system has fewer than 2 seeds (its spread is unknown)."""
    scores = [np.asarray(s, dtype=float) for s in seed_scores]
    if not scores or min(len(s) for s in scores) < 2:
        return None
    seed_vars = tuple(float(np.var(s, ddof=1)) for s in scores)  # s_i²
    se, df = _combined(se_sentences, seed_vars, [len(s) for s in scores])
    seed_se = math.sqrt(sum(v / len(s) for v, s in zip(seed_vars, scores)))
    if se == 0:
        return SeedInterval(0.0, 0.0, df, delta, delta, 1.0 if delta == 0 else 0.0, se_sentences, seed_vars)
    half = student_t.quantile(0.975, df) * se
    p = 2 * (1 - student_t.cdf(abs(delta) / se, df))
    return SeedInterval(se, seed_se, df, delta - half, delta + half, min(1.0, p), se_sentences, seed_vars)


def _combined(se_sentences: float, seed_vars: tuple[float, ...], seeds: list[int]) -> tuple[float, float]:
    """(SE, Welch–Satterthwaite df) of Δ: SE² = SE_sentences² + Σ s_i² / n_i; the sentence part has about
    n_sentences df and counts as ∞; df = ∞ when no seed varies."""
    parts = [v / n for v, n in zip(seed_vars, seeds)]  # s_i² / n_i
    var = se_sentences ** 2 + sum(parts)
    welch = sum(v * v / (n - 1) for v, n in zip(parts, seeds))
    return math.sqrt(var), (var * var / welch if welch > 0 else math.inf)


#: the most seeds a side `seeds_for_power` considers
MAX_SEEDS = 50


def seeds_for_power(interval: SeedInterval, target: float, max_seeds: int = MAX_SEEDS) -> int | None:
    """The fewest seeds per system (every system Δ reads run that often; at least 3, the verdicts' minimum) at
    which the MDE (80% power, α = 0.05) is at most |target|, with this test set's SE and the measured seed
    spreads; None when even `max_seeds` do not get there (the test set's own SE is then usually the limit).
    The sentence SE is held as measured (it shrinks a little as more seeds are pooled: an upper bound)."""
    for n in range(3, max_seeds + 1):
        se, df = _combined(interval.se_sentences, interval.seed_vars, [n] * len(interval.seed_vars))
        if minimum_detectable_effect(se, df=df) <= abs(target):
            return n
    return None


# ----------------------------------------------------------------------------- from run records
@dataclass(frozen=True)
class Comparison:
    """Two systems on one task: seed statistics of their record scores and the paired bootstrap of B − A."""

    task: str
    metric: str
    scoring: str
    n_a: int
    n_b: int
    mean_a: float
    std_a: float  # over seeds (ddof=1); NaN with one seed
    mean_b: float
    std_b: float
    test: BootstrapResult  # on seed-pooled counts
    mde: float  # at α = 0.05 and 80% power, from seeds.se (t, seeds.df) when defined, else from test.se (normal)
    seeds: SeedInterval | None = None  # None when a system has one seed

    def interval(self) -> tuple[float, float, float]:
        """(CI low, CI high, p) a verdict reads: the seed-aware interval when defined, else the bootstrap's."""
        t = self.seeds or self.test
        return t.ci_low, t.ci_high, t.p_value


def record_counts(records: list[dict], scoring: str, side: str) -> tuple[np.ndarray, list[list[str]], str, str]:
    """[seeds, n, k] per-sentence counts of one side's records under `scoring`, their shared test tokens, task
    and metric (the counts `compare` resamples)."""
    if not records:
        raise ValueError(f"side {side}: no records given")
    tasks = sorted({r["task"] for r in records})
    if len(tasks) != 1:
        raise ValueError(f"side {side}: expected records of one task, got {tasks}")
    task = get_task(tasks[0])
    counts, tokens = [], None
    for r in records:
        toks, gold, pred = record_sentences(r)
        if tokens is not None and toks != tokens:
            raise ValueError(f"side {side}: {r['_path']} was scored on other test sentences than its seed siblings")
        tokens = toks
        counts.append(sentence_counts(task.metric, gold, pred, scoring, task.max_len))
    return np.stack(counts), tokens, task.name, task.metric


def compare_counts(
    task: str, metric: str, scoring: str, count_name: str, counts_a: np.ndarray, counts_b: np.ndarray,
    n_draws: int = 1000, seed: int = 0, a_base: np.ndarray | None = None, b_base: np.ndarray | None = None,
) -> Comparison:
    """`Comparison` of two sides given as [seeds, n, k] counts in the columns of COUNT_METRICS[count_name]
    (`metric`/`scoring` only label the result). With a base, a side is the margin side − base (see
    `paired_bootstrap`); its seed count is the smaller of the two and its seed std is not defined (NaN)."""
    score = _score_fn(count_name)
    std = lambda x: float(np.std(x, ddof=1)) if len(x) > 1 else math.nan  # noqa: E731
    per_seed = lambda c: score(np.asarray(c, dtype=float).sum(1))  # noqa: E731 - [seeds] scores of one system

    def seeds(counts: np.ndarray, base: np.ndarray | None) -> tuple[int, float, float]:
        own = per_seed(counts)
        if base is None:
            return len(own), float(np.mean(own)), std(own)
        other = per_seed(base)
        return min(len(own), len(other)), float(np.mean(own) - np.mean(other)), math.nan

    (n_a, mean_a, std_a), (n_b, mean_b, std_b) = seeds(counts_a, a_base), seeds(counts_b, b_base)
    test = paired_bootstrap(counts_a, counts_b, count_name, n_draws, seed, a_base, b_base)
    systems = [c for c in (counts_a, counts_b, a_base, b_base) if c is not None]
    both = None  # a system given without its seed axis ([n, k]) has no known spread
    if all(np.ndim(c) == 3 for c in systems):
        both = seed_interval(test.delta, test.se, [per_seed(c) for c in systems])
    mde = minimum_detectable_effect(both.se, df=both.df) if both else minimum_detectable_effect(test.se)
    return Comparison(task, metric, scoring, n_a, n_b, mean_a, std_a, mean_b, std_b, test, mde, both)


def compare(
    records_a: list[dict], records_b: list[dict], scoring: str = "standard", n_draws: int = 1000, seed: int = 0
) -> Comparison:
    """Compare two sets of seed records of one task under `scoring` ("standard" | "paper"), from their .pred.tsv.gz."""
    counts_a, tokens_a, task, metric = record_counts(records_a, scoring, "A")
    counts_b, tokens_b, task_b, _ = record_counts(records_b, scoring, "B")
    if task_b != task or tokens_a != tokens_b:
        raise ValueError(f"A ({task}) and B ({task_b}) must be scored on the same test sentences")
    return compare_counts(task, metric, scoring, count_metric(metric, scoring), counts_a, counts_b, n_draws, seed)


def verdict(delta_paper: float, result: Comparison, comparable: bool = True, reason: str = "",
            direction_only: bool = False) -> str:
    """The study's reading of `result` against the paper's Δ (B − A), on `result.interval()` (seeds and test
    sentences; the bootstrap's CI where a side has one seed): "reproduced" (same sign, CI excludes 0),
    "contradicted" (opposite sign, CI excludes 0), "inconclusive" (CI includes 0; "(underpowered)" when the
    MDE exceeds |Δ_paper|), "inconclusive (n<3)" with fewer than 3 seeds a side, or "not comparable (reason)".
    A reproduced or inconclusive verdict whose CI lies wholly below (above) the paper's Δ says so: "reproduced
    (smaller than the paper's Δ)", "inconclusive (excludes the paper's Δ)" — the sign is not decided, but the
    paper's size is rejected at the 5% level.

    `direction_only`: the paper gives the sign of Δ and no size (a figure); only its sign is read, and an
    inconclusive result cannot be called underpowered."""
    if not comparable:
        return f"not comparable ({reason})" if reason else "not comparable"
    if not math.isfinite(delta_paper) or delta_paper == 0:
        raise ValueError(f"delta_paper must be a finite non-zero difference, got {delta_paper}")
    if min(result.n_a, result.n_b) < 3:
        return "inconclusive (n<3)"
    low, high, _ = result.interval()
    outside = not direction_only and not low <= delta_paper <= high
    if low <= 0 <= high:
        underpowered = not direction_only and result.mde > abs(delta_paper)
        notes = ["underpowered"] * underpowered + ["excludes the paper's Δ"] * outside
        return "inconclusive" + (f" ({'; '.join(notes)})" if notes else "")
    if (low > 0) != (delta_paper > 0):
        return "contradicted"
    if not outside:
        return "reproduced"
    return f"reproduced ({'smaller' if abs(high) < abs(delta_paper) else 'larger'} than the paper's Δ)"
