"""Figures: the relevance heatmap (Figure 4, an HTML Styler) and the data-size curve (Figure 5, a PNG), drawn
from frames computed elsewhere; nothing here computes a number."""
from __future__ import annotations

import math
from typing import Mapping

import pandas as pd


def plot_heatmap(data: Mapping[str, pd.DataFrame], cmap: str = "Reds", uuid: str = "relevance"):
    """Figure 4 as an HTML heatmap (a pandas Styler): per sentence one row per relevance model, tokens as
    cells, shaded by relevance normalised to [0, 1] within the row; the raw range is in the last column.

    HTML rather than a matplotlib figure: the browser draws the Chinese characters (no CJK font needed).
    """
    tokens, shade, index = [], [], []
    sentences = list(dict.fromkeys(s for d in data.values() for s in d["sentence"]))
    for i in sentences:
        for label, frame in data.items():
            part = frame[frame["sentence"] == i].sort_values("position")
            if part.empty:
                continue
            lo, hi = part["score"].min(), part["score"].max()
            norm = (part["score"] - lo) / (hi - lo) if hi > lo else part["score"] * 0.0
            tokens.append(list(part["token"]) + [f"{lo:.3f}–{hi:.3f}"])
            shade.append(list(norm) + [math.nan])
            index.append((i, label))
    if not tokens:
        return pd.DataFrame({"note": ["no sentence of the requested length"]}).style
    width = max(len(t) for t in tokens)
    tok = pd.DataFrame([t[:-1] + [""] * (width - len(t)) + t[-1:] for t in tokens],
                       index=pd.MultiIndex.from_tuples(index, names=["sentence", "relevance"]),
                       columns=[*range(width - 1), "range"])
    gmap = pd.DataFrame([g[:-1] + [math.nan] * (width - len(g)) + g[-1:] for g in shade], index=tok.index,
                        columns=tok.columns)
    return (tok.style.set_uuid(uuid).background_gradient(cmap=cmap, gmap=gmap, axis=None, vmin=0, vmax=1)
            .set_properties(**{"font-size": "0.85em", "padding": "2px 4px"}))


def data_size_figure(summ: pd.DataFrame, ylabel: str = "target test word F1"):
    """Figure 5 as a matplotlib Figure: score vs share of the target pool, one line per method, seed std bars."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for method, part in summ.groupby("method", sort=False):
        part = part.sort_values("target_fraction")
        ax.errorbar(part["target_fraction"] * 100, part["mean"], yerr=part["std"].fillna(0), marker="o",
                    capsize=3, label=method)
    ax.set_xlabel("share of the target training pool (%)")
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def plot_data_size(summ: pd.DataFrame, ylabel: str = "target test word F1"):
    """`data_size_figure` rendered to a PNG for the notebook (no pyplot or inline backend involved)."""
    import io

    from IPython.display import Image

    buf = io.BytesIO()
    data_size_figure(summ, ylabel).savefig(buf, format="png", dpi=110)
    return Image(data=buf.getvalue(), format="png")
