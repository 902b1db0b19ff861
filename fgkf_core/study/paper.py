"""The paper's tables as transcribed in ``results/paper/*.csv``, wide (as printed) or long (variant, task,
metric, paper), so that reproduced numbers can be joined to them.

Long frames carry a ``metric`` column: ``score`` (the task's headline number: word F1, accuracy or entity F1),
``roov`` (CWS OOV recall), ``strong``/``weak`` (Table 5); values are percentages, as in the paper.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..ensure import REPO_ROOT
from ..tasks import TASKS


PAPER_FILES = {
    "table3": "table3_main_results", "table4": "table4_cws_variants",
    "table5": "table5_relevance_split", "table7": "table7_ablation",
}
METRIC_SUFFIX = {"": "score", "f1": "score", "roov": "roov", "strong": "strong", "weak": "weak", "delta": "delta"}


def paper_dir(path: str | Path | None = None) -> Path:
    """Folder of the paper's CSVs: the argument, else $FGKF_RESULTS/paper when it exists, else <repo>/results/paper."""
    if path:
        return Path(path)
    env = os.environ.get("FGKF_RESULTS")
    if env and (Path(env) / "paper").is_dir():
        return Path(env) / "paper"
    return REPO_ROOT / "results" / "paper"


def paper_table(name: str, path: str | Path | None = None) -> pd.DataFrame:
    """A paper CSV as transcribed (``table3``/``table4``/``table5``/``table7`` or the file stem)."""
    stem = PAPER_FILES.get(name, name)
    return pd.read_csv(paper_dir(path) / f"{stem}.csv")


def _split_column(col: str) -> tuple[str, str]:
    task = max((t for t in TASKS if col == t or col.startswith(t + "_")), key=len, default=None)
    if task is None:
        raise ValueError(f"paper column {col!r} names no task")
    suffix = col[len(task) + 1:]
    if suffix not in METRIC_SUFFIX:
        raise ValueError(f"paper column {col!r}: unknown metric suffix {suffix!r}")
    return task, METRIC_SUFFIX[suffix]


def paper_long(name: str, path: str | Path | None = None) -> pd.DataFrame:
    """A paper table in long form: variant, task, metric, paper (rows in the paper's order)."""
    wide = paper_table(name, path)
    key = wide.columns[0]  # "method" or "variant"
    rows = []
    for order, rec in enumerate(wide.to_dict("records")):
        for col in wide.columns[1:]:
            task, metric = _split_column(col)
            rows.append({"variant": rec[key], "task": task, "metric": metric, "paper": rec[col], "order": order})
    return pd.DataFrame(rows).dropna(subset=["paper"])


def paper_rows(name: str) -> list[str]:
    """Row labels of a paper table, in order."""
    wide = paper_table(name)
    return list(wide[wide.columns[0]])


def paper_reference(task: str, labels: Iterable[str], name: str = "table3", row: str = "fgkf") -> pd.DataFrame:
    """The paper's value of `row` on `task` as the reference of every label (long, as `paper_long`)."""
    p = paper_long(name)
    p = p[(p["variant"] == row) & (p["task"] == task)]
    return pd.concat([p.assign(variant=label) for label in labels], ignore_index=True)
