"""The study queue: plan parsing and its errors, ETA from measured walls, the queue lock, progress lines."""
from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

import fgkf_core
from fgkf_core import cli
from fgkf_core.plan import estimate, expected_seconds, load_plan, measured_walls, pick_next, run_plan, thread_speedup
from fgkf_core.plan_status import plan_status
from fgkf_core.runs import RunSpec, checkpoint_root
from fgkf_core.tasks import custom_task

from conftest import tiny_pair

ROOT = Path(__file__).resolve().parents[1]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_committed_full_plan_expands_in_tier_order():
    plan = load_plan(ROOT / "study" / "full.yaml")
    assert plan.profile == "full"
    first = plan.tiers[0].specs
    assert sorted((s.task, s.method, s.seed) for s in first if not s.overrides) == sorted(
        (t, m, seed) for t in ("cws_zx", "cws_weibo") for m in ("target_only", "basic_kd", "fgkf") for seed in (1, 2, 3)
    )  # Table 3's CWS core, each run once
    # FGKF seed 1 and its bf16 twin first, then cws_zx's seed-1 baselines and the float32 FGKF seeds that give
    # the twin's noise band
    assert [(s.task, s.method, s.seed, s.overrides) for s in first[:2]] == [
        ("cws_zx", "fgkf", 1, {}), ("cws_zx", "fgkf", 1, {"routing_dtype": "bfloat16"})]
    assert [(s.method, s.seed) for s in first[2:6]] == [("target_only", 1), ("basic_kd", 1), ("fgkf", 2), ("fgkf", 3)]
    assert sum(bool(s.overrides) for s in first) == 1


def test_full_plan_runs_every_run_a_full_profile_claim_reads():
    """Each claim the book judges in the full profile (every page's grid, the paper's own settings of Tables 4
    and 7 and Figure 5) has its variants in the plan, so "not run" always means "queued"; substitute data
    (pos_zh), never comparable, is the one exception."""
    from fgkf_core.study.claims import difference_reason
    from fgkf_core.study.pages import (
        ablation_grid, cws_variants_grid, data_size_grid, main_results_grid, relevance_split_grid,
    )

    plan = load_plan(ROOT / "study" / "full.yaml")
    queued = {(s.task, s.method, json.dumps(s.overrides, sort_keys=True)) for t in plan.tiers for s in t.specs}
    pages = [main_results_grid("full")[0], cws_variants_grid("full", ["cws_zx", "cws_weibo"]),
             relevance_split_grid("full"), ablation_grid("full", "pos_en"), data_size_grid("full", "cws_weibo")[0]]
    missing = []
    for page in pages:
        variant = {v.label: v for v in page.variants}
        for claim in page.claims:
            for label in claim.variants():
                v = variant[label]
                if (claim.task, v.method, json.dumps(v.overrides, sort_keys=True)) not in queued:
                    missing.append((page.page, claim.task, label))
    assert missing and all(difference_reason(task) for _, task, _ in missing)  # pos_zh's Table 3 rows only
    assert {task for _, task, _ in missing} == {"pos_zh"}
    size = data_size_grid("full", "cws_weibo")[0]
    assert all((s.task, s.method, json.dumps(s.overrides, sort_keys=True)) in queued for s in size.specs)


def test_an_unmeasured_run_is_scaled_from_a_sibling_method_on_its_task():
    """Weibo's FGKF from Weibo's basicKD and both on Zhuxian (the same Algorithm 1 schedule); target-only, another
    schedule, is no sibling; without a sibling the method's mean elsewhere is the guess."""
    walls = {("zx", "basic_kd", "{}"): [2000.0], ("zx", "fgkf", "{}"): [9000.0, 11000.0],
             ("weibo", "basic_kd", "{}"): [3000.0, 5000.0], ("weibo", "target_only", "{}"): [400.0],
             ("zx", "target_only", "{}"): [4000.0]}
    seconds, measured = expected_seconds(RunSpec("weibo", "fgkf", 1), walls)
    assert seconds == pytest.approx(4000.0 * 10000.0 / 2000.0) and not measured  # 5x Weibo's basicKD
    assert expected_seconds(RunSpec("weibo", "fgkf", 1), walls, threads=2)[0] == pytest.approx(
        20000.0 / thread_speedup(2))
    lone = {("zx", "fgkf", "{}"): [9000.0], ("weibo", "target_only", "{}"): [400.0], ("zx", "target_only", "{}"): [40.0]}
    assert expected_seconds(RunSpec("weibo", "fgkf", 1), lone) == (pytest.approx(9000.0), False)


