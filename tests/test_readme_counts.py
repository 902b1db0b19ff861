"""Counts the README states about the committed full-profile records, recounted from them: a record that lands
without its prose being updated fails here (both counts had gone stale once)."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from fgkf_core.identity import record_threads
from fgkf_core.runs import load_records

ROOT = Path(__file__).resolve().parents[1]
WORDS = dict(zip("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
                 "seventeen eighteen nineteen twenty".split(), range(1, 21)))


def readme() -> str:
    return re.sub(r"\s+", " ", (ROOT / "README.md").read_text(encoding="utf-8"))


def number(word: str) -> int:
    assert word.lower() in WORDS, f"README count {word!r} is not a number word up to twenty"
    return WORDS[word.lower()]


def test_the_readme_counts_the_full_records_trained_in_part_on_two_threads():
    found = re.search(r"(\w+) committed full records trained, at least in part, on 2 threads", readme())
    assert found, "the README's sentence on full records trained on 2 threads is gone"
    two = [r for r in load_records(ROOT / "results", profile="full") if max(record_threads(r) or [1]) > 1]
    assert number(found.group(1)) == len(two), sorted(f"{r['task']}/{r['method']}/s{r['seed']}" for r in two)


def test_the_readme_counts_the_float32_full_fgkf_runs_per_task():
    found = re.search(r"the (\w+) float32 full FGKF runs, (.*?), start at", readme())
    assert found, "the README's fusion-weight sentence is gone"
    stated = {task: number(word) for word, task in re.findall(r"(\w+) on `(\w+)`", found.group(2))}
    plain = Counter(r["task"] for r in load_records(ROOT / "results", profile="full", method="fgkf",
                                                    formulation="paper")
                    if not r["config_layers"]["overrides"])  # the bfloat16 twin and other switches left out
    assert stated == dict(plain) and number(found.group(1)) == sum(plain.values()), (stated, plain)


def test_the_readme_quotes_the_kd_weights_of_the_plain_full_fgkf_runs():
    from fgkf_core.study.fusion_weights import weights_summary

    found = re.search(r"start at (0\.\d+)-(0\.\d+) in their first window of 100 target steps; the (\w+) whose best dev "
                      r"point came at target step 300 or later had (0\.\d+)-(0\.\d+) there, the (\w+) whose best came "
                      r"at step 100 or 200, (.*?), (0\.\d+(?:, 0\.\d+)*) and (0\.\d+)\)", readme())
    assert found, "the README's KD-weight sentence changed its form: update this test with it"
    runs = weights_summary(load_records(ROOT / "results", profile="full", method="fgkf", formulation="paper"))
    runs = runs[runs["overrides"] == ""]
    late, early = runs[runs["best step"] >= 300], runs[runs["best step"] < 300]
    first = runs["α_kd first"]
    assert found.group(1, 2) == (f"{first.min():.2f}", f"{first.max():.2f}")
    assert number(found.group(3)) == len(late) and number(found.group(6)) == len(early)
    assert found.group(4, 5) == (f"{late['α_kd at best'].min():.4f}", f"{late['α_kd at best'].max():.3f}")
    quoted = [*found.group(8).split(", "), found.group(9)]
    assert quoted == [f"{x:.3f}" for x in early.sort_values(["task", "seed"])["α_kd at best"]]


def test_the_readme_weibo_fgkf_eta_is_the_mean_the_queue_uses():
    from fgkf_core.plan import measured_walls

    found = re.search(r"Weibo FGKF: ~(\d+\.\d) h on one thread", readme())
    assert found, "the README's Weibo FGKF ETA sentence is gone"
    walls = measured_walls(ROOT / "results", "full", "cpu")[("cws_weibo", "fgkf", "{}")]
    assert found.group(1) == f"{sum(walls) / len(walls) / 3600:.1f}", [round(w / 3600, 2) for w in walls]
