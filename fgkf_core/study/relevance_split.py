"""Per-token relevance of FGKF runs: the strong/weak split of the target test set (Table 5) and the data
behind the relevance heatmaps (Figure 4), read from the runs' prediction and relevance side files."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..metrics import bio_chunks, bmes_words
from ..relevance_store import load_relevance
from ..scoring import COUNT_METRICS, load_predictions
from .glue import glue
from .claims import Claim
from .grids import Variant
from .verdicts import SideCounts


def relevance_threshold(rel: dict, key: str = "alpha_elem") -> float:
    """Average relevance score over all target TRAIN tokens (the paper's strong/weak threshold)."""
    values = [v for s in rel["target_train"] for v in s[key]]
    return sum(values) / len(values)


#: fewest gold units (tokens, entities, words) a side of the split must hold for its claims to get a verdict.
#: One unit of 30 moves a side's accuracy or recall by 3.3 points, as much as the paper's Table 5 differences
#: (3.5 to 6.1 points): with fewer, a single token or entity can decide the ordering.
MIN_UNITS = 30
SIDES = ("strong", "weak")
#: NER split units: gold entities (entity F1 per side, the paper's Table 5) or the tokens of gold entities
#: (tag accuracy per side, each token on the side of its own relevance: more units, so more power)
NER_UNITS = ("entity", "token")


@dataclass(frozen=True)
class SplitCounts:
    """One run's per-sentence counts on each side of the relevance split (what the paired bootstrap resamples)."""

    threshold: float
    unit: str  # what a side counts: tokens | entities | words | entity tokens
    count_metric: str  # scoring.COUNT_METRICS name of the columns: accuracy (correct, total) | f1 (correct, pred, gold)
    strong: np.ndarray  # [n_sentences, k]
    weak: np.ndarray
    n_excluded: int  # gold units past the relevance output (sentences longer than MAX_LEN), on neither side

    def side(self, name: str) -> np.ndarray:
        """The counts of side `name` (strong | weak)."""
        if name not in SIDES:
            raise ValueError(f"expected a side in {SIDES}, got {name!r}")
        return self.strong if name == "strong" else self.weak

    def n_gold(self, name: str) -> int:
        """Gold units on side `name` (the total column of the counts)."""
        return int(self.side(name)[:, -1].sum())

    def score(self, name: str) -> float:
        """Side `name`'s accuracy or F1 (NaN when it holds no gold unit)."""
        if not self.n_gold(name):
            return float("nan")
        return float(COUNT_METRICS[self.count_metric][1](self.side(name).sum(0)))


def _spans(scheme: str, tags: list[str]) -> list[tuple[Any, int, int]]:
    if scheme == "bio":
        return bio_chunks(tags)
    return [(None, a, b) for a, b in bmes_words(tags)]


def split_counts(record: dict, relevance_record: dict | None = None, key: str = "alpha_elem",
                 ner_unit: str = "entity") -> SplitCounts:
    """Per-sentence counts of a run on the strongly vs weakly relevant part of the target test set (Table 5).

    Relevance per token = the stored ``alpha_elem`` of an FGKF run (`relevance_record`, default the run itself):
    the element-level fusion weight, i.e. how much the token is trusted to the source teacher. The threshold
    is its mean over the target TRAIN tokens. POS: token accuracy on each side. NER (CWS): an entity (word)
    is strong when the mean relevance of its tokens is >= the threshold; gold and predicted entities are
    split this way and entity (word) F1 is computed on each side (a correct prediction has the gold span,
    hence the same side). NER with ``ner_unit="token"``: every token of a gold entity is on the side of its own
    relevance and scored by tag accuracy. Tokens past the relevance output (sentences longer than MAX_LEN) are
    left out.
    """
    if ner_unit not in NER_UNITS:
        raise ValueError(f"expected ner_unit in {NER_UNITS}, got {ner_unit!r}")
    rel = load_relevance(relevance_record or record)
    thr = relevance_threshold(rel, key)
    test = rel["target_test"]
    sents = load_predictions(record)
    if len(sents) != len(test):
        raise ValueError(f"{record['_path']}: {len(sents)} test sentences but the relevance run has {len(test)}")
    scheme = record["task_info"]["scheme"]
    by_token = scheme == "tags" or (scheme == "bio" and ner_unit == "token")
    k = 2 if by_token else 3
    counts = {side: np.zeros((len(sents), k)) for side in SIDES}
    n_excluded = 0
    for i, ((tokens, gold, pred), r) in enumerate(zip(sents, test)):
        _check_alignment(tokens, r, record)
        scores = r[key]
        if by_token:
            inside = range(len(tokens)) if scheme == "tags" else {
                j for _, a, b in _spans(scheme, gold) for j in range(a, b)}
            for j in inside:
                if j >= len(scores):
                    n_excluded += 1
                    continue
                side = counts["strong" if scores[j] >= thr else "weak"][i]
                side += (gold[j] == pred[j], 1)
            continue
        g_spans, p_spans = set(_spans(scheme, gold)), set(_spans(scheme, pred))
        for spans, what in ((g_spans, 1), (p_spans, 2)):  # columns: correct, pred, gold
            for span in spans:
                if span[2] > len(scores):
                    n_excluded += what == 1
                    continue
                row = counts["strong" if sum(scores[span[1]:span[2]]) / (span[2] - span[1]) >= thr else "weak"][i]
                if what == 1:
                    row[2] += 1
                    row[0] += span in p_spans
                else:
                    row[1] += 1
    unit = "tokens" if scheme == "tags" else ("entity tokens" if by_token else
                                                ("entities" if scheme == "bio" else "words"))
    return SplitCounts(thr, unit, "accuracy" if by_token else "f1", counts["strong"], counts["weak"], n_excluded)


def _check_alignment(tokens: list[str], rel_sentence: dict, record: dict) -> None:
    n = len(rel_sentence["tokens"])
    if tokens[:n] != rel_sentence["tokens"]:
        raise ValueError(f"{record['_path']}: its test sentences differ from the relevance run's (same profile?)")


def relevance_sources(records: Iterable[dict], method: str = "fgkf") -> dict[str, dict]:
    """Record path -> the plain FGKF run (`method`, default config) whose relevance splits it: same task and
    profile, preferably the same seed, so that every method is scored on the same split, as in the paper.
    Runs without such an FGKF run are left out."""
    records = list(records)
    plain = Variant(method, method)
    fgkf = [r for r in records if plain.matches(r) and r.get("files", {}).get("relevance")]
    out = {}
    for rec in records:
        same = [r for r in fgkf if r["task"] == rec["task"] and r["profile"] == rec["profile"]]
        if same:
            out[rec["_path"]] = next((r for r in same if r["seed"] == rec["seed"]), same[0])
    return out


def relevance_split_frame(records: Iterable[dict], variants: Sequence[Variant], key: str = "alpha_elem",
                          ner_unit: str = "entity") -> pd.DataFrame:
    """One row per (run, matching variant): strong/weak scores and gold units per side, each run split by the
    relevance of its `relevance_sources` FGKF run."""
    records = list(records)
    sources = relevance_sources(records)
    rows = []
    for rec in records:
        src = sources.get(rec["_path"])
        labels = [v.label for v in variants if v.matches(rec)]
        if src is None or not labels:
            continue
        c = split_counts(rec, src, key, ner_unit)
        for label in labels:
            rows.append({"task": rec["task"], "variant": label, "seed": rec["seed"], "profile": rec["profile"],
                         "relevance_seed": src["seed"], "threshold": c.threshold, "unit": c.unit,
                         "strong": c.score("strong"), "weak": c.score("weak"), "n_strong": c.n_gold("strong"),
                         "n_weak": c.n_gold("weak"), "n_excluded": c.n_excluded, "key": key})
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
    """`within_sentence_spread` of every {task: {label: record}}, with each run's profile and seed; glues
    `<prefix>_<task>_<label>_spread` and, for the page's prose, the same under `<prefix>_first_...` /
    `<prefix>_last_...` with `<prefix>_first_task`."""
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
            rows.append({"task": task, "relevance": label, "run": f"{rec['profile']}, seed {rec['seed']}",
                         "within-sentence std": value})
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


@dataclass(frozen=True)
class SplitMeasure:
    """A claim measured on one side (the claim's ``measure``: strong | weak) of the relevance split, for
    `verdicts.judge`: each record is split by its `relevance_sources` run; a seed with no gold unit on that side
    measures nothing there and is left out (as in the page's score table); sides below `min_units` gold units
    in a seed get no verdict."""

    sources: Mapping[str, dict]
    key: str = "alpha_elem"
    ner_unit: str = "entity"
    scoring: str = "standard"
    min_units: int = MIN_UNITS

    def usable(self, records: list[dict]) -> bool:
        """Every record has an FGKF relevance run of its task and profile to be split by."""
        return all(r["_path"] in self.sources for r in records)

    def counts(self, records: list[dict], claim: Claim) -> SideCounts:
        missing = [r["_path"] for r in records if r["_path"] not in self.sources]
        if missing:
            raise ValueError(f"expected an FGKF relevance run for every record of {claim.text}, got none for {missing}")
        per = [split_counts(r, self.sources[r["_path"]], self.key, self.ner_unit) for r in records]
        per = [c for c in per if c.n_gold(claim.measure)] or per  # all empty: kept, for the no-verdict reading
        return SideCounts(np.stack([c.side(claim.measure) for c in per]), per[0].count_metric,
                          min(c.n_gold(claim.measure) for c in per))


def split_units(records: Iterable[dict], key: str = "alpha_elem", method: str = "fgkf") -> pd.DataFrame:
    """Gold units on each side of every plain FGKF run's own split, under each unit the task offers (NER:
    entities and the tokens of gold entities), and whether both sides reach `MIN_UNITS`."""
    plain = Variant(method, method)
    rows = []
    for rec in records:
        if not (plain.matches(rec) and rec.get("files", {}).get("relevance")):
            continue
        for unit in NER_UNITS if rec["task_info"]["scheme"] == "bio" else NER_UNITS[:1]:
            c = split_counts(rec, None, key, unit)
            rows.append({"task": rec["task"], "profile": rec["profile"], "seed": rec["seed"],
                         "threshold": c.threshold, "unit": c.unit, "n_strong": c.n_gold("strong"),
                         "n_weak": c.n_gold("weak"), "n_excluded": c.n_excluded,
                         f"both sides >= {MIN_UNITS}": min(c.n_gold("strong"), c.n_gold("weak")) >= MIN_UNITS})
    return pd.DataFrame(rows)