def test_a_run_with_unmeasured_overrides_is_timed_by_the_runs_with_the_closest_overrides():
    """A Table 4 cell without warm-up takes the walls of the other no-warm-up cells (measured: ~1.1 h on
    cws_zx, against ~2.2 h with warm-up), not the mean over every FGKF run of the task; a run with warm-up and
    a switch no run has set takes the plain runs' walls."""
    plain, elem, samp = "{}", '{"alpha": "elem", "warm_up": false}', '{"alpha": "samp", "warm_up": false}'
    walls = {("zx", "fgkf", plain): [8000.0], ("zx", "fgkf", elem): [4000.0], ("zx", "fgkf", samp): [3000.0]}
    assert expected_seconds(RunSpec("zx", "fgkf", 1, {"alpha": "multi", "warm_up": False}), walls) == (
        pytest.approx(3500.0), True)  # both no-warm-up cells, one setting in common each
    assert expected_seconds(RunSpec("zx", "fgkf", 1, {"alpha": "samp", "warm_up": False, "relevance": "sample_q"}),
                            walls) == (pytest.approx(3000.0), True)  # two settings in common beat one
    assert expected_seconds(RunSpec("zx", "fgkf", 1, {"lr": 0.01}), walls) == (pytest.approx(8000.0), True)
    walls[("zx", "fgkf", '{"lr": 0.1}')] = [1000.0]  # agrees on none but differs on one setting, like the plain run
    assert expected_seconds(RunSpec("zx", "fgkf", 1, {"lr": 0.01}), walls) == (pytest.approx(4500.0), True)


def test_plan_errors_name_file_and_group(tmp_path):
    bad = _write(tmp_path / "p.yaml", "profile: smoke\ntiers:\n  - name: a\n    groups:\n      - {tasks: [ner_en], seeds: [1]}\n")
    with pytest.raises(ValueError, match=r"p\.yaml: tier 1 group 1: 'methods' must be a non-empty list"):
        load_plan(bad)
    typo = _write(tmp_path / "q.yaml", "tiers:\n  - groups:\n      - {tasks: [ner_en], methods: [fgkf], seeds: [1], seed: 2}\n")
    with pytest.raises(ValueError, match=r"q\.yaml: tier 1 group 1: unknown keys \['seed'\]"):
        load_plan(typo)
    for name, text, message in [
        ("r.yaml", "tiers: {a: 1}\n", r"r\.yaml: expected a mapping with a list of 'tiers'.*got dict"),
        ("s.yaml", "tiers:\n  - just a name\n", r"s\.yaml: tier 1: expected a mapping with a list of 'groups'"),
        ("t.yaml", "tiers:\n  - groups: [ner_en]\n", r"t\.yaml: tier 1 group 1: expected a mapping, got 'ner_en'"),
        ("u.yaml", "profile: ful\ntiers: []\n", r"u\.yaml: profile 'ful' is unknown; valid: smoke, quick, full"),
    ]:
        with pytest.raises(ValueError, match=message):  # a ValueError naming file and place, not a TypeError
            load_plan(_write(tmp_path / name, text))


