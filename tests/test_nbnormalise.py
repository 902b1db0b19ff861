"""`make study` idempotence: book/_ext/nbnormalise.py strips the wall-clock fields papermill and the kernel write,
so two executions of an unchanged notebook give the same bytes, and normalising twice changes nothing."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import nbnormalise  # noqa: E402

EXECUTED = ROOT / "book" / "experiments" / "reproducibility.ipynb"


def _stamped(nb: dict, second: int) -> dict:
    """`nb` as another execution would stamp it: other times, durations, kernel timestamps, injected-cell id."""
    nb = json.loads(json.dumps(nb))
    stamp = f"2030-01-01T00:00:{second:02d}+00:00"
    nb["metadata"]["papermill"].update(start_time=stamp, end_time=stamp, duration=float(second))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for cell in code:
        cell["metadata"]["papermill"] = {"start_time": stamp, "end_time": stamp, "duration": 0.1 * second,
                                         "exception": False, "status": "completed"}
        cell["metadata"]["execution"] = {"iopub.status.busy": stamp, "shell.execute_reply": stamp}
        if "injected-parameters" in cell["metadata"].get("tags", []):
            cell["id"] = f"{second:08x}"  # nbformat's random id
    return nb


def test_two_executions_normalise_to_the_same_bytes(tmp_path):
    base = json.loads(EXECUTED.read_text(encoding="utf-8"))
    paths = []
    for second in (1, 2):
        path = tmp_path / f"run{second}.ipynb"
        path.write_text(json.dumps(_stamped(base, second), indent=1), encoding="utf-8")
        assert nbnormalise.normalise_file(path)
        paths.append(path)
    first, second = (p.read_bytes() for p in paths)
    assert first == second
    text = first.decode("utf-8")
    assert "2030-01-01" not in text and '"duration"' not in text and "iopub" not in text
    nb = json.loads(text)
    injected = [c["id"] for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected == [nbnormalise.INJECTED_ID]
    assert [c.get("outputs") for c in nb["cells"]] == [c.get("outputs") for c in base["cells"]]  # outputs kept


def test_normalising_twice_is_byte_identical(tmp_path):
    path = tmp_path / "nb.ipynb"
    shutil.copy2(EXECUTED, path)
    nbnormalise.normalise_file(path)
    once = path.read_bytes()
    assert not nbnormalise.normalise_file(path)  # nothing left to change: the file is not rewritten
    assert path.read_bytes() == once



def test_failed_page_execution_leaves_the_committed_page(tmp_path):
    """`make study` executes into a temporary file: a page that fails (here: no data root) keeps its committed
    bytes, the failed notebook is kept beside it for its traceback, and make exits non-zero."""
    import subprocess

    page = "main_results"
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "book" / "experiments").mkdir(parents=True)
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copytree(ROOT / "book" / "_ext", tmp_path / "book" / "_ext")
    shutil.copy(ROOT / "notebooks" / f"{page}.ipynb", tmp_path / "notebooks")
    committed = tmp_path / "book" / "experiments" / f"{page}.ipynb"
    shutil.copy(ROOT / "book" / "experiments" / f"{page}.ipynb", committed)
    before = committed.read_bytes()
    done = subprocess.run(["make", "study", f"NOTEBOOKS={page}", f"PYTHON={sys.executable}",
                           f"FGKF_DATA={tmp_path / 'no-such-root'}"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode != 0
    assert f"{page}.ipynb left as it was" in done.stdout
    assert committed.read_bytes() == before
    failed = json.loads((tmp_path / "book" / "experiments" / f"{page}.failed.ipynb").read_text(encoding="utf-8"))
    errors = [o for c in failed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors and "is not a directory" in errors[0]["evalue"]
    assert not list((tmp_path / "book" / "experiments").glob(".*.partial.ipynb"))


def test_output_path_names_the_committed_page(tmp_path):
    """A page executed into a temporary file records the committed page's path, not the temporary one."""
    nb = json.loads(EXECUTED.read_text(encoding="utf-8"))
    nb["metadata"]["papermill"]["output_path"] = "book/experiments/.reproducibility.partial.ipynb"
    path = tmp_path / "page.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    assert nbnormalise.main([str(path), "--output-path", "book/experiments/reproducibility.ipynb"]) == 0
    out = json.loads(path.read_text(encoding="utf-8"))
    assert out["metadata"]["papermill"]["output_path"] == "book/experiments/reproducibility.ipynb"
    assert nbnormalise.main([str(path), str(path), "--output-path", "x.ipynb"]) == 1  # one notebook only
