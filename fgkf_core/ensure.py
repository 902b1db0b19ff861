"""Make sure a grid's runs exist: train only the missing ones, then load every record.

Part of the runs layer (it drives `runs.iter_sweep`); the study pages call it between their parameters and
their tables, so a page re-executed over a filled results folder trains nothing.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Iterable

from .config import PROFILES
from .runs import RunSpec, default_results_dir, iter_sweep, locate, read_record

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout holding fgkf_core/


def results_root(results_dir: str | Path | None = None) -> Path:
    """The results folder (`runs.default_results_dir` unless given)."""
    return Path(results_dir) if results_dir else default_results_dir()


def check_profile(profile: str) -> str:
    """`profile` itself if it is a known profile (a ValueError naming the valid ones otherwise)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    return profile


def ensure_runs(
    specs: Iterable[RunSpec], profile: str, results_dir: str | Path | None = None, data_dir: str | Path | None = None,
    device: str | None = None, workers: int = 1, threads: int = 1, train: bool | None = None,
) -> list[dict]:
    """The records of `specs` (in spec order, with ``_path``), training the missing ones only when asked.

    `train=None` trains missing runs in the smoke profile only (tests and notebook validation); a page
    executed in another profile reads the committed records and reports what is missing, unless `train=True`.
    """
    from tqdm.std import tqdm

    check_profile(profile)
    results = results_root(results_dir)
    specs = list(specs)
    located = [
        locate(s.task, s.method, s.seed, profile, s.formulation, data_dir, results, **s.overrides).record for s in specs
    ]
    missing: dict[Path, RunSpec] = {}
    for spec, path in zip(specs, located):
        if not path.exists():
            missing.setdefault(path, spec)
    n_unique = len(set(located))
    where = results.resolve().relative_to(REPO_ROOT) if results.resolve().is_relative_to(REPO_ROOT) else results
    train = profile == "smoke" if train is None else train
    header = (f"{n_unique - len(missing)} of {n_unique} runs already recorded in {where} ({profile} profile); "
              + (f"training {len(missing)}" if train else f"{len(missing)} not run (pass train=True to train them)"))
    print(header)
    todo = list(missing.values()) if train else []
    if todo:
        t0 = time.time()
        common = dict(profile=profile, data_dir=data_dir, results_dir=results, device=device, progress=False)
        with tqdm(total=len(todo), file=sys.stdout, ascii=True, ncols=100, mininterval=2.0, desc="runs") as bar:
            for line in iter_sweep(todo, workers=workers, threads=threads, **common):
                bar.set_postfix_str(line.split(":")[0])
                bar.update(1)
        _clear_cell_output()  # the live bar served its purpose; the stored output keeps two lines
        print(header)
        print(f"trained {len(todo)} runs in {(time.time() - t0) / 60:.1f} min")
    return [read_record(path) for path in located if path.exists()]


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
