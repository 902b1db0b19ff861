"""Paired bootstrap, MDE and verdicts on constructed counts with known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fgkf_core.stats import (
    BootstrapResult, Comparison, SeedInterval, bootstrap_se, compare_counts, minimum_detectable_effect,
    paired_bootstrap, seed_interval, seeds_for_power, verdict,
)


def accuracy_counts(correct: np.ndarray, tokens: int = 10) -> np.ndarray:
    """Per-sentence (correct, total) for sentences that are all right (1) or all wrong (0)."""
    return np.stack([correct * tokens, np.full(len(correct), tokens)], axis=1).astype(float)


def test_identical_systems_give_zero_delta_and_p_one():
    rng = np.random.default_rng(0)
    counts = np.stack([rng.integers(0, 3, 500), rng.integers(1, 4, 500), rng.integers(1, 4, 500)], 1).astype(float)
    res = paired_bootstrap(counts, counts.copy(), "f1", n_draws=500, seed=1)
    assert res.delta == 0.0
    assert (res.ci_low, res.ci_high, res.se) == (0.0, 0.0, 0.0)
    assert res.p_value == 1.0
    assert not res.excludes_zero


def test_constructed_ten_point_accuracy_gain_is_found():
    a = np.zeros(1000)
    a[:500] = 1  # A gets half of the sentences right
    b = a.copy()
    b[500:600] = 1  # B also gets another 10% of the sentences right
    res = paired_bootstrap(accuracy_counts(a), accuracy_counts(b), "accuracy", n_draws=2000, seed=7)
    assert (res.score_a, res.score_b) == (50.0, 60.0)
    assert res.delta == pytest.approx(10.0)
    assert 0 < res.ci_low < 10.0 < res.ci_high
    assert res.p_value == pytest.approx(2 / 2001)  # no draw reaches 0: the smallest p 2000 draws can give
    # the paired SE is that of a proportion of discordant sentences: 100 * sqrt(0.1 * 0.9 / 1000)
    assert res.se == pytest.approx(100 * math.sqrt(0.09 / 1000), rel=0.1)


def test_constructed_f1_gain_matches_construction_and_sign():
    n = 400
    a = np.stack([np.r_[np.ones(200), np.zeros(200)], np.ones(n), np.ones(n)], 1)  # one entity a sentence
    b = a.copy()
    b[200:240, 0] = 1  # B finds 40 more of the 400 entities
    forward = paired_bootstrap(a, b, "f1", n_draws=1000, seed=3)
    backward = paired_bootstrap(b, a, "f1", n_draws=1000, seed=3)
    assert forward.delta == pytest.approx(10.0)
    assert forward.ci_low > 0
    assert backward.delta == pytest.approx(-10.0) and backward.ci_high < 0
    assert (backward.ci_low, backward.ci_high) == pytest.approx((-forward.ci_high, -forward.ci_low))


def test_deterministic_for_a_fixed_seed():
    rng = np.random.default_rng(5)
    a = accuracy_counts(rng.integers(0, 2, 300))
    b = accuracy_counts(rng.integers(0, 2, 300))
    first, again = paired_bootstrap(a, b, "accuracy", 800, seed=11), paired_bootstrap(a, b, "accuracy", 800, seed=11)
    other = paired_bootstrap(a, b, "accuracy", 800, seed=12)
    assert first == again
    assert (other.ci_low, other.ci_high) != (first.ci_low, first.ci_high)
    assert other.delta == first.delta  # the full-set difference does not depend on the draws


def test_seeds_are_pooled_by_averaging_counts():
    right, wrong = accuracy_counts(np.ones(100)), accuracy_counts(np.zeros(100))
    seeds_a = np.stack([right, wrong])  # two seeds of A: all right, all wrong -> mean counts: 5 of 10 right
    pooled = paired_bootstrap(seeds_a, right, "accuracy", 300, seed=2)
    assert pooled.score_a == 50.0
    assert pooled == paired_bootstrap(seeds_a.mean(axis=0), right, "accuracy", 300, seed=2)


def test_pooled_draws_are_exact_so_no_blas_order_can_move_them(monkeypatch):
    """Three seeds per side (means in thirds): the draws must equal exact integer arithmetic, the same on any
    processor. Averaging before the float matmul (the old path) left last-bit differences that moved p."""
    import fgkf_core.stats as stats

    rng = np.random.default_rng(5)
    a = np.stack([np.stack([rng.integers(0, 5, 700), rng.integers(3, 6, 700), rng.integers(3, 6, 700)], 1)
                  for _ in range(3)]).astype(float)  # [3 seeds, 700 sentences, 3]
    b = np.stack([np.stack([rng.integers(0, 5, 700), rng.integers(3, 6, 700), rng.integers(3, 6, 700)], 1)
                  for _ in range(3)]).astype(float)
    fast = paired_bootstrap(a, b, "f1", n_draws=400, seed=3)
    float_totals = stats._resampled_totals

    def exact_totals(counts: np.ndarray, n_draws: int, seed: int) -> np.ndarray:
        assert np.array_equal(counts, np.round(counts))  # whole counts reach the resampler
        out = float_totals(counts, n_draws, seed)  # [n_draws, k]
        n = len(counts)  # one block of draws here: recompute them as int64 sums from the same generator
        idx = np.random.default_rng(seed).integers(0, n, size=(n_draws, n), dtype=np.int32)
        weights = np.stack([np.bincount(row, minlength=n) for row in idx]).astype(np.int64)  # [n_draws, n]
        exact = weights @ counts.astype(np.int64)  # [n_draws, k], integer arithmetic
        assert np.array_equal(out, exact.astype(float))
        return out

    monkeypatch.setattr(stats, "_resampled_totals", exact_totals)
    assert paired_bootstrap(a, b, "f1", n_draws=400, seed=3) == fast


def test_block_size_does_not_limit_many_draws_over_many_sentences():
    rng = np.random.default_rng(9)
    a, b = accuracy_counts(rng.integers(0, 2, 10_000)), accuracy_counts(rng.integers(0, 2, 10_000))
    res = paired_bootstrap(a, b, "accuracy", n_draws=3000, seed=0)
    assert res.n_draws == 3000 and res.n_sentences == 10_000
    assert res.ci_low < res.delta < res.ci_high


def test_bad_inputs_say_what_was_expected():
    counts = accuracy_counts(np.ones(10))
    with pytest.raises(ValueError, match="same sentences"):
        paired_bootstrap(counts, counts[:5], "accuracy")
    with pytest.raises(ValueError, match="valid: f1, f1_code, accuracy"):
        paired_bootstrap(counts, counts, "bleu")
    with pytest.raises(ValueError, match=r"\[n_sentences, k\]"):
        paired_bootstrap(counts[:, 0], counts[:, 0], "accuracy")


def test_mde_formula_against_hand_computed_values():
    assert minimum_detectable_effect(1.0) == pytest.approx(1.959964 + 0.841621, abs=1e-6)
    assert minimum_detectable_effect(0.5, alpha=0.01, power=0.9) == pytest.approx(0.5 * (2.575829 + 1.281552), abs=1e-6)
    assert minimum_detectable_effect(1.0, df=4) == pytest.approx(2.776445 + 0.940965, abs=1e-5)  # t quantiles
    with pytest.raises(ValueError, match="0 < power < 1"):
        minimum_detectable_effect(1.0, power=1.0)


def test_single_system_se_matches_the_binomial_se():
    correct = np.zeros(400)
    correct[:200] = 1
    se = bootstrap_se(accuracy_counts(correct, tokens=1), "accuracy", n_draws=2000, seed=4)
    assert se == pytest.approx(100 * math.sqrt(0.25 / 400), rel=0.1)  # 2.5 points


def result(ci: tuple[float, float], mde: float = 1.0, n: int = 3,
           seeds: tuple[float, float] | None = None) -> Comparison:
    test = BootstrapResult(50.0, 50.0 + sum(ci) / 2, sum(ci) / 2, ci[0], ci[1], 0.5, mde / 2.8, 1000, 100)
    both = None if seeds is None else SeedInterval(1.0, 0.5, 5.0, seeds[0], seeds[1], 0.5)
    return Comparison("ner_en", "entity_f1", "standard", n, n, 50.0, 1.0, 51.0, 1.0, test, mde, both)


@pytest.mark.parametrize("paper, res, expected", [
    (+1.5, result((0.5, 2.0)), "reproduced"),
    (-1.5, result((-2.0, -0.5)), "reproduced"),
    (+1.5, result((-2.0, -0.5)), "contradicted"),
    (+1.5, result((-0.5, 2.0), mde=1.0), "inconclusive"),
    (+1.5, result((-0.5, 2.0), mde=2.0), "inconclusive (underpowered)"),
    (+1.5, result((0.5, 2.0), n=2), "inconclusive (n<3)"),
    (+1.5, result((0.5, 2.0), seeds=(-0.2, 2.7)), "inconclusive"),  # the seed-aware interval decides
    (+1.5, result((-2.0, -0.5), seeds=(-2.7, 0.2)), "inconclusive (excludes the paper's Δ)"),
    (+1.5, result((0.5, 2.0), seeds=(0.1, 2.4)), "reproduced"),
    (+1.5, result((0.2, 1.2)), "reproduced (smaller than the paper's Δ)"),
    (-1.5, result((-3.0, -1.8)), "reproduced (larger than the paper's Δ)"),
    (+1.5, result((-1.0, 1.0), mde=2.0), "inconclusive (underpowered; excludes the paper's Δ)"),
])
def test_verdict_rules(paper, res, expected):
    assert verdict(paper, res) == expected


def test_verdict_not_comparable_and_bad_paper_delta():
    assert verdict(1.0, result((0.5, 2.0)), comparable=False, reason="silver target tags") == (
        "not comparable (silver target tags)"
    )
    with pytest.raises(ValueError, match="non-zero"):
        verdict(0.0, result((0.5, 2.0)))


def test_seed_interval_welch_degrees_of_freedom_and_width_by_hand():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])  # std 1 each, 3 seeds: seed var 1/3 + 1/3
    res = seed_interval(3.0, 0.0, [a, b])
    assert res.df == pytest.approx(4.0)  # (2/3)^2 / (2 * (1/3)^2 / 2)
    assert res.se == pytest.approx(math.sqrt(2 / 3)) and res.se_seeds == res.se
    assert (res.ci_low, res.ci_high) == pytest.approx((3.0 - 2.776445 * res.se, 3.0 + 2.776445 * res.se), abs=1e-5)
    with_sentences = seed_interval(3.0, 1.0, [a, b])  # adds SE_sentences² = 1 to the variance, more df
    assert with_sentences.se == pytest.approx(math.sqrt(1 + 2 / 3))
    assert with_sentences.df == pytest.approx((5 / 3) ** 2 / (1 / 9))
    assert seed_interval(3.0, 1.0, [a, b[:1]]) is None  # one seed: its spread is unknown


def test_seed_interval_without_seed_spread_is_the_normal_interval():
    same = np.array([90.0, 90.0, 90.0])
    res = seed_interval(0.5, 0.2, [same, same + 0.5])
    assert res.df == math.inf and res.se == pytest.approx(0.2)
    assert (res.ci_low, res.ci_high) == pytest.approx((0.5 - 1.959964 * 0.2, 0.5 + 1.959964 * 0.2), abs=1e-6)
    assert res.p_value == pytest.approx(2 * (1 - 0.99379), abs=1e-4)  # z = 2.5


def test_a_gain_within_the_seed_spread_is_not_decided():
    """B is 2 accuracy points better on the pooled counts, decided over sentences alone (10,000 of them), but its
    seeds scatter by ±5 points: with the seed spread added the CI includes 0 and the verdict is inconclusive."""
    n = 10_000

    def seeds(rates: tuple[float, ...]) -> np.ndarray:
        out = []
        for r in rates:
            c = np.zeros(n)
            c[: round(r * n)] = 1
            out.append(accuracy_counts(c))
        return np.stack(out)  # [seeds, n, 2]

    a, b = seeds((0.50, 0.50, 0.50)), seeds((0.47, 0.52, 0.57))
    res = compare_counts("pos_en", "accuracy", "standard", "accuracy", a, b, n_draws=500, seed=0)
    assert res.test.delta == pytest.approx(2.0) and res.test.excludes_zero  # sentences alone: decided
    assert res.seeds.df == pytest.approx(2.0, abs=0.05)  # the seed variance is all B's (3 seeds: 2 df), plus a little
    assert res.seeds.ci_low < 0 < res.seeds.ci_high and res.interval() == (
        res.seeds.ci_low, res.seeds.ci_high, res.seeds.p_value)
    assert res.mde == pytest.approx(minimum_detectable_effect(res.seeds.se, df=res.seeds.df))
    assert verdict(+2.0, res) == "inconclusive (underpowered)"
    steady = compare_counts("pos_en", "accuracy", "standard", "accuracy", a, seeds((0.52, 0.52, 0.52)), 500, 0)
    assert steady.seeds.df == math.inf and verdict(+2.0, steady) == "reproduced"


def test_seeds_for_power_is_the_first_seed_count_whose_mde_reaches_the_target():
    seeds3 = np.array([1.0, 2.0, 3.0])  # std 1
    res = seed_interval(0.0, 0.1, [seeds3, seeds3 + 1])
    need = seeds_for_power(res, 2.0)
    assert need is not None and need > 2
    se = lambda n: math.sqrt(0.01 + 2 / n)  # noqa: E731 - SE with n seeds a system
    df = lambda n: (0.01 + 2 / n) ** 2 / (2 * (1 / n) ** 2 / (n - 1))  # noqa: E731
    mde = lambda n: minimum_detectable_effect(se(n), df=df(n))  # noqa: E731
    assert mde(need) <= 2.0 < mde(need - 1)
    assert seeds_for_power(seed_interval(0.0, 1.0, [seeds3, seeds3]), 2.0) is None  # the test set's SE alone: 2.8
