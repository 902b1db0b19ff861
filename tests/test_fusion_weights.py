"""FGKF's learned fusion weights: the KD weight read from alpha traces, the hypothesis reading of a comparison,
and the committed records' evidence that L_T drives the weights down."""
from __future__ import annotations

import numpy as np
import pytest

from fgkf_core import study
from fgkf_core.runs import load_records
from fgkf_core.stats import compare, compare_counts
from fgkf_core.study.verdicts import BOOTSTRAP_SEED, N_DRAWS
from tests.conftest import ROOT


def _window(step, kd, gamma, tau=1.0):
    return {"step": step, "alpha_kd": kd, "alpha_samp": 2 * kd, "alpha_elem": 0.5, "tau": tau, "gamma": gamma}


def _rec(trace, best_step, seed=1, alpha="multi", weights=None, path=None):
    config = {"alpha": alpha, **({"fusion_weights": weights} if weights else {})}
    return {"task": "t", "method": "fgkf", "profile": "quick", "seed": seed, "config": config, "best_step": best_step,
            "alpha_trace": trace, "test": {"score": 50.0 + seed}, "_path": path or f"/r/s{seed}-{alpha}-{weights}.json",
            "config_layers": {"overrides": {"fusion_weights": weights} if weights else {}}}


def test_summary_reads_the_window_ending_at_the_best_point():
    trace = [_window(100, 0.3, 0.2), _window(200, 0.1, -0.5), _window(300, 0.05, -1.0)]
    (row,) = study.weights_summary([_rec(trace, 250)]).to_dict("records")
    assert (row["α_kd first"], row["α_kd at best"], row["α_kd last"]) == (0.3, 0.1, 0.05)
    assert row["γ at best"] == -0.5 and row["fusion weights"] == "trained" and row["overrides"] == ""
    (early,) = study.weights_summary([_rec(trace, 50)]).to_dict("records")  # best before the first window
    assert early["α_kd at best"] == 0.3
    basic = _rec([{"step": 100, "seq": 1.0, "kd": 0.5, "tau": 1.0, "gamma": 0.5}], 100)  # alpha=basic logs no alpha_kd
    assert study.weights_summary([basic]).empty


def test_conclusion_counts_gamma_only_where_alpha_samp_is_used():
    fell = _rec([_window(100, 0.2, 0.1), _window(200, 0.01, -2.0)], 200, seed=1)
    kept = _rec([_window(100, 0.3, 0.5), _window(200, 0.09, 0.5)], 200, seed=2, alpha="elem")  # γ has no gradient
    fixed = _rec([_window(100, 0.35, 0.5)], 100, seed=3, weights="fixed")
    text = study.weights_conclusion(study.weights_summary([fell, kept, fixed]))
    assert text.startswith("In 1 of the 1 recorded FGKF runs whose α uses α_samp")
    assert "over all 2 runs with trained fusion weights" in text and "was 0.050 (median; range 0.0100–0.090)" in text
    assert study.weights_conclusion(study.weights_summary([fixed])) == \
        "no FGKF run with trained fusion weights is recorded"


def _comparison(delta_per_seed, seeds):
    """A Comparison of accuracy counts on 400 sentences of 10 tokens: B beats A by `delta_per_seed` tokens a
    sentence in every seed, with a small seed-to-seed wobble."""
    rng = np.random.default_rng(0)
    a = np.stack([np.stack([rng.integers(4, 7, 400), np.full(400, 10)], -1) for _ in range(seeds)])  # [s, n, 2]
    b = a.copy()
    b[:, :, 0] = np.clip(a[:, :, 0] + delta_per_seed + rng.integers(0, 2, (seeds, 1)), 0, 10)
    return compare_counts("t", "accuracy", "standard", "accuracy", a, b, 500, 0)


def test_hypothesis_reading_needs_three_seeds_and_a_ci_off_zero():
    assert study.hypothesis_reading(_comparison(2, 2)) == "undecided (n<3)"
    assert study.hypothesis_reading(_comparison(2, 3)) == "supported"
    assert study.hypothesis_reading(_comparison(-3, 3)) == "the opposite holds"
    assert study.hypothesis_reading(_comparison(0, 3)).startswith("undecided (CI includes 0; MDE ")


@pytest.fixture(scope="module")
def committed() -> list[dict]:
    records = [r for r in load_records(ROOT / "results") if r["profile"] != "smoke"]
    assert any(r["method"] == "fgkf" and r["profile"] == "full" for r in records), "committed full FGKF records missing"
    return records


