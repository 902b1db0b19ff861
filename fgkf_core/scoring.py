"""Two scorings of the same predictions: ours ("standard", `metrics.evaluate`) and the authors' ("paper").

The paper scoring is what the released TF code computes (reference notes §1.6 and §7): every sentence is
truncated or padded to L = MAX_LEN (CWS 100, POS 60, NER 100), all sentences are concatenated, and the padding
is scored too, with gold tag id 0 (CWS ``B``, POS ``NN``, NER ``O``). Our models do not tag padding, so the
prediction there is an assumption, the ``pad_pred`` parameter:

* ``"gold0"`` (the only one): the model predicts tag 0 at every padding position, as the code trains it to
  (its CRF loss covers the padding, labelled tag 0). Padding then never adds a predicted word/entity and is
  always correct for POS accuracy.

Both scorings are built from per-sentence sufficient statistics (``sentence_counts``), so that the paired
bootstrap (`stats`) resamples exactly what the totals are made of. Scores are percentages, as in `metrics`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .data import DataFormatError, read_text_file
from .metrics import evaluate
from .tasks import get_task

Sequences = list[list[str]]
SCORINGS = ("standard", "paper")
#: R_oov measures -> their OOV word list (`study.oov.WORD_LISTS`): not in both domains' training words (every
#: record's R_oov) or not in the target's
ROOV_MEASURES = {"roov": "both", "roov_target": "target"}
PAD_PRED = ("gold0",)
#: tag id 0 of each metric in the authors' code: the gold tag (and, under pad_pred="gold0", the predicted tag)
#: of the padding. Only CWS and NER depend on it; POS padding is correct whatever tag 0 is.
PAD_TAG = {"word_f1": "B", "accuracy": "NN", "entity_f1": "O"}


# ----------------------------------------------------------------------------- scores from summed counts
def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num/den elementwise, 0 where den is 0."""
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def f1_from_counts(totals: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """F1 in percent from totals [..., (correct, pred, gold)]; `eps` is the NER code's 1e-6 in
    P = c/(pred+eps) and F = 2PR/(P+R+eps) (P, R as fractions); 0 where a denominator is 0."""
    c, p, g = totals[..., 0], totals[..., 1], totals[..., 2]
    prec, rec = _ratio(c, p + eps), _ratio(c, g)
    return 100.0 * _ratio(2 * prec * rec, prec + rec + eps)


def accuracy_from_counts(totals: np.ndarray) -> np.ndarray:
    """Accuracy in percent from totals [..., (correct, total)]."""
    return 100.0 * _ratio(totals[..., 0], totals[..., 1])


#: count-metric name -> (its per-sentence columns, score of summed counts)
COUNT_METRICS: dict[str, tuple[tuple[str, ...], Callable[[np.ndarray], np.ndarray]]] = {
    "f1": (("n_correct", "n_pred", "n_gold"), f1_from_counts),
    "f1_code": (("n_correct", "n_pred", "n_gold"), lambda t: f1_from_counts(t, eps=1e-6)),
    "accuracy": (("n_correct", "n_tokens"), accuracy_from_counts),
}


def count_metric(metric: str, scoring: str) -> str:
    """The COUNT_METRICS name that turns `metric`'s per-sentence counts under `scoring` into its score."""
    _check_names(metric, scoring)
    if metric == "accuracy":
        return "accuracy"
    return "f1_code" if (metric, scoring) == ("entity_f1", "paper") else "f1"


def _check_names(metric: str, scoring: str, pad_pred: str = "gold0") -> None:
    if metric not in PAD_TAG:
        raise ValueError(f"unknown metric {metric!r}; valid names: {', '.join(PAD_TAG)}")
    if scoring not in SCORINGS:
        raise ValueError(f"unknown scoring {scoring!r}; valid: {', '.join(SCORINGS)}")
    if pad_pred not in PAD_PRED:
        raise ValueError(f"unknown pad_pred {pad_pred!r}; valid: {', '.join(PAD_PRED)}")


# ----------------------------------------------------------------------------- per-sentence counts
def sentence_counts(
    metric: str, gold: Sequences, pred: Sequences, scoring: str = "standard", max_len: int | None = None,
    pad_pred: str = "gold0",
) -> np.ndarray:
    """Per-sentence sufficient statistics [n_sentences, k] (columns of `count_metric`); they sum to the totals.

    Paper scoring spans sentence borders (a CWS word or NER entity cut at L continues into the next sentence);
    a unit is then counted in the sentence where it ends (CWS) or begins (NER), judged in the original order.
    Standard accuracy counts every token (a test set's gold tags are all in the target tag set the runs use).
    """
    _check_names(metric, scoring, pad_pred)
    _check_shape(gold, pred, "pred")
    if scoring == "standard":
        cols = COUNT_METRICS[count_metric(metric, scoring)][0]
        return np.array([[evaluate(metric, [g], [p])[c] for c in cols] for g, p in zip(gold, pred)], dtype=float)
    if max_len is None or max_len < 1:
        raise ValueError(f"paper scoring needs max_len >= 1 (the task's MAX_LEN), got {max_len!r}")
    pad = PAD_TAG[metric]
    g_all, p_all = _stream(gold, max_len, pad), _stream(pred, max_len, pad)
    return {"word_f1": _cws_counts, "accuracy": _pos_counts, "entity_f1": _ner_counts}[metric](g_all, p_all, max_len)


def _check_shape(gold: Sequences, other: Sequences, name: str) -> None:
    """Same number of sentences, each of the same length, and at least one sentence."""
    if not gold or len(gold) != len(other):
        raise ValueError(f"expected the same number (>= 1) of sentences: gold has {len(gold)}, {name} has {len(other)}")
    for i, (g, o) in enumerate(zip(gold, other)):
        if len(g) != len(o):
            raise ValueError(f"sentence {i}: gold has {len(g)} tokens but {name} has {len(o)}")


def _stream(seqs: Sequences, max_len: int, pad: str) -> np.ndarray:
    """All sequences truncated/padded to max_len and concatenated (the code's evaluation input)."""
    return np.array([t for s in seqs for t in list(s[:max_len]) + [pad] * (max_len - len(s))], dtype=str)


def _per_sentence(positions: np.ndarray, weights: np.ndarray, n: int, max_len: int) -> np.ndarray:
    """Sum `weights` by the sentence (position // max_len) of each position."""
    return np.bincount(positions // max_len, weights=weights, minlength=n).astype(float)


def _mismatch_cumsum(g: np.ndarray, p: np.ndarray) -> np.ndarray:
    """cs with cs[j] - cs[i] = number of positions in [i, j) where pred differs from gold."""
    return np.concatenate([[0], np.cumsum(g != p)])


def _cws_counts(g: np.ndarray, p: np.ndarray, max_len: int) -> np.ndarray:
    """§7.1: words = E/S tags; a gold word [start..end] is correct iff every predicted tag in it equals gold."""
    bad = sorted((set(g.tolist()) | set(p.tolist())) - {"B", "M", "E", "S"})
    if bad:
        raise ValueError(f"paper CWS scoring expects BMES tags, got {bad}")
    n = len(g) // max_len
    ends = np.flatnonzero((g == "E") | (g == "S"))
    starts = np.concatenate([[0], ends[:-1] + 1])
    cs = _mismatch_cumsum(g, p)
    correct = (cs[ends + 1] - cs[starts]) == 0
    pred_ends = np.flatnonzero((p == "E") | (p == "S"))
    return np.stack([
        _per_sentence(ends, correct.astype(float), n, max_len),
        _per_sentence(pred_ends, np.ones(len(pred_ends)), n, max_len),
        _per_sentence(ends, np.ones(len(ends)), n, max_len),
    ], axis=1)


def _pos_counts(g: np.ndarray, p: np.ndarray, max_len: int) -> np.ndarray:
    """§7.2: accuracy over all L positions of every sentence, padding included."""
    n = len(g) // max_len
    positions = np.arange(len(g))
    return np.stack([_per_sentence(positions, (g == p).astype(float), n, max_len), np.full(n, float(max_len))], 1)


def _bio_kind(tags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(is B-*, is I-*) masks of a tag array; anything but O/B-*/I-* is an error."""
    is_b, is_i = np.char.startswith(tags, "B-"), np.char.startswith(tags, "I-")
    bad = sorted(set(tags[~(is_b | is_i | (tags == "O"))].tolist()))
    if bad:
        raise ValueError(f"paper NER scoring expects O / B-<type> / I-<type> tags, got {bad}")
    return is_b, is_i


def _ner_counts(g: np.ndarray, p: np.ndarray, max_len: int) -> np.ndarray:
    """§7.3: entities = B-* tags; a gold entity is correct iff its B and I tags are predicted exactly and the
    prediction at the first following non-I gold position is not an I-tag (or the stream ends there)."""
    n, size = len(g) // max_len, len(g)
    g_b, g_i = _bio_kind(g)
    p_b, p_i = _bio_kind(p)
    # first position >= j whose gold tag is not I-*, for every j (size when there is none)
    not_i = np.where(~g_i, np.arange(size), size)
    next_not_i = np.concatenate([np.minimum.accumulate(not_i[::-1])[::-1], [size]])
    starts = np.flatnonzero(g_b)
    stop = next_not_i[starts + 1]
    cs = _mismatch_cumsum(g, p)
    p_i_end = np.concatenate([p_i, [False]])
    correct = (p[starts] == g[starts]) & (cs[stop] - cs[starts + 1] == 0) & ~p_i_end[stop]
    pred_starts = np.flatnonzero(p_b)
    return np.stack([
        _per_sentence(starts, correct.astype(float), n, max_len),
        _per_sentence(pred_starts, np.ones(len(pred_starts)), n, max_len),
        _per_sentence(starts, np.ones(len(starts)), n, max_len),
    ], axis=1)


# ----------------------------------------------------------------------------- public scoring entries
def score_paper(
    metric: str, gold: Sequences, pred: Sequences, max_len: int, tokens: Sequences | None = None,
    pad_pred: str = "gold0",
) -> dict:
    """The authors' score of `pred`, shaped like `metrics.evaluate` plus ``scoring: "paper"``.

    `tokens`, when given, is only checked against gold (the code never reads tokens: it has no R_oov, so a
    CWS result carries ``roov: None``; NER has no per-type scores).
    """
    if tokens is not None:
        _check_shape(gold, tokens, "tokens")
    counts = sentence_counts(metric, gold, pred, "paper", max_len, pad_pred).sum(0)
    out: dict = {"scoring": "paper", "max_len": max_len, "pad_pred": pad_pred}
    if metric == "accuracy":
        out |= {"accuracy": float(accuracy_from_counts(counts)), "n_tokens": int(counts[1]), "n_correct": int(counts[0])}
        return out | {"score": out["accuracy"]}
    eps = 1e-6 if metric == "entity_f1" else 0.0
    c, p, g = counts
    out |= {
        "precision": 100.0 * float(_ratio(c, p + eps)), "recall": 100.0 * float(_ratio(c, g)),
        "f1": float(f1_from_counts(counts, eps)), "n_gold": int(g), "n_pred": int(p), "n_correct": int(c),
    }
    if metric == "word_f1":
        out |= {"roov": None, "n_oov": None}
    return out | {"score": out["f1"]}


def score_both(
    metric: str, gold: Sequences, pred: Sequences, max_len: int, tokens: Sequences | None = None, **standard_kw
) -> dict[str, dict]:
    """{"standard": `metrics.evaluate` (tokens as CWS chars, `standard_kw` e.g. labels/train_words),
    "paper": `score_paper`}."""
    return {
        "standard": evaluate(metric, gold, pred, chars=tokens, **standard_kw),
        "paper": score_paper(metric, gold, pred, max_len, tokens),
    }


def side_file_path(record: dict, kind: str) -> Path:
    """The run's side file of `kind` ("predictions" or "relevance"), beside its record, as named in its ``files``."""
    if "_path" not in record:
        raise ValueError("record has no _path (load it with runs.load_records or runs.read_record)")
    files = record.get("files", {})
    if kind not in files:
        raise ValueError(f"{Path(record['_path']).name}: expected a {kind!r} side file, got files {sorted(files)}")
    return Path(record["_path"]).parent / files[kind]


def load_predictions(record: dict) -> list[tuple[list[str], list[str], list[str]]]:
    """The run's target test (tokens, gold tags, predicted tags), one triple per sentence, in test order."""
    path = side_file_path(record, "predictions")
    out, cur = [], ([], [], [])
    for lineno, line in enumerate(read_text_file(path).split("\n"), 1):
        if not line:
            if cur[0]:
                out.append(cur)
            cur = ([], [], [])
            continue
        fields = line.rsplit("\t", 2)
        if len(fields) != 3:
            raise DataFormatError(path, lineno, f"expected token<TAB>gold<TAB>predicted, got {line!r:.80}")
        tok, gold, pred = fields
        cur[0].append(tok)
        cur[1].append(gold)
        cur[2].append(pred)
    if cur[0]:
        out.append(cur)
    return out


def record_sentences(record: dict) -> tuple[Sequences, Sequences, Sequences]:
    """(tokens, gold, pred) of a run record's target test set, read from its .pred.tsv.gz side file."""
    triples = load_predictions(record)
    if not triples:
        raise ValueError(f"{Path(record['_path']).name}: its predictions file holds no sentence")
    tokens, gold, pred = (list(x) for x in zip(*triples))
    return tokens, gold, pred


def rescore(record: dict, scoring: str) -> dict:
    """A committed record's test score recomputed from its .pred.tsv.gz under `scoring` (standard or paper).

    Standard CWS results have ``roov: None``: R_oov needs the run's training words, which records do not keep.
    """
    task = get_task(record["task"])
    _check_names(task.metric, scoring)
    tokens, gold, pred = record_sentences(record)
    if scoring == "paper":
        return score_paper(task.metric, gold, pred, task.max_len, tokens)
    return evaluate(task.metric, gold, pred, chars=tokens) | {"scoring": "standard"}
