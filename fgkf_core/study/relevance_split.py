"""Per-token relevance of FGKF runs: the strong/weak split of the target test set (Table 5) and the data
behind the relevance heatmaps (Figure 4), read from the runs' prediction and relevance side files."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from ..metrics import bio_chunks, bmes_words
from ..runs import load_relevance
from .glue import glue
from .grids import Variant


def load_predictions(record: dict) -> list[tuple[list[str], list[str], list[str]]]:
    """The run's target test (tokens, gold tags, predicted tags), one triple per sentence, in test order."""
    path = Path(record["_path"]).parent / record["files"]["predictions"]
    out, cur = [], ([], [], [])
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line:
            if cur[0]:
                out.append(cur)
            cur = ([], [], [])
            continue
        tok, gold, pred = line.rsplit("\t", 2)
        cur[0].append(tok)
        cur[1].append(gold)
        cur[2].append(pred)
    if cur[0]:
        out.append(cur)
    return out


def relevance_threshold(rel: dict, key: str = "alpha_elem") -> float:
    """Average relevance score over all target TRAIN tokens (the paper's strong/weak threshold)."""
    values = [v for s in rel["target_train"] for v in s[key]]
    return sum(values) / len(values)


def _spans(scheme: str, tags: list[str]) -> list[tuple[Any, int, int]]:
    if scheme == "bio":
        return bio_chunks(tags)
    return [(None, a, b) for a, b in bmes_words(tags)]


def strong_weak_split(record: dict, relevance_record: dict | None = None, key: str = "alpha_elem") -> dict[str, Any]:
    """Scores of a run on the strongly vs weakly relevant part of the target test set (paper Table 5).

    Relevance per token = the stored ``alpha_elem`` of an FGKF run (`relevance_record`, default the run itself):
    the element-level fusion weight, i.e. how much the token is trusted to the source teacher. The threshold
    is its mean over the target TRAIN tokens. POS: token accuracy on each side. NER (CWS): an entity (word)
    is strong when the mean relevance of its tokens is >= the threshold; gold and predicted entities are
    split this way and entity (word) F1 is computed on each side (a correct prediction has the gold span,
    hence the same side). Tokens past the relevance output (sentences longer than MAX_LEN) are left out.
    """
    rel = load_relevance(relevance_record or record)
    thr = relevance_threshold(rel, key)
    test = rel["target_test"]
    sents = load_predictions(record)
    if len(sents) != len(test):
        raise ValueError(f"{record['_path']}: {len(sents)} test sentences but the relevance run has {len(test)}")
    scheme = record["task_info"]["scheme"]
    n_excluded = 0
    if scheme == "tags":
        counts = {"strong": [0, 0], "weak": [0, 0]}
        for (tokens, gold, pred), r in zip(sents, test):
            _check_alignment(tokens, r, record)
            scores = r[key]
            n_excluded += len(tokens) - len(scores)
            for g, p, s in zip(gold, pred, scores):
                side = counts["strong" if s >= thr else "weak"]
                side[0] += g == p
                side[1] += 1
        res = {side: 100.0 * c / n if n else float("nan") for side, (c, n) in counts.items()}
        sizes = {side: n for side, (_, n) in counts.items()}
        unit = "tokens"
    else:
        tally = {side: {"gold": 0, "pred": 0, "correct": 0} for side in ("strong", "weak")}
        for (tokens, gold, pred), r in zip(sents, test):
            _check_alignment(tokens, r, record)
            scores = r[key]
            g_spans, p_spans = set(_spans(scheme, gold)), set(_spans(scheme, pred))
            for spans, what in ((g_spans, "gold"), (p_spans, "pred")):
                for span in spans:
                    if span[2] > len(scores):
                        n_excluded += what == "gold"
                        continue
                    mean = sum(scores[span[1]:span[2]]) / (span[2] - span[1])
                    side = "strong" if mean >= thr else "weak"
                    tally[side][what] += 1
                    if what == "gold" and span in p_spans:
                        tally[side]["correct"] += 1
        res = {side: _f1(**t) for side, t in tally.items()}
        sizes = {side: t["gold"] for side, t in tally.items()}
        unit = "entities" if scheme == "bio" else "words"
    return {"threshold": thr, "strong": res["strong"], "weak": res["weak"], "n_strong": sizes["strong"],
            "n_weak": sizes["weak"], "n_excluded": n_excluded, "unit": unit, "key": key}


