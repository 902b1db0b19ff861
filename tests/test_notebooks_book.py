"""The book: `jupyter-book build book/` builds every page from the committed executed notebooks (in a copy), and
the build — like papermill — fails on a notebook with an error or a warning.

The notebooks themselves are validated by `pytest --nbval` (smoke profile, see the root conftest.py).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")
REPRODUCED = re.compile(r"\d+\.\d+ ± (\d+\.\d+|—) \(\d+, \w+\)")  # study.fmt_ms: mean ± std (n, profile)


def copy_book(dest: Path) -> Path:
    """The book folder and the top-level _config.yml it links to, without build output."""
    shutil.copy2(ROOT / "_config.yml", dest / "_config.yml")
    shutil.copytree(BOOK, dest / "book", symlinks=True, ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
    return dest / "book"


def build(book: Path) -> subprocess.CompletedProcess:
    exe = str(JUPYTER_BOOK) if JUPYTER_BOOK.exists() else "jupyter-book"
    return subprocess.run([exe, "build", str(book)], capture_output=True, text=True, timeout=600)


def toc_pages(toc: dict) -> list[str]:
    pages = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        pages += [c["file"] for c in part["chapters"]]
    return pages


def test_config_is_the_top_level_one():
    link = BOOK / "_config.yml"
    assert link.is_symlink() and link.resolve() == (ROOT / "_config.yml").resolve()
    cfg = yaml.safe_load(link.read_text())
    assert cfg["execute"]["execute_notebooks"] == "off"
    assert "fgkf_strict" in cfg["sphinx"]["local_extensions"]


SUMMARY = re.compile(r"Of the (\d+) claims: (\d+) reproduced, (\d+) contradicted, (\d+) inconclusive, (\d+) not "
                     r"comparable, (\d+) without a verdict and (\d+) not run")


def html_text(html: str) -> str:
    """The visible text of built HTML: scripts and styles dropped, tags read as spaces, entities decoded."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def overview_counts(intro_html: str) -> dict[str, int]:
    """The intro's glued summary sentence as counts by verdict (and the total)."""
    found = SUMMARY.search(html_text(intro_html))
    assert found, "the intro has no 'Of the N claims: ...' summary"
    keys = ("total", "reproduced", "contradicted", "inconclusive", "not comparable", "no verdict", "not run")
    return dict(zip(keys, map(int, found.groups())))


