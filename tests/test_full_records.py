"""A reduced page picks up every recorded full-profile seed of its runs (the plan's tier 2 adds seeds 4-5)."""
from __future__ import annotations

import json

from fgkf_core.runs import RunSpec, locate
from fgkf_core.study.pages import full_records


def test_every_full_seed_is_read_in_seed_order_and_nothing_else(tmp_path, data_dir):
    for seed in (5, 1, 2, 4, 12):
        path = locate("ner_en", "basic_kd", seed, "full", "paper", data_dir, tmp_path).record
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"task": "ner_en", "method": "basic_kd", "seed": seed}), encoding="utf-8")
    first = locate("ner_en", "basic_kd", 1, "full", "paper", data_dir, tmp_path).record
    (first.parent / first.name.replace(".json", ".relevance.json")).write_text("{}", encoding="utf-8")
    other = locate("ner_en", "basic_kd", 3, "full", "paper", data_dir, tmp_path, lr=0.5).record  # another key
    other.write_text(json.dumps({"task": "ner_en", "method": "basic_kd", "seed": 3}), encoding="utf-8")
    specs = [RunSpec("ner_en", "basic_kd", 1)]
    assert [r["seed"] for r in full_records(specs, "quick", tmp_path, data_dir)] == [1, 2, 4, 5, 12]
    assert full_records(specs, "full", tmp_path, data_dir) == []  # a full page has its own records
