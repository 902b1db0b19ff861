"""The command line, run as a user would (`python -m fgkf_core ...` in a subprocess)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fgkf_core import cli
from fgkf_core.methods import METHODS
from fgkf_core.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]


def fgkf(*args: str, data_dir: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", TQDM_DISABLE="1")
    if data_dir is not None:
        env["FGKF_DATA"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "fgkf_core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_help():
    top = fgkf("--help")
    assert top.returncode == 0, top.stderr
    for word in ("run", "sweep", "data", "list"):
        assert word in top.stdout
    sub = fgkf("run", "--help")
    assert sub.returncode == 0, sub.stderr
    for flag in ("--task", "--method", "--seed", "--profile", "--results-dir", "--set", "--quiet", "--force"):
        assert flag in sub.stdout


def test_list_prints_tasks_methods_profiles():
    out = fgkf("list")
    assert out.returncode == 0, out.stderr
    lines = {line.split(":")[0].strip(): line.split(":", 1)[1] for line in out.stdout.splitlines() if ":" in line}
    assert {m.strip() for m in lines["methods"].split(",")} == set(METHODS)
    assert {t.strip() for t in lines["tasks"].split(",")} == set(TASKS)
    assert {"smoke", "quick", "full"} <= {p.strip() for p in lines["profiles"].split(",")}


def test_run_writes_record_then_skips(tmp_path, data_dir):
    args = ("run", "--task", "ner_en", "--method", "fgkf", "--seed", "1", "--profile", "smoke",
            "--results-dir", str(tmp_path), "--quiet")
    t0 = time.time()
    first = fgkf(*args, data_dir=data_dir, timeout=150)
    took = time.time() - t0
    assert first.returncode == 0, first.stderr[-2000:]
    assert took < 120
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    # --quiet: no bar, but a background log still gets progress lines (the first and last are always written)
    assert "ner_en/fgkf/s1: started at phase start" in first.stdout and ": finished (" in first.stdout
    assert "\r" not in first.stdout + first.stderr
    assert (summary["task"], summary["method"], summary["seed"], summary["profile"]) == ("ner_en", "fgkf", 1, "smoke")
    records = list((tmp_path / "runs" / "ner_en" / "fgkf").glob("smoke-*-s1.json"))
    assert len(records) == 1
    rec_path = records[0]
    rec = json.loads(rec_path.read_text())
    assert rec["test"]["score"] == pytest.approx(summary["test"])
    before = (rec_path.stat().st_mtime_ns, rec_path.read_bytes())

    t0 = time.time()
    second = fgkf(*args, data_dir=data_dir, timeout=60)
    took2 = time.time() - t0
    assert second.returncode == 0, second.stderr[-2000:]
    assert json.loads(second.stdout.strip().splitlines()[-1]) == summary  # the stored record, not a new run
    assert (rec_path.stat().st_mtime_ns, rec_path.read_bytes()) == before
    assert took2 < 30 and took2 < took + 1
    assert len(list((tmp_path / "runs").rglob("*.json"))) == 1


def test_run_unknown_task_exits_2_listing_tasks(tmp_path):
    out = fgkf("run", "--task", "nope", "--profile", "smoke", "--results-dir", str(tmp_path), "--quiet")
    assert out.returncode == 2
    assert "nope" in out.stderr
    for name in TASKS:
        assert name in out.stderr
    assert not list(tmp_path.rglob("*.json"))


def test_data_check_real_root_ok(data_dir):
    out = fgkf("data", "check", "--data-dir", str(data_dir), timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "all datasets present" in out.stdout
    assert "MISSING" not in out.stdout
    for task in TASKS.values():
        assert task.source in out.stdout and task.target in out.stdout


def test_data_folders_lists_what_tasks_read(capsys):
    """`data folders` names each dataset folder the tasks read, once (what `make device-data` copies)."""
    assert cli.main(["data", "folders", "cws_zx", "cws_weibo"]) == 0
    assert capsys.readouterr().out.split() == ["ctb6_cws", "weibo_cws_nlpcc2016", "zhuxian_cws"]
    assert cli.main(["data", "folders"]) == 2
    assert "expected task names" in capsys.readouterr().err
    assert cli.main(["data", "folders", "cws_zz"]) == 2
    assert "valid tasks: cws_zx" in capsys.readouterr().err


def test_data_check_empty_root_fails(tmp_path):
    out = fgkf("data", "check", "--data-dir", str(tmp_path))
    assert out.returncode == 1
    assert "MISSING" in out.stdout and "missing or malformed" in out.stdout


def test_data_check_malformed_file_reported(tmp_path, data_dir):
    from fgkf_core.datacheck import check_folder

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train.tsv").write_text("ok\tA\n\nbroken line\n", encoding="utf-8")
    ok, summary = check_folder(bad)
    assert not ok and "train.tsv:3" in summary
    ok, summary = check_folder(data_dir / "twitter_ner_ritter2011")
    assert ok and "all 2394 sentences" in summary


def test_in_process_errors_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FGKF_DATA", str(tmp_path))
    code = cli.main(["run", "--task", "ner_en", "--profile", "smoke", "--results-dir", str(tmp_path), "--quiet",
                     "--set", "no_such_key=1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no_such_key" in err and "kd_alpha" in err
    code = cli.main(["run", "--task", "ner_en", "--method", "magic", "--results-dir", str(tmp_path), "--quiet"])
    assert code == 2 and "fgkf" in capsys.readouterr().err
    monkeypatch.delenv("FGKF_DATA")
    assert cli.main(["data", "check"]) == 2
    assert "FGKF_DATA" in capsys.readouterr().err
    assert cli.main(["sweep", "--tasks", "ner_en", "--methods", "fgkf", "--hours", "2"]) == 2
    assert "--hours needs --plan FILE" in capsys.readouterr().err
    plan = tmp_path / "p.yaml"
    plan.write_text("profile: smoke\ntiers:\n  - groups:\n      - {tasks: [ner_en], methods: [fgkf], seeds: [1]}\n")
    assert cli.main(["sweep", "--plan", str(plan), "--hours", "-1", "--results-dir", str(tmp_path / "r")]) == 2
    assert "hours: expected a positive number of hours, got -1.0" in capsys.readouterr().err


def test_override_parsing():
    assert cli._overrides(["lr=0.001", "alpha=elem", "warm_up=false", "max_minutes=null", "kd_alpha = 0.3"]) == {
        "lr": 0.001, "alpha": "elem", "warm_up": False, "max_minutes": None, "kd_alpha": 0.3,
    }
    with pytest.raises(SystemExit):
        cli._overrides(["lr"])
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["run", "--profile", "huge"])
