"""The per-token relevance side file of a run (``<record>.relevance.json.gz``): written column-wise, read back as rows.

Format 2 (written since 2026-12-07) stores each split as columns (one list per output, one entry per sentence) and
leaves out the target test split's tokens and gold tags, which the run's ``.pred.tsv.gz`` already holds; on a
Weibo FGKF run that is 1.8 MB instead of 3.1 MB. The values are the same 5-decimal numbers as format 1 (a row per
sentence, tokens included), and both load to the same rows, so no number depends on the format.
"""
from __future__ import annotations

import json
from pathlib import Path

from .data import atomic_write_text, read_text_file
from .scoring import load_predictions, side_file_path

FORMAT = 2
TEXT_COLUMNS = ("tokens", "tags")  # the first two keys of every row
FROM_PREDICTIONS = "target_test"  # the split whose tokens and gold tags are read back from the predictions file


def write_relevance(path: Path, splits: dict[str, list[dict]]) -> None:
    """Write `splits` (split -> one row dict per sentence, as `runs.relevance_outputs` gives) in format 2."""
    out: dict = {"format": FORMAT}
    for split, rows in splits.items():
        skip = TEXT_COLUMNS if split == FROM_PREDICTIONS else ()
        out[split] = {k: [row[k] for row in rows] for k in rows[0] if k not in skip} if rows else {}
    atomic_write_text(path, json.dumps(out, separators=(",", ":")))


def load_relevance(record: dict) -> dict[str, list[dict]]:
    """A run's stored relevance outputs: split -> one row per sentence (tokens, tags, then each output)."""
    path = side_file_path(record, "relevance")
    data = json.loads(read_text_file(path))
    if data.get("format") is None:  # format 1: rows as written
        return data
    if data["format"] != FORMAT:
        raise ValueError(f"{path}: relevance file format {data['format']!r}; this code reads formats 1 and {FORMAT}")
    splits: dict[str, list[dict]] = {}
    for split, columns in data.items():
        if split == "format":
            continue
        if split == FROM_PREDICTIONS and "tokens" not in columns:
            columns = _text_from_predictions(record, columns, path)
        names = list(columns)
        splits[split] = [dict(zip(names, values)) for values in zip(*columns.values())]
    return splits


def _text_from_predictions(record: dict, columns: dict[str, list], path: Path) -> dict[str, list]:
    """`columns` with the tokens and gold tags of the run's test predictions put first, cut to each row's length."""
    triples = load_predictions(record)
    per_token = next((v for v in columns.values() if v and isinstance(v[0], list)), None)
    if per_token is None or len(per_token) != len(triples):
        got = "no per-token output" if per_token is None else f"{len(per_token)} sentences"
        raise ValueError(f"{path}: expected per-token outputs for the {len(triples)} sentences of "
                         f"{record['files']['predictions']}, got {got}")
    lengths = [len(v) for v in per_token]
    if any(n > len(toks) for n, (toks, _, _) in zip(lengths, triples)):
        raise ValueError(f"{path}: a sentence has more relevance values than tokens in {record['files']['predictions']}")
    return {"tokens": [t[:n] for n, (t, _, _) in zip(lengths, triples)],
            "tags": [g[:n] for n, (_, g, _) in zip(lengths, triples)]} | columns
