"""The set-up steps are stated once: the README, the book's "Run it yourself" page and CI (.ci/run) run the
same commands, so a reader who follows either page gets what CI tests."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the set-up commands, as the README writes them
STEPS = ("pip install -r requirements.txt", "pip install --no-deps -e .",
         "python -m ipykernel install --sys-prefix --name python3")


def _commands(text: str) -> str:
    """The text with comments dropped and runs of blanks collapsed (so '&&' chains and lines compare alike)."""
    return re.sub(r"[ \t]+", " ", re.sub(r"#.*", "", text))


def test_readme_and_run_page_give_the_same_complete_setup():
    readme = _commands((ROOT / "README.md").read_text(encoding="utf-8"))
    run_page = _commands((ROOT / "book" / "run.md").read_text(encoding="utf-8"))
    for step in ("python3 -m venv .venv && . .venv/bin/activate", *STEPS, "export FGKF_DATA="):
        assert step in readme, f"README lacks: {step}"
        assert step in run_page, f"book/run.md lacks: {step}"
    assert "papermill notebooks/ablation.ipynb out.ipynb -p task ner_en" in readme
    assert "papermill notebooks/ablation.ipynb out.ipynb -p task ner_en" in run_page


def test_ci_runs_the_documented_setup():
    ci = _commands((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    for step in STEPS:
        assert step.replace("pip install", "python -m pip install --quiet") in ci or step in ci, step
