"""The authors' ("paper") scoring against hand-built cases, and its agreement with the standard counts."""
from __future__ import annotations

import random

import pytest

from fgkf_core.metrics import evaluate
from fgkf_core.scoring import rescore, score_both, score_paper, sentence_counts


# ----------------------------------------------------------------------------- POS: accuracy over L positions
def test_pos_padding_counts_as_correct():
    gold, pred = [["NN", "VB"]], [["NN", "NN"]]
    assert evaluate("accuracy", gold, pred)["score"] == 50.0
    paper = score_paper("accuracy", gold, pred, max_len=4)
    assert (paper["n_correct"], paper["n_tokens"], paper["score"]) == (3, 4, 75.0)
    assert paper["scoring"] == "paper" and paper["accuracy"] == paper["score"]


def test_pos_padding_inflates_short_sentences_towards_one():
    gold, pred = [["NN"], ["VB"]], [["VB"], ["NN"]]  # every real token wrong
    assert evaluate("accuracy", gold, pred)["score"] == 0.0
    assert score_paper("accuracy", gold, pred, max_len=60)["score"] == pytest.approx(100 * 118 / 120)


def test_pos_tokens_beyond_max_len_are_not_scored():
    gold, pred = [["A", "B", "C", "D", "E"]], [["A", "B", "C", "X", "X"]]
    paper = score_paper("accuracy", gold, pred, max_len=3)
    assert (paper["n_tokens"], paper["score"]) == (3, 100.0)
    assert evaluate("accuracy", gold, pred)["score"] == 60.0


# ----------------------------------------------------------------------------- NER: the code's B-tag rule
def test_ner_predicted_entity_starting_with_i_is_ignored():
    gold, pred = [["B-PER", "O", "O"]], [["B-PER", "O", "I-LOC"]]
    paper = score_paper("entity_f1", gold, pred, max_len=3)
    assert (paper["n_correct"], paper["n_pred"], paper["n_gold"]) == (1, 1, 1)
    standard = evaluate("entity_f1", gold, pred)  # conlleval opens a LOC chunk at the I-tag
    assert (standard["n_pred"], standard["f1"]) == (2, pytest.approx(200 / 3))


def test_ner_entity_followed_by_any_predicted_i_tag_is_wrong():
    gold, pred = [["B-PER", "O"]], [["B-PER", "I-LOC"]]
    assert score_paper("entity_f1", gold, pred, max_len=2)["n_correct"] == 0
    assert evaluate("entity_f1", gold, pred)["n_correct"] == 1  # conlleval: PER ends where I-LOC starts


def test_ner_uses_the_codes_epsilon_terms():
    paper = score_paper("entity_f1", [["B-PER", "I-PER"]], [["B-PER", "I-PER"]], max_len=2)  # runs to the end
    p, r = 1 / (1 + 1e-6), 1.0
    assert paper["n_correct"] == 1
    assert paper["precision"] == pytest.approx(100 * p, abs=1e-12)
    assert paper["f1"] == pytest.approx(100 * 2 * p * r / (p + r + 1e-6), abs=1e-12)
    assert paper["f1"] < 100.0


def test_ner_entity_cut_at_max_len_is_judged_against_the_next_sentence():
    gold, pred = [["O", "B-PER"], ["O", "O"]], [["O", "B-PER"], ["I-PER", "O"]]
    assert sentence_counts("entity_f1", gold, pred, "paper", max_len=2).tolist() == [[0, 1, 1], [0, 0, 0]]
    assert evaluate("entity_f1", gold, pred)["n_correct"] == 1
    # with room for padding (gold O, predicted O) the same entity is correct
    assert sentence_counts("entity_f1", gold, pred, "paper", max_len=3).tolist() == [[1, 1, 1], [0, 0, 0]]


def test_ner_entities_beyond_max_len_are_not_counted():
    gold = pred = [["B-LOC", "O", "B-PER"]]
    paper = score_paper("entity_f1", gold, pred, max_len=2)
    assert (paper["n_correct"], paper["n_pred"], paper["n_gold"]) == (1, 1, 1)


# ----------------------------------------------------------------------------- CWS: E/S words over the stream
def test_cws_padding_merges_into_the_next_sentences_first_word():
    gold = pred = [["S"], ["S"]]  # stream S B B | S B B: the padding joins the second S into one word
    assert sentence_counts("word_f1", gold, pred, "paper", max_len=3).tolist() == [[1, 1, 1], [1, 1, 1]]
    paper = score_paper("word_f1", gold, pred, max_len=3)
    assert (paper["score"], paper["roov"]) == (100.0, None)


