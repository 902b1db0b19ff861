"""Run records as a frame: one row per run with its variant label, distinguishing config values and scores,
the input of every summary."""
from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd

from .grids import Variant


#: config keys that tell the study's variants apart (shown as columns of `runs_frame`)
CONFIG_COLUMNS = (
    "relevance", "alpha", "warm_up", "shared_embedding", "gradient_block", "target_pool", "target_fraction", "lr",
    "sample_weight", "loss_split", "domain_clf", "elem_map", "ps_refresh",
)


def variant_of(record: dict, variants: Sequence[Variant] | None) -> str | None:
    """Label of the first variant matching the record (the method name when no variants are given)."""
    if variants is None:
        return record["method"]
    return next((v.label for v in variants if v.matches(record)), None)


def runs_frame(records: Iterable[dict], variants: Sequence[Variant] | None = None) -> pd.DataFrame:
    """One row per run: identity, the distinguishing config values, test score (+ R_oov), time and device.

    With `variants`, records matching none of them are dropped and ``variant`` holds the matching label.
    """
    rows = []
    for rec in records:
        label = variant_of(rec, variants)
        if label is None:
            continue
        cfg = rec.get("config", {})
        test = rec.get("test", {})
        overrides = rec.get("config_layers", {}).get("overrides", {})
        rows.append({
            "task": rec["task"], "variant": label, "method": rec["method"], "seed": rec["seed"],
            "profile": rec["profile"], "formulation": rec.get("formulation", "paper"),
            "overrides": ", ".join(f"{k}={v}" for k, v in sorted(overrides.items())),
            **{k: cfg.get(k) for k in CONFIG_COLUMNS},
            "score": test.get("score"), "roov": test.get("roov"), "best_dev": rec.get("best_dev"),
            "n_target_train": rec.get("task_info", {}).get("sizes", {}).get("target_train"),
            "comparable": rec.get("task_info", {}).get("comparable_to_paper", True),
            "wall_seconds": rec.get("wall_seconds"), "device": rec.get("device"),
            "stop_reason": rec.get("stop_reason"), "config_hash": rec.get("config_hash"), "path": rec.get("_path"),
        })
    cols = ["task", "variant", "method", "seed", "profile", "formulation", "overrides", *CONFIG_COLUMNS, "score",
            "roov", "best_dev", "n_target_train", "comparable", "wall_seconds", "device", "stop_reason",
            "config_hash", "path"]
    return pd.DataFrame(rows, columns=cols)
