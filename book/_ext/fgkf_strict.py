"""Sphinx extension: build the book strictly, so a plain `jupyter-book build book/` fails on

* any warning (missing glue key, broken reference, stderr output of a notebook via `nb_output_stderr: warn`,
  ...): the build keeps going, reports every warning, then exits non-zero, as `sphinx-build -W --keep-going`;
* a notebook page with an error output, a cell never executed, or a papermill failure (see `nbcheck`).

Switch it off with `fgkf_strict: false` under `sphinx: config:` in _config.yml.
"""
from __future__ import annotations

import sys
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

sys.path.insert(0, str(Path(__file__).parent))
from nbcheck import problems  # noqa: E402

logger = logging.getLogger(__name__)


def _check_notebooks(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    if not app.config.fgkf_strict:
        return
    for docname in docnames:
        path = Path(env.doc2path(docname))
        if path.suffix == ".ipynb":
            for problem in problems(path):
                logger.warning(problem, location=docname)


def _reread_all(app: Sphinx, env: BuildEnvironment, added: set, changed: set, removed: set) -> list[str]:
    """Re-read every page on every build, so the warnings of unchanged pages are raised again."""
    return sorted(env.found_docs) if app.config.fgkf_strict else []


def _strict(app: Sphinx) -> None:
    if app.config.fgkf_strict:
        app.keep_going = True  # every warning is counted; Sphinx then ends with status 1 ("finished with problems")


def setup(app: Sphinx) -> dict:
    app.add_config_value("fgkf_strict", True, "env")
    app.connect("builder-inited", _strict)
    app.connect("env-get-outdated", _reread_all)
    app.connect("env-before-read-docs", _check_notebooks)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
