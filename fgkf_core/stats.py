"""Paired significance and power for comparing two systems on the same test sentences.

* `paired_bootstrap`: resample test sentences (the same indices for both systems), re-score from per-sentence
  sufficient statistics, and report Δ = score(B) − score(A) with its percentile CI, p-value and SE;
* `minimum_detectable_effect`: the smallest |Δ| a two-sided test at level α detects with the given power;
* `compare` / `verdict`: the above from run records, and the study's reading of it against the paper's Δ.

Several seeds of one system are pooled by averaging their per-sentence counts, so the bootstrap sees one
"mean system" per side (its score is the score of the mean counts, close to but not exactly the mean score).
The CI is over test sentences only: it does not include the spread between training seeds (reported beside it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

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


def _pooled(counts: np.ndarray, name: str) -> np.ndarray:
    """[n, k] as is; [seeds, n, k] averaged over seeds."""
    counts = np.asarray(counts, dtype=float)
    if counts.ndim == 3:
        counts = counts.mean(axis=0)
    if counts.ndim != 2 or len(counts) == 0:
        raise ValueError(f"{name}: expected counts of shape [n_sentences, k] or [seeds, n_sentences, k], got {counts.shape}")
    return counts


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
    a_counts: np.ndarray, b_counts: np.ndarray, metric: str, n_draws: int = 1000, seed: int = 0
) -> BootstrapResult:
    """Paired bootstrap of Δ = score(B) − score(A) over test sentences.

    `a_counts`/`b_counts`: per-sentence counts [n, k] (or [seeds, n, k], averaged over seeds) in the columns of
    `scoring.COUNT_METRICS[metric]`, rows aligned on the same sentences. Each draw resamples n sentence indices
    (the same for A and B) and re-scores both. CI = the 2.5th and 97.5th percentiles of Δ*; p (two-sided,
    twice the smaller tail) = min(1, 2 · (1 + min(#{Δ* ≤ 0}, #{Δ* ≥ 0})) / (1 + n_draws)): below 0.05 about
    when the percentile CI excludes 0, 1 when A and B are identical, never 0 from a finite number of draws.
    """
    a, b = _pooled(a_counts, "a_counts"), _pooled(b_counts, "b_counts")
    if a.shape != b.shape:
        raise ValueError(f"A and B must have counts for the same sentences: got shapes {a.shape} and {b.shape}")
    if n_draws < 2:
        raise ValueError(f"n_draws must be >= 2, got {n_draws}")
    score = _score_fn(metric)
    totals = _resampled_totals(np.concatenate([a, b], axis=1), n_draws, seed)
    k = a.shape[1]
    deltas = score(totals[:, k:]) - score(totals[:, :k])
    score_a, score_b = float(score(a.sum(0))), float(score(b.sum(0)))
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
    totals = _resampled_totals(_pooled(counts, "counts"), n_draws, seed)
    return float(_score_fn(metric)(totals).std(ddof=1))


def minimum_detectable_effect(se: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """MDE = (z_{1−α/2} + z_power) · se: the true |Δ| a two-sided level-α test detects with probability
    `power` (normal approximation; 2.80 · se at α = 0.05, power = 0.8). `se` is the SE of the difference."""
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"expected 0 < alpha < 1 and 0 < power < 1, got alpha={alpha}, power={power}")
    z = NormalDist().inv_cdf
    return (z(1 - alpha / 2) + z(power)) * se


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
    mde: float  # at α = 0.05 and 80% power, from test.se


def _seed_counts(records: list[dict], scoring: str, side: str) -> tuple[np.ndarray, list[list[str]], str, str]:
    """[seeds, n, k] counts of one side's records, their shared test tokens, task and metric."""
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


def compare(
    records_a: list[dict], records_b: list[dict], scoring: str = "standard", n_draws: int = 1000, seed: int = 0
) -> Comparison:
    """Compare two sets of seed records of one task under `scoring` ("standard" | "paper"), from their .pred.tsv."""
    counts_a, tokens_a, task, metric = _seed_counts(records_a, scoring, "A")
    counts_b, tokens_b, task_b, _ = _seed_counts(records_b, scoring, "B")
    if task_b != task or tokens_a != tokens_b:
        raise ValueError(f"A ({task}) and B ({task_b}) must be scored on the same test sentences")
    name = count_metric(metric, scoring)
    score = _score_fn(name)
    seeds_a, seeds_b = score(counts_a.sum(1)), score(counts_b.sum(1))
    test = paired_bootstrap(counts_a, counts_b, name, n_draws, seed)
    std = lambda x: float(np.std(x, ddof=1)) if len(x) > 1 else math.nan  # noqa: E731
    return Comparison(
        task, metric, scoring, len(records_a), len(records_b), float(np.mean(seeds_a)), std(seeds_a),
        float(np.mean(seeds_b)), std(seeds_b), test, minimum_detectable_effect(test.se),
    )


def verdict(delta_paper: float, result: Comparison, comparable: bool = True, reason: str = "") -> str:
    """The study's reading of `result` against the paper's Δ (B − A): "reproduced" (same sign, CI excludes 0),
    "contradicted" (opposite sign, CI excludes 0), "inconclusive" (CI includes 0; "(underpowered)" when the
    MDE exceeds |Δ_paper|), "inconclusive (n<3)" with fewer than 3 seeds a side, or "not comparable (reason)"."""
    if not comparable:
        return f"not comparable ({reason})" if reason else "not comparable"
    if not math.isfinite(delta_paper) or delta_paper == 0:
        raise ValueError(f"delta_paper must be a finite non-zero difference, got {delta_paper}")
    if min(result.n_a, result.n_b) < 3:
        return "inconclusive (n<3)"
    if not result.test.excludes_zero:
        return "inconclusive (underpowered)" if result.mde > abs(delta_paper) else "inconclusive"
    return "reproduced" if (result.test.ci_low > 0) == (delta_paper > 0) else "contradicted"
