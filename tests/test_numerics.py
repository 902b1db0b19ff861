"""The bfloat16 capsule check: twins are matched on everything but the dtype; the verdict waits for 3 seeds."""
from __future__ import annotations

import math

import pytest

from fgkf_core.study import dtype_checks, dtype_table


def _rec(seed, dev, test, dtype=None, lr=0.01, wall=100.0):
    cfg = {"lr": lr, **({"routing_dtype": dtype} if dtype else {})}
    return {"task": "cws_zx", "method": "fgkf", "profile": "full", "seed": seed, "config": cfg, "best_dev": dev,
            "test": {"score": test}, "wall_seconds": wall}


def test_twin_needed_and_other_settings_are_not_twins():
    assert dtype_checks([_rec(1, 90, 90, "bfloat16")]) == []
    assert dtype_checks([_rec(1, 90, 90), _rec(1, 90, 90, "bfloat16", lr=0.02)]) == []
    assert dtype_checks([_rec(2, 90, 90), _rec(1, 90, 90, "bfloat16")]) == []


def test_waits_for_three_float32_seeds():
    (check,) = dtype_checks([_rec(1, 94.0, 93.0, "float32"), _rec(2, 94.4, 93.2), _rec(1, 94.1, 93.1, "bfloat16")])
    assert check.verdict == "waiting for float32 seeds (2 of 3)" and math.isnan(check.band_test)
    assert check.dev == (94.0, 94.1)


def test_band_is_the_95_percent_spread_of_two_seeds():
    fp32 = [_rec(1, 94.0, 93.0, wall=300.0), _rec(2, 94.2, 93.4), _rec(3, 94.4, 93.2)]  # sigma 0.2 for both
    band = 1.959964 * math.sqrt(2) * 0.2  # 0.554
    (inside,) = dtype_checks(fp32 + [_rec(1, 94.5, 93.5, "bfloat16", wall=200.0)])
    assert inside.band_dev == pytest.approx(band, rel=1e-5) and inside.verdict == "within seed noise: adopt bfloat16"
    (outside,) = dtype_checks(fp32 + [_rec(1, 94.0, 93.6, "bfloat16")])  # test moved 0.6 > 0.554
    assert outside.verdict == "outside seed noise: keep float32"
    row = dtype_table([inside]).iloc[0]
    assert row["Δ test"] == "+0.50" and row["test band"] == "±0.55" and row["wall fp32 / bf16 (as run)"] == "1.50x"
