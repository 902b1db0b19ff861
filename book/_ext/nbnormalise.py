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


def normalise(nb: dict, output_path: str | None = None) -> dict:
    """`nb` (notebook JSON) without its volatile fields; changed in place and returned. `output_path` replaces
    papermill's record of where it wrote the notebook (`make study` executes into a temporary file first)."""
    for key in VOLATILE_PAPERMILL:
        nb.get("metadata", {}).get("papermill", {}).pop(key, None)
    if output_path is not None and "papermill" in nb.get("metadata", {}):
        nb["metadata"]["papermill"]["output_path"] = output_path
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


def normalise_file(path: str | Path, output_path: str | None = None) -> bool:
    """Normalise one notebook file (see `normalise`); write it only when its bytes change. True when rewritten."""
    path = Path(path)
    before = path.read_text(encoding="utf-8")
    after = dumps(normalise(json.loads(before), output_path))
    if after == before:
        return False
    path.write_text(after, encoding="utf-8")
    return True


def main(args: list[str]) -> int:
    """`nbnormalise.py NB...`, or `nbnormalise.py TMP --output-path FINAL` for one notebook executed into TMP."""
    output_path = None
    if "--output-path" in args:
        i = args.index("--output-path")
        if i + 1 >= len(args):
            print("nbnormalise: --output-path needs the notebook's final path", file=sys.stderr)
            return 1
        output_path, args = args[i + 1], args[:i] + args[i + 2:]
        if len(args) != 1:
            print(f"nbnormalise: --output-path names one notebook's path, got {len(args)} notebooks", file=sys.stderr)
            return 1
    if not args:
        print("nbnormalise: no notebooks given", file=sys.stderr)
        return 1
    for p in args:
        normalise_file(p, output_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
