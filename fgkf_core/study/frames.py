"""Run records as a frame: one row per (run, variant it belongs to) with the label, distinguishing config
values and scores (ours, and optionally the authors' scoring), the input of every summary."""
from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd

from ..config import with_neutral
from ..scoring import rescore
from .grids import Variant


#: config keys that tell the study's variants apart (shown as columns of `runs_frame`)
CONFIG_COLUMNS = (
    "relevance", "alpha", "warm_up", "shared_embedding", "gradient_block", "target_pool", "target_fraction", "lr",
    "sample_weight", "loss_split", "domain_clf", "elem_map", "ps_refresh", "fusion_weights",
)


def variants_of(record: dict, variants: Sequence[Variant] | None) -> list[str]:
    """Labels of every variant the record is a run of (by resolved config, `Variant.matches`); the method name
    when no variants are given."""
    if variants is None:
        return [record["method"]]
    return [v.label for v in variants if v.matches(record)]


def paper_score(record: dict) -> float:
    """The record's test score under the authors' scoring: its ``test_paper`` where recorded, else rescored
    from its predictions (records migrated from schema 1 carry only ours)."""
    if "test_paper" in record:
        return record["test_paper"]["score"]
    return rescore(record, "paper")["score"]


def runs_frame(records: Iterable[dict], variants: Sequence[Variant] | None = None,
               paper_scoring: bool = False) -> pd.DataFrame:
    """One row per (run, matching variant): identity, the distinguishing config values, test score (+ R_oov),
    time and device; with `paper_scoring`, ``score_paper`` = the authors' scoring of the same predictions.

    With `variants`, records matching none of them are dropped and ``variant`` holds the matching label.
    """
    rows = []
    for rec in records:
        labels = variants_of(rec, variants)
        if not labels:
            continue
        cfg = with_neutral(rec.get("config", {}))  # a key newer than the record: at its neutral value
        test = rec.get("test", {})
        overrides = rec.get("config_layers", {}).get("overrides", {})
        row = {
            "task": rec["task"], "method": rec["method"], "seed": rec["seed"],
            "profile": rec["profile"], "formulation": rec.get("formulation", "paper"),
            "overrides": ", ".join(f"{k}={v}" for k, v in sorted(overrides.items())),
            **{k: cfg.get(k) for k in CONFIG_COLUMNS},
            "score": test.get("score"), "roov": test.get("roov"),
            "score_paper": paper_score(rec) if paper_scoring else None, "best_dev": rec.get("best_dev"),
            "n_target_train": rec.get("task_info", {}).get("sizes", {}).get("target_train"),
            "comparable": rec.get("task_info", {}).get("comparable_to_paper", True),
            "wall_seconds": rec.get("wall_seconds"), "device": rec.get("device"),
            "stop_reason": rec.get("stop_reason"), "config_hash": rec.get("config_hash"), "path": rec.get("_path"),
        }
        rows += [{"variant": label, **row} for label in labels]
    cols = ["task", "variant", "method", "seed", "profile", "formulation", "overrides", *CONFIG_COLUMNS, "score",
            "roov", "score_paper", "best_dev", "n_target_train", "comparable", "wall_seconds", "device",
            "stop_reason", "config_hash", "path"]
    return pd.DataFrame(rows, columns=cols)