def test_every_committed_full_fgkf_run_trained_its_kd_weight_down(committed):
    full = study.weights_summary([r for r in committed if r["profile"] == "full"])
    trained = full[full["fusion weights"] == "trained"]
    assert len(trained) >= 3
    for rec in committed:
        summary = study.weights_summary([rec]) if rec["profile"] == "full" else None
        if summary is None or summary.empty or summary["fusion weights"].iloc[0] != "trained":
            continue
        row = summary.iloc[0]
        windows = sorted(t["step"] for t in rec["alpha_trace"] if "alpha_kd" in t)
        # the selected point reads the first window where dev peaked in it (cws_weibo s2, s3 at step 100);
        # any later, the KD weight has already fallen below the first window's
        if rec["best_step"] < windows[1]:
            assert row["α_kd at best"] == row["α_kd first"], rec["_path"]
        else:
            assert row["α_kd at best"] < row["α_kd first"], rec["_path"]
    gated = trained[trained["alpha"].isin(["samp", "multi"])]  # α_samp's γ gates the weight (Eq. 10)
    assert (gated["α_kd last"] < gated["α_kd first"] / 100).all()  # and collapsed by the end of training
    assert (gated["γ at best"] < 0.5).all()
    # α_elem alone (Table 4, Eq. 14's map) has no γ: its weight fell, by less (cws_zx s1: 0.19 -> 0.04)
    elem = trained[trained["alpha"] == "elem"]
    assert (elem["α_kd last"] < elem["α_kd first"]).all() and (elem["γ at best"] == 0.5).all()
    # the README's bound: at the best dev point, at most about a quarter of basicKD's constant 0.5 (max 0.129)
    assert (trained["α_kd at best"] < 0.5 / 4 * 1.05).all()


def test_comparisons_read_the_same_interval_as_the_paper_claims(committed, data_dir):
    """fgkf > basic_kd on cws_zx is also a Table 3 claim: the page's Δ and CI are the verdict's."""
    table = study.fusion_comparisons(committed, "cws_zx", "quick").set_index("hypothesis")
    (claim,) = [c for c in study.main_claims(["cws_zx"]) if c.key == "cws_zx_fgkf_vs_basic_kd"]
    judged = study.judge_all([claim], "main_results", committed, study.plain(["fgkf", "basic_kd"]), "quick")[0]
    row = table.loc["fgkf > basic_kd"]
    assert row["profile"] == judged.profile == "full" and row["Δ [95% CI]"] == judged.ours()
    assert row["seeds"] == judged.seeds()
    # the fixed-weight runs exist at the quick profile only: that row compares the quick seeds of the two
    quick = [r for r in committed if (r["task"], r["method"], r["profile"]) == ("cws_zx", "fgkf", "quick")]
    fixed = [r for r in quick if r["config"].get("fusion_weights") == "fixed"]
    trained = [r for r in quick if r["config"].get("fusion_weights", "trained") == "trained"]
    assert len(fixed) == len(trained) == 3, (len(fixed), len(trained))
    res = compare(trained, fixed, "standard", N_DRAWS, BOOTSTRAP_SEED)
    low, high, _ = res.interval()
    row = table.loc["fgkf_fixed_fusion > fgkf"]
    assert (row["profile"], row["seeds"]) == ("quick", "3 v 3")
    assert row["Δ [95% CI]"] == f"{res.test.delta:+.2f} [{low:+.2f}, {high:+.2f}]"


def test_kd_weight_figure_plots_one_line_per_run_on_a_log_axis(committed):
    trace = study.trace_frame([r for r in committed if r["task"] == "cws_zx"])
    curves = study.kd_weight_curves(trace)
    (full,) = [label for label in curves if label.startswith("cws_zx, full, trained")]
    own = [r for r in committed if (r["task"], r["method"], r["profile"]) == ("cws_zx", "fgkf", "full")]
    other = sum(bool(r["config_layers"]["overrides"]) for r in own)  # the bfloat16 twin, Table 4's cells
    assert other >= 1 and full == f"cws_zx, full, trained; {other} with other settings"
    assert len(curves[full]) == len(own) >= 6  # the five committed full cws_zx FGKF seeds and the twin, at least
    assert "cws_zx, quick, fixed" in curves  # fusion_weights=fixed is named by the label, not counted as other
    fig = study.kd_weight_figure(curves)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert len(ax.lines) == sum(map(len, curves.values())) + 1  # the runs and basicKD's constant
    assert study.figures.axis_text(fig).startswith("title: FGKF's KD weight during training")
