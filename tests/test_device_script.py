"""study/device.sh, the prepared sitting on a lent GPU machine, run here on the CPU with a one-run smoke plan:
it trains the plan's missing run, packs exactly the files this call wrote, and a second call packs nothing."""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PLAN = """profile: smoke
tiers:
  - name: "1 smoke"
    groups:
      - {tasks: [cws_zx], methods: [target_only], seeds: [1]}
"""


def _sitting(tmp_path: Path, data: Path, out: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    env = dict(os.environ, FGKF_DATA=str(data.resolve()), FGKF_DEVICE="cpu", BENCH="0", WORKERS="1", PLAN=str(tmp_path / "plan.yaml"),
               FGKF_RESULTS=str(tmp_path / "results"), FGKF_CHECKPOINTS=str(tmp_path / "ck"),
               OUT=str(tmp_path / out), PYTHON=sys.executable)
    done = subprocess.run(["bash", "study/device.sh", "2", "1"], cwd=ROOT, env=env, capture_output=True, text=True)
    with tarfile.open(tmp_path / out / "records.tgz") as tar:
        return done, sorted(Path(n).name for n in tar.getnames())


def test_device_sitting_packs_the_records_it_wrote(tmp_path, data_dir):
    (tmp_path / "plan.yaml").write_text(PLAN)
    done, names = _sitting(tmp_path, data_dir, "out1")
    assert done.returncode == 0, done.stderr
    assert "torch" in done.stdout and "no GPU" in done.stdout  # the machine line
    record = [n for n in names if n.endswith(".json")]
    assert len(record) == 1 and record[0].startswith("smoke-") and record[0].endswith("-s1.json")
    assert any(n.endswith(".pred.tsv.gz") for n in names)
    assert f"{len(names)} files written in this call" in done.stdout
    again, names = _sitting(tmp_path, data_dir, "out2")  # recorded: nothing trained, an empty archive
    assert again.returncode == 0 and names == [] and "0 files written" in again.stdout


def test_device_sitting_refuses_a_missing_data_folder(tmp_path):
    """Before any work: the data folder the device tool should have carried."""
    env = dict(os.environ, FGKF_DATA=str(tmp_path / "none"), OUT=str(tmp_path / "out"), PYTHON=sys.executable)
    done = subprocess.run(["bash", "study/device.sh", "2"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "make device-data" in done.stderr
