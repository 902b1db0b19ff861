"""Run machinery a long study depends on: exact resume after a kill, data identity, concurrency, damaged
state and argument errors raised before any training."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import fgkf_core
from fgkf_core import cli
from fgkf_core import runs as runs_mod
from fgkf_core.hooks import CheckpointError
from fgkf_core.tasks import custom_task

from conftest import tiny_pair, write_tsv

ROOT = Path(__file__).resolve().parents[1]
TIMESTAMPED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")  # a --quiet progress line
#: fields that describe the process, not the result
VOLATILE = {"started_at", "wall_seconds", "train_seconds", "resumed", "segments", "segment_code", "segment_hosts",
            "_path", "_skipped"}


def _cli(*args: str, data_dir: Path | None = None) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    if data_dir is not None:
        env["FGKF_DATA"] = str(data_dir)
    # a suite started in the background (`cmd &`) inherits SIGINT ignored, and so would the child: restore it
    return subprocess.Popen([sys.executable, "-m", "fgkf_core", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _record(results: Path) -> dict:
    (path,) = (results / "runs").rglob("*.json")
    return json.loads(path.read_text())


def _stable(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k not in VOLATILE}


# ----------------------------------------------------------------------------- exact resume


@pytest.mark.parametrize("sig, flush", [(signal.SIGKILL, True), (signal.SIGINT, False)])
def test_killed_run_resumes_bitwise(tmp_path, data_dir, sig, flush):
    """Kill a run mid-way (its checkpoint summary says episode 2 is saved), run it again: the record equals an
    uninterrupted run's (also with denormals flushed, as `full` runs). The summary is a state, so a poller
    starved by a busy machine cannot miss it."""
    args = ["run", "--task", "pos_en", "--method", "fgkf", "--profile", "smoke", "--quiet",
            "--set", "max_source_epochs=2", "eval_every=2", f"flush_denormal={str(flush).lower()}"]
    ref = _cli(*args, "--results-dir", str(tmp_path / "ref"), data_dir=data_dir)
    assert ref.wait(timeout=300) == 0, ref.stderr.read()
    killed = _cli(*args, "--results-dir", str(tmp_path / "k"), data_dir=data_dir)
    deadline = time.time() + 240

    def episodes_saved() -> int:
        for summary in (tmp_path / "k" / "checkpoints").rglob("*.summary.json"):
            try:
                return json.loads(summary.read_text())["episode"]
            except (OSError, ValueError):  # replaced while read
                return 0
        return 0

    while episodes_saved() < 2 and time.time() < deadline and killed.poll() is None:
        time.sleep(0.01)
    killed.send_signal(sig)
    killed.wait(timeout=60)
    assert not list((tmp_path / "k" / "runs").rglob("*.json")), "the run finished before it was killed"
    assert list((tmp_path / "k" / "checkpoints").rglob("*.pt"))
    again = _cli(*args, "--results-dir", str(tmp_path / "k"), data_dir=data_dir)
    assert again.wait(timeout=300) == 0, again.stderr.read()
    a, b = _record(tmp_path / "ref"), _record(tmp_path / "k")
    assert b["resumed"] is True and b["segments"] == 2 and a["segments"] == 1
    assert _stable(a) == _stable(b)  # every number: dev curve, alpha trace, steps, test scores


class _Killed(Exception):
    """Stands in for a kill right after a checkpoint."""


def test_kill_after_the_stopping_checkpoint_resumes_to_the_same_end(tmp_path, monkeypatch):
    """Early stopping decided, its boundary checkpointed, then a kill: the resumed run must not train on."""
    from fgkf_core.hooks import CheckpointHook

    src, tgt = tiny_pair(tmp_path / "d")
    task = custom_task(src, tgt, "tags")
    kw = dict(TINY, max_target_epochs=60, eval_every=1, patience=4)
    ref = fgkf_core.run(task, "target_only", results_dir=tmp_path / "ref", **kw)
    assert ref["stop_reason"] == "early_stop"
    save = CheckpointHook.on_boundary

    def save_then_die(self, tr):
        save(self, tr)
        if tr.state.stop:
            raise _Killed

    monkeypatch.setattr(CheckpointHook, "on_boundary", save_then_die)
    with pytest.raises(_Killed):
        fgkf_core.run(task, "target_only", results_dir=tmp_path / "k", **kw)
    monkeypatch.setattr(CheckpointHook, "on_boundary", save)
    again = fgkf_core.run(task, "target_only", results_dir=tmp_path / "k", **kw)
    assert again["segments"] == 2 and _stable(again) == _stable(ref)


# ----------------------------------------------------------------------------- identity


TINY = dict(profile="smoke", progress=False, max_target_epochs=1, device="cpu")


def test_run_key_follows_data_content(tmp_path):
    src, tgt = tiny_pair(tmp_path / "a")
    res = tmp_path / "res"
    first = fgkf_core.run(custom_task(src, tgt, "tags"), "target_only", results_dir=res, **TINY)
    # same folder names, other content: another run
    src2, tgt2 = tiny_pair(tmp_path / "b", bump=3)
    other = fgkf_core.run(custom_task(src2, tgt2, "tags"), "target_only", results_dir=res, **TINY)
    assert other["run_key"] != first["run_key"] and not other.get("_skipped")
    # an edited test.tsv: another run too, never the old record
    text = (tgt / "test.tsv").read_text().replace("w1\tA", "w1\tB", 1)
    (tgt / "test.tsv").write_text(text)
    edited = fgkf_core.run(custom_task(src, tgt, "tags"), "target_only", results_dir=res, **TINY)
    assert edited["run_key"] != first["run_key"] and not edited.get("_skipped")
    # unchanged data: the record comes back without training
    (tgt / "test.tsv").write_text(text)
    same = fgkf_core.run(custom_task(src, tgt, "tags"), "target_only", results_dir=res, **TINY)
    assert same["_skipped"] and same["run_key"] == edited["run_key"]
    assert len(list((res / "runs").rglob("*.json"))) == 3


def test_two_concurrent_identical_runs_share_one_record(tmp_path, data_dir):
    args = ["run", "--task", "ner_en", "--method", "target_only", "--profile", "smoke", "--quiet",
            "--results-dir", str(tmp_path)]
    procs = [_cli(*args, data_dir=data_dir) for _ in range(2)]
    outs = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    assert [rc for rc, _, _ in outs] == [0, 0], outs
    said = [next(line for line in out.splitlines() if not TIMESTAMPED.match(line)) for _, out, _ in outs]
    assert sorted(line.split(":")[0] for line in said) == ["already recorded", "record"], outs  # past progress lines
    assert len(list((tmp_path / "runs").rglob("*.json"))) == 1
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_duplicate_sweep_entries_run_once(tmp_path, data_dir):
    spec = runs_mod.RunSpec("ner_en", "target_only", 1)
    lines = runs_mod.sweep([spec, spec], profile="smoke", results_dir=tmp_path, progress=False)
    assert len(lines) == 1 and "trained" in lines[0]


def test_ctrl_c_stops_a_parallel_sweep_as_a_whole(tmp_path, data_dir):
    """One SIGINT to a 2-worker sweep: both runs stop at once (no worker left training, no next run started),
    exit 130 with a resume hint, no record written; the checkpoints stay for an exact resume."""
    results = tmp_path / "res"
    proc = _cli("sweep", "--tasks", "ner_en", "--methods", "target_only", "--seeds", "1", "2", "3", "--profile",
                "smoke", "--workers", "2", "--quiet", "--results-dir", str(results), "--set",
                "max_target_epochs=10000", "patience=100000", data_dir=data_dir)
    try:
        checkpoints = results / "checkpoints" / "ner_en" / "target_only"
        deadline = time.time() + 240
        while len(list(checkpoints.glob("*-s[12].pt"))) < 2 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert len(list(checkpoints.glob("*-s[12].pt"))) == 2, proc.stderr.read() if proc.poll() is not None else ""
        started = time.time()
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
        err = proc.stderr.read()
        assert rc == 130, err
        assert time.time() - started < 30  # did not wait for the runs to end
        assert "resumes exactly from its last checkpoint" in err
        assert not list((results / "runs").rglob("*.json"))
        assert not list(checkpoints.glob("*-s3.*"))  # the queued third run was cancelled, not started
    finally:
        proc.kill()  # a sweep that ignored the interrupt must not keep training after a failed test
    time.sleep(1)
    alive = subprocess.run(["pgrep", "-f", str(results)], capture_output=True, text=True).stdout.split()
    assert alive == [], alive  # no worker outlived the interrupt


def test_an_error_in_the_parent_kills_the_workers_at_once():
    """A queue that fails (not only Ctrl-C) does not wait at exit for its workers' runs to end."""
    from fgkf_core.pool import worker_pool

    started = time.time()
    with pytest.raises(RuntimeError, match="parent failed"):
        with worker_pool(1) as pool:
            running = pool.submit(time.sleep, 120)  # a run that would outlive the parent's error
            while not running.running():
                time.sleep(0.05)
            raise RuntimeError("parent failed")
    assert running.exception(timeout=10) is not None  # its worker was killed, not waited for
    assert time.time() - started < 60


