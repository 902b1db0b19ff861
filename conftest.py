"""Notebook validation settings (`pytest --nbval`): kernels inherit this process's environment.

Under --nbval / --nbval-lax the notebooks run in the smoke profile, write their runs to a throw-away results
folder ($FGKF_NBVAL_RESULTS to keep and reuse one), use one torch thread, and silence tqdm's import-time
"IProgress not found" warning (no ipywidgets), which would otherwise land in the checked outputs.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
QUIET_TQDM = "ignore:IProgress not found"
_made: list[str] = []


def nbval_environment(results: str) -> dict[str, str]:
    """Environment a notebook kernel needs to validate a page in the smoke profile."""
    warnings = [w for w in os.environ.get("PYTHONWARNINGS", "").split(",") if w]
    env = {
        "FGKF_PROFILE": "smoke", "FGKF_RESULTS": str(Path(results).resolve()), "OMP_NUM_THREADS": "1",
        "PYTHONWARNINGS": ",".join(dict.fromkeys([*warnings, QUIET_TQDM])),
    }
    data = os.environ.get("FGKF_DATA")
    if data:  # kernels start in notebooks/: a relative root (CI passes ../shared/data) must be made absolute
        env["FGKF_DATA"] = str(Path(data).expanduser().resolve())
    elif (ROOT.parent / "shared" / "data").is_dir():
        env["FGKF_DATA"] = str(ROOT.parent / "shared" / "data")
    return env


def pytest_configure(config: pytest.Config) -> None:
    if not (getattr(config.option, "nbval", False) or getattr(config.option, "nbval_lax", False)):
        return
    results = os.environ.get("FGKF_NBVAL_RESULTS")
    if not results:
        results = tempfile.mkdtemp(prefix="fgkf-nbval-")
        _made.append(results)
    os.environ.update(nbval_environment(results))


def pytest_unconfigure(config: pytest.Config) -> None:
    for path in _made:
        shutil.rmtree(path, ignore_errors=True)
