"""fgkf_core.data: TSV reading/writing, vocabularies, CWS features, nested subsets, batching."""
from __future__ import annotations

import os
import random
from collections import Counter

import pytest
import torch

from fgkf_core import data as data_mod
from fgkf_core.data import (
    BOUNDARY, DataFormatError, EncodedSet, Encoder, Sentence, Vocab, char_bigram_features, nested_fraction,
    read_conll, split_by_sizes, write_conll,
)


def S(text: str, tags: str | None = None) -> Sentence:
    """Sentence from space-separated tokens (and tags, default all 'X')."""
    toks = tuple(text.split())
    return Sentence(toks, tuple(tags.split()) if tags else tuple("X" for _ in toks))


# ----------------------------------------------------------------------------- read_conll


def test_read_conll_crlf_and_bom(tmp_path):
    p = tmp_path / "a.tsv"
    p.write_bytes(b"\xef\xbb\xbfthe\tDT\r\ncat\tNN\r\n\r\nsat\tVBD\r\n\r\n")
    out = read_conll(p)
    assert out == [Sentence(("the", "cat"), ("DT", "NN")), Sentence(("sat",), ("VBD",))]
    assert not out[0].tokens[0].startswith("\ufeff")
    assert all(not t.endswith("\r") for s in out for t in s.tags)


def test_read_conll_missing_final_blank_line_and_extra_blank_lines(tmp_path):
    p = tmp_path / "a.tsv"
    p.write_text("\n\na\tX\nb\tY\n\n\n\nc\tZ", encoding="utf-8")  # leading/trailing runs of blanks, no final newline
    assert read_conll(p) == [Sentence(("a", "b"), ("X", "Y")), Sentence(("c",), ("Z",))]


@pytest.mark.parametrize(
    "bad_line, lineno_offset, problem",
    [
        ("lonely", 0, "tab"),  # no tab
        ("a\tB\tC", 0, "2 tabs"),  # two tabs
        ("a\t", 0, "empty tag"),  # empty tag
        ("a\t   ", 0, "empty tag"),  # whitespace tag
        ("\tNN", 0, "empty token"),  # empty token
    ],
)
def test_read_conll_malformed_line_names_file_line_and_problem(tmp_path, bad_line, lineno_offset, problem):
    p = tmp_path / "bad.tsv"
    p.write_text(f"x\tA\ny\tB\n\n{bad_line}\nz\tC\n\n", encoding="utf-8")  # bad line is line 4
    with pytest.raises(DataFormatError) as info:
        read_conll(p)
    err = info.value
    msg = str(err)
    assert str(p) in msg
    assert f"{p}:4" in msg
    assert err.line == 4
    assert problem in msg
    assert isinstance(err, ValueError)  # callers that catch ValueError see it


def test_read_conll_invalid_utf8_names_line(tmp_path):
    p = tmp_path / "latin1.tsv"
    p.write_bytes(b"ok\tA\n\ncaf\xe9\tB\n\n")  # byte 0xe9 alone on line 3
    with pytest.raises(DataFormatError) as info:
        read_conll(p)
    assert info.value.line == 3
    assert f"{p}:3" in str(info.value)
    assert "UTF-8" in str(info.value)


