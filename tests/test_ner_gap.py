"""ner_en evidence helpers: seen/unseen entity recall, the scoring shift, the split-mean range."""
from __future__ import annotations

import pandas as pd

from fgkf_core.data import Sentence
from fgkf_core.study import entity_forms, ner_gap_summary, ner_gap_table, scoring_shift, seen_unseen, split_mean_range


def test_entity_forms_are_typed_and_case_folded():
    train = [Sentence(("New", "York", "is", "big"), ("B-LOC", "I-LOC", "O", "O")),
             Sentence(("Obama", "new", "york"), ("B-PER", "B-ORG", "I-ORG"))]
    assert entity_forms(train) == {("LOC", ("new", "york")), ("PER", ("obama",)), ("ORG", ("new", "york"))}


def test_seen_unseen_counts_exact_typed_span_hits():
    seen = {("LOC", ("new", "york"))}
    tokens = [("in", "NEW", "YORK", "with", "Bob")]
    gold = [("O", "B-LOC", "I-LOC", "O", "B-PER")]
    assert seen_unseen(tokens, gold, gold, seen) == {"seen": 1, "seen_hit": 1, "unseen": 1, "unseen_hit": 1}
    wrong_type = [("O", "B-ORG", "I-ORG", "O", "B-PER")]
    assert seen_unseen(tokens, gold, wrong_type, seen) == {"seen": 1, "seen_hit": 0, "unseen": 1, "unseen_hit": 1}
    short_span = [("O", "B-LOC", "O", "O", "O")]
    assert seen_unseen(tokens, gold, short_span, seen) == {"seen": 1, "seen_hit": 0, "unseen": 1, "unseen_hit": 0}


def _gap_frame() -> pd.DataFrame:
    rows = [("target_only", 2019, s, "quick", f1, shift, 40, hit, 74, uh)
            for s, f1, shift, hit, uh in ((1, 44.0, 0.0, 34, 2), (2, 46.0, 0.5, 33, 3), (3, 45.0, -1e-9, 34, 2))]
    return pd.DataFrame(rows, columns=["method", "split", "seed", "profile", "f1", "shift", "seen", "seen_hit",
                                       "unseen", "unseen_hit"])


def test_gap_table_pools_seeds_and_formats_shifts():
    row = ner_gap_table(_gap_frame()).iloc[0]
    assert row["test entities"] == 114 and row["recall on seen"] == f"{100 * 101 / 120:.1f}%"
    assert row["recall on unseen"] == f"{100 * 7 / 222:.1f}%"
    assert row["F1 (authors' scoring) − ours"] == "+0.00 to +0.50"  # never "-0.00"
    assert scoring_shift(_gap_frame()) == "between +0.00 and +0.50 points over 3 runs"
    text = ner_gap_summary(_gap_frame())
    assert text.startswith("target_only reaches 45.00 ± 1.00 (3, quick) entity F1 on split 2019")
    assert "of the 74 unseen ones" in text
    assert ner_gap_summary(_gap_frame(), split=7) == "target_only has no record on split 7"


def test_split_mean_range():
    frame = pd.DataFrame({"variant": ["target_only@2019", "target_only@2019", "target_only@1", "fgkf@1"],
                          "method": ["target_only", "target_only", "target_only", "fgkf"],
                          "score": [44.0, 46.0, 35.0, 99.0], "profile": ["quick"] * 4})
    assert split_mean_range(frame, "target_only") == "35.00 to 45.00 over 2 splits (1-2 seeds each, quick)"
    assert split_mean_range(frame, "nal") == "nal: not run"
