"""Evaluation metrics for sequence labelling: CWS word P/R/F1 (+R_oov), POS accuracy, NER entity F1.

Pure python. All scores are percentages (0-100). ``gold``/``pred`` are lists of tag sequences,
one per sentence.
"""
from __future__ import annotations

import inspect
from collections import Counter
from typing import Callable

Sequences = list[list[str]]


def _check(gold: Sequences, pred: Sequences, name: str = "pred") -> int:
    """Validate that gold and `name` have identical shape and return the total token count."""
    if len(gold) != len(pred):
        raise ValueError(f"number of sentences differs: gold has {len(gold)}, {name} has {len(pred)}")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: gold has {len(g)} tokens but {name} has {len(p)}")
    n = sum(len(g) for g in gold)
    if n == 0:
        raise ValueError("no tokens to evaluate (empty input)")
    return n


def _prf(n_correct: int, n_gold: int, n_pred: int) -> dict:
    """Precision/recall/F1 in percent from counts; 0 where a denominator is 0."""
    p = 100.0 * n_correct / n_pred if n_pred else 0.0
    r = 100.0 * n_correct / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "n_gold": n_gold, "n_pred": n_pred, "n_correct": n_correct}


# ----------------------------------------------------------------------------- CWS (BMES)
def bmes_words(tags: list[str]) -> list[tuple[int, int]]:
    """Decode BMES tags into word spans (start, end exclusive), robust to invalid sequences.

    A word ends at E/S, begins at B/S; a stray M/E opens a word; B closes an open word first.
    """
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, tag in enumerate(tags):
        t = tag.upper()
        if t not in ("B", "M", "E", "S"):
            raise ValueError(f"bmes_words: invalid BMES tag {tag!r} at position {i}")
        if t in ("B", "S") and start is not None:
            spans.append((start, i))
            start = None
        if start is None:
            start = i
        if t in ("E", "S"):
            spans.append((start, i + 1))
            start = None
    if start is not None:
        spans.append((start, len(tags)))
    return spans


def word_prf(gold: Sequences, pred: Sequences, chars: Sequences | None = None,
             train_words: set[str] | None = None) -> dict:
    """Word-level P/R/F1 for CWS (SIGHAN convention: a predicted word is correct iff its span is a gold span).

    With ``chars`` and ``train_words`` also reports R_oov: recall over gold words unseen in training.
    """
    _check(gold, pred)
    if train_words is not None and chars is None:
        raise ValueError("word_prf: train_words given without chars; R_oov needs the characters")
    if chars is not None:
        _check(gold, chars, name="chars")
    n_gold = n_pred = n_correct = n_oov = n_oov_correct = 0
    for i, (g, p) in enumerate(zip(gold, pred)):
        g_spans, p_spans = bmes_words(g), set(bmes_words(p))
        n_gold += len(g_spans)
        n_pred += len(p_spans)
        n_correct += sum(s in p_spans for s in g_spans)
        if chars is not None and train_words is not None:
            for s, e in g_spans:
                if "".join(chars[i][s:e]) not in train_words:
                    n_oov += 1
                    n_oov_correct += (s, e) in p_spans
    out = _prf(n_correct, n_gold, n_pred)
    has_oov = chars is not None and train_words is not None
    out["roov"] = 100.0 * n_oov_correct / n_oov if n_oov else None
    out["n_oov"] = n_oov if has_oov else None
    return out


# ----------------------------------------------------------------------------- POS accuracy
def token_accuracy(gold: Sequences, pred: Sequences, labels: set[str] | None = None) -> dict:
    """Token accuracy in percent; with ``labels`` only positions whose GOLD tag is in labels count
    (used to score on the target domain's own tag set)."""
    _check(gold, pred)
    n_tokens = n_correct = 0
    for g, p in zip(gold, pred):
        for gt, pt in zip(g, p):
            if labels is not None and gt not in labels:
                continue
            n_tokens += 1
            n_correct += gt == pt
    if n_tokens == 0:
        raise ValueError(f"token_accuracy: no gold tag is in labels={sorted(labels or [])}")
    return {"accuracy": 100.0 * n_correct / n_tokens, "n_tokens": n_tokens, "n_correct": n_correct}