def test_queue_refuses_tiers_the_plan_lacks_and_non_positive_workers(tmp_path):
    plan = _write(tmp_path / "p.yaml", "profile: smoke\ntiers:\n  - groups: []\n  - groups: []\n")
    with pytest.raises(ValueError, match=r"tiers: .*p\.yaml has tiers 1-2, got 0, 3"):
        run_plan(plan, workers=1, tiers=[3, 1, 0], results_dir=tmp_path / "res", log=lambda line: None)
    with pytest.raises(ValueError, match="workers: expected a positive integer, got 0"):
        run_plan(plan, workers=0, results_dir=tmp_path / "res", log=lambda line: None)
    assert not (tmp_path / "res").exists()  # refused before anything was written


def test_estimate_uses_own_task_and_method_first():
    walls = {("a", "fgkf", "{}"): [100.0, 300.0], ("a", "fgkf", '{"alpha": "elem"}'): [50.0],
             ("b", "fgkf", "{}"): [1000.0], ("a", "target_only", "{}"): [10.0]}
    specs = [RunSpec("a", "fgkf", 4), RunSpec("a", "fgkf", 1, {"alpha": "samp"}), RunSpec("c", "fgkf", 1),
             RunSpec("c", "nal", 1)]
    seconds, guessed = estimate(specs, walls, workers=2)
    # own overrides mean 200; same task and method (100+300+50)/3; same method (100+300+50+1000)/4; all /5
    assert seconds == pytest.approx((200 + 450 / 3 + 1450 / 4 + 1460 / 5) / 2)
    assert guessed == 2
    assert estimate(specs, {}, 1) == (0.0, 4)


def _record(root: Path, name: str, task: str, wall: float, flush: bool | None, overrides: dict | None = None,
            threads: int = 1, device: str = "cpu:x86_64", hosts: list[str] | None = None) -> None:
    path = root / "runs" / task / "fgkf" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {} if flush is None else {"flush_denormal": flush}
    path.write_text(json.dumps({"task": task, "method": "fgkf", "wall_seconds": wall, "config": config,
                                "config_layers": {"overrides": overrides or {}}, "threads": threads,
                                "device": device} | ({"segment_hosts": hosts} if hosts else {})))


def test_measured_walls_reads_records_of_the_profile_and_its_numerics(tmp_path):
    _record(tmp_path, "full-x-s1", "a", 5.0, True)
    _record(tmp_path, "full-b-s1", "a", 9.0, True, {"routing_dtype": "bfloat16"})
    _record(tmp_path, "quick-y-s1", "a", 7.0, False)
    _record(tmp_path, "full-z-s2", "a", 30.0, None)  # before the flush: denormals made it slower, left out
    _record(tmp_path, "full-w-s3", "a", 40.0, False, {"flush_denormal": False})  # asked for: kept, as such
    assert measured_walls(tmp_path, "full") == {
        ("a", "fgkf", "{}"): [5.0], ("a", "fgkf", '{"routing_dtype": "bfloat16"}'): [9.0],
        ("a", "fgkf", '{"flush_denormal": false}'): [40.0]}
    assert measured_walls(tmp_path, "quick") == {("a", "fgkf", "{}"): [7.0]}


def test_walls_are_scaled_to_one_thread_and_kept_to_the_queues_kind_of_device(tmp_path):
    _record(tmp_path, "full-x-s1", "a", 100.0, True, threads=2)  # 1.5x faster on two threads: 150 s on one
    _record(tmp_path, "full-x-s2", "a", 10.0, True, device="cuda:NVIDIA H200")
    assert thread_speedup(1) == 1.0 and thread_speedup(2) == pytest.approx(1.5)
    assert measured_walls(tmp_path, "full", "cpu") == {("a", "fgkf", "{}"): [pytest.approx(150.0)]}
    assert measured_walls(tmp_path, "full", "cuda") == {("a", "fgkf", "{}"): [10.0]}
    walls = measured_walls(tmp_path, "full", "cpu")
    assert expected_seconds(RunSpec("a", "fgkf", 3), walls, threads=1) == (pytest.approx(150.0), True)
    assert expected_seconds(RunSpec("a", "fgkf", 3), walls, threads=2) == (pytest.approx(100.0), True)
    assert estimate([RunSpec("a", "fgkf", 3)], walls, 1, 2, spent={"a/fgkf/s3": 40.0})[0] == pytest.approx(60.0)


