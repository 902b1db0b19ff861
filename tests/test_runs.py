"""The run API: records, side files, skipping, atomicity, resume and argument validation."""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

import fgkf_core
from fgkf_core import runs as runs_mod
from fgkf_core.config import Config, resolve
from fgkf_core.data import read_text_file
from fgkf_core.relevance_store import load_relevance, write_relevance
from fgkf_core.runs import RunSpec, load_records, sweep
from fgkf_core.scoring import load_predictions
from fgkf_core.methods import METHODS
from fgkf_core.tasks import custom_task
from fgkf_core.train import Trainer

from conftest import write_tsv

RECORD_KEYS = {
    "task", "method", "seed", "profile", "config", "config_hash", "data", "code", "versions", "device",
    "wall_seconds", "dev_curve", "test", "alpha_trace", "files",
}


@pytest.fixture(scope="module")
def results(tmp_path_factory, data_dir) -> Path:
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="module")
def record(results, data_dir) -> dict:
    """One fgkf smoke run on ner_en (a few seconds)."""
    return fgkf_core.run(task="ner_en", method="fgkf", seed=1, profile="smoke", results_dir=results, progress=False,
                         device="cpu")


def _path(results: Path, **overrides) -> Path:
    return runs_mod.locate("ner_en", "fgkf", 1, "smoke", results_dir=results, **overrides).record


def _fail(*args, **kwargs):
    raise AssertionError("training started although the run was already recorded")


def test_record_fields(record, results, data_dir):
    assert RECORD_KEYS <= record.keys()
    assert (record["task"], record["method"], record["seed"], record["profile"]) == ("ner_en", "fgkf", 1, "smoke")
    cfg, _ = resolve("ner_en", "smoke")
    assert record["config"] == cfg.to_dict()
    assert record["config_hash"] == cfg.hash() == Config(**record["config"]).hash()
    shas = record["data"]["root_relative_sha256"]
    rel = "twitter_ner_ritter2011/all.tsv"
    assert shas[rel] == hashlib.sha256((data_dir / rel).read_bytes()).hexdigest()
    assert "ontonotes5_en_ner/train.tsv" in shas
    assert {"commit", "dirty"} <= record["code"].keys()
    assert {"python", "torch"} <= record["versions"].keys()
    assert record["device"].startswith("cpu")
    assert record["wall_seconds"] > 0
    assert record["dev_curve"] and all(len(point) == 2 for point in record["dev_curve"])
    assert {"score", "f1", "precision", "recall"} <= record["test"].keys()
    assert 0 <= record["test"]["score"] <= 100
    assert record["alpha_trace"] and "alpha_elem" in record["alpha_trace"][0]
    sizes = record["task_info"]["sizes"]
    assert sizes == {"source_train": 400, "target_train": 200, "target_dev": 100, "target_test": 100}
    # the file on disk is the record
    path = _path(results)
    assert path.exists() and path.name == f"smoke-{record['run_key']}-s1.json"
    assert record["segments"] == 1 and record["resumed"] is False and record["threads"] == 1
    assert record["test_paper"]["scoring"] == "paper" and record["test_paper"]["max_len"] == 100
    assert record["segment_code"] == [record["code"]["package_sha256"]]
    on_disk = json.loads(path.read_text())
    assert on_disk["config_hash"] == record["config_hash"] and on_disk["test"] == record["test"]


def test_side_files(record, results):
    path = _path(results)
    files = record["files"]
    pred = path.parent / files["predictions"]
    assert pred.name.endswith(".pred.tsv.gz") and pred.read_bytes()[:2] == b"\x1f\x8b"  # gzipped (weibo: 2.5 MB plain)
    blocks = [b for b in read_text_file(pred).split("\n\n") if b.strip()]
    assert len(blocks) == 100  # one per test sentence
    for block in blocks:
        for line in block.split("\n"):
            token, gold, guess = line.split("\t")
            assert token and gold and guess
    rel_path = path.parent / files["relevance"]
    with gzip.open(rel_path, "rt", encoding="utf-8") as fh:
        stored = json.load(fh)
    # format 2: columns per split; the test split's tokens and gold tags live only in the predictions file
    assert stored["format"] == 2 and set(stored) == {"format", "target_test", "target_train"}
    assert "tokens" not in stored["target_test"] and {"tokens", "tags"} <= stored["target_train"].keys()
    loaded = load_records(results, task="ner_en", method="fgkf")
    assert len(loaded) == 1
    rel = load_relevance(loaded[0])
    assert set(rel) == {"target_test", "target_train"}
    assert len(rel["target_test"]) == 100 and len(rel["target_train"]) == 200
    for split in rel.values():
        for sent in split:
            assert list(sent)[:2] == ["tokens", "tags"]  # rows as format 1 wrote them
            n = len(sent["tokens"])
            assert n == len(sent["tags"]) == len(sent["alpha_elem"]) == len(sent["w_elem"]) == len(sent["alpha_kd"])
            assert all(0 <= a <= 1 for a in sent["alpha_elem"])
            assert 0 <= sent["alpha_samp"] <= 1
    test_text = [(toks, gold) for toks, gold, _ in load_predictions(loaded[0])]
    assert [(s["tokens"], s["tags"]) for s in rel["target_test"]] == test_text
    assert [s["alpha_elem"] for s in rel["target_test"]] == stored["target_test"]["alpha_elem"]


