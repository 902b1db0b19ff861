"""Normalise an executed notebook so that executing it again on unchanged code and records gives the same bytes.

Papermill and the kernel stamp every execution with wall-clock data: start and end times and durations (the
notebook's and each cell's ``metadata.papermill``), the kernel's message timestamps (each cell's
``metadata.execution``) and a random id for the injected-parameters cell. `make study` runs this after papermill,
so `make study` on unchanged inputs leaves the committed notebooks in book/experiments/ unmodified (git status
stays clean). Outputs, execution counts and everything else are kept as they are.

    python book/_ext/nbnormalise.py book/experiments/*.ipynb
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

#: papermill's wall-clock fields, at notebook and cell level
VOLATILE_PAPERMILL = ("start_time", "end_time", "duration")
#: the cell id papermill's injected-parameters cell gets (nbformat otherwise draws a random one)
INJECTED_ID = "injected-parameters"


def normalise(nb: dict) -> dict:
    """`nb` (notebook JSON) without its volatile fields; changed in place and returned."""
    for key in VOLATILE_PAPERMILL:
        nb.get("metadata", {}).get("papermill", {}).pop(key, None)
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {})
        meta.pop("execution", None)
        for key in VOLATILE_PAPERMILL:
            meta.get("papermill", {}).pop(key, None)
        if "injected-parameters" in meta.get("tags", []) and "id" in cell:
            cell["id"] = INJECTED_ID
    return nb


def dumps(nb: dict) -> str:
    """The notebook as nbformat writes it (1-space indent, sorted keys, UTF-8), ending in a newline."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def normalise_file(path: str | Path) -> bool:
    """Normalise one notebook file; write it only when its bytes change. True when it was rewritten."""
    path = Path(path)
    before = path.read_text(encoding="utf-8")
    after = dumps(normalise(json.loads(before)))
    if after == before:
        return False
    path.write_text(after, encoding="utf-8")
    return True


def main(paths: list[str]) -> int:
    if not paths:
        print("nbnormalise: no notebooks given", file=sys.stderr)
        return 1
    for p in paths:
        normalise_file(p)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