def test_walls_of_runs_resumed_on_another_thread_count_are_left_out(tmp_path):
    """A run trained partly on 1 thread and partly on 2 has a wall no one count's scaling fits; the record's own
    `threads` (its last segment's, 2) would count it 1.5x. Its segment hosts decide."""
    one, two = "cpu:x86_64, 1 thread", "cpu:x86_64, 2 threads"
    _record(tmp_path, "full-x-s1", "a", 100.0, True, threads=2, hosts=[one, one, two])
    _record(tmp_path, "full-x-s2", "a", 60.0, True, threads=1, hosts=[two])  # a stale `threads`: the hosts win
    _record(tmp_path, "full-x-s3", "a", 50.0, True, threads=1, hosts=[one, one])
    assert measured_walls(tmp_path, "full", "cpu") == {("a", "fgkf", "{}"): [pytest.approx(90.0), 50.0]}


def test_pick_next_continues_a_run_this_machine_kept_a_checkpoint_of():
    walls = {("a", "fgkf", "{}"): [5000.0], ("a", "target_only", "{}"): [100.0]}
    queue = [("t", RunSpec("a", "fgkf", 1)), ("t", RunSpec("a", "fgkf", 2)), ("t", RunSpec("a", "target_only", 1))]
    assert pick_next(queue, walls, 3000.0) == 2  # neither FGKF run fits from scratch: the short one
    assert pick_next(queue[:2], walls, 3000.0) is None
    assert pick_next(queue, walls, 3000.0, threads=2) == 2  # 3,333 s on two threads: still too long
    assert pick_next(queue, walls, 3500.0, threads=2) == 0  # fits on two threads
    # s2 has a checkpoint here from an earlier sitting: this machine keeps them, so it goes on, finished in time or not
    assert pick_next(queue, walls, 3000.0, spent={"a/fgkf/s2": 500.0}) == 1
    assert pick_next(queue, walls, 60.0, spent={"a/fgkf/s2": 500.0, "a/fgkf/s1": 10.0}) == 0  # plan order among them


def test_pick_next_on_a_persistent_machine_keeps_plan_order_past_the_deadline():
    walls = {("a", "fgkf", "{}"): [5000.0], ("a", "target_only", "{}"): [100.0]}
    queue = [("t", RunSpec("a", "fgkf", 1)), ("t", RunSpec("a", "fgkf", 2)), ("t", RunSpec("a", "target_only", 1))]
    assert pick_next(queue, walls, 3000.0) == 2  # a lent machine: only what finishes in time
    assert pick_next(queue, walls, 3000.0, persistent=True) == 0  # it keeps checkpoints: plan order, paused later
    assert pick_next(queue, walls, 3000.0, spent={"a/fgkf/s2": 500.0}, persistent=True) == 1  # started runs first
    assert pick_next([], walls, 3000.0, persistent=True) is None


