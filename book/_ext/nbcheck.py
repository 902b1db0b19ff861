"""Checks that an executed notebook is fit for the book: no error output, no stderr (warnings), every code cell
executed, papermill did not record a failure.

Used by the Sphinx extension `fgkf_strict` (at build time) and by the Makefile before the build:
``python book/_ext/nbcheck.py book/experiments/*.ipynb`` exits 1 and lists the problems.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def problems(path: str | Path) -> list[str]:
    """Human-readable problems of one executed notebook (empty when it is fine)."""
    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = []
    if nb.get("metadata", {}).get("papermill", {}).get("exception"):
        out.append(f"{path}: papermill recorded an exception while executing it")
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", ""))
        if source.strip() and cell.get("execution_count") is None:
            out.append(f"{path}: code cell {i} was never executed")
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                out.append(f"{path}: code cell {i} raised {o.get('ename')}: {o.get('evalue')}")
            elif o.get("output_type") == "stream" and o.get("name") == "stderr":
                text = "".join(o.get("text", "")).strip().splitlines()
                out.append(f"{path}: code cell {i} wrote to stderr: {text[0] if text else ''}")
    return out


def main(paths: list[str]) -> int:
    if not paths:
        print("nbcheck: no notebooks given", file=sys.stderr)
        return 1
    found = [p for path in paths for p in problems(path)]
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
