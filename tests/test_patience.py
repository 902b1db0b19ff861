"""Early-stopping evidence: the longest wait between dev gains, and what a cut patience would have changed."""
from __future__ import annotations

from fgkf_core.study import longest_wait, patience_conclusion, patience_rows, patience_summary


def _rec(curve, best_step, patience=400, method="fgkf", seed=1, profile="quick"):
    return {"task": "t", "method": method, "seed": seed, "profile": profile, "config": {"patience": patience},
            "dev_curve": curve, "best_step": best_step, "stop_reason": "early_stop"}


def test_longest_wait_counts_from_step_zero_and_only_strict_gains():
    assert longest_wait([]) == 0
    assert longest_wait([(100, 1.0)]) == 100
    # gains at 100, 200, 900 (a tie at 500 is no gain): waits 100, 100, 700
    assert longest_wait([(100, 1.0), (200, 2.0), (500, 2.0), (900, 2.5), (1000, 2.4)]) == 700


#: a dev curve (step, score) whose best comes after a wait of 165 steps (the trainer replays it in test_train)
PATIENCE_CURVE = [(s, v) for s, v in zip(range(15, 600, 15), [1, 2, 2, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4] + [0] * 30)]


def test_longest_wait_of_the_replayed_curve():
    assert longest_wait(PATIENCE_CURVE) == 165  # from the gain at 60 to the best at 225


def test_summary_and_conclusion_count_runs_a_cut_would_stop_early():
    recs = [_rec([(100, 1.0), (400, 2.0)], 400, seed=1),  # wait 300 of 400: more than 1/2, not more than 3/4
            _rec([(100, 1.0), (150, 2.0)], 150, seed=2),  # wait 100
            _rec([(100, 1.0), (500, 2.0)], 500, seed=3, method="basic_kd")]  # wait 400 = patience
    rows = patience_rows(recs + [{**recs[0], "dev_curve": []}])  # a run without a curve is left out
    assert list(rows["longest wait"]) == [400, 300, 100]
    summary = patience_summary(rows).set_index("method")
    assert summary.loc["fgkf", "runs needing > 1/2"] == "1 of 2" and summary.loc["fgkf", "runs needing > 3/4"] == "0 of 2"
    assert summary.loc["basic_kd", "longest wait / patience"] == 1.0
    text = patience_conclusion(rows)
    assert text.startswith("quick: cutting the patience to 0.5 of its value would have stopped 2 of 3 runs")
    assert "longest wait 400 of 400 steps, t basic_kd seed 3" in text