def test_make_study_full_passes_the_sitting_options():
    import subprocess

    def dry(*args: str) -> str:  # the command make would run, not run
        return subprocess.run(["make", "-n", "study-full", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout

    line = dry("HOURS=2.5", "PERSISTENT=1", "WORKERS=1")
    assert "sweep --plan study/full.yaml --workers 1 --threads 1 --hours 2.5 --persistent --quiet" in line
    assert "--persistent" not in dry("HOURS=2.5") and "--hours" not in dry()


def test_persistent_needs_a_deadline(capsys):
    assert cli.main(["sweep", "--plan", str(ROOT / "study" / "full.yaml"), "--persistent"]) == 2
    assert "--persistent needs --hours" in capsys.readouterr().err


def test_pick_next_starts_only_what_finishes_before_the_deadline():
    walls = {("a", "fgkf", "{}"): [5000.0], ("a", "target_only", "{}"): [1000.0]}
    queue = [("t", RunSpec("a", "fgkf", 1)), ("t", RunSpec("a", "target_only", 1)), ("t", RunSpec("z", "nal", 1))]
    assert pick_next(queue, walls, None) == 0  # no deadline: plan order
    assert pick_next(queue, walls, 6000.0) == 0
    assert pick_next(queue, walls, 2000.0) == 1  # FGKF would not finish: the measured baseline that does
    assert pick_next(queue, walls, 500.0) is None  # nothing fits, nal's guess included (all runs: 3,000 s)
    assert pick_next([queue[0], queue[2]], walls, 3500.0) == 1  # nal never measured: guessed to fit, started
    assert pick_next(queue, {}, 10.0) == 0  # nothing measured anywhere: plan order, to get a first measure
    assert pick_next([], walls, None) is None


def test_second_queue_exits_at_once(tmp_path):
    plan = _write(tmp_path / "p.yaml", "profile: smoke\ntiers:\n  - groups:\n      - {tasks: [ner_en], methods: [fgkf], seeds: [1]}\n")
    lock = checkpoint_root(tmp_path / "res") / "queue.lock"
    lock.parent.mkdir(parents=True)
    lines: list[str] = []
    with open(lock, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert run_plan(plan, workers=1, log=lines.append, results_dir=tmp_path / "res") == 0
    assert lines == [f"another queue holds {lock}; exiting"]
    assert not (tmp_path / "res" / "runs").exists()


def test_queue_leaves_a_run_another_process_is_training(tmp_path, data_dir):
    from fgkf_core.runs import RunBusy, locate

    plan = _write(tmp_path / "p.yaml", "profile: smoke\ntiers:\n  - groups:\n      - {tasks: [ner_en], methods: [target_only], "
                  "seeds: [1], overrides: {max_target_epochs: 1}}\n")
    res = tmp_path / "res"
    loc = locate("ner_en", "target_only", 1, "smoke", "paper", data_dir, res, max_target_epochs=1)
    loc.lock.parent.mkdir(parents=True)
    lines: list[str] = []
    with open(loc.lock, "a+") as fh:  # this test process plays the other trainer
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fh.write("4242")
        fh.flush()
        with pytest.raises(RunBusy, match=r"another process \(pid 4242\) is training this run now"):
            fgkf_core.run("ner_en", "target_only", profile="smoke", results_dir=res, data_dir=data_dir, progress=False,
                          wait_for_lock=False, max_target_epochs=1)
        assert run_plan(plan, workers=1, log=lines.append, results_dir=res, data_dir=data_dir, device="cpu") == 0
    assert "ner_en/target_only/s1 max_target_epochs=1: left to the process training it (another process (pid 4242)" in lines[-1]
    assert not loc.record.exists()
    rec = fgkf_core.run("ner_en", "target_only", profile="smoke", results_dir=res, data_dir=data_dir, progress=False,
                        wait_for_lock=False, max_target_epochs=1)  # the lock is free again: it trains
    assert loc.record.exists() and loc.lock.read_text() == str(os.getpid())  # the holder writes its pid
    assert rec["task"] == "ner_en"


def test_log_hook_reports_patience_and_the_end(tmp_path, capsys):
    src, tgt = tiny_pair(tmp_path)
    rec = fgkf_core.run(custom_task(src, tgt, "tags"), "target_only", profile="smoke", progress=False, device="cpu",
                        results_dir=tmp_path / "res", max_target_epochs=60, eval_every=1, patience=4, log_every=0)
    out = [line for line in capsys.readouterr().out.splitlines() if "target_only/s1" in line]
    assert "started at phase start" in out[0]
    assert any("patience left" in line and "ends within" in line for line in out)
    assert f"finished (early_stop): best dev {rec['best_dev']:.2f} at step {rec['best_step']}" in out[-1]
    with pytest.raises(ValueError, match="log_every: expected seconds >= 0, got -1"):
        fgkf_core.run(custom_task(src, tgt, "tags"), "target_only", profile="smoke", results_dir=tmp_path / "r2",
                      log_every=-1)


def test_status_counts_recorded_started_and_waiting(tmp_path, data_dir):
    from fgkf_core.hooks import RunPaused

    plan = _write(tmp_path / "p.yaml", "profile: smoke\ntiers:\n  - name: one\n    groups:\n"
                  "      - {tasks: [ner_en], methods: [target_only], seeds: [1, 2, 3], overrides: {max_target_epochs: 2}}\n")
    res = tmp_path / "res"
    kw = dict(profile="smoke", results_dir=res, data_dir=data_dir, progress=False, device="cpu", max_target_epochs=2)
    fgkf_core.run("ner_en", "target_only", seed=1, **kw)
    with pytest.raises(RunPaused):
        fgkf_core.run("ner_en", "target_only", seed=2, time_budget=1e-9, **kw)
    lines: list[str] = []
    totals = plan_status(plan, res, data_dir, log=lines.append)
    assert totals == {"recorded": 1, "started": 1, "waiting": 1}
    assert lines[0].startswith("tier one: 1 recorded, 1 started, 1 waiting of 3; ~")
    started = lines[1]
    assert started.startswith("    ner_en/target_only/s2 max_target_epochs=2: 0 source / ")
    assert " target steps, best dev " in started and "1 segment(s)" in started and len(lines) == 4
    assert lines[2].startswith(f"(checkpoints read from {res / 'checkpoints'};")
    assert "PERSISTENT=1" in lines[3]  # a started run: this machine keeps checkpoints, so say how to use that
    from fgkf_core.study import plan_progress

    row = plan_progress(res, data_dir, plan=plan).iloc[0]  # the page's view: committed records only
    assert (row["tier"], row["planned"], row["recorded"]) == ("one", 3, 1)
    assert row["expected left (one 1-thread CPU worker)"].startswith("~") and "not yet measured" not in row["expected left (one 1-thread CPU worker)"]
    # the recorded run left no checkpoint or summary behind; the paused one left both
    assert sorted(p.name.split("-")[-1] for p in (res / "checkpoints").rglob("*-s*.*") if p.suffix != ".lock") == [
        "s2.pt", "s2.summary.json"]


def test_log_hook_counts_warm_up_steps_against_their_budget(tmp_path, data_dir, capsys):
    rec = fgkf_core.run("pos_en", "fgkf", profile="smoke", progress=False, device="cpu", results_dir=tmp_path,
                        data_dir=data_dir, warm_up_epochs=1.0, log_every=0)
    warm = [line for line in capsys.readouterr().out.splitlines() if "warm-up step" in line]
    budget = rec["steps"]["warm_step"]  # the whole warm-up ran: its steps are the budget the lines name
    assert warm and all(f" of {budget} (" in line for line in warm)
    assert warm[0].split("warm-up step ")[1].startswith(f"{rec['config']['teach_step']} of")
    # after the first, each line says how long the warm-up has left at this segment's rate
    assert len(warm) >= 2 and " left)" not in warm[0] and all(line.endswith(" min left)") for line in warm[1:])


def test_queue_with_a_deadline_skips_long_runs_and_pauses_the_rest(tmp_path, data_dir):
    plan = _write(tmp_path / "p.yaml", "profile: smoke\ntiers:\n  - name: one\n    groups:\n"
                  "      - {tasks: [ner_en], methods: [target_only], seeds: [1]}\n"
                  "      - {tasks: [ner_en], methods: [fgkf], seeds: [1], overrides: {max_source_epochs: 50}}\n")
    res = tmp_path / "res"
    slow = res / "runs" / "ner_en" / "target_only" / "smoke-measured-s9.json"  # target_only measured at ~12 days
    fast = res / "runs" / "ner_en" / "fgkf" / "smoke-measured-s9.json"  # FGKF measured at 1 s (50 epochs: longer)
    for path, method, wall in ((slow, "target_only", 1e6), (fast, "fgkf", 1.0)):
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"task": "ner_en", "method": method, "wall_seconds": wall, "config": {},
                                    "config_layers": {"overrides": {}}}))
    lines: list[str] = []
    trained = run_plan(plan, workers=1, log=lines.append, hours=3 / 3600, results_dir=res, data_dir=data_dir,
                       device="cpu")
    assert trained == 0
    assert "until" in lines[0]
    assert "ner_en/fgkf/s1 max_source_epochs=50: paused at the deadline (time budget of" in lines[1]  # started, paused
    assert lines[2].startswith("deadline: 1 runs left, none expected to finish") and "ner_en/target_only/s1," in lines[2]
    assert len(lines) == 3 and sorted(p.name for p in (res / "runs").rglob("*.json")) == [fast.name, slow.name]
    assert any(p.name.endswith("-s1.pt") for p in (res / "checkpoints").rglob("*.pt"))  # resumable later
    with pytest.raises(ValueError, match="hours: expected a positive number of hours, got 0"):
        run_plan(plan, workers=1, hours=0, results_dir=res)


