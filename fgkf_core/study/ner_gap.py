"""Why ner_en's absolute score stays far below the paper's, from the committed records: where the errors are
(test entities whose surface form occurs as an entity in the target training set vs the unseen ones) and how
much the authors' scoring moves the score.

An entity is *seen* when its (type, lower-cased tokens) occurs among the gold entities of the run's target
training split; recall is over exact (type, span) matches, conlleval style.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from ..data import Sentence
from ..metrics import bio_chunks
from ..scoring import record_sentences, rescore
from ..tasks import load_task
from .tables import fmt_ms

COLUMNS = ["method", "split", "seeds", "test entities", "seen in target train", "recall on seen",
           "recall on unseen", "F1 (ours)", "F1 (authors' scoring) − ours"]


def entity_forms(sentences: Iterable[Sentence]) -> set[tuple[str, tuple[str, ...]]]:
    """(type, lower-cased tokens) of every gold entity in `sentences`."""
    return {(typ, tuple(t.lower() for t in s.tokens[a:b])) for s in sentences for typ, a, b in bio_chunks(list(s.tags))}


def seen_unseen(tokens: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                seen: set[tuple[str, tuple[str, ...]]]) -> dict[str, int]:
    """Gold test entities split into seen / unseen forms, and how many of each the prediction gets exactly."""
    out = {"seen": 0, "seen_hit": 0, "unseen": 0, "unseen_hit": 0}
    for toks, g, p in zip(tokens, gold, pred):
        hits = set(bio_chunks(list(p)))
        for chunk in bio_chunks(list(g)):
            typ, a, b = chunk
            kind = "seen" if (typ, tuple(t.lower() for t in toks[a:b])) in seen else "unseen"
            out[kind] += 1
            out[f"{kind}_hit"] += chunk in hits
    return out


def _signed(x: float) -> str:
    """'+0.53'; a difference that rounds to zero reads '+0.00', never '-0.00'."""
    return f"{round(x, 2) + 0.0:+.2f}"


def ner_gap_frame(records: Sequence[dict], data_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per record: method, split, seed, profile, F1, the authors'-scoring shift and the seen/unseen
    counts of `seen_unseen` against the record's own target training split."""
    forms: dict[int, set] = {}
    rows = []
    for rec in records:
        split = int(rec["config"].get("split_seed", 2019))
        if split not in forms:
            forms[split] = entity_forms(load_task(rec["task"], data_dir, split_seed=split).target_train)
        tokens, gold, pred = record_sentences(rec)
        counts = seen_unseen(tokens, gold, pred, forms[split])
        paper = rec.get("test_paper") or rescore(rec, "paper")  # records older than `test_paper`: from predictions
        rows.append({"method": rec["method"], "split": split, "seed": rec["seed"], "profile": rec["profile"],
                     "f1": rec["test"]["score"], "shift": paper["score"] - rec["test"]["score"], **counts})
    cols = ["method", "split", "seed", "profile", "f1", "shift", "seen", "seen_hit", "unseen", "unseen_hit"]
    return pd.DataFrame(rows, columns=cols)


def ner_gap_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per method and split seed of `ner_gap_frame`: seen/unseen recall pooled over seeds, F1, scoring shift."""
    out = []
    for (method, split), part in frame.groupby(["method", "split"], sort=False):
        n, profile = len(part), ", ".join(sorted(set(part["profile"])))
        seen, unseen = int(part["seen"].iloc[0]), int(part["unseen"].iloc[0])  # same test set for every seed
        out.append({
            "method": method, "split": split, "seeds": f"{n} ({profile})", "test entities": seen + unseen,
            "seen in target train": seen,
            "recall on seen": f"{100 * part['seen_hit'].sum() / max(1, seen * n):.1f}%",
            "recall on unseen": f"{100 * part['unseen_hit'].sum() / max(1, unseen * n):.1f}%",
            "F1 (ours)": fmt_ms(part["f1"].mean(), part["f1"].std(), n, profile),
            "F1 (authors' scoring) − ours": f"{_signed(part['shift'].min())} to {_signed(part['shift'].max())}",
        })
    return pd.DataFrame(out, columns=COLUMNS)


def scoring_shift(frame: pd.DataFrame) -> str:
    """'between -0.76 and +1.34 points over N runs': the authors'-scoring shift across every run of `frame`."""
    if frame.empty:
        return "no run"
    return f"between {_signed(frame['shift'].min())} and {_signed(frame['shift'].max())} points over {len(frame)} runs"


def ner_gap_summary(frame: pd.DataFrame, method: str = "target_only", split: int = 2019) -> str:
    """One sentence on `method` at `split`: its F1 and its recall on seen vs unseen test entities."""
    table = ner_gap_table(frame)
    row = table[(table["method"] == method) & (table["split"] == split)]
    if row.empty:
        return f"{method} has no record on split {split}"
    r = row.iloc[0]
    unseen = r["test entities"] - r["seen in target train"]
    return (f"{method} reaches {r['F1 (ours)']} entity F1 on split {split}; it recalls {r['recall on seen']} of "
            f"the {r['seen in target train']} test entities seen in the target training set but {r['recall on unseen']} "
            f"of the {unseen} unseen ones")
