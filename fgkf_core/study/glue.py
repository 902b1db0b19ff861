"""Glue: named values (verdicts, reproduced numbers, settings) handed to the book's prose via myst_nb."""
from __future__ import annotations

import re
from typing import Any, Sequence

import pandas as pd


def glue_key(name: str) -> str:
    """A glue name safe inside a MyST role: letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")


def glue(name: str, value: Any) -> None:
    """myst_nb.glue without display under `glue_key(name)` (a no-op where myst_nb is missing)."""
    try:
        from myst_nb import glue as _glue
    except ImportError:  # pragma: no cover
        return
    _glue(glue_key(name), value, display=False)


def glue_compare(cmp: pd.DataFrame, prefix: str) -> None:
    """Glue `<prefix>_<task>_<variant>[_<metric>]` = 'mean ± std (n)' (or 'not run') and `..._reported` (the
    paper's value) for every row of a `compare` frame (metric ``score`` has no suffix)."""
    for rec in cmp.to_dict("records"):
        suffix = "" if rec["metric"] == "score" else f"_{rec['metric']}"
        name = f"{prefix}_{rec['task']}_{rec['variant']}{suffix}"
        glue(name, rec["reproduced"])
        glue(f"{name}_reported", "n/a" if pd.isna(rec["paper"]) else f"{rec['paper']:.2f}")


def glue_settings(prefix: str, profile: str, seeds: Sequence[int], task: str | None = None) -> None:
    """Glue `<prefix>_profile`, `<prefix>_seeds` (and `<prefix>_task`) for the page's prose."""
    glue(f"{prefix}_profile", profile)
    glue(f"{prefix}_seeds", ", ".join(map(str, seeds)))
    if task is not None:
        glue(f"{prefix}_task", task)
