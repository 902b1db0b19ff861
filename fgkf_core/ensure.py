"""Make sure a grid's runs exist: train only the missing ones, then load every record.

Part of the runs layer (it drives `runs.iter_sweep`); the study pages call it between their parameters and
their tables, so a page re-executed over a filled results folder trains nothing.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterable

from .config import PROFILES, resolve
from .runs import RunSpec, iter_sweep, record_path
from .tasks import get_task

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout holding fgkf_core/


def results_root(results_dir: str | Path | None = None) -> Path:
    """The results folder: the argument, else $FGKF_RESULTS, else <repo>/results."""
    return Path(results_dir or os.environ.get("FGKF_RESULTS") or REPO_ROOT / "results")


def check_profile(profile: str) -> str:
    """`profile` itself if it is a known profile (a ValueError naming the valid ones otherwise)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    return profile


def _spec_location(spec: RunSpec, profile: str, results: Path) -> tuple[str, dict, Path]:
    """(formulation, overrides without it, record path) of a spec: where its record is or will be."""
    overrides = dict(spec.overrides)
    formulation = overrides.pop("formulation", "paper")
    task = get_task(spec.task)
    cfg, _ = resolve(task.name, profile, formulation, **overrides)
    return formulation, overrides, record_path(results, task.name, spec.method, profile, cfg.hash(), spec.seed)


def ensure_runs(
    specs: Iterable[RunSpec], profile: str, results_dir: str | Path | None = None, data_dir: str | Path | None = None,
    device: str | None = None, workers: int = 1, threads: int | None = None,
) -> list[dict]:
    """Train only the runs of `specs` that have no record yet (progress bar on stdout) and return every record.

    A spec may carry ``formulation`` among its overrides. Records come back in spec order, with ``_path``.
    """
    from tqdm.std import tqdm

    check_profile(profile)
    results = results_root(results_dir)
    specs = list(specs)
    located = [_spec_location(s, profile, results) for s in specs]
    missing: dict[Path, tuple[RunSpec, str, dict]] = {}
    for spec, (form, overrides, path) in zip(specs, located):
        if not path.exists():
            missing.setdefault(path, (spec, form, overrides))
    n_unique = len({p for _, _, p in located})
    where = results.resolve().relative_to(REPO_ROOT) if results.resolve().is_relative_to(REPO_ROOT) else results
    header = (f"{n_unique - len(missing)} of {n_unique} runs already recorded in {where}; "
              f"training {len(missing)} in the {profile} profile")
    print(header)
    common = dict(profile=profile, data_dir=data_dir, results_dir=results, device=device, progress=False)
    todo = list(missing.values())
    if todo:
        t0 = time.time()
        with tqdm(total=len(todo), file=sys.stdout, ascii=True, ncols=100, mininterval=2.0, desc="runs") as bar:
            for form in dict.fromkeys(f for _, f, _ in todo):
                group = [replace(s, overrides=o) for s, f, o in todo if f == form]
                for line in iter_sweep(group, workers=workers, threads=threads, formulation=form, **common):
                    bar.set_postfix_str(line.split(":")[0])
                    bar.update(1)
        _clear_cell_output()  # the live bar served its purpose; the stored output keeps two lines
        print(header)
        print(f"trained {len(todo)} runs in {(time.time() - t0) / 60:.1f} min")
    return [load_record(path) for _, _, path in located]


def _clear_cell_output() -> None:
    """Clear the current cell's output when running in a Jupyter kernel (papermill included)."""
    try:
        from IPython import get_ipython
        from IPython.display import clear_output
    except ImportError:  # pragma: no cover
        return
    shell = get_ipython()
    if shell is not None and "IPKernelApp" in shell.config:
        clear_output()


def load_record(path: str | Path) -> dict:
    """One run record, with ``_path`` set (as `runs.load_records`)."""
    rec = json.loads(Path(path).read_text())
    rec["_path"] = str(path)
    return rec