def test_cws_word_cut_at_max_len_merges_with_the_next_sentence():
    gold, pred = [["B", "M", "M"], ["S"]], [["B", "E", "S"], ["S"]]  # streams B M | S B and B E | S B
    counts = sentence_counts("word_f1", gold, pred, "paper", max_len=2)
    assert counts.tolist() == [[0, 1, 0], [0, 1, 1]]  # one gold word B M S, wrong; predicted words E and S
    assert score_paper("word_f1", gold, pred, max_len=2)["f1"] == 0.0
    standard = evaluate("word_f1", gold, pred)
    assert (standard["n_correct"], standard["n_pred"], standard["n_gold"]) == (1, 3, 2)


def test_cws_characters_beyond_max_len_are_not_scored():
    gold, pred = [["S", "S", "S", "S"]], [["S", "S", "B", "E"]]
    paper = score_paper("word_f1", gold, pred, max_len=2)
    assert (paper["n_gold"], paper["n_pred"], paper["n_correct"], paper["f1"]) == (2, 2, 2, 100.0)


def test_cws_word_is_correct_only_when_every_tag_matches():
    gold, pred = [["B", "M", "E", "S"]], [["B", "B", "E", "S"]]
    paper = score_paper("word_f1", gold, pred, max_len=4)
    assert (paper["n_correct"], paper["n_pred"], paper["n_gold"]) == (1, 2, 2)
    assert paper["precision"] == paper["recall"] == paper["f1"] == 50.0


# ----------------------------------------------------------------------------- shared behaviour
def test_standard_sentence_counts_sum_to_the_metric_totals():
    rng = random.Random(3)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 12))] for _ in range(60)]
    pred = [[rng.choice(tags) for _ in g] for g in gold]
    totals = sentence_counts("entity_f1", gold, pred).sum(0)
    ref = evaluate("entity_f1", gold, pred)
    assert totals.tolist() == [ref["n_correct"], ref["n_pred"], ref["n_gold"]]


def test_score_both_returns_both_scorings():
    gold, pred, tokens = [["NN", "VB"]], [["NN", "NN"]], [["dogs", "run"]]
    both = score_both("accuracy", gold, pred, max_len=4, tokens=tokens, labels={"NN", "VB"})
    assert both["standard"] == evaluate("accuracy", gold, pred, labels={"NN", "VB"})
    assert (both["standard"]["score"], both["paper"]["score"], both["paper"]["scoring"]) == (50.0, 75.0, "paper")


def test_rescore_reads_the_prediction_side_file(tmp_path):
    side = tmp_path / "quick-abc-s1.pred.tsv"
    side.write_text("hey\tUH\tUH\nyou\tPRP\tNN\n\nok\tUH\tUH\n\n", encoding="utf-8")
    record = {"task": "pos_en", "task_info": {"metric": "accuracy"}, "_path": str(tmp_path / "quick-abc-s1.json"),
              "files": {"predictions": side.name}}
    assert rescore(record, "standard")["score"] == pytest.approx(200 / 3)
    paper = rescore(record, "paper")  # pos_en: L = 60, so 2 sentences give 120 scored positions
    assert (paper["n_tokens"], paper["n_correct"]) == (120, 119)
    with pytest.raises(ValueError, match="valid: standard, paper"):
        rescore(record, "conll")


def test_errors_name_what_was_expected():
    with pytest.raises(ValueError, match="BMES"):
        score_paper("word_f1", [["S"]], [["X"]], max_len=2)
    with pytest.raises(ValueError, match="O / B-<type> / I-<type>"):
        score_paper("entity_f1", [["PER"]], [["O"]], max_len=2)
    with pytest.raises(ValueError, match="valid: gold0"):
        score_paper("accuracy", [["NN"]], [["NN"]], max_len=2, pad_pred="last")
    with pytest.raises(ValueError, match="valid names: word_f1, accuracy, entity_f1"):
        score_paper("bleu", [["NN"]], [["NN"]], max_len=2)
    with pytest.raises(ValueError, match="max_len >= 1"):
        sentence_counts("accuracy", [["NN"]], [["NN"]], "paper")
    with pytest.raises(ValueError, match="sentence 0: gold has 1 tokens but tokens has 2"):
        score_paper("accuracy", [["NN"]], [["NN"]], max_len=2, tokens=[["a", "b"]])


def test_a_malformed_predictions_file_names_its_line(tmp_path):
    import gzip

    from fgkf_core.data import DataFormatError
    from fgkf_core.scoring import load_predictions

    (tmp_path / "r.pred.tsv.gz").write_bytes(gzip.compress(b"a\tB\tB\nb\tE\tE\n\nc S S\n"))
    record = {"_path": str(tmp_path / "r.json"), "files": {"predictions": "r.pred.tsv.gz"}}
    with pytest.raises(DataFormatError, match=r"r\.pred\.tsv\.gz:4: expected token<TAB>gold<TAB>predicted, got 'c S S'"):
        load_predictions(record)
