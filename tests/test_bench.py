"""`bench --trained`: step times of a run's checkpoint with denormals kept and flushed; the checkpoint is only read."""
from __future__ import annotations

import hashlib

import pytest

import fgkf_core
from fgkf_core.bench_trained import bench_trained
from fgkf_core.hooks import RunPaused
from fgkf_core.runs import locate


def test_times_both_steps_of_a_checkpoint_in_both_modes_and_leaves_it_as_it_was(tmp_path, data_dir, capsys):
    with pytest.raises(RunPaused):  # a tiny time budget pauses at the first boundary, checkpoint written
        fgkf_core.run("pos_en", "fgkf", profile="smoke", results_dir=tmp_path, progress=False, time_budget=1e-6)
    ck = locate("pos_en", "fgkf", 1, "smoke", results_dir=tmp_path).checkpoint
    before = hashlib.sha256(ck.read_bytes()).hexdigest()
    out = bench_trained("pos_en", "fgkf", 1, "smoke", steps=1, results_dir=tmp_path)
    assert all(out[f"{k}_s_{m}"] > 0 for k in ("source", "target") for m in ("kept", "flushed"))
    assert out["source_step"] > 0 and hashlib.sha256(ck.read_bytes()).hexdigest() == before
    assert "pos_en/fgkf/s1 (smoke, checkpoint at" in capsys.readouterr().out


def test_names_the_missing_checkpoint(tmp_path, data_dir):
    with pytest.raises(FileNotFoundError, match=r"no checkpoint of pos_en/fgkf/s1 \(smoke\)"):
        bench_trained("pos_en", "fgkf", 1, "smoke", results_dir=tmp_path)
