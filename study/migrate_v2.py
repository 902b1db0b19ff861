"""One-off migration of schema-1 run records (quick profile, before 2026-12-01) to schema 2. Kept for provenance.

Schema 2 keys a record on its resolved config *and* the sha256 of its data files (`runs.run_key`), drops the
wall-clock `max_minutes` from the config and adds `compile_routing` and `vocab`. For a schema-1 record:
- stopped on its time budget (`stop_reason == "time_budget"`): its result depended on the machine, so it is
  deleted (with its side files) and must be run again;
- otherwise the 15-minute cap never fired, so the run is exactly the same run without it: `max_minutes` is
  dropped, `compile_routing` is set to False (the eager routing it ran) and `vocab` to what it used (a
  vocabulary of both domains, which for single-domain methods is the `both` switch and for the others is the
  same as `trained`); the files are renamed to the new key and the record says `migrated_from`.
It does not re-run anything: the numbers are those the older code (see each record's `code`) produced.

    python study/migrate_v2.py [results_dir]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from fgkf_core.config import Config
from fgkf_core.data import atomic_write_text
from fgkf_core.methods import get_method
from fgkf_core.prepare import training_domains
from fgkf_core.runs import record_path, run_key
from fgkf_core.tasks import get_task


def migrate(path: Path) -> str:
    rec = json.loads(path.read_text(encoding="utf-8"))
    if rec.get("schema", 1) >= 2:
        return "current"
    side = [path.parent / name for name in rec.get("files", {}).values()]
    if rec["stop_reason"] == "time_budget":
        for p in [path, *side]:
            p.unlink(missing_ok=True)
        return "deleted (time budget)"
    cfg_dict = dict(rec["config"])
    cfg_dict.pop("max_minutes", None)
    single = training_domains(get_method(rec["method"]).schedule) != ("source", "target")
    cfg_dict |= {"compile_routing": False, "vocab": "both" if single else "trained"}
    cfg = Config(**cfg_dict)
    task = get_task(rec["task"])
    key = run_key(task, cfg, rec["data"]["root_relative_sha256"])
    results = path.parents[3]
    new = record_path(results, task.name, rec["method"], rec["profile"], key, rec["seed"])
    files = {}
    for kind, name in rec.get("files", {}).items():
        suffix = name[len(path.stem):]
        target = new.with_name(new.stem + suffix)
        (path.parent / name).rename(target)
        files[kind] = target.name
    layers = rec["config_layers"]
    layers["profile"].pop("max_minutes", None)
    layers["profile"]["compile_routing"] = False
    if single:
        layers.setdefault("migration", {})["vocab"] = "both"
    rec |= {
        "schema": 2, "config": cfg.to_dict(), "config_hash": cfg.hash(), "config_layers": layers, "run_key": key,
        "files": files, "resumed": None, "segments": None, "steps_after_best": None, "scoring": "standard",
        "migrated_from": {"schema": 1, "file": path.name, "note": "max_minutes=15 never fired; see study/migrate_v2.py"},
    }
    if "steps_after_best" in rec and rec["dev_curve"]:
        rec["steps_after_best"] = rec["dev_curve"][-1][0] - rec["best_step"]
    atomic_write_text(new, json.dumps(rec, indent=1))
    if new != path:
        path.unlink()
    return f"-> {new.name}"


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
    for p in sorted((root / "runs").glob("*/*/*.json")):
        print(p.relative_to(root), migrate(p))