def verdict_cells(intro_html: str) -> list[str]:
    """The last cell of every body row of the intro's claims table (its verdict)."""
    body = intro_html[intro_html.index("<tbody>"): intro_html.index("</tbody>")]
    return [html_text(re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[-1]) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def test_book_builds_every_page_with_reproduced_numbers(tmp_path):
    book = copy_book(tmp_path)
    done = build(book)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    html = book / "_build" / "html"
    pages = toc_pages(yaml.safe_load((book / "_toc.yml").read_text()))
    missing = [p for p in pages if not (html / f"{p}.html").is_file()]
    assert not missing, f"pages without HTML: {missing}"
    main = (html / "experiments" / "main_results.html").read_text(encoding="utf-8")
    assert REPRODUCED.search(main), "the main results page shows no 'mean ± std (n)'"
    intro = (html / "intro.html").read_text(encoding="utf-8")  # the overview carries glued verdicts and differences
    counts = overview_counts(intro)
    total = counts.pop("total")
    assert sum(counts.values()) == total > 0, counts  # the summary's counts add up
    table = verdict_cells(intro)
    assert len(table) == sum(counts.values())  # one table row per claim counted
    for verdict, n in counts.items():
        assert sum(cell.startswith(verdict) for cell in table) == n, (verdict, n)
    assert re.search(r"[+-]\d+\.\d+ \[[+-]\d+\.\d+, [+-]\d+\.\d+\]", intro)  # Δ [95% CI] of a claim
    for heading, verdict in (("Reproduced", "reproduced"), ("Contradicted", "contradicted")):  # the headline lists
        (body,) = re.findall(rf"<p><b>{heading}</b>.*?</p>\s*<ul>(.*?)</ul>", intro, re.S)
        assert len([li for li in re.findall(r"<li>(.*?)</li>", body, re.S) if li != "none"]) == counts[verdict]


def _notebook(cells: list) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    return nb


def _mini_book(dest: Path, notebook: nbformat.NotebookNode) -> Path:
    """Our configuration (and strict extension) with one page: the given executed notebook."""
    book = copy_book(dest)
    for child in book.iterdir():
        if child.name not in ("_config.yml", "_ext"):
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    (book / "intro.md").write_text("# Mini book\n")
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: page\n")
    nbformat.write(notebook, book / "page.ipynb")
    return book


@pytest.fixture(scope="module")
def raising_notebook(tmp_path_factory) -> nbformat.NotebookNode:
    """A notebook whose cell raises, executed by papermill: papermill must fail and keep the error output."""
    import papermill

    tmp = tmp_path_factory.mktemp("papermill")
    src = _notebook([nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise ValueError('boom')")])
    nbformat.write(src, tmp / "in.ipynb")
    with pytest.raises(papermill.PapermillExecutionError, match="boom"):
        papermill.execute_notebook(str(tmp / "in.ipynb"), str(tmp / "out.ipynb"), progress_bar=False)
    return nbformat.read(tmp / "out.ipynb", as_version=4)


def _executed(outputs: list) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("print('hello')", execution_count=1)
    cell.outputs = outputs
    return _notebook([nbformat.v4.new_markdown_cell("# Page"), cell])


def test_clean_notebook_builds(tmp_path):
    done = build(_mini_book(tmp_path, _executed([nbformat.v4.new_output("stream", name="stdout", text="hello\n")])))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_notebook_with_error_fails_papermill_and_the_build(tmp_path, raising_notebook):
    assert any(o.output_type == "error" for c in raising_notebook.cells for o in c.get("outputs", []))
    done = build(_mini_book(tmp_path, raising_notebook))
    assert done.returncode != 0
    assert "ValueError: boom" in done.stdout + done.stderr


def test_notebook_with_warning_fails_the_build(tmp_path):
    warning = nbformat.v4.new_output("stream", name="stderr", text="UserWarning: something is off\n")
    done = build(_mini_book(tmp_path, _executed([warning])))
    assert done.returncode != 0
    assert "stderr" in done.stdout + done.stderr


def test_nbcheck_cli_lists_problems(tmp_path, raising_notebook):
    path = tmp_path / "bad.ipynb"
    nbformat.write(raising_notebook, path)
    nbcheck = str(BOOK / "_ext" / "nbcheck.py")
    done = subprocess.run([sys.executable, nbcheck, str(path)], capture_output=True, text=True)
    assert done.returncode == 1 and "ValueError: boom" in done.stderr
    # the pages `make study` committed: not a failed execution it kept for its traceback, nor one in progress
    executed = sorted(p for p in (BOOK / "experiments").glob("*.ipynb")
                      if not p.name.endswith(".failed.ipynb") and not p.name.startswith("."))
    assert executed, "no executed notebooks in book/experiments (run `make study`)"
    ok = subprocess.run([sys.executable, nbcheck, *map(str, executed)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


def test_notebooks_are_parameterised():
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert len(paths) >= 10, paths  # every page's notebook is checked
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert "parameters" in code[0]["metadata"].get("tags", []), f"{path.name}: first code cell not tagged"
        src = "".join(code[0]["source"])
        assert 'os.environ.get("FGKF_PROFILE", "quick")' in src and "results_dir" in src, path.name
        for cell in code[1:]:  # strict `--nbval` compares every cell: each one says whether it is checked
            tags = set(cell["metadata"].get("tags", []))
            assert tags & {"nbval-check-output", "nbval-ignore-output"}, f"{path.name}: untagged cell"


# ----------------------------------------------------------------------------- study helpers behind the pages
def _fake_run(folder: Path, name: str, scheme: str, sentences: list, relevance: dict | None = None) -> dict:
    """A run record with a predictions file (token, gold, pred) and optionally a relevance side file."""
    import gzip

    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.pred.tsv").write_text(
        "".join("".join(f"{t}\t{g}\t{p}\n" for t, g, p in zip(*s)) + "\n" for s in sentences), encoding="utf-8")
    from fgkf_core.config import resolve

    rec = {"task": "t", "method": name, "seed": 1, "profile": "smoke", "task_info": {"scheme": scheme},
           "config": resolve("t", "smoke")[0].to_dict(),
           "files": {"predictions": f"{name}.pred.tsv"}, "_path": str(folder / f"{name}.json")}
    if relevance is not None:
        with gzip.open(folder / f"{name}.relevance.json.gz", "wt", encoding="utf-8") as fh:
            json.dump(relevance, fh)
        rec["files"]["relevance"] = f"{name}.relevance.json.gz"
    return rec


def test_list_parameters_from_the_shell():
    from fgkf_core.study import as_list

    assert as_list("[a, b]") == ["a", "b"]  # papermill -p methods '[a, b]'
    assert as_list("ner_en") == ["ner_en"] and as_list(3) == [3] and as_list([1, 2]) == [1, 2]
    assert as_list(None) is None


def test_compare_puts_reproduced_beside_paper():
    import pandas as pd

    from fgkf_core import study

    frame = pd.DataFrame({"task": ["ner_en"] * 3, "variant": ["fgkf"] * 3, "seed": [1, 2, 3],
                          "profile": ["quick"] * 3, "score": [60.0, 62.0, 64.0], "roov": [None] * 3})
    summ = study.summary(frame)
    assert summ.loc[0, "mean"] == 62.0 and summ.loc[0, "std"] == 2.0 and summ.loc[0, "n"] == 3
    cmp = study.compare(summ, study.paper_long("table3"), rows=study.paper_rows("table3"), tasks=["ner_en"])
    row = cmp[cmp["variant"] == "fgkf"].iloc[0]
    assert row["reproduced"] == "62.00 ± 2.00 (3, quick)" and row["paper"] == 63.81
    assert abs(row["diff"] - (62.0 - 63.81)) < 1e-9
    assert (cmp[cmp["variant"] == "basic_kd"]["reproduced"] == "not run").all()
    table = study.compare_table(cmp)
    assert table.loc[("ner_en", "fgkf"), ("score (our scoring)", "Δ")] == "not comparable"  # ner_en absolute
    pos = study.compare(frame.assign(task="pos_en").pipe(study.summary), study.paper_long("table3"), tasks=["pos_en"])
    assert study.compare_table(pos).loc[("pos_en", "fgkf"), ("score (our scoring)", "Δ")] == f"{62.0 - 91.33:+.2f}"


def test_full_profile_cells_replace_reduced_ones():
    import pandas as pd

    from fgkf_core import study

    frame = pd.DataFrame({"task": ["ner_en"] * 4, "variant": ["fgkf"] * 4, "seed": [1, 1, 2, 3],
                          "profile": ["quick", "full", "full", "full"], "score": [40.0, 44.0, 45.0, 46.0]})
    summ = study.summary(frame, metrics=("score",))
    assert list(summ["profile"]) == ["full"] and summ.loc[0, "n"] == 3 and summ.loc[0, "mean"] == 45.0


def test_a_task_mixing_profiles_shows_its_full_cells_in_both():
    """pos_en with basicKD in full and FGKF in quick only: basicKD keeps its quick row beside its full one, so
    the table compares like with like; a task whose every cell is full keeps only those."""
    import pandas as pd

    from fgkf_core import study

    rows = [("pos_en", "basic_kd", "full", 1, 79.0), ("pos_en", "basic_kd", "quick", 1, 76.0),
            ("pos_en", "basic_kd", "quick", 2, 77.0), ("pos_en", "fgkf", "quick", 1, 76.5),
            ("cws_zx", "fgkf", "full", 1, 94.5), ("cws_zx", "fgkf", "quick", 1, 94.4)]
    frame = pd.DataFrame(rows, columns=["task", "variant", "profile", "seed", "score"])
    summ = study.summary(frame, metrics=("score",))
    got = [(t, v, p, n) for t, v, p, n in summ[["task", "variant", "profile", "n"]].itertuples(index=False)]
    assert got == [("pos_en", "basic_kd", "full", 1), ("pos_en", "basic_kd", "quick", 2),
                   ("pos_en", "fgkf", "quick", 1), ("cws_zx", "fgkf", "full", 1)]
    cmp = study.compare(summ, study.paper_long("table3"), rows=["basic_kd", "fgkf"], tasks=["pos_en", "cws_zx"])
    table = study.compare_table(cmp)
    assert table.index.names == ["task", "variant", "profile"]
    assert table.loc[("pos_en", "basic_kd", "quick"), ("score (our scoring)", "reproduced")] == "76.50 ± 0.71 (2, quick)"
    assert table.loc[("pos_en", "basic_kd", "full"), ("score (our scoring)", "reproduced")] == "79.00 ± — (1, full)"
    assert ("cws_zx", "fgkf", "full") in table.index and ("cws_zx", "fgkf", "quick") not in table.index


def test_page_settings_name_the_full_records_that_stand_in():
    from fgkf_core import study

    quick = [{"profile": "quick", "seed": s} for s in (1, 2, 3)]
    assert study.settings_text("quick", quick) == ("quick", "1, 2, 3")
    mixed = quick + [{"profile": "full", "seed": s} for s in (5, 4, 1)]
    assert study.settings_text("quick", mixed) == ("quick (full where recorded)", "full: 1, 4, 5; quick: 1, 2, 3")
    assert study.settings_text("full", []) == ("full", "none")


def test_banner_says_when_full_records_stand_in(capsys, monkeypatch):
    """A reduced page that reads full-profile records says so; one that reads its own profile only, or a smoke
    page, does not."""
    import IPython.display

    from fgkf_core import study

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj.data))
    study.banner("quick", [1, 2], task="ner_en")
    study.banner("quick", [1], reads_full=False)
    study.banner("smoke", [1])
    assert capsys.readouterr().out.startswith("profile: quick (REDUCED)\nseeds: 1, 2\ntask: ner_en\n")
    assert ["stand in" in text for text in shown] == [True, False, False]


def test_strong_weak_split_pos_and_ner(tmp_path):
    from fgkf_core.study import plain, relevance_split_frame, split_counts

    tokens = ["a", "b", "c", "d"]
    rel = {"target_train": [{"alpha_elem": [0.2, 0.6]}],  # threshold = 0.4
           "target_test": [{"tokens": tokens, "tags": ["X"] * 4, "alpha_elem": [0.9, 0.1, 0.5, 0.3]}]}
    pos = _fake_run(tmp_path / "pos", "fgkf", "tags", [(tokens, ["N", "V", "N", "V"], ["N", "N", "N", "V"])], rel)
    out = split_counts(pos)
    assert out.threshold == pytest.approx(0.4) and out.unit == "tokens"
    assert out.score("strong") == 100.0 and out.n_gold("strong") == 2  # a, c: both right
    assert out.score("weak") == 50.0 and out.n_gold("weak") == 2  # b wrong, d right
    gold = ["B-PER", "I-PER", "O", "B-LOC"]  # PER(a,b) mean 0.5 -> strong; LOC(d) 0.3 -> weak
    pred = ["B-PER", "I-PER", "O", "O"]
    ner = _fake_run(tmp_path / "ner", "fgkf", "bio", [(tokens, gold, pred)], rel)
    out = split_counts(ner)
    assert (out.score("strong"), out.score("weak"), out.n_gold("strong"), out.n_gold("weak")) == (100.0, 0.0, 1, 1)
    tok = split_counts(ner, ner_unit="token")  # a (0.9) strong, b (0.1) and d (0.3) weak; c is no entity token
    assert tok.unit == "entity tokens" and (tok.n_gold("strong"), tok.n_gold("weak")) == (1, 2)
    assert (tok.score("strong"), tok.score("weak")) == (100.0, 50.0)  # b right (I-PER), d wrong
    other = _fake_run(tmp_path / "ner", "basic_kd", "bio", [(tokens, gold, ["O"] * 4)])
    frame = relevance_split_frame([ner, other], plain(["fgkf", "basic_kd"]))  # the baseline: FGKF's split
    assert list(frame["variant"]) == ["fgkf", "basic_kd"] and list(frame["strong"]) == [100.0, 0.0]
