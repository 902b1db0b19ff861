"""How the pages show a table and its values: no pandas index, rounded numbers, short hashes, readable
durations and shares; rendered to plain HTML so the executed notebook holds no object address or random id
(executing a page twice gives the same bytes) and the book's CSS can fit it to the content column."""
from __future__ import annotations

import math
from html import escape
from typing import Any

import pandas as pd


def fmt_duration(seconds: float | None) -> str:
    """Wall time for a reader: '45 s', '12.9 min', '4.2 h'; missing gives '—'."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def fmt_share(fraction: Any, missing: str = "—") -> str:
    """A share of a data set as a percentage ('20%'); None / NaN (the task's own default) gives `missing`."""
    if fraction is None or pd.isna(fraction):
        return missing
    return f"{float(fraction):.0%}"


def short_hash(digest: str | None, length: int = 10) -> str:
    """The first `length` hex digits of a commit or sha256 (enough to tell files and commits apart)."""
    return (digest or "?")[:length]


def html_table(frame: pd.DataFrame, precision: int = 2):
    """`frame` as an HTML table without its index (floats rounded to `precision`, missing cells '—'), for a
    notebook cell to display; an empty frame shows as one line naming its columns instead of a bare header."""
    from IPython.display import HTML

    if frame.empty:
        return HTML(f"<p><em>no rows yet</em> (columns: {escape(', '.join(map(str, frame.columns)))})</p>")

    html = frame.to_html(index=False, na_rep="—", float_format=lambda x: f"{x:.{precision}f}", border=0,
                         classes="dataframe fgkf-table", escape=True)
    return HTML(html)
