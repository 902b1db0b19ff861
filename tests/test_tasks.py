"""fgkf_core.tasks: every registered task loads from the real data root with the documented splits."""
from __future__ import annotations

from collections import Counter

import pytest

from fgkf_core.config import resolve
from fgkf_core.data import DataFormatError, Sentence
from fgkf_core.tasks import SCHEMES, TASKS, TaskData, custom_task, data_root, get_task, load_task
from fgkf_core.train import prepare

from conftest import write_tsv


@pytest.fixture(scope="module")
def loaded(data_dir) -> dict[str, TaskData]:
    """Every registered task, loaded once (a few seconds for the big OntoNotes/MSRA/CTB files)."""
    return {name: load_task(name, data_dir) for name in TASKS}


def _all_tags(split: list[Sentence]) -> set[str]:
    return {t for s in split for t in s.tags}


def test_every_task_loads_with_nonempty_splits(loaded):
    assert set(loaded) == set(TASKS)
    for name, d in loaded.items():
        for split in ("source_train", "target_train", "target_dev", "target_test"):
            assert len(getattr(d, split)) > 0, (name, split)
        assert d.files and all(len(h) == 64 for h in d.files.values()), name
        assert all(not k.startswith("/") for k in d.files), name  # paths relative to the data root
        assert d.task.metric == SCHEMES[d.task.scheme][0]
        for s in d.target_train[:50]:
            assert isinstance(s, Sentence) and len(s.tokens) == len(s.tags) > 0


def test_an_unsplit_target_is_cut_into_disjoint_splits_of_the_whole_file(loaded, data_dir):
    """ner_en's all.tsv: train, dev and test are positions of one shuffled pool, none shared, none lost."""
    from fgkf_core.data import read_conll

    d = loaded["ner_en"]
    pool = read_conll(data_dir / "twitter_ner_ritter2011" / "all.tsv")
    splits = [d.target_train, d.target_dev, d.target_test]
    assert sum(map(len, splits)) == len(pool)
    assert sorted(repr(s) for split in splits for s in split) == sorted(map(repr, pool))
    train, dev, test = ({repr(s) for s in split} for split in splits)
    repeated = {r for r, n in Counter(map(repr, pool)).items() if n > 1}  # tweets the file holds twice
    assert not (train & dev) - repeated and not (train & test) - repeated and not (dev & test) - repeated


def test_task_sizes(loaded):
    ner_en = loaded["ner_en"]
    assert (len(ner_en.target_train), len(ner_en.target_dev), len(ner_en.target_test)) == (1900, 240, 254)
    assert "twitter_ner_ritter2011/all.tsv" in ner_en.files
    assert loaded["cws_weibo"].task.target_fraction == 0.05
    assert len(loaded["cws_weibo"].target_train) == round(0.05 * 20135) == 1007
    # cws_weibo and cws_zx share the CTB6 source
    assert len(loaded["cws_weibo"].source_train) == len(loaded["cws_zx"].source_train)


def test_ner_zh_source_without_dev(loaded, data_dir):
    assert not (data_dir / "msra_ner" / "dev.tsv").exists()
    d = loaded["ner_zh"]
    assert "msra_ner/train.tsv" in d.files and not any(k.startswith("msra_ner/dev") for k in d.files)
    assert len(d.source_train) == 45000  # the whole MSRA train file
    assert loaded["ner_zh_revised"].task.source == d.task.source
    assert {t.split("-")[-1] for t in _all_tags(d.target_train)} <= {"O", "PER", "LOC", "ORG"}


def test_comparability_flags():
    assert TASKS["pos_zh"].comparable is False
    assert all(TASKS[n].comparable for n in ("cws_zx", "cws_weibo", "pos_en", "ner_zh", "ner_en"))
    assert TASKS["cws_zx"].features == "char_bigram" and TASKS["ner_en"].features == "word"


def test_splits_are_deterministic(loaded, data_dir):
    for name in ("ner_en", "pos_en"):
        again = load_task(name, data_dir)
        first = loaded[name]
        for split in ("source_train", "target_train", "target_dev", "target_test"):
            assert getattr(again, split) == getattr(first, split), (name, split)
        assert again.files == first.files


