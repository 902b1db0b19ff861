"""Hand-checked tests for fgkf_core.metrics."""
import pytest

from fgkf_core.metrics import (METRICS, bio_chunks, bmes_words, entity_prf, evaluate, token_accuracy,
                               word_prf)


def T(s: str) -> list[str]:
    return s.split()


# ----------------------------------------------------------------------------- CWS
@pytest.mark.parametrize("tags,spans", [
    ("B E S B M E", [(0, 2), (2, 3), (3, 6)]),
    ("M E", [(0, 2)]),                      # stray M opens a word
    ("E E", [(0, 1), (1, 2)]),              # stray E is a 1-char word
    ("B B E", [(0, 1), (1, 3)]),            # B closes the open word
    ("B M", [(0, 2)]),                      # trailing open word closed at the end
    ("B S", [(0, 1), (1, 2)]),              # S closes the open word
    ("S M S", [(0, 1), (1, 2), (2, 3)]),
])
def test_bmes_words(tags, spans):
    assert bmes_words(T(tags)) == spans


def test_bmes_words_bad_tag():
    with pytest.raises(ValueError, match="'X'"):
        bmes_words(T("B X"))


def test_word_prf_counts():
    # gold words (0,2)(2,3)(3,6); pred words (0,2)(2,4)(4,5)(5,6): only (0,2) matches
    r = word_prf([T("B E S B M E")], [T("B E B E S S")])
    assert (r["n_gold"], r["n_pred"], r["n_correct"]) == (3, 4, 1)
    assert r["precision"] == pytest.approx(25.0)
    assert r["recall"] == pytest.approx(100 / 3)
    assert r["f1"] == pytest.approx(2 * 25 * (100 / 3) / (25 + 100 / 3))  # 28.571...
    assert r["roov"] is None and r["n_oov"] is None


def test_word_prf_roov():
    chars = [list("abcdef")]
    gold, pred = [T("B E S B M E")], [T("B E S B E S")]  # gold ab|c|def, pred ab|c|de|f
    r = word_prf(gold, pred, chars=chars, train_words={"ab"})
    # OOV gold words: "c" (recovered) and "def" (missed) -> 1/2
    assert r["n_oov"] == 2 and r["roov"] == pytest.approx(50.0)
    assert r["n_correct"] == 2
    r = word_prf(gold, pred, chars=chars, train_words={"ab", "c", "def"})
    assert r["n_oov"] == 0 and r["roov"] is None
    with pytest.raises(ValueError, match="chars"):
        word_prf(gold, pred, train_words={"ab"})


# ----------------------------------------------------------------------------- accuracy
def test_token_accuracy():
    gold = [T("N V N"), T("ADJ N")]
    pred = [T("N N N"), T("ADJ V")]
    r = token_accuracy(gold, pred)
    assert (r["n_tokens"], r["n_correct"]) == (5, 3) and r["accuracy"] == pytest.approx(60.0)
    r = token_accuracy(gold, pred, labels={"N"})  # gold-N positions: 3, of which 2 correct
    assert (r["n_tokens"], r["n_correct"]) == (3, 2) and r["accuracy"] == pytest.approx(200 / 3)
    with pytest.raises(ValueError, match="labels"):
        token_accuracy(gold, pred, labels={"PRON"})


# ----------------------------------------------------------------------------- NER
def test_bio_chunks_conlleval_conventions():
    assert bio_chunks(T("O I-PER I-PER O")) == [("PER", 1, 3)]       # I after O starts a chunk
    assert bio_chunks(T("B-PER I-LOC")) == [("PER", 0, 1), ("LOC", 1, 2)]
    assert bio_chunks(T("I-MISC O")) == [("MISC", 0, 1)]             # I at sentence start
    assert bio_chunks(T("B-PER B-PER I-PER")) == [("PER", 0, 1), ("PER", 1, 3)]
    assert bio_chunks(T("B-ORG I-ORG")) == [("ORG", 0, 2)]           # open chunk closed at end
    with pytest.raises(ValueError, match="'PER'"):
        bio_chunks(T("O PER"))


def test_entity_prf():
    gold = [T("B-PER I-PER O B-LOC"), T("B-ORG I-ORG O")]
    pred = [T("B-PER I-PER O B-ORG"), T("B-ORG O O")]
    r = entity_prf(gold, pred)
    assert (r["n_gold"], r["n_pred"], r["n_correct"]) == (3, 3, 1)
    assert r["precision"] == pytest.approx(100 / 3) and r["recall"] == pytest.approx(100 / 3)
    assert r["f1"] == pytest.approx(100 / 3)
    pt = r["per_type"]
    assert sorted(pt) == ["LOC", "ORG", "PER"]
    assert pt["PER"]["f1"] == pytest.approx(100.0)
    assert (pt["LOC"]["n_gold"], pt["LOC"]["n_pred"], pt["LOC"]["precision"], pt["LOC"]["f1"]) == (1, 0, 0.0, 0.0)
    assert (pt["ORG"]["n_gold"], pt["ORG"]["n_pred"], pt["ORG"]["n_correct"]) == (1, 2, 0)


def test_entity_prf_no_chunks_is_zero():
    r = entity_prf([T("O O")], [T("O O")])
    assert (r["precision"], r["recall"], r["f1"], r["n_gold"], r["n_pred"]) == (0.0, 0.0, 0.0, 0, 0)


# ----------------------------------------------------------------------------- validation / registry
@pytest.mark.parametrize("fn", [word_prf, token_accuracy, entity_prf])
def test_length_mismatch_names_sentence(fn):
    tags = {word_prf: "S", token_accuracy: "N", entity_prf: "O"}[fn]
    gold = [[tags, tags], [tags, tags, tags]]
    pred = [[tags, tags], [tags, tags]]
    with pytest.raises(ValueError, match=r"sentence 1: gold has 3 tokens but pred has 2"):
        fn(gold, pred)
    with pytest.raises(ValueError, match=r"gold has 2, pred has 1"):
        fn(gold, pred[:1])


@pytest.mark.parametrize("gold,pred", [([], []), ([[]], [[]])])
def test_empty_input_raises(gold, pred):
    for name in METRICS:
        with pytest.raises(ValueError, match="no tokens"):
            evaluate(name, gold, pred)


def test_evaluate_dispatch_and_kwargs():
    r = evaluate("word_f1", [T("B E S B M E")], [T("B E S B E S")],
                 chars=[list("abcdef")], train_words={"ab"}, labels=None)
    assert r["score"] == r["f1"] == pytest.approx(2 * (200 / 4) * (200 / 3) / (200 / 4 + 200 / 3))
    assert r["roov"] == pytest.approx(50.0)
    # labels goes to accuracy only; chars/train_words are dropped for it
    r = evaluate("accuracy", [T("N V")], [T("N N")], labels={"V"}, chars=[list("ab")], train_words={"a"})
    assert r["score"] == r["accuracy"] == pytest.approx(0.0) and r["n_tokens"] == 1
    r = evaluate("entity_f1", [T("B-PER O")], [T("B-PER O")], labels=None, train_words=None)
    assert r["score"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="labls"):
        evaluate("accuracy", [T("N")], [T("N")], labls={"N"})


def test_unknown_metric_lists_valid_names():
    with pytest.raises(ValueError, match="accuracy, entity_f1, word_f1"):
        evaluate("bleu", [T("N")], [T("N")])
