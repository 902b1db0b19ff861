"""Provenance of the recorded runs: counts, wall time, devices, code and library versions, data sizes and the
digests of every data file read, for the reproducibility page."""
from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd

from .glue import glue


def provenance(records: Iterable[dict]) -> pd.DataFrame:
    """Per task, method and profile: runs, seeds, wall time, devices, code and library versions."""
    rows = []
    for rec in records:
        v = rec.get("versions", {})
        code = rec.get("code", {})
        rows.append({
            "task": rec["task"], "method": rec["method"], "profile": rec["profile"], "seed": rec["seed"],
            "wall_seconds": rec.get("wall_seconds"), "device": rec.get("device"), "threads": rec.get("threads"),
            "torch": v.get("torch"), "python": v.get("python"),
            "commit": (code.get("commit") or "?")[:10] + ("+dirty" if code.get("dirty") else ""),
            "started_at": rec.get("started_at"),
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    g = frame.groupby(["task", "method", "profile"], sort=True)
    return g.agg(
        runs=("seed", "size"), seeds=("seed", lambda s: sorted(set(s))), wall_total_s=("wall_seconds", "sum"),
        wall_mean_s=("wall_seconds", "mean"), devices=("device", lambda s: sorted(set(s))),
        torch=("torch", lambda s: sorted(set(s))), commits=("commit", lambda s: sorted(set(s))),
    ).reset_index()


def glue_provenance(records: Sequence[dict], prefix: str = "repro") -> pd.DataFrame:
    """Glue run count, wall hours, devices, torch versions and seeds of `records`; return `provenance`."""
    hours = sum(r.get("wall_seconds") or 0 for r in records) / 3600
    glue(f"{prefix}_runs", str(len(records)))
    glue(f"{prefix}_hours", f"{hours:.2f}")
    glue(f"{prefix}_devices", ", ".join(sorted({r.get("device") or "?" for r in records})) or "none")
    glue(f"{prefix}_torch", ", ".join(sorted({r.get("versions", {}).get("torch", "?") for r in records})) or "none")
    glue(f"{prefix}_seeds", ", ".join(map(str, sorted({r["seed"] for r in records}))) or "none")
    print(f"{len(records)} runs, {hours:.2f} hours of wall time in total")
    return provenance(records)


def data_sizes(records: Iterable[dict]) -> pd.DataFrame:
    """Sentences per split each (task, profile, target fraction) actually used, from the records."""
    rows = []
    for rec in records:
        sizes = rec.get("task_info", {}).get("sizes", {})
        rows.append({"task": rec["task"], "profile": rec["profile"],
                     "target_fraction": rec.get("config", {}).get("target_fraction"), **sizes})
    cols = ["task", "profile", "target_fraction", "source_train", "target_train", "target_dev", "target_test"]
    frame = pd.DataFrame(rows, columns=cols)
    return frame.drop_duplicates().sort_values(["task", "profile"], kind="stable").reset_index(drop=True)


def data_files(records: Iterable[dict]) -> pd.DataFrame:
    """Every data file the runs read, with its sha256 (one row per distinct file and digest)."""
    seen = {}
    for rec in records:
        for path, digest in rec.get("data", {}).get("root_relative_sha256", {}).items():
            seen[(path, digest)] = seen.get((path, digest), 0) + 1
    return pd.DataFrame([{"file": p, "sha256": d, "runs": n} for (p, d), n in sorted(seen.items())],
                        columns=["file", "sha256", "runs"])