# ----------------------------------------------------------------------------- damaged state


def test_corrupt_record_is_named_and_force_replaces_it(tmp_path):
    src, tgt = tiny_pair(tmp_path / "d")
    task = custom_task(src, tgt, "tags")
    rec = fgkf_core.run(task, "target_only", results_dir=tmp_path / "res", **TINY)
    path = Path(rec["_path"])
    path.write_text(path.read_text()[:100])  # truncated
    with pytest.raises(ValueError, match=str(path)):
        fgkf_core.run(task, "target_only", results_dir=tmp_path / "res", **TINY)
    again = fgkf_core.run(task, "target_only", results_dir=tmp_path / "res", force=True, **TINY)
    assert _stable(again) == _stable(rec)


def test_corrupt_checkpoint_is_named_and_unfit_one_is_discarded(tmp_path, capsys):
    src, tgt = tiny_pair(tmp_path / "c")
    task = custom_task(src, tgt, "tags")
    res = tmp_path / "res"
    loc = runs_mod.locate(task, "target_only", 1, "smoke", results_dir=res, max_target_epochs=1)
    loc.checkpoint.parent.mkdir(parents=True)
    loc.checkpoint.write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(CheckpointError, match=str(loc.checkpoint)):
        fgkf_core.run(task, "target_only", results_dir=res, **TINY)
    assert not loc.record.exists()
    # a checkpoint of another model (other sizes): discarded with a message, training starts afresh
    torch.save({"system": {"target.emit.weight": torch.zeros(3, 3)}, "opts": {}, "state": {}}, loc.checkpoint)
    rec = fgkf_core.run(task, "target_only", results_dir=res, **TINY)
    assert "discarding checkpoint" in capsys.readouterr().out and rec["segments"] == 1
    fresh = fgkf_core.run(task, "target_only", results_dir=tmp_path / "fresh", **TINY)
    assert _stable(rec) == _stable(fresh)