def test_read_conll_empty_and_blank_only_files(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.tsv"
    blank.write_bytes(b"\n\r\n   \n\t\n\n")
    for p in (empty, blank):
        with pytest.raises(DataFormatError) as info:
            read_conll(p)
        assert str(p) in str(info.value)
        assert "no sentences" in str(info.value)


def test_read_conll_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        read_conll(tmp_path / "nope.tsv")


# ----------------------------------------------------------------------------- write_conll


def test_write_conll_round_trip_and_no_temp_files(tmp_path):
    sents = [S("Hello , world !", "UH , NN ."), S("中文 字", "NR NN"), S("x", "O")]
    p = tmp_path / "sub" / "out.tsv"
    write_conll(p, sents)
    assert read_conll(p) == sents
    assert p.read_text(encoding="utf-8").endswith("x\tO\n\n")
    assert sorted(os.listdir(p.parent)) == ["out.tsv"]
    # overwrite with different content: still a single file with the new content
    write_conll(p, sents[:1])
    assert read_conll(p) == sents[:1]
    assert sorted(os.listdir(p.parent)) == ["out.tsv"]


def test_atomic_write_gives_the_mode_plain_open_gives(tmp_path):
    """Records and side files get the umask's usual mode (0644 under umask 022), not mkstemp's owner-only 0600."""
    plain = tmp_path / "plain.txt"
    plain.write_text("x", encoding="utf-8")
    for name in ("rec.json", "rec.pred.tsv.gz"):
        data_mod.atomic_write_text(tmp_path / name, "x\n")
        assert (tmp_path / name).stat().st_mode & 0o777 == plain.stat().st_mode & 0o777  # 0600 before, under 022


def test_write_conll_is_atomic_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "out.tsv"
    write_conll(p, [S("old")])

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(data_mod.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_conll(p, [S("new content")])
    monkeypatch.undo()
    assert read_conll(p) == [S("old")]  # old file intact
    assert sorted(os.listdir(tmp_path)) == ["out.tsv"]  # temp file removed


# ----------------------------------------------------------------------------- vocab / encoder


def test_vocab_pad_unk():
    v = Vocab(["a", "b", "a"])
    assert v["<pad>"] == 0 and v["<unk>"] == 1
    assert v.itos[:2] == ["<pad>", "<unk>"]
    assert v["a"] == 2 and v["b"] == 3 and len(v) == 4
    assert v["never seen"] == 1
    assert "a" in v and "zzz" not in v


def test_vocab_build_min_count_and_deterministic_order():
    counts = Counter({"b": 3, "a": 3, "c": 1, "d": 2})
    v = Vocab.build(counts, min_count=2)
    assert v.itos == ["<pad>", "<unk>", "a", "b", "d"]  # by count desc, then alphabetically
    assert v["c"] == 1


def test_encoder_fit_min_count_maps_rare_words_to_unk():
    sents = [S("the cat sat"), S("the dog sat"), S("the end")]
    enc = Encoder.fit(sents, ["X"], "word", min_count=2)
    assert "the" in enc.vocab and "sat" in enc.vocab
    assert "cat" not in enc.vocab and "dog" not in enc.vocab
    ids = enc.ids(S("the cat sat"))
    assert ids.tolist() == [enc.vocab["the"], 1, enc.vocab["sat"]]
    enc1 = Encoder.fit(sents, ["X"], "word", min_count=1)
    assert "cat" in enc1.vocab and enc1.ids(S("cat")).item() > 1


def test_encoder_tag_ids_and_unknown_tag():
    enc = Encoder.fit([S("a b", "O B-PER")], ["O", "B-PER", "I-PER"], "word")
    assert enc.tag_ids(S("a b", "B-PER I-PER")).tolist() == [1, 2]
    with pytest.raises(ValueError, match="B-LOC"):
        enc.tag_ids(S("a", "B-LOC"))
    with pytest.raises(ValueError, match="unknown features"):
        Encoder.fit([S("a")], ["X"], "chars")


def test_char_bigram_features_exact():
    assert char_bigram_features(list("abc")) == [
        ("</s>", "</s>a", "a", "ab", "b"),
        ("a", "ab", "b", "bc", "c"),
        ("b", "bc", "c", "c</s>", "</s>"),
    ]
    assert char_bigram_features(["x"]) == [("</s>", "</s>x", "x", "x</s>", "</s>")]
    assert BOUNDARY == "</s>"


def test_char_bigram_encoder_shapes_and_ids():
    sents = [S("a b c")] * 4
    enc = Encoder.fit(sents, ["X"], "char_bigram", bigram_min_count=1)
    ids = enc.ids(S("a b c"))
    assert ids.shape == (3, 5)
    v = enc.vocab
    assert ids[0].tolist() == [v["</s>"], v["</s>a"], v["a"], v["ab"], v["b"]]
    assert ids[2].tolist() == [v["b"], v["bc"], v["c"], v["c</s>"], v["</s>"]]
    assert (ids > 1).all()  # nothing unknown


def test_bigram_min_count_counts_each_occurrence_once():
    # "ab" occurs 4 times (in 4 sentences), "cd" occurs 2 times: a threshold of 4 keeps only the former
    sents = [S("a b")] * 4 + [S("c d")] * 2
    enc = Encoder.fit(sents, ["X"], "char_bigram", bigram_min_count=4)
    v = enc.vocab
    assert {"ab", "</s>a", "b</s>"} <= set(v.itos)
    assert not {"cd", "</s>c", "d</s>"} & set(v.itos)
    assert {"c", "d"} <= set(v.itos)  # unigrams obey min_count (1), not the bigram threshold
    enc2 = Encoder.fit(sents, ["X"], "char_bigram", bigram_min_count=2)
    assert "cd" in enc2.vocab
    enc3 = Encoder.fit(sents, ["X"], "char_bigram", bigram_min_count=5)
    assert "ab" not in enc3.vocab
    # unknown bigrams map to UNK in the feature window
    assert enc.ids(S("c d"))[0, 3].item() == 1


# ----------------------------------------------------------------------------- splits


def test_nested_fraction_subsets_and_determinism():
    items = list(range(1000))
    fracs = [0.2, 0.4, 0.6, 0.8, 1.0]
    subsets = [nested_fraction(items, 1.0, f, seed=7) for f in fracs]
    for small, big in zip(subsets, subsets[1:]):
        assert big[: len(small)] == small  # a prefix, hence a subset
        assert len(small) < len(big)
    assert [len(s) for s in subsets] == [200, 400, 600, 800, 1000]
    assert sorted(subsets[-1]) == items  # 100% is a permutation of everything
    assert subsets[0] == nested_fraction(items, 1.0, 0.2, seed=7)  # deterministic
    assert subsets[0] != nested_fraction(items, 1.0, 0.2, seed=8)  # seed matters
    assert subsets[0] != items[:200]  # actually shuffled
    # nesting inside a pool fraction, and independence from the global RNG
    random.seed(123)
    a = nested_fraction(items, 0.5, 0.4, seed=3)
    random.seed(999)
    b = nested_fraction(items, 0.5, 0.8, seed=3)
    assert len(a) == 200 and len(b) == 400 and b[:200] == a
    assert set(b) <= set(nested_fraction(items, 0.5, 1.0, seed=3))
    with pytest.raises(ValueError):
        nested_fraction(items, 0.0, 0.5, seed=1)
    with pytest.raises(ValueError):
        nested_fraction(items, 1.0, 1.5, seed=1)


def test_split_by_sizes_partition():
    items = list(range(50))
    a, b, c = split_by_sizes(items, [30, 10, -1], seed=1)
    assert (len(a), len(b), len(c)) == (30, 10, 10)
    assert sorted(a + b + c) == items
    assert split_by_sizes(items, [30, 10, -1], seed=1) == [a, b, c]
    with pytest.raises(ValueError, match="only 50"):
        split_by_sizes(items, [40, 20], seed=1)


# ----------------------------------------------------------------------------- batches


@pytest.fixture
def encoded():
    sents = [S(" ".join(f"w{j}" for j in range(n)), " ".join("A" if j % 2 else "B" for j in range(n))) for n in
             [3, 1, 7, 2, 5, 4, 6, 2, 9, 1, 3]]
    enc = Encoder.fit(sents, ["A", "B"], "word")
    return sents, enc, EncodedSet(sents, enc)


def test_collate_prefix_mask_and_padding(encoded):
    sents, enc, ds = encoded
    rows = [0, 2, 1]
    b = ds.collate(rows)
    assert b.ids.shape == (3, 7) and b.tags.shape == (3, 7) and b.mask.dtype == torch.bool
    assert b.index.tolist() == rows
    assert b.mask.sum(1).tolist() == [3, 7, 1]
    for r, i in enumerate(rows):
        n = len(sents[i])
        assert b.mask[r, :n].all() and not b.mask[r, n:].any()  # prefix mask
        assert b.ids[r, :n].tolist() == enc.ids(sents[i]).tolist()
        assert b.tags[r, :n].tolist() == enc.tag_ids(sents[i]).tolist()
        assert (b.ids[r, n:] == 0).all() and (b.tags[r, n:] == 0).all()  # PAD id 0


def test_collate_char_bigram_padding():
    sents = [S("a b c"), S("a")]
    enc = Encoder.fit(sents, ["X"], "char_bigram", bigram_min_count=1)
    b = EncodedSet(sents, enc).collate([0, 1])
    assert b.ids.shape == (2, 3, 5)
    assert (b.ids[1, 1:] == 0).all() and (b.ids[1, 0] > 0).all()


def test_encoded_set_max_len_cuts_and_empty_raises(encoded):
    sents, enc, _ = encoded
    ds = EncodedSet(sents, enc, max_len=4)
    assert max(len(x) for x in ds.ids) == 4
    assert len(ds.ids[2]) == 4 and len(ds.tags[2]) == 4
    with pytest.raises(ValueError):
        EncodedSet([], enc)


@pytest.mark.parametrize("batch_size", [1, 3, 4, 64])
@pytest.mark.parametrize("shuffle", [False, True])
def test_batch_rows_cover_every_row_once(encoded, batch_size, shuffle):
    _, _, ds = encoded
    rng = random.Random(5) if shuffle else None
    groups = ds.batch_rows(batch_size, rng, bucket=2)
    flat = [i for g in groups for i in g]
    assert sorted(flat) == list(range(len(ds)))
    assert all(1 <= len(g) <= batch_size for g in groups)
    assert ds.n_batches(batch_size) == len(groups)
    batches = list(ds.batches(batch_size, random.Random(5) if shuffle else None))
    assert sorted(i for b in batches for i in b.index.tolist()) == list(range(len(ds)))


def test_batch_rows_buckets_by_length_and_shuffle_is_seeded(encoded):
    _, _, ds = encoded
    groups = ds.batch_rows(2)  # one window: sorted by length
    lengths = [len(ds.ids[i]) for g in groups for i in g]
    assert lengths == sorted(lengths)
    assert ds.batch_rows(2, random.Random(1)) == ds.batch_rows(2, random.Random(1))
    assert ds.batch_rows(2, random.Random(1)) != ds.batch_rows(2, random.Random(2))
