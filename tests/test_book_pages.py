"""The book as a reader sees it: built from the committed executed notebooks, each page names the task and metric
it actually ran (headings, prose, figure axes), and the reproducibility page shows rounded values, no NaN and
short hashes. Plus the helpers behind those pages: labels, seeds, provenance tables, the Figure 4 heatmap."""
from __future__ import annotations

import html
import io
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fgkf_core import study
from fgkf_core.study import fonts as cjk
from fgkf_core.study.labels import METRIC_LABELS
from fgkf_core.study.provenance import RUN_COLUMNS, data_sizes, provenance, resumed_text

sys.path.insert(0, str(Path(__file__).parent))
from test_notebooks_book import build, copy_book, html_text  # noqa: E402  the same copy-and-build as the book test

RAW_FLOAT = re.compile(r"\d+\.\d{4,}")  # e.g. 208.702353: a float that was never rounded


@pytest.fixture(scope="module")
def html_dir(tmp_path_factory) -> Path:
    book = copy_book(tmp_path_factory.mktemp("book"))
    done = build(book)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return book / "_build" / "html"


def _text(page: Path) -> str:
    """The visible text of a built page (`html_text` of its file)."""
    return html_text(page.read_text(encoding="utf-8"))


def _page_task(text: str) -> str:
    match = re.search(r"\btask: (\w+)", text)  # the banner: 'task: ner_en'
    assert match, "the page's banner names no task"
    return match.group(1)


def test_data_size_page_names_the_task_and_metric_it_ran(html_dir):
    page = html_dir / "experiments" / "data_size.html"
    text = _text(page)
    task = _page_task(text)
    metric = study.metric_label(task)
    assert f"target test {metric}" in text and study.task_summary(task) in text
    for other in set(METRIC_LABELS.values()) - {metric}:
        assert other not in text, f"the {task} page speaks of {other}"
    from PIL import Image

    axes = [Image.open(page.parent / src).text.get("Description", "")  # the figure's own axis labels (study._png)
            for src in re.findall(r'<img [^>]*src="([^"]+\.png)"', page.read_text(encoding="utf-8"))]
    assert any(f"y: target test {metric}" in a for a in axes), axes


def test_heatmap_page_labels_each_figure_with_its_task(html_dir):
    text = _text(html_dir / "experiments" / "relevance_heatmaps.html")
    tasks = re.search(r"tasks: \[([^\]]*)\]", text).group(1)
    for task in re.findall(r"'(\w+)'", tasks):
        assert study.task_label(task) in text


def test_reproducibility_tables_are_rounded_and_complete(html_dir):
    page = (html_dir / "experiments" / "reproducibility.html").read_text(encoding="utf-8")
    tables = re.findall(r"<table\b.*?</table>", page, flags=re.S)
    assert len(tables) >= 3
    for table in tables:
        cells = html.unescape(re.sub(r"<[^>]+>", " ", table))
        assert not RAW_FLOAT.search(cells), RAW_FLOAT.search(cells).group(0)
        assert not re.search(r"\b(NaN|nan|None)\b", cells)
        assert not re.search(r"\b[0-9a-f]{17,}\b", cells), "an unshortened hash"
    runs = html.unescape(tables[0])
    for column in ("code", "device", "threads", "wall time", "resumed", "profile", "seeds"):
        assert f">{column}<" in runs


# ----------------------------------------------------------------------------------------------- helpers
def _record(seed: int = 1, **extra) -> dict:
    return {"task": "ner_en", "method": "fgkf", "profile": "quick", "seed": seed, "wall_seconds": 754.2,
            "code": {"commit": "0123456789abcdef0123", "dirty": False}, "device": "cpu:x86_64", "threads": 1,
            "task_info": {"sizes": {"source_train": 10, "target_train": 5, "target_dev": 2, "target_test": 2}},
            "config": {}, **extra}


def test_metric_and_task_labels_come_from_the_task():
    assert study.metric_label("ner_en") == "entity F1"
    assert study.metric_label("cws_weibo") == "word F1"
    assert study.metric_label("pos_en") == "tag accuracy"
    assert study.task_summary("ner_en") == "OntoNotes 5.0 (v12) → Ritter 2011 Twitter NER"


def test_seeds_are_stated_from_the_runs_and_per_cell_where_they_differ():
    recs = [_record(1), _record(2), _record(3), _record(1, method="basic_kd")]
    assert study.run_seeds(recs) == [1, 2, 3]
    assert study.seeds_text(recs) == "1, 2, 3"
    assert study.seeds_text(recs, cell=lambda r: r["method"]) == "1, 2, 3 (basic_kd: 1)"
    assert study.seeds_text(recs[:3], cell=lambda r: r["method"]) == "1, 2, 3"