# ----------------------------------------------------------------------------- argument errors


def _bad_tag_data(root: Path) -> Path:
    src, tgt = tiny_pair(root)
    lines = (tgt / "dev.tsv").read_text().splitlines()
    lines[4] = "w3\tB-PER"  # line 5: a BIO tag in a POS-style ("tags") file is fine ...
    (tgt / "dev.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.parametrize("argv, message", [
    (["--device", "cuda"], "CUDA is not available"),
    (["--threads", "-3"], "threads: expected a positive integer, got -3"),
    (["--set", "lr=abc"], "config lr: expected float, got 'abc'"),
    (["--set", "batch_size=0"], "config batch_size: expected a value >= 1, got 0"),
    (["--set", "kd_alpha=0.3"], "method 'target_only' ignores it"),
    (["--method", "basic_kd", "--set", "fusion_weights=fixed"], "method 'basic_kd' ignores it"),
    (["--method", "amcl", "--set", "shared_embedding=false"], "method 'amcl' ignores it"),
    (["--method", "fgkf", "--set", "fusion_weights=frozen"], "expected one of 'trained', 'fixed', got 'frozen'"),
    (["--method", "basic_kd", "--set", "ps_refresh=every_tech"], "expected one of 'every_teach', 'on_source_improve'"),
])
def test_bad_arguments_fail_before_training(tmp_path, capsys, argv, message, data_dir):
    rc = cli.main(["run", "--task", "ner_en", "--method", "target_only", "--profile", "smoke", "--quiet",
                   "--results-dir", str(tmp_path / "res"), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("*.json"))


def test_unwritable_results_dir(tmp_path, capsys, data_dir):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    rc = cli.main(["run", "--task", "ner_en", "--method", "target_only", "--profile", "smoke", "--quiet",
                   "--results-dir", str(blocker / "res")])
    err = capsys.readouterr().err
    assert rc == 2 and f"results dir {blocker / 'res'} is not writable" in err


@pytest.mark.parametrize("split, line, tag, scheme", [
    ("train", 3, "X", "bmes"), ("dev", 5, "B_PER", "bio"), ("test", 2, "I-", "bio"),
])
def test_invalid_tag_names_file_and_line(tmp_path, capsys, split, line, tag, scheme):
    good = {"bmes": "S", "bio": "O"}[scheme]
    sents = [[(f"c{i}{j}", good) for j in range(3)] for i in range(30)]
    src, tgt = tmp_path / "src", tmp_path / "tgt"
    write_tsv(src / "train.tsv", sents)
    for name in ("train", "dev", "test"):
        write_tsv(tgt / f"{name}.tsv", sents[:10])
    path = tgt / f"{split}.tsv"
    lines = path.read_text().splitlines()
    lines[line - 1] = f"{lines[line - 1].split(chr(9))[0]}\t{tag}"
    path.write_text("\n".join(lines) + "\n")
    rc = cli.main(["run", "--source-dir", str(src), "--target-dir", str(tgt), "--scheme", scheme,
                   "--method", "target_only", "--profile", "smoke", "--quiet", "--results-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and f"{path}:{line}: tag {tag!r}" in err, err
    assert not (tmp_path / "r" / "runs").exists()


def test_progress_bar_shows_unless_quiet(tmp_path, capsys):
    src, tgt = tiny_pair(tmp_path / "p")
    kw = dict(TINY, progress=True)
    fgkf_core.run(custom_task(src, tgt, "tags"), "target_only", results_dir=tmp_path / "res", **kw)
    err = capsys.readouterr().err
    assert "target_only" in err and "dev=" in err  # tqdm bar with the latest dev score
    fgkf_core.run(custom_task(src, tgt, "tags"), "target_only", results_dir=tmp_path / "res2", **TINY)
    assert "target_only" not in capsys.readouterr().err


def test_checkpoints_can_live_outside_the_results_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FGKF_CHECKPOINTS", str(tmp_path / "elsewhere"))
    src, tgt = tiny_pair(tmp_path / "e")
    loc = runs_mod.locate(custom_task(src, tgt, "tags"), "target_only", 1, "smoke", results_dir=tmp_path / "res")
    assert loc.checkpoint.is_relative_to(tmp_path / "elsewhere") and loc.lock.parent == loc.checkpoint.parent
    assert loc.record.is_relative_to(tmp_path / "res")


def test_code_identity_covers_the_cpp_kernel(tmp_path, monkeypatch):
    """A change to the C++ routing kernel alone changes the package hash a record names."""
    import shutil

    from fgkf_core import identity

    pkg = tmp_path / "fgkf_core"
    shutil.copytree(identity.PACKAGE_ROOT, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(identity, "PACKAGE_ROOT", pkg)
    before = identity._read_code_version()["package_sha256"]
    kernel = pkg / "csrc" / "routing.cpp"
    kernel.write_text(kernel.read_text() + "\n// edited\n")
    assert identity._read_code_version()["package_sha256"] != before


def test_records_name_the_processor_model_and_its_kernel_features():
    from fgkf_core.identity import cpu_model

    info = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx512f avx512_bf16\n\nprocessor\t: 1\n"
    assert cpu_model(info).startswith("AMD EPYC (") and cpu_model(info).endswith("; avx512f avx512_bf16)")
    assert cpu_model("model name : Old CPU\nflags : fpu sse2\n").startswith("Old CPU (")
    assert "avx" not in cpu_model("model name : Old CPU\nflags : fpu sse2\n")
    assert "model name" not in cpu_model("")  # no /proc/cpuinfo: the architecture


def test_bf16_counts_as_native_only_with_bf16_hardware(monkeypatch):
    import torch

    from fgkf_core import identity
    from fgkf_core.identity import native_bf16

    cpu = torch.device("cpu")
    assert native_bf16(cpu, "model name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert native_bf16(cpu, "model name\t: Intel Xeon\nflags\t\t: fpu avx512f amx_bf16 amx_tile\n")
    assert not native_bf16(cpu, "model name\t: AMD EPYC\nflags\t\t: fpu avx avx2 fma\n")  # emulated: 15x slower
    assert not native_bf16(cpu, "")
    monkeypatch.setattr(identity, "native_bf16", lambda dev: False)
    assert "has no avx512_bf16 or amx_bf16" in identity.bf16_warning(cpu)
    monkeypatch.setattr(identity, "native_bf16", lambda dev: True)
    assert identity.bf16_warning(cpu) is None


def test_a_bf16_run_on_a_cpu_without_bf16_hardware_warns_before_training(tmp_path, data_dir, capsys, monkeypatch):
    """On a CPU taken to lack bf16 hardware, the run's own warning is on stderr by the time training starts."""
    import fgkf_core.runs as runs_mod
    from fgkf_core import identity
    from fgkf_core.train import Trainer

    monkeypatch.setattr(identity, "native_bf16", lambda dev: False)
    before_fit: list[str] = []
    fit = Trainer.fit

    def fit_after_reading_stderr(self):
        before_fit.append(capsys.readouterr().err)
        return fit(self)

    monkeypatch.setattr(Trainer, "fit", fit_after_reading_stderr)
    runs_mod.run("ner_en", "fgkf", 1, "smoke", data_dir=data_dir, results_dir=tmp_path, device="cpu", progress=False,
                 routing_dtype="bfloat16")
    assert len(before_fit) == 1 and "routing_dtype=bfloat16 on cpu:" in before_fit[0]
    assert "has no avx512_bf16 or amx_bf16" in before_fit[0]


def test_a_run_resumed_on_other_threads_says_so(tmp_path, capsys):
    """Exact resume holds on the same host: a segment on another thread count is named in the record."""
    from fgkf_core.hooks import RunPaused

    src, tgt = tiny_pair(tmp_path)
    kw = dict(profile="smoke", progress=False, device="cpu", results_dir=tmp_path / "res", max_target_epochs=40,
              eval_every=1)
    task = custom_task(src, tgt, "tags")
    with pytest.raises(RunPaused):
        fgkf_core.run(task, "target_only", threads=1, time_budget=1e-9, **kw)
    try:
        rec = fgkf_core.run(task, "target_only", threads=2, **kw)
    finally:
        torch.set_num_threads(1)
    one, two = rec["segment_hosts"]
    assert one.endswith(", 1 thread") and two.endswith(", 2 threads") and one.split(", 1 thread")[0] == rec["device"]
    assert "a run last trained on" in capsys.readouterr().err
    from fgkf_core.study.provenance import resumed_text

    assert resumed_text(rec) == "yes: 2 segments, 2 hosts (device or threads)"