def _check_alignment(tokens: list[str], rel_sentence: dict, record: dict) -> None:
    n = len(rel_sentence["tokens"])
    if tokens[:n] != rel_sentence["tokens"]:
        raise ValueError(f"{record['_path']}: its test sentences differ from the relevance run's (same profile?)")


def _f1(gold: int, pred: int, correct: int) -> float:
    """Entity/word F1 of one side of the split; NaN when the side holds no gold unit (F1 is undefined)."""
    if not gold:
        return float("nan")
    p = correct / pred if pred else 0.0
    r = correct / gold if gold else 0.0
    return 100.0 * 2 * p * r / (p + r) if p + r else 0.0


def relevance_split_frame(records: Iterable[dict], key: str = "alpha_elem", method: str = "fgkf") -> pd.DataFrame:
    """Strong/weak scores of every run, each split by the relevance of a plain FGKF run (`method`, no overrides)
    of the same task and profile, preferably of the same seed: all methods are scored on the same split, as in
    the paper. Runs without such an FGKF run are left out."""
    records = list(records)
    fgkf = [r for r in records if Variant(method, method).matches(r) and r.get("files", {}).get("relevance")]
    rows = []
    for rec in records:
        same = [r for r in fgkf if r["task"] == rec["task"] and r["profile"] == rec["profile"]]
        if not same:
            continue
        src = next((r for r in same if r["seed"] == rec["seed"]), same[0])
        res = strong_weak_split(rec, src, key)
        rows.append({"task": rec["task"], "variant": rec["method"], "seed": rec["seed"],
                     "relevance_seed": src["seed"], **res})
    return pd.DataFrame(rows)


def heatmap_data(record: dict, n_sentences: int = 4, split: str = "target_test", key: str = "alpha_elem",
                 min_len: int = 6, max_len: int = 24, sentences: Sequence[int] | None = None) -> pd.DataFrame:
    """Per-token relevance of real sentences, long: sentence, position, token, tag, score.

    Sentences: `sentences` (indices into the split), else the first `n_sentences` whose length lies in
    [min_len, max_len] (deterministic, so two runs of a task show the same sentences).
    """
    rel = load_relevance(record)[split]
    if sentences is None:
        sentences = [i for i, s in enumerate(rel) if min_len <= len(s["tokens"]) <= max_len][:n_sentences]
    rows = []
    for i in sentences:
        s = rel[i]
        for j, (tok, tag, score) in enumerate(zip(s["tokens"], s["tags"], s[key])):
            rows.append({"sentence": i, "position": j, "token": tok, "tag": tag, "score": score})
    return pd.DataFrame(rows, columns=["sentence", "position", "token", "tag", "score"])


def spread_table(runs: Mapping[str, Mapping[str, dict]], key: str = "alpha_elem", prefix: str = "heat") -> pd.DataFrame:
    """`within_sentence_spread` of every {task: {label: record}}; glues `<prefix>_<task>_<label>_spread` and,
    for the page's prose, the same under `<prefix>_first_...` / `<prefix>_last_...` with `<prefix>_first_task`."""
    rows = []
    tasks = list(runs)
    for task, recs in runs.items():
        where = [w for w, t in (("first", tasks[0]), ("last", tasks[-1])) if t == task]
        for w in where:
            glue(f"{prefix}_{w}_task", task)
        for label, rec in recs.items():
            value = within_sentence_spread(rec, key=key)
            for name in [task, *where]:
                glue(f"{prefix}_{name}_{label.lower()}_spread", f"{value:.4f}")
            rows.append({"task": task, "relevance": label, "within-sentence std": value})
    return pd.DataFrame(rows)


def within_sentence_spread(record: dict, split: str = "target_test", key: str = "alpha_elem") -> float:
    """Mean over sentences of the within-sentence std of the relevance (how token-specific it is)."""
    values = []
    for s in load_relevance(record)[split]:
        xs = s[key]
        if len(xs) > 1:
            m = sum(xs) / len(xs)
            values.append(math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)))
    return sum(values) / len(values) if values else float("nan")