def test_resumption_is_reported_for_new_and_migrated_records():
    assert resumed_text(_record(resumed=False, segments=1)) == "no"
    assert resumed_text(_record(resumed=True, segments=3, segment_code=["a", "a", "a"])) == "yes: 3 segments"
    two_codes = _record(resumed=True, segments=2, segment_code=["a", "b"])
    assert resumed_text(two_codes) == "yes: 2 segments, 2 code versions"
    assert resumed_text(_record(resumed=None, migrated_from={"schema": 1})) == "unknown (migrated)"


def test_provenance_table_is_ready_to_read():
    recs = [_record(1, resumed=False), _record(2, resumed=False),
            _record(1, method="basic_kd", wall_seconds=40.0, code={"commit": "fedcba9876", "dirty": True})]
    table = provenance(recs)
    assert list(table.columns) == RUN_COLUMNS
    fgkf = table[table["method"] == "fgkf"].iloc[0]
    assert (fgkf["seeds"], fgkf["runs"], fgkf["wall time"], fgkf["code"]) == ("1, 2", 2, "25.1 min", "0123456")
    assert table[table["method"] == "basic_kd"].iloc[0]["code"] == "fedcba9, dirty"
    mixed = _record(3, resumed=True, segments=3, threads=2,
                    segment_hosts=["cpu:x, 1 thread", "cpu:x, 1 thread", "cpu:x, 2 threads"])
    assert provenance([mixed]).iloc[0]["threads"] == "1 → 2"  # not the last segment's 2 alone
    assert provenance([_record(4, threads=2)]).iloc[0]["threads"] == "2"  # a record without segment hosts
    sizes = data_sizes([_record(), _record(config={"target_fraction": 0.2})])
    assert list(sizes["target share"]) == ["—", "20%"]


def test_data_size_figure_labels_seeds_and_profile_and_draws_bars_only_with_spread():
    summ = pd.DataFrame({"method": ["fgkf", "fgkf", "basic_kd", "basic_kd"], "target_fraction": [0.2, 1.0] * 2,
                         "profile": ["quick", "quick", "full", "full"], "mean": [40.0, 45.0, 41.0, 44.0],
                         "std": [np.nan, np.nan, 0.5, 0.7], "n": [1, 1, 3, 3]})
    fig = study.figures.data_size_figure(summ, "entity F1", "ner_en: FGKF vs basicKD")
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fgkf (1 seed, quick)", "basic_kd (3 seeds, full)"]
    one, three = ax.containers  # one ErrorbarContainer per method: (line, caps, bar collections)
    assert not one.has_yerr and three.has_yerr


def test_durations_and_html_tables():
    assert [study.fmt_duration(s) for s in (45, 774.0, 15000)] == ["45 s", "12.9 min", "4.2 h"]
    out = study.html_table(pd.DataFrame({"a": [1.23456, np.nan]})).data
    assert "1.23" in out and "1.2345" not in out and "—" in out and "<th></th>" not in out  # no index column
    empty = study.html_table(pd.DataFrame(columns=["a<b", "c"])).data
    assert "<table" not in empty and "no rows yet" in empty and "a&lt;b, c" in empty


def _heat_frames() -> dict[str, pd.DataFrame]:
    """Two schemes, two sentences of 3 and 5 tokens."""
    rows = [(s, j, f"t{s}{j}", 0.1 * (j + 1)) for s, n in ((0, 3), (4, 5)) for j in range(n)]
    base = pd.DataFrame(rows, columns=["sentence", "position", "token", "score"])
    return {"Sample-q": base, "Domain-q": base.assign(score=base["score"] / 2)}


def test_heatmap_is_a_figure_with_raw_colour_scale_and_no_padding_cells():
    fig = study.heatmap_figure(_heat_frames())
    heat = [ax for ax in fig.axes if "Sample-q" in [t.get_text() for t in ax.get_yticklabels()]]
    assert len(heat) == 2  # one heatmap per sentence
    short = heat[0]
    assert [t.get_text() for t in short.get_xticklabels()] == ["t00", "t01", "t02"]
    mesh = short.collections[0]
    assert np.ma.count_masked(mesh.get_array()) == 2 * 2  # the 2 padding columns of both rows are not drawn
    assert mesh.norm.vmin == pytest.approx(0.05) and mesh.norm.vmax == pytest.approx(0.5)  # raw, shared scale
    assert any("relevance" in ax.get_ylabel() for ax in fig.axes)  # the colour bar, labelled


