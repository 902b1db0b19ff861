"""Refresh the reference outputs that `pytest --nbval` compares: execute each notebook in the smoke profile
(papermill; a throw-away results folder unless $FGKF_NBVAL_RESULTS names one) and copy the outputs of the
cells tagged ``nbval-check-output`` back into notebooks/*.ipynb. Every other cell keeps no output (it is
tagged ``nbval-ignore-output``).

    python book/_ext/nbrefs.py notebooks/*.ipynb        (make notebook-refs)
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
import papermill

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from conftest import nbval_environment  # noqa: E402  the environment the validation kernels get


def refresh(path: Path, results: str) -> None:
    executed = Path(results) / f"{path.stem}.executed.ipynb"
    os.environ.update(nbval_environment(results))
    papermill.execute_notebook(str(path), str(executed), cwd=str(path.parent), progress_bar=False)
    source = nbformat.read(path, as_version=4)
    ran = {c.get("id"): c for c in nbformat.read(executed, as_version=4).cells}
    for cell in source.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        if "nbval-check-output" in tags:
            done = ran[cell.get("id")]
            cell.outputs, cell.execution_count = done.outputs, done.execution_count
        else:
            cell.outputs, cell.execution_count = [], None
    nbformat.write(source, path)
    print(f"{path}: reference outputs refreshed")


def main(paths: list[str]) -> int:
    keep = os.environ.get("FGKF_NBVAL_RESULTS")  # reuse (and keep) the smoke runs of a validation session
    with tempfile.TemporaryDirectory(prefix="fgkf-nbrefs-") as tmp:
        for p in paths:
            refresh(Path(p), keep or tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
