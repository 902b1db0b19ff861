"""Table 3's CWS R_oov as a claim measure: per test sentence, the gold words unseen in a training word list and
how many of them the run segmented right. The paper does not say which list it used (the authors' code has no
R_oov), so there are two (`WORD_LISTS`): both domains' training words (what every record's R_oov uses,
`prepare.prepare`), and the target training words alone. The words are rebuilt from the task's data under the
record's own limits and split; the data on disk must hash as the record says, or the list would not be the run's."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..metrics import bmes_words
from ..prepare import bmes_to_words
from ..scoring import record_sentences, side_file_path
from ..tasks import SPLIT_SEED, data_fingerprint, data_root, get_task, load_task
from .grids import Variant
from .paper import paper_long
from .tables import fmt_ms


#: OOV word lists: name -> the training splits whose words are in-vocabulary
WORD_LISTS = {"both": ("source_train", "target_train"), "target": ("target_train",)}
WORD_LIST_NAMES = {"both": "both domains' training words", "target": "the target's training words"}


@lru_cache(maxsize=8)
def _train_words(task: str, root: str, source_limit: int | None, target_limit: int | None,
                 target_fraction: float | None, target_pool: float | None, split_seed: int,
                 words: str) -> frozenset[str]:
    data = load_task(task, root, target_fraction, target_pool, split_seed).limited(source_limit, target_limit, None)
    return frozenset(w for split in WORD_LISTS[words] for s in getattr(data, split)
                     for w in bmes_to_words(s.tokens, s.tags))


def record_train_words(record: dict, data_dir: str | Path | None = None, words: str = "both") -> frozenset[str]:
    """The training words (of both domains, or of the target only) that the record's run read: the
    in-vocabulary list of its R_oov."""
    if words not in WORD_LISTS:
        raise ValueError(f"unknown OOV word list {words!r}; valid: {', '.join(WORD_LISTS)}")
    task = get_task(record["task"])
    if task.metric != "word_f1":
        raise ValueError(f"{record['_path']}: R_oov is a CWS measure; task {task.name} is scored by {task.metric}")
    root = str(data_root(data_dir))
    want = record.get("data", {}).get("root_relative_sha256")
    if want is not None:
        have = data_fingerprint(task, root)
        changed = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
        if changed:
            raise ValueError(f"{record['_path']}: the data under {root} is not what the run read "
                             f"(sha256 differs for {', '.join(changed)}); its OOV words cannot be rebuilt")
    c = record["config"]
    return _train_words(task.name, root, c.get("source_limit"), c.get("target_limit"), c.get("target_fraction"),
                        c.get("target_pool"), c.get("split_seed", SPLIT_SEED), words)


#: oov_counts already made: (predictions file, its mtime_ns and size, word list, data root) -> [n, 2]
_COUNTS: dict[tuple, np.ndarray] = {}


def oov_counts(record: dict, data_dir: str | Path | None = None, words: str = "both") -> np.ndarray:
    """[n_sentences, 2] per test sentence: (OOV gold words segmented right, OOV gold words) against the word
    list `words`; their column sums give R_oov = 100 · right / all (with "both": the record's own R_oov).

    The data check runs on every call; the counts of a predictions file are kept (a page judges several R_oov
    claims on the same seeds), keyed on its mtime and size, so that a rewritten file is counted again."""
    known = record_train_words(record, data_dir, words)
    pred_file = side_file_path(record, "predictions")
    stat = pred_file.stat()
    key = (str(pred_file.resolve()), stat.st_mtime_ns, stat.st_size, words, str(data_root(data_dir)))
    if key not in _COUNTS:
        _COUNTS[key] = _count(record, known)  # [n, 2]
    return _COUNTS[key].copy()  # [n, 2]


def _count(record: dict, known: frozenset[str]) -> np.ndarray:
    """[n_sentences, 2] (OOV gold words segmented right, OOV gold words) of the record's test predictions."""
    tokens, gold, pred = record_sentences(record)
    out = np.zeros((len(gold), 2))  # [n, 2]
    for i, (chars, g, p) in enumerate(zip(tokens, gold, pred)):
        found = set(bmes_words(list(p)))
        oov = [(a, b) for a, b in bmes_words(list(g)) if "".join(chars[a:b]) not in known]
        out[i] = (sum(span in found for span in oov), len(oov))
    return out


def side_oov_counts(records: list[dict], words: str = "both", data_dir: str | Path | None = None) -> np.ndarray:
    """[seeds, n_sentences, 2] `oov_counts` of one side's seed records (what a paired R_oov comparison reads)."""
    return np.stack([oov_counts(r, data_dir, words) for r in records])


def roov_rows(records: list[dict], variants: Sequence[Variant], profile: str,
              data_dir: str | Path | None = None) -> list[dict]:
    """Per CWS task and variant: the profile used (full where the variant has records, else `profile`), the
    seeds' R_oov under each OOV word list (``scores``: list -> per-seed values) and the paper's R_oov (or None)."""
    from .verdicts import pools, profile_order  # verdicts imports this module

    pool = pools(records, variants)
    paper = paper_long("table3")
    rows = []
    for task, label in dict.fromkeys((t, v) for t, v, _ in pool):
        if get_task(task).metric != "word_f1":
            continue
        used = next((p for p in profile_order(profile) if pool.get((task, label, p))), None)
        if used is None:
            continue
        recs = pool[(task, label, used)]
        scores = {words: [100 * c[0] / c[1] for c in (oov_counts(r, data_dir, words).sum(0) for r in recs)]
                  for words in WORD_LISTS}
        hit = paper[(paper.task == get_task(task).paper_key) & (paper.metric == "roov") & (paper.variant == label)]
        rows.append({"task": task, "variant": label, "profile": used, "scores": scores,
                     "paper": float(hit["paper"].iloc[0]) if len(hit) else None})
    return rows


def roov_table(rows: list[dict]) -> pd.DataFrame:
    """`roov_rows` for display: R_oov as mean ± std (seeds, profile) under each word list, beside the paper's
    one R_oov column."""
    out = []
    for row in rows:
        cells = {"task": row["task"], "variant": row["variant"]}
        for words, scores in row["scores"].items():
            std = float(np.std(scores, ddof=1)) if len(scores) > 1 else float("nan")
            cells[f"R_oov, OOV not in {WORD_LIST_NAMES[words]}"] = fmt_ms(float(np.mean(scores)), std, len(scores),
                                                                         row["profile"])
        cells["paper R_oov"] = "n/a" if row["paper"] is None else f"{row['paper']:.2f}"
        out.append(cells)
    return pd.DataFrame(out)


def roov_list_reading(rows: list[dict]) -> str:
    """Which OOV word list lands nearer the paper's R_oov: per list, how many rows it is the nearer on and the
    mean |ours − paper|, over the full-profile rows with a paper value (the reduced ones where none is full)."""
    rows = [r for r in rows if r["paper"] is not None]
    full = [r for r in rows if r["profile"] == "full"]
    rows = full or rows
    if not rows:
        return "No CWS run with a paper R_oov is recorded, so neither word list can be compared with the paper's."
    gap = {w: [abs(float(np.mean(r["scores"][w])) - r["paper"]) for r in rows] for w in WORD_LISTS}
    nearer = {w: sum(g < gap[o][i] for i, g in enumerate(gap[w]) for o in WORD_LISTS if o != w) for w in WORD_LISTS}
    best = min(WORD_LISTS, key=lambda w: float(np.mean(gap[w])))
    where = "full-profile" if full else f"{rows[0]['profile']}-profile"
    parts = "; ".join(f"{WORD_LIST_NAMES[w]}: nearer in {nearer[w]}, mean |ours − paper| {np.mean(gap[w]):.2f}"
                      for w in WORD_LISTS)
    return (f"Over the {len(rows)} {where} rows with a paper value ({parts}), the list of {WORD_LIST_NAMES[best]} "
            f"lands nearer the paper's R_oov, so it is the likelier of the two to be the paper's; neither is "
            f"certain, so the R_oov claims are judged under both lists.")
