"""Provenance of the recorded runs for the reproducibility page: which runs exist (seeds, wall time, whether
training was resumed), the code commit, device and threads they ran with, the data sizes they used and the
digest of every data file they read. Tables come ready to show: rounded, short hashes, no NaN."""
from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd

from ..identity import record_threads
from .glue import glue
from .display import fmt_duration, fmt_share, short_hash

#: the columns of `provenance`, in order
RUN_COLUMNS = ["task", "method", "profile", "seeds", "runs", "wall time", "code", "device", "threads", "resumed"]


def code_text(rec: dict) -> str:
    """The record's git commit, short, flagged 'dirty' when the working tree had uncommitted changes."""
    code = rec.get("code", {})
    return short_hash(code.get("commit"), 7) + (", dirty" if code.get("dirty") else "")


def resumed_text(rec: dict) -> str:
    """Whether training was resumed from a checkpoint: 'no', 'yes: 3 segments' (', 2 code versions' when the
    segments ran different code; ', 2 hosts' when on other devices or threads), 'unknown (migrated)' for
    records migrated from a schema that did not say."""
    resumed = rec.get("resumed")
    if resumed is None:
        return "unknown (migrated)" if rec.get("migrated_from") else "unknown"
    if not resumed:
        return "no"
    versions = len(set(rec.get("segment_code") or []))
    hosts = len(set(rec.get("segment_hosts") or []))
    return (f"yes: {rec.get('segments')} segments" + (f", {versions} code versions" if versions > 1 else "")
            + (f", {hosts} hosts (device or threads)" if hosts > 1 else ""))


def seeds_list(seeds: Iterable[int]) -> str:
    """'1, 2, 3'."""
    return ", ".join(map(str, sorted(set(seeds))))


def provenance(records: Iterable[dict]) -> pd.DataFrame:
    """One row per task, method, profile, commit, device, threads and resumption: the seeds and number of its
    runs and their summed wall time."""
    rows = [{"task": r["task"], "method": r["method"], "profile": r["profile"], "seed": r["seed"],
             "wall": r.get("wall_seconds") or 0.0, "code": code_text(r), "device": r.get("device") or "?",
             "threads": " → ".join(map(str, record_threads(r))) or "default", "resumed": resumed_text(r)}
            for r in records]
    if not rows:
        return pd.DataFrame(columns=RUN_COLUMNS)
    keys = ["task", "method", "profile", "code", "device", "threads", "resumed"]
    table = pd.DataFrame(rows).groupby(keys, sort=True).agg(
        seeds=("seed", seeds_list), runs=("seed", "size"), wall=("wall", "sum")).reset_index()
    table["wall time"] = table.pop("wall").map(fmt_duration)
    return table[RUN_COLUMNS]


def glue_provenance(records: Sequence[dict], prefix: str = "repro") -> None:
    """Glue `<prefix>_runs`, `_hours`, `_devices`, `_torch`, `_seeds` and `_commits` (short hashes) of
    `records` for the page's checklist, and print the count and wall time."""
    hours = sum(r.get("wall_seconds") or 0 for r in records) / 3600
    glue(f"{prefix}_runs", str(len(records)))
    glue(f"{prefix}_hours", f"{hours:.1f}")
    glue(f"{prefix}_devices", ", ".join(sorted({r.get("device") or "?" for r in records})) or "none")
    glue(f"{prefix}_torch", ", ".join(sorted({r.get("versions", {}).get("torch", "?") for r in records})) or "none")
    glue(f"{prefix}_seeds", seeds_list(r["seed"] for r in records) or "none")
    glue(f"{prefix}_commits", ", ".join(sorted({short_hash(r.get("code", {}).get("commit"), 7) for r in records}))
         or "none")
    print(f"{len(records)} runs, {hours:.1f} hours of wall time in total")


def data_sizes(records: Iterable[dict]) -> pd.DataFrame:
    """Sentences per split each (task, profile, share of the target pool) actually used, from the records; the
    share is '—' where the run used the task's own target training set."""
    rows = []
    for rec in records:
        sizes = rec.get("task_info", {}).get("sizes", {})
        rows.append({"task": rec["task"], "profile": rec["profile"],
                     "target share": rec.get("config", {}).get("target_fraction"),
                     "source train": sizes.get("source_train"), "target train": sizes.get("target_train"),
                     "target dev": sizes.get("target_dev"), "target test": sizes.get("target_test")})
    cols = ["task", "profile", "target share", "source train", "target train", "target dev", "target test"]
    frame = pd.DataFrame(rows, columns=cols).drop_duplicates()
    frame = frame.sort_values(["task", "profile", "target share"], kind="stable", na_position="first")
    return frame.assign(**{"target share": frame["target share"].map(fmt_share)}).reset_index(drop=True)


def data_files(records: Iterable[dict], digits: int = 16) -> pd.DataFrame:
    """Every data file the runs read, with the first `digits` hex digits of its sha256 (one row per distinct
    file and digest: two rows for one file would mean the runs read different contents)."""
    seen: dict[tuple[str, str], int] = {}
    for rec in records:
        for path, digest in rec.get("data", {}).get("root_relative_sha256", {}).items():
            seen[(path, digest)] = seen.get((path, digest), 0) + 1
    rows = [{"file": p, "sha256 (start)": short_hash(d, digits), "runs": n} for (p, d), n in sorted(seen.items())]
    return pd.DataFrame(rows, columns=["file", "sha256 (start)", "runs"])
