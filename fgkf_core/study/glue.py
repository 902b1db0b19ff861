"""Glue: named values (verdicts, reproduced numbers, settings) handed to the book's prose via myst_nb."""
from __future__ import annotations

import re
from typing import Any, Iterable

import pandas as pd

from .params import settings_text


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
    paper's value) for every row of a `compare` frame (metric ``score`` has no suffix); a cell shown in two
    profiles glues its first (full) row."""
    done = set()
    for rec in cmp.to_dict("records"):
        suffix = "" if rec["metric"] == "score" else f"_{rec['metric']}"
        name = f"{prefix}_{rec['task']}_{rec['variant']}{suffix}"
        if name in done:
            continue
        done.add(name)
        glue(name, rec["reproduced"])
        glue(f"{name}_reported", "n/a" if pd.isna(rec["paper"]) else f"{rec['paper']:.2f}")


def glue_settings(prefix: str, profile: str, records: Iterable[dict], task: str | None = None) -> None:
    """Glue `<prefix>_profile`, `<prefix>_seeds` (`params.settings_text` of the records the page shows: full
    ones named where they stand in) and `<prefix>_task` for the page's prose."""
    profile_text, seeds_text = settings_text(profile, records)
    glue(f"{prefix}_profile", profile_text)
    glue(f"{prefix}_seeds", seeds_text)
    if task is not None:
        glue(f"{prefix}_task", task)