def test_source_and_target_train_are_shuffled(loaded, data_dir):
    from fgkf_core.data import read_conll

    d = loaded["pos_en"]
    for got, path in ((d.target_train, "twitter_pos_ritter2011/train.tsv"),
                      (d.source_train, "ptb_wsj_pos_ontonotes/train.tsv")):
        raw = read_conll(data_dir / path)
        assert sorted(s.tokens for s in got) == sorted(s.tokens for s in raw), path  # same sentences ...
        assert [s.tokens for s in got] != [s.tokens for s in raw], path  # ... in a seeded order: `limited`
        # prefixes are random samples


def test_target_fraction_nested(data_dir):
    d20 = load_task("pos_en", data_dir, target_fraction=0.2)
    d40 = load_task("pos_en", data_dir, target_fraction=0.4)
    full = load_task("pos_en", data_dir)
    assert len(d20.target_train) < len(d40.target_train) < len(full.target_train)
    assert d40.target_train[: len(d20.target_train)] == d20.target_train
    assert set(map(repr, d40.target_train)) <= set(map(repr, full.target_train))
    assert d20.target_dev == full.target_dev and d20.target_test == full.target_test


def test_limited_prefixes(loaded):
    d = loaded["pos_en"]
    small = d.limited(10, 5, 3)
    assert small.source_train == d.source_train[:10] and small.target_train == d.target_train[:5]
    assert len(small.target_dev) == 3 and len(small.target_test) == 3
    assert d.limited(None, None, None).target_dev == d.target_dev


def test_get_task_unknown_lists_valid():
    with pytest.raises(ValueError) as info:
        get_task("nope")
    msg = str(info.value)
    assert "nope" in msg
    for name in TASKS:
        assert name in msg
    assert get_task("ner_en") is TASKS["ner_en"]
    assert get_task(TASKS["pos_en"]) is TASKS["pos_en"]


def test_data_root_requires_env_or_argument(monkeypatch, tmp_path):
    monkeypatch.delenv("FGKF_DATA", raising=False)
    with pytest.raises(ValueError, match="FGKF_DATA"):
        data_root(None)
    with pytest.raises(ValueError, match="FGKF_DATA"):
        load_task("ner_en")
    assert data_root(tmp_path) == tmp_path
    monkeypatch.setenv("FGKF_DATA", str(tmp_path))
    assert data_root(None) == tmp_path
    with pytest.raises(FileNotFoundError):
        data_root(tmp_path / "missing")


def _sentences(n: int, tags=("A", "B")) -> list[list[tuple[str, str]]]:
    return [[(f"w{i}_{j}", tags[(i + j) % len(tags)]) for j in range(1 + i % 4)] for i in range(n)]


def test_custom_task_uniform_format(tmp_path):
    src, tgt = tmp_path / "src", tmp_path / "tgt"
    write_tsv(src / "train.tsv", _sentences(30))
    write_tsv(tgt / "all.tsv", _sentences(50, tags=("A", "C")))
    task = custom_task(src, tgt, "tags")
    assert task.metric == "accuracy" and task.comparable is False
    d = load_task(task, tmp_path)
    assert (len(d.source_train), len(d.target_train), len(d.target_dev), len(d.target_test)) == (30, 40, 5, 5)
    all_target = d.target_train + d.target_dev + d.target_test
    assert len({s.tokens for s in all_target}) == 50  # a partition of all.tsv
    assert d.tag_set == ["A", "B", "C"]
    assert d.target_tags == {"A", "C"}
    again = load_task(custom_task(src, tgt, "tags"), tmp_path)
    assert again.target_dev == d.target_dev and again.target_test == d.target_test


def test_custom_task_train_test_without_dev(tmp_path):
    src, tgt = tmp_path / "src", tmp_path / "tgt"
    write_tsv(src / "all.tsv", _sentences(12))
    write_tsv(tgt / "train.tsv", _sentences(40))
    write_tsv(tgt / "test.tsv", _sentences(7))
    d = load_task(custom_task(src, tgt, "tags"), tmp_path)
    assert (len(d.source_train), len(d.target_train), len(d.target_dev), len(d.target_test)) == (12, 36, 4, 7)
    assert not {s.tokens for s in d.target_dev} & {s.tokens for s in d.target_train}


