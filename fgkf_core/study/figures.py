"""Figures: the relevance heatmap (Figure 4), the data-size curve (Figure 5) and FGKF's KD weight during training,
drawn with matplotlib from frames computed elsewhere (nothing here computes a number), shown as PNGs."""
from __future__ import annotations

import io
import warnings
from typing import Mapping

import numpy as np
import pandas as pd

from .fonts import cjk_font, missing_font_note

#: Figure 4's width (inches: at 110 dpi the book's content column, so the PNG is not scaled down) and the
#: height of one scheme row
FIG_W, ROW_H = 6.3, 0.3


def axis_text(fig) -> str:
    """The titles and axis labels of a figure, as one line ('title: ...; x: ...; y: ...' per axes)."""
    parts = []
    for ax in fig.axes:
        for name, text in (("title", ax.get_title()), ("x", ax.get_xlabel()), ("y", ax.get_ylabel())):
            if text:
                parts.append(f"{name}: {text}")
    return "; ".join(parts)


def _png(fig, dpi: int = 110):
    """A matplotlib Figure as an IPython PNG (no pyplot or inline backend involved); the PNG's Description
    holds `axis_text`, so what a figure plots can be read (and tested) without looking at it. Tokens whose
    glyphs no font has (emoji in tweets) are drawn as boxes; matplotlib's warning about them would reach the
    page's stderr."""
    from IPython.display import Image

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from", category=UserWarning)
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Description": axis_text(fig)})
    return Image(data=buf.getvalue(), format="png")


def _sentence_grid(data: Mapping[str, pd.DataFrame], sentence: int, width: int) -> tuple[list[str], np.ndarray]:
    """The tokens of one sentence and a (schemes x width) score grid, NaN past the sentence's end."""
    tokens: list[str] = []
    grid = np.full((len(data), width), np.nan)
    for row, frame in enumerate(data.values()):
        part = frame[frame["sentence"] == sentence].sort_values("position")
        grid[row, : len(part)] = part["score"].to_numpy(dtype=float)
        tokens = tokens or list(part["token"])
    return tokens, grid


def heatmap_figure(data: Mapping[str, pd.DataFrame], key: str = "alpha_elem", cmap: str = "Reds"):
    """Figure 4 as in the paper: per sentence, one row per relevance scheme (the keys of `data`, frames of
    `heatmap_data`) and one cell per token, tokens as tick labels, one colour scale (the raw scores) for the
    whole figure with its colour bar. Cells past a sentence's end are not drawn.

    Chinese tokens need a CJK font (`cjk_font`); without one the figure says so under the heatmaps.
    """
    from matplotlib.figure import Figure

    font = cjk_font()
    labels = list(data)
    sentences = list(dict.fromkeys(s for frame in data.values() for s in frame["sentence"]))
    if not sentences:
        fig = Figure(figsize=(6, 0.6))
        fig.text(0.5, 0.5, "no test sentence of the requested length", ha="center", va="center")
        return fig
    scores = pd.concat([frame["score"] for frame in data.values()])
    width = max(len(frame[frame["sentence"] == s]) for frame in data.values() for s in sentences)
    grids = [_sentence_grid(data, s, width) for s in sentences]
    rotate = any(len(tok) > 2 for tokens, _ in grids for tok in tokens)
    label_h = 0.9 if rotate else 0.3
    fig = Figure(figsize=(FIG_W, len(sentences) * (len(labels) * ROW_H + label_h + 0.3)), layout="constrained")
    axes = fig.subplots(len(sentences), 1, squeeze=False)[:, 0]
    for ax, sentence, (tokens, grid) in zip(axes, sentences, grids):
        mesh = ax.pcolormesh(np.ma.masked_invalid(grid), cmap=cmap, vmin=float(scores.min()),
                             vmax=float(scores.max()), edgecolors="white", linewidth=0.5)
        ax.set_xlim(0, width)
        ax.set_ylim(len(labels), 0)
        ax.set_xticks(np.arange(len(tokens)) + 0.5, tokens, family=font.families, fontsize=9,
                      rotation=60 if rotate else 0, ha="right" if rotate else "center", rotation_mode="anchor")
        ax.set_yticks(np.arange(len(labels)) + 0.5, labels, fontsize=9)
        ax.tick_params(length=0)
        ax.set_frame_on(False)
        ax.set_title(f"test sentence {sentence}", loc="left", fontsize=9)
    fig.colorbar(mesh, ax=list(axes), label=f"relevance ({key})", shrink=min(1.0, 3 / len(sentences) + 0.2))
    if not font.cjk:
        fig.text(0.0, 0.0, missing_font_note(), fontsize=7, color="firebrick", va="bottom")
    return fig


def plot_heatmap(data: Mapping[str, pd.DataFrame], key: str = "alpha_elem", cmap: str = "Reds"):
    """`heatmap_figure` as a PNG for the notebook."""
    return _png(heatmap_figure(data, key, cmap))


def data_size_figure(summ: pd.DataFrame, metric: str, title: str | None = None):
    """Figure 5 as a matplotlib Figure: target test `metric` (e.g. 'entity F1', from `metric_label`) vs share
    of the target pool, one line per method labelled with its seeds and profile, seed std bars where n > 1."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for method, part in summ.groupby("method", sort=False):
        part = part.sort_values("target_fraction")
        counts = sorted({int(n) for n in part["n"]})
        span = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        seeds = f"{span} seed{'s' if counts[-1] > 1 else ''}"
        label = f"{method} ({seeds}, {'/'.join(dict.fromkeys(part['profile']))})"
        yerr = None if part["std"].isna().all() else part["std"].fillna(0)  # one seed: no spread to draw
        ax.errorbar(part["target_fraction"] * 100, part["mean"], yerr=yerr, marker="o", capsize=3, label=label)
    ax.set_xlabel("share of the target training pool (%)")
    ax.set_ylabel(f"target test {metric}")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def plot_data_size(summ: pd.DataFrame, metric: str, title: str | None = None):
    """`data_size_figure` as a PNG for the notebook."""
    return _png(data_size_figure(summ, metric, title))


def kd_weight_figure(curves: Mapping[str, list[tuple[np.ndarray, np.ndarray]]], kd_alpha: float = 0.5):
    """The mean KD weight α_kd per logged window vs target steps (log scale), one colour per label of
    `fusion_weights.kd_weight_curves`, one line per run, basicKD's constant as a dashed line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.3, 3.8), layout="constrained")
    ax = fig.add_subplot()
    for i, (label, runs) in enumerate(curves.items()):
        for j, (steps, kd) in enumerate(runs):
            ax.plot(steps, kd, color=f"C{i}", alpha=0.8, linewidth=1.2,
                    label=f"{label} ({len(runs)} runs)" if j == 0 else None)
    ax.axhline(kd_alpha, color="black", linestyle="--", linewidth=1, label=f"basicKD (constant {kd_alpha:g})")
    ax.set_yscale("log")
    ax.set_xlabel("target steps")
    ax.set_ylabel("mean KD weight α_kd per window")
    ax.set_title("FGKF's KD weight during training", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return fig


def plot_kd_weight(curves: Mapping[str, list[tuple[np.ndarray, np.ndarray]]], kd_alpha: float = 0.5):
    """`kd_weight_figure` as a PNG for the notebook."""
    return _png(kd_weight_figure(curves, kd_alpha))