def _fake_font_package(root: Path) -> None:
    """A package named like the pinned font package, holding one (Latin) font file."""
    import matplotlib

    pkg = root / cjk.FONT_PACKAGE
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    shutil.copy(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", pkg / "Font.ttf")


def test_cjk_font_prefers_the_pip_package_then_falls_back_with_a_note(tmp_path, monkeypatch):
    _fake_font_package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    cjk.cjk_font.cache_clear()
    try:
        choice = cjk.cjk_font()
        assert choice.source == f"pip package {cjk.FONT_PACKAGE}" and choice.cjk
        monkeypatch.setattr(cjk, "packaged_font_file", lambda: None)
        monkeypatch.setattr(cjk, "SYSTEM_FAMILIES", ("No Such Font",))
        cjk.cjk_font.cache_clear()
        assert not cjk.cjk_font().cjk
        fig = study.heatmap_figure(_heat_frames())
        assert any("No CJK font found" in t.get_text() for t in fig.texts)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        cjk.cjk_font.cache_clear()


# ------------------------------------------------------------------------------- nothing clipped (a browser)
#: run in the page after load: every table output, figure, table and code block wider than its box or than the
#: article column, written into a <div id="overflow"> that --dump-dom prints
OVERFLOW_JS = """<script>window.addEventListener("load", () => {
  const art = document.querySelector(".bd-article").getBoundingClientRect(), bad = [];
  document.querySelectorAll(".output.text_html, .cell_output img, .bd-article table, .bd-article pre").forEach(e => {
    if (e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > art.right + 1)
      bad.push(e.tagName + " " + e.scrollWidth + ">" + e.clientWidth + ": " + e.textContent.trim().slice(0, 50));
  });
  const out = document.createElement("div"); out.id = "overflow"; out.textContent = JSON.stringify(bad);
  document.body.appendChild(out);
});</script>"""


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs a headless Chromium (Debian: chromium)")
def test_nothing_is_clipped_at_the_default_width(html_dir):
    import json
    import subprocess

    clipped, probed = {}, 0
    for page in sorted(html_dir.glob("**/*.html")):
        text = page.read_text(encoding="utf-8")
        if page.name in ("search.html", "genindex.html") or 'class="bd-article"' not in text:
            continue  # index.html only redirects
        probed += 1
        probe = page.with_name(page.stem + ".probe.html")
        probe.write_text(text.replace("</body>", OVERFLOW_JS + "</body>"), "utf-8")
        dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1300,2400",
                              "--virtual-time-budget=3000", "--dump-dom", probe.as_uri()],
                             capture_output=True, text=True, timeout=120).stdout
        found = re.search(r'<div id="overflow">([^<]*)</div>', dom)
        assert found, f"{page.name}: the probe did not run"
        bad = json.loads(html.unescape(found.group(1)))
        if bad:
            clipped[str(page.relative_to(html_dir))] = bad
    assert probed >= 10, f"only {probed} pages had an article column to probe (a theme change?)"
    assert not clipped, clipped


def test_table4_page_shows_a_row_for_every_recorded_variant(html_dir):
    """Every Table 4 variant with a committed record on the page's task is a row of the built page."""
    from fgkf_core.runs import load_records

    page = study.cws_variants_grid("quick")
    committed = Path(__file__).resolve().parents[1] / "results"  # not $FGKF_RESULTS (--nbval points it elsewhere)
    records = load_records(committed, profile="quick")
    recorded = {v.label for v in page.variants for r in records if r["task"] in page.tasks and v.matches(r)}
    assert recorded, "no committed quick record of any Table 4 variant"
    page_html = (html_dir / "experiments" / "cws_variants.html").read_text(encoding="utf-8")
    tables = [t for t in re.findall(r"<table.*?</table>", page_html, re.S) if "<th>variant</th>" in t]
    assert len(tables) == 1, f"expected one results table with a variant column, got {len(tables)}"
    body = re.search(r"<tbody>(.*?)</tbody>", tables[0], re.S).group(1)
    row_labels = {html.unescape(h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", body, re.S)}
    missing = sorted(recorded - row_labels)  # not the page's text: its grid printout names every variant
    assert not missing, f"recorded Table 4 variants without a row: {missing}"


def test_banner_makes_a_page_show_its_tables_whole(capsys):
    """After the banner, a 100-row table renders all 100 rows (pandas elides rows past 60 by default)."""
    frame = pd.DataFrame({"task": [f"t{i}" for i in range(100)], "score": range(100)})
    with pd.option_context("display.max_rows", 60, "display.max_columns", 20):
        assert "<td>...</td>" in frame._repr_html_()  # the default this guards against
        study.banner("full", [1])
        shown = frame._repr_html_()
    assert "<td>t99</td>" in shown and shown.count("<td>t") == 100 and "<td>...</td>" not in shown
    assert "profile: full" in capsys.readouterr().out


def test_no_executed_page_elides_table_rows():
    """No committed executed page holds a table that pandas cut short (a '...' row)."""
    import json

    folder = Path(__file__).resolve().parents[1] / "book" / "experiments"
    pages = sorted(p for p in folder.glob("*.ipynb") if not p.name.endswith(".failed.ipynb") and p.name[0] != ".")
    assert len(pages) >= 10, pages  # every committed page is read
    cut = [f"{p.name} cell {i}" for p in pages for i, cell in enumerate(json.loads(p.read_text())["cells"])
           for out in cell.get("outputs", []) if "<td>...</td>" in "".join(out.get("data", {}).get("text/html", ""))]
    assert not cut, f"tables elided by pandas: {cut}"