# ----------------------------------------------------------------------------- NER (BIO, conlleval)
def _split_bio(tag: str) -> tuple[str, str | None]:
    """Split a BIO tag into (prefix, type); 'O' -> ('O', None); anything else without B-/I- is an error."""
    if tag == "O":
        return "O", None
    if len(tag) > 2 and tag[:2] in ("B-", "I-"):
        return tag[0], tag[2:]
    raise ValueError(f"invalid BIO tag {tag!r}: expected 'O', 'B-<type>' or 'I-<type>'")


def bio_chunks(tags: list[str]) -> list[tuple[str, int, int]]:
    """conlleval-compatible chunks (type, start, end exclusive) of a BIO/IOB2 sequence.

    A chunk starts at B-X, or at I-X after O / a different type; it ends before O, B-* or I-Y (Y != X).
    """
    chunks: list[tuple[str, int, int]] = []
    cur: tuple[str, int] | None = None
    for i, tag in enumerate(tags):
        prefix, typ = _split_bio(tag)
        if prefix == "I" and cur is not None and cur[0] == typ:
            continue  # continuation of the open chunk
        if cur is not None:
            chunks.append((cur[0], cur[1], i))
            cur = None
        if prefix != "O":
            cur = (typ, i)
    if cur is not None:
        chunks.append((cur[0], cur[1], len(tags)))
    return chunks


def entity_prf(gold: Sequences, pred: Sequences) -> dict:
    """conlleval-style micro P/R/F1 over exact (type, start, end) chunk matches, plus per-type scores."""
    _check(gold, pred)
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    n_correct: Counter[str] = Counter()
    for g, p in zip(gold, pred):
        g_chunks, p_chunks = set(bio_chunks(g)), set(bio_chunks(p))
        n_gold.update(c[0] for c in g_chunks)
        n_pred.update(c[0] for c in p_chunks)
        n_correct.update(c[0] for c in g_chunks & p_chunks)
    out = _prf(sum(n_correct.values()), sum(n_gold.values()), sum(n_pred.values()))
    out["per_type"] = {t: _prf(n_correct[t], n_gold[t], n_pred[t]) for t in sorted(n_gold | n_pred)}
    return out


# ----------------------------------------------------------------------------- registry
METRICS: dict[str, Callable[..., dict]] = {
    "word_f1": word_prf,
    "accuracy": token_accuracy,
    "entity_f1": entity_prf,
}
_HEADLINE = {"word_f1": "f1", "accuracy": "accuracy", "entity_f1": "f1"}


def _kwarg_names(fn: Callable[..., dict]) -> set[str]:
    """Names of the optional keyword arguments of a metric function (everything after gold, pred)."""
    return set(list(inspect.signature(fn).parameters)[2:])


def evaluate(metric: str, gold: Sequences, pred: Sequences, **kw) -> dict:
    """Dispatch to the named metric and add ``score`` (the headline number) to its result.

    Passes each function only the kwargs it accepts (so callers may pass chars/train_words/labels
    generically); None values are dropped; a kwarg no metric accepts is an error (catches typos).
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid names: {', '.join(sorted(METRICS))}")
    known = set().union(*(_kwarg_names(f) for f in METRICS.values()))
    unknown = sorted(set(kw) - known)
    if unknown:
        raise ValueError(f"evaluate: unknown keyword argument(s) {unknown}; known: {sorted(known)}")
    fn = METRICS[metric]
    accepted = _kwarg_names(fn)
    out = fn(gold, pred, **{k: v for k, v in kw.items() if k in accepted and v is not None})
    out["score"] = out[_HEADLINE[metric]]
    return out