def test_queue_leaves_bf16_runs_to_a_machine_with_bf16_hardware(tmp_path, data_dir, monkeypatch):
    """On a CPU whose bf16 matmuls are emulated (~15x slower) the queue trains the float32 runs only, and says so."""
    import fgkf_core.plan as plan_mod

    plan = _write(tmp_path / "p.yaml", "profile: smoke\ntiers:\n  - name: one\n    groups:\n"
                  "      - {tasks: [ner_en], methods: [fgkf], seeds: [1], overrides: {routing_dtype: bfloat16}}\n")
    monkeypatch.setattr(plan_mod, "native_bf16", lambda dev: False)
    lines: list[str] = []
    assert run_plan(plan, workers=1, log=lines.append, results_dir=tmp_path / "res", data_dir=data_dir,
                    device="cpu") == 0
    assert lines[0].startswith("plan: 1 run with routing_dtype=bfloat16 left for a machine with bf16 hardware")
    assert "ner_en/fgkf/s1 routing_dtype=bfloat16" in lines[0] and ", 0 recorded, 0 to train (1 worker x 1 thread)" in lines[1]
    todo = [("one", RunSpec("a", "fgkf", 1, {"routing_dtype": "bfloat16"})), ("one", RunSpec("a", "fgkf", 1))]
    assert plan_mod._runnable_here(todo, "cpu") == (todo[1:], todo[:1])
    monkeypatch.setattr(plan_mod, "native_bf16", lambda dev: True)
    assert plan_mod._runnable_here(todo, "cpu") == (todo, [])


