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
