"""Numerics checks: twins are matched on everything but the switched setting; the verdict waits for 3 seeds."""
from __future__ import annotations

import math

import pytest

from fgkf_core.study import FLUSH, numerics_checks, numerics_table


def _rec(seed, dev, test, dtype=None, lr=0.01, wall=100.0):
    cfg = {"lr": lr, **({"routing_dtype": dtype} if dtype else {})}
    return {"task": "cws_zx", "method": "fgkf", "profile": "full", "seed": seed, "config": cfg, "best_dev": dev,
            "test": {"score": test}, "wall_seconds": wall}


def test_twin_needed_and_other_settings_are_not_twins():
    assert numerics_checks([_rec(1, 90, 90, "bfloat16")]) == []
    assert numerics_checks([_rec(1, 90, 90), _rec(1, 90, 90, "bfloat16", lr=0.02)]) == []
    assert numerics_checks([_rec(2, 90, 90), _rec(1, 90, 90, "bfloat16")]) == []


def test_waits_for_three_float32_seeds():
    (check,) = numerics_checks([_rec(1, 94.0, 93.0, "float32"), _rec(2, 94.4, 93.2), _rec(1, 94.1, 93.1, "bfloat16")])
    assert check.verdict == "waiting for fp32 seeds (2 of 3)" and math.isnan(check.band_test)
    assert check.dev == (94.0, 94.1)


def test_band_is_the_95_percent_spread_of_two_seeds():
    fp32 = [_rec(1, 94.0, 93.0, wall=300.0), _rec(2, 94.2, 93.4), _rec(3, 94.4, 93.2)]  # sigma 0.2 for both
    band = 1.959964 * math.sqrt(2) * 0.2  # 0.554
    (inside,) = numerics_checks(fp32 + [_rec(1, 94.5, 93.5, "bfloat16", wall=200.0)])
    assert inside.band_dev == pytest.approx(band, rel=1e-5) and inside.verdict == "within seed noise"
    (outside,) = numerics_checks(fp32 + [_rec(1, 94.0, 93.6, "bfloat16")])  # test moved 0.6 > 0.554
    assert outside.verdict == "outside seed noise: keep float32"
    row = numerics_table([inside]).iloc[0]
    assert row["Δ test"] == "+0.50" and row["test band"] == "±0.55" and row["wall fp32 / bf16 (as run)"] == "1.50x"


def _flush_rec(seed, dev, test, flush):
    cfg = {"lr": 0.01, **({"flush_denormal": flush} if flush is not None else {})}  # None: a record from before the key
    return {"task": "cws_zx", "method": "basic_kd", "profile": "full", "seed": seed, "config": cfg, "best_dev": dev,
            "test": {"score": test}, "wall_seconds": 100.0}


def test_flush_check_pairs_a_record_from_before_the_key_with_the_flushed_seeds():
    flushed = [_flush_rec(1, 94.0, 93.0, True), _flush_rec(2, 94.2, 93.4, True), _flush_rec(3, 94.4, 93.2, True)]
    (check,) = numerics_checks(flushed + [_flush_rec(1, 94.1, 94.0, None)], FLUSH)  # no key: denormals kept
    assert check.test == (93.0, 94.0) and check.reference_seeds == 3 and check.verdict == "outside seed noise"
    assert numerics_checks(flushed + [_flush_rec(1, 94.1, 94.0, None)]) == []  # no bf16 run among them
    row = numerics_table([check], FLUSH).iloc[0]
    assert row["test flushed → kept"] == "93.00 → 94.00" and row["flushed seeds"] == 3


def test_twins_that_also_ran_on_other_processors_or_threads_say_so():
    fp32, bf16 = _rec(1, 94.0, 93.0), _rec(1, 94.1, 93.1, "bfloat16")
    (same,) = numerics_checks([fp32 | {"device": "cpu:A", "threads": 1}, bf16 | {"device": "cpu:A", "threads": 1}])
    assert same.also == "" and numerics_table([same]).iloc[0]["also ran apart in"] == "—"
    (apart,) = numerics_checks([fp32 | {"device": "cpu:A", "threads": 2}, bf16 | {"device": "cpu:B", "threads": 1}])
    assert apart.also == "device cpu:A → cpu:B; threads 2 → 1"