def test_relevance_format_1_loads_as_written_and_format_2_round_trips(tmp_path):
    """Format 1 (a row per sentence, committed before format 2) loads unchanged; format 2 writes and reads the same
    rows back, the test split's text taken from the predictions file and cut to the row's length."""
    rows = {"target_test": [{"tokens": ["a", "b"], "tags": ["B", "E"], "w": [0.5, 1.25], "s": 0.3},
                            {"tokens": ["c"], "tags": ["S"], "w": [2.0], "s": 0.7}],
            "target_train": [{"tokens": ["d", "e"], "tags": ["B", "E"], "w": [0.1, 0.2], "s": 0.4}]}
    (tmp_path / "r.pred.tsv.gz").write_bytes(gzip.compress(b"a\tB\tB\nb\tE\tS\nx\tS\tS\n\nc\tS\tS\n\n"))
    record = {"_path": str(tmp_path / "r.json"), "files": {"relevance": "r.relevance.json.gz",
                                                          "predictions": "r.pred.tsv.gz"}}
    (tmp_path / "r.relevance.json.gz").write_bytes(gzip.compress(json.dumps(rows).encode()))
    assert load_relevance(record) == rows
    write_relevance(tmp_path / "r.relevance.json.gz", rows)  # the first sentence has 3 tokens in the predictions
    assert load_relevance(record) == rows
    assert json.dumps(load_relevance(record)) == json.dumps(rows)  # key order too
    rows["target_test"][1]["w"] = [2.0, 3.0]  # more values than the predictions' tokens
    write_relevance(tmp_path / "r.relevance.json.gz", rows)
    with pytest.raises(ValueError, match="more relevance values than tokens"):
        load_relevance(record)


def test_relevance_of_a_run_without_one_names_the_record_and_its_files(tmp_path):
    record = {"_path": str(tmp_path / "t.json"), "files": {"predictions": "t.pred.tsv.gz"}}  # e.g. target_only
    with pytest.raises(ValueError, match=r"t\.json: expected a 'relevance' side file, got files \['predictions'\]"):
        load_relevance(record)


def test_no_temp_files_and_checkpoint_removed(record, results):
    assert not [p for p in results.rglob("*") if p.name.endswith(".tmp")]
    assert not list((results / "checkpoints").rglob("*.pt"))


def test_second_identical_call_does_not_train(record, results, monkeypatch):
    path = _path(results)
    before = (path.stat().st_mtime_ns, path.read_bytes())
    monkeypatch.setattr(Trainer, "fit", _fail)
    monkeypatch.setattr(runs_mod, "load_task", _fail)
    again = fgkf_core.run(task="ner_en", method="fgkf", seed=1, profile="smoke", results_dir=results, progress=False)
    assert again["config_hash"] == record["config_hash"] and again["test"] == record["test"]
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before
    # sweeps skip it too
    out = sweep([RunSpec("ner_en", "fgkf", 1)], profile="smoke", results_dir=results, progress=False)
    assert out == [f"ner_en/fgkf/s1: test {record['test']['score']:.2f} (already recorded: {path})"]


def test_different_override_different_path(record, results, monkeypatch):
    base = _path(results)
    other = _path(results, kd_alpha=0.3)
    assert other != base and other.parent == base.parent
    assert _path(results, kd_alpha=0.5) == base  # the default value: the same run
    def would_train(*args, **kwargs):
        raise RuntimeError("would train")

    monkeypatch.setattr(runs_mod, "load_task", would_train)
    with pytest.raises(RuntimeError, match="would train"):  # not skipped: it is a new run
        fgkf_core.run(task="ner_en", method="fgkf", seed=1, profile="smoke", results_dir=results, progress=False,
                      kd_alpha=0.3)
    with pytest.raises(RuntimeError, match="would train"):  # another seed is another run too
        fgkf_core.run(task="ner_en", method="fgkf", seed=2, profile="smoke", results_dir=results, progress=False)
    assert not other.exists()