def test_runs_without_their_datasets_here_are_left_out_not_fatal(tmp_path, data_dir):
    """A data root holding only some datasets (a lent machine gets the CWS ones): the queue trains what it can
    and names what it left; the status counts those runs apart instead of stopping at the first missing file."""
    root = tmp_path / "data"
    root.mkdir()
    for folder in ("ontonotes5_en_ner", "twitter_ner_ritter2011"):  # ner_en's datasets, not pos_en's
        (root / folder).symlink_to((data_dir / folder).resolve())  # FGKF_DATA may be relative (CI: ../shared/data)
    plan = _write(tmp_path / "p.yaml", "profile: smoke\ntiers:\n  - name: one\n    groups:\n"
                  "      - {tasks: [pos_en, ner_en], methods: [target_only], seeds: [1], overrides: {max_target_epochs: 1}}\n")
    res = tmp_path / "res"
    lines: list[str] = []
    assert run_plan(plan, workers=1, log=lines.append, results_dir=res, data_dir=root, device="cpu") == 1
    assert lines[0].startswith("plan: 1 run left for a machine with their datasets, e.g. pos_en/target_only/s1")
    assert "ptb_wsj_pos_ontonotes is missing" in lines[0] and ", 0 recorded, 1 to train" in lines[1]
    status: list[str] = []
    assert plan_status(plan, res, root, log=status.append) == {"recorded": 1, "started": 0, "waiting": 0}
    assert status[0].startswith("tier one: 1 recorded, 0 started, 0 waiting, 1 without their datasets here of 2;")
    assert not any("PERSISTENT" in line for line in status)  # nothing started: no claim that checkpoints survive