def test_custom_task_errors(tmp_path):
    with pytest.raises(ValueError) as info:
        custom_task(tmp_path, tmp_path, "iobes")
    for scheme in SCHEMES:
        assert scheme in str(info.value)
    src, tgt = tmp_path / "src", tmp_path / "tgt"
    write_tsv(src / "train.tsv", _sentences(5))
    tgt.mkdir()
    write_tsv(tgt / "train.tsv", _sentences(5))  # no test.tsv
    with pytest.raises(DataFormatError, match="test.tsv"):
        load_task(custom_task(src, tgt, "tags"), tmp_path)
    with pytest.raises(FileNotFoundError):
        load_task(custom_task(src, tmp_path / "missing", "tags"), tmp_path)
    (src / "train.tsv").write_text("bad line without tab\n", encoding="utf-8")
    write_tsv(tgt / "test.tsv", _sentences(5))
    with pytest.raises(DataFormatError, match=r"train.tsv:1"):
        load_task(custom_task(src, tgt, "tags"), tmp_path)


def test_pos_en_tag_union_and_target_metric_labels(loaded):
    d = loaded["pos_en"]
    twitter_only = {"USR", "HT", "RT", "URL"}
    source_tags = _all_tags(d.source_train)
    assert twitter_only <= d.target_tags and not twitter_only & source_tags
    assert set(d.tag_set) == source_tags | d.target_tags
    assert len(d.tag_set) == len(set(d.tag_set))
    cfg, _ = resolve("pos_en", "smoke")
    small = d.limited(cfg.source_limit, cfg.target_limit, cfg.eval_limit)
    prep = prepare(small, cfg)
    labels = prep.metric_kw["labels"]
    assert prep.metric == "accuracy"
    assert labels == small.target_tags
    assert twitter_only <= labels
    source_only = _all_tags(small.source_train) - small.target_tags
    assert source_only and not source_only & labels  # e.g. HYPH, -LRB-: never scored
    assert set(prep.encoder.tags.itos) == _all_tags(small.source_train) | small.target_tags


def test_ner_tag_set_has_o_first(loaded):
    for name in ("ner_en", "ner_zh"):
        tags = loaded[name].tag_set
        assert tags[0] == "O" and tags[1:] == sorted(tags[1:])


def test_split_seed_resplits_an_unsplit_target_only(data_dir):
    base = load_task("ner_en", data_dir)
    other = load_task("ner_en", data_dir, split_seed=3)
    assert [len(base.target_train), len(base.target_dev), len(base.target_test)] == [1900, 240, 254]
    assert [len(other.target_train), len(other.target_dev), len(other.target_test)] == [1900, 240, 254]
    assert other.target_test != base.target_test and other.source_train == base.source_train
    assert sorted(map(str, base.target_train + base.target_dev + base.target_test)) == sorted(
        map(str, other.target_train + other.target_dev + other.target_test))  # the same tweets, cut otherwise
    with pytest.raises(ValueError, match="comes split"):
        load_task("pos_en", data_dir, split_seed=3)


def test_key_neutral_fields_leave_earlier_run_keys_unchanged(data_dir):
    """Every committed record's key is recomputed from its own config and data hashes; records written before a
    KEY_NEUTRAL field existed lack it and get its default, so their keys hold only if the default is left out."""
    import json
    import re
    from pathlib import Path

    from fgkf_core.config import KEY_NEUTRAL, Config, resolve
    from fgkf_core.runs import run_key
    from fgkf_core.tasks import get_task

    paths = sorted(Path(__file__).parent.parent.joinpath("results", "runs").glob("*/*/*-s*.json"))
    records = [(p, json.loads(p.read_text())) for p in paths]
    assert len(records) > 100, "the committed records are missing"
    for field in KEY_NEUTRAL:  # each neutral field is absent from some record's config, so the check bites
        assert any(field not in rec["config"] for _, rec in records), field
    for path, rec in records:
        key = re.fullmatch(r".+-([0-9a-f]{12})-s\d+\.json", path.name).group(1)
        recomputed = run_key(get_task(rec["task"]), Config(**rec["config"]), rec["data"]["root_relative_sha256"])
        assert recomputed == key, path
    cfg, _ = resolve("ner_en", "smoke")
    files = {"a": "0" * 64}
    task = load_task("ner_en", data_dir).task
    assert run_key(task, cfg, files) != run_key(task, cfg.replace(split_seed=3), files)