def test_failure_mid_training_leaves_no_record_then_resumes(record, tmp_path, monkeypatch, data_dir):
    calls = {"n": 0}
    original = Trainer.target_step

    def flaky(self, batch):
        calls["n"] += 1
        if calls["n"] == 7:  # inside the second episode, after a checkpoint
            raise RuntimeError("simulated crash")
        return original(self, batch)

    monkeypatch.setattr(Trainer, "target_step", flaky)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fgkf_core.run(task="ner_en", method="fgkf", seed=1, profile="smoke", results_dir=tmp_path, progress=False,
                      device="cpu")
    monkeypatch.undo()
    assert not list(tmp_path.rglob("*.pred.tsv*")) and not (tmp_path / "runs").exists()  # no record, no side file
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    checkpoints = list((tmp_path / "checkpoints").rglob("*.pt"))
    assert len(checkpoints) == 1  # what a later call resumes from
    assert checkpoints[0].with_suffix(".summary.json").exists()
    rec = fgkf_core.run(task="ner_en", method="fgkf", seed=1, profile="smoke", results_dir=tmp_path, progress=False,
                        device="cpu")
    assert _path(tmp_path).exists() and not checkpoints[0].exists()
    assert not checkpoints[0].with_suffix(".summary.json").exists()
    # the resumed run is the uninterrupted one
    assert rec["dev_curve"] == record["dev_curve"] and rec["alpha_trace"] == record["alpha_trace"]
    assert rec["steps"] == record["steps"] and rec["test"] == record["test"]
    assert rec["resumed"] is True and rec["segments"] == 2


def test_unknown_names_list_valid_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(runs_mod, "load_task", _fail)
    with pytest.raises(ValueError) as info:
        fgkf_core.run(task="ner_en", method="nope", profile="smoke", results_dir=tmp_path)
    for name in METHODS:
        assert name in str(info.value)
    with pytest.raises(ValueError) as info:
        fgkf_core.run(task="ner_en", method="fgkf", profile="huge", results_dir=tmp_path)
    assert all(p in str(info.value) for p in ("smoke", "quick", "full"))
    with pytest.raises(ValueError) as info:
        fgkf_core.run(task="ner_en", method="fgkf", profile="smoke", results_dir=tmp_path, learning_rate=0.1)
    assert "learning_rate" in str(info.value) and "kd_alpha" in str(info.value) and "lr" in str(info.value)
    with pytest.raises(ValueError, match="paper"):
        fgkf_core.run(task="ner_en", method="fgkf", profile="smoke", formulation="mine", results_dir=tmp_path)
    with pytest.raises(ValueError, match="ner_en"):
        fgkf_core.run(task="ner_xx", method="fgkf", profile="smoke", results_dir=tmp_path)
    assert not list(tmp_path.rglob("*"))


def test_custom_task_run(tmp_path):
    src, tgt = tmp_path / "data" / "src", tmp_path / "data" / "tgt"
    sents = [[(f"w{(i * 7 + j) % 13}", "A" if (i + j) % 3 else "B") for j in range(2 + i % 5)] for i in range(60)]
    write_tsv(src / "train.tsv", sents[:40])
    write_tsv(tgt / "all.tsv", sents)
    task = custom_task(src, tgt, "tags")
    rec = fgkf_core.run(task, "target_only", profile="smoke", data_dir=tmp_path / "data", results_dir=tmp_path / "res",
                        progress=False, max_target_epochs=2, device="cpu")
    assert rec["task"] == task.name and rec["task_info"]["comparable_to_paper"] is False
    assert rec["task_info"]["sizes"]["target_train"] == 48
    assert "relevance" not in rec["files"]  # target_only has no relevance outputs
    paths = list((tmp_path / "res" / "runs").rglob("*.json"))
    assert len(paths) == 1 and ":" not in str(paths[0].relative_to(tmp_path)) and ">" not in paths[0].parent.parent.name


def test_flush_denormal_holds_through_training_and_is_restored(results, monkeypatch):
    from fgkf_core.denormals import flushing

    seen, fit = [], Trainer.fit
    monkeypatch.setattr(Trainer, "fit", lambda self: (seen.append(flushing()), fit(self))[1])
    rec = fgkf_core.run(task="ner_en", method="target_only", seed=1, profile="smoke", results_dir=results,
                        progress=False, flush_denormal=True)
    assert seen == [True] and rec["config"]["flush_denormal"] is True and not flushing()
    plain = runs_mod.locate("ner_en", "target_only", 1, "smoke", results_dir=results)
    assert rec["run_key"] != plain.key  # a record says which numerics made it
    assert resolve("cws_zx", "full")[0].flush_denormal and not resolve("cws_zx", "quick")[0].flush_denormal
