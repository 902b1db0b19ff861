"""The run API: resolve a config, train, evaluate at the best dev point, write one JSON record per run.

Records live at ``results/runs/<task>/<method>/<profile>-<config hash>-s<seed>.json`` with side files
for the target test predictions and the per-token relevance weights. Writes are atomic; a run whose
record exists is skipped; a killed run resumes from its checkpoint under ``results/checkpoints``.
"""
from __future__ import annotations

import datetime as _dt
import gzip
import hashlib
import json
import os
import platform
import random
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch

from .config import resolve
from .data import EncodedSet, atomic_write_text
from .methods import BuildContext, get_method
from .tasks import Task, get_task, load_task
from .train import Prepared, Trainer, prepare

SCHEMA = 1
PACKAGE_ROOT = Path(__file__).resolve().parent


def default_results_dir() -> Path:
    """$FGKF_RESULTS or ./results."""
    return Path(os.environ.get("FGKF_RESULTS", "results"))


def pick_device(device: str | None = None) -> torch.device:
    """CUDA when present, else CPU (an explicit choice wins)."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def code_version() -> dict[str, Any]:
    """Git commit, uncommitted-changes flag and a hash of the package's source files (exact code identity)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PACKAGE_ROOT, capture_output=True, text=True, timeout=10).stdout.strip()

    digest = hashlib.sha256()
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE_ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    out: dict[str, Any] = {"package_sha256": digest.hexdigest()[:16]}
    try:
        return out | {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain", "--", "."))}
    except (OSError, subprocess.SubprocessError):
        return out | {"commit": None, "dirty": None}


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("torch", "pytorch-crf", "numpy", "tqdm"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def record_path(results_dir: Path, task: str, method: str, profile: str, config_hash: str, seed: int) -> Path:
    safe_task = task.replace(":", "_").replace("/", "_").replace(">", "")
    return results_dir / "runs" / safe_task / method / f"{profile}-{config_hash}-s{seed}.json"


@dataclass
class RunSpec:
    """One entry of a sweep."""

    task: str
    method: str
    seed: int = 1
    overrides: dict[str, Any] = field(default_factory=dict)


def run(
    task: str | Task, method: str, seed: int = 1, profile: str = "quick", data_dir: str | Path | None = None,
    results_dir: str | Path | None = None, device: str | None = None, formulation: str = "paper",
    progress: bool = True, force: bool = False, threads: int | None = None, **overrides: Any,
) -> dict:
    """Train and evaluate one (task, method, seed) and return its record; an existing record is returned as is."""
    task_obj = get_task(task)
    method_obj = get_method(method)
    cfg, layers = resolve(task_obj.name, profile, formulation, **overrides)
    results = Path(results_dir) if results_dir else default_results_dir()
    path = record_path(results, task_obj.name, method, profile, cfg.hash(), seed)
    if path.exists() and not force:
        return json.loads(path.read_text())
    if threads:
        torch.set_num_threads(threads)
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.time()
    random.seed(seed)
    torch.manual_seed(seed)
    dev = pick_device(device)
    data = load_task(task_obj, data_dir, target_fraction=cfg.target_fraction, target_pool=cfg.target_pool)
    data = data.limited(cfg.source_limit, cfg.target_limit, cfg.eval_limit)
    prep = prepare(data, cfg)
    ctx = BuildContext(len(prep.encoder.vocab), len(prep.encoder.tags), task_obj.features, task_obj.max_len)
    torch.manual_seed(seed)
    system = method_obj.build(cfg, ctx)
    checkpoint = results / "checkpoints" / path.relative_to(results / "runs").with_suffix(".pt")
    trainer = Trainer(method_obj, system, prep, cfg, seed, dev, progress=progress, checkpoint=checkpoint)
    fit = trainer.fit()
    tagger = method_obj.evaluated(system)
    test, test_pred = prep.score(tagger, "target_test", cfg.batch_size, dev)
    side = _write_side_files(path, prep, test_pred, method_obj, system, dev, cfg.batch_size)
    record = {
        "schema": SCHEMA, "task": task_obj.name, "method": method, "seed": seed, "profile": profile,
        "formulation": formulation, "reduced_profile": profile != "full",
        "config": cfg.to_dict(), "config_hash": cfg.hash(), "config_layers": layers,
        "task_info": {
            "description": task_obj.description, "source": task_obj.source, "target": task_obj.target,
            "scheme": task_obj.scheme, "metric": task_obj.metric, "comparable_to_paper": task_obj.comparable,
            "sizes": {k: len(getattr(data, k)) for k in ("source_train", "target_train", "target_dev", "target_test")},
            "vocab_size": len(prep.encoder.vocab), "tags": prep.encoder.tags.itos,
        },
        "data": {"root_relative_sha256": data.files},
        "code": code_version(), "versions": library_versions(), "device": _device_name(dev),
        "threads": torch.get_num_threads(), "started_at": started, "wall_seconds": round(time.time() - t0, 2),
        "train_seconds": round(fit.train_seconds, 2), "stop_reason": fit.stop_reason, "steps": fit.steps,
        "dev_curve": fit.dev_curve, "best_dev": fit.best_dev, "best_step": fit.best_step, "dev": fit.dev_metrics,
        "test": test, "alpha_trace": fit.alpha_trace, "files": side,
    }
    atomic_write_text(path, json.dumps(record, indent=1, default=_jsonable))
    checkpoint.unlink(missing_ok=True)
    return record


def _device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(dev)}"
    return f"cpu:{platform.processor() or platform.machine()}"


def _jsonable(x: Any) -> Any:
    if isinstance(x, (set, frozenset)):
        return sorted(x)
    if isinstance(x, torch.Tensor):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x)}")


def _write_side_files(
    path: Path, prep: Prepared, test_pred: list[list[str]], method: Any, system: Any, dev: torch.device, batch_size: int
) -> dict[str, str]:
    """Target test predictions (TSV) and, for relevance methods, per-token weights on test and train (JSON.gz)."""
    lines = []
    for s, pred in zip(prep.target_test.sentences, test_pred):
        lines.extend(f"{t}\t{g}\t{p}" for t, g, p in zip(s.tokens, s.tags, pred))
        lines.append("")
    pred_path = path.with_suffix(".pred.tsv")
    atomic_write_text(pred_path, "\n".join(lines) + "\n")
    files = {"predictions": pred_path.name}
    test_rel = relevance_outputs(method, system, prep.target_test, dev, batch_size)  # test is encoded whole already
    if test_rel is not None:
        # the training split was cut to MAX_LEN for training; its relevance is reported over whole sentences
        whole_train = EncodedSet(prep.target_train.sentences, prep.encoder, None)
        rel = {"target_test": test_rel, "target_train": relevance_outputs(method, system, whole_train, dev, batch_size)}
        rel_path = path.with_suffix(".relevance.json.gz")
        tmp = rel_path.with_suffix(".tmp")
        with gzip.open(tmp, "wt", encoding="utf-8") as fh:
            json.dump(rel, fh)
        os.replace(tmp, rel_path)
        files["relevance"] = rel_path.name
    return files


@torch.no_grad()
def relevance_outputs(method: Any, system: Any, data: EncodedSet, dev: torch.device, batch_size: int) -> list[dict] | None:
    """Per sentence: tokens, gold tags and every per-token relevance output of the method (None if it has none)."""
    system.eval()
    out: list[dict | None] = [None] * len(data)
    fusion = getattr(system, "fusion", None)
    limit = fusion.max_len if fusion is not None and fusion.elem_map == "positional" else None
    for batch in data.batches(batch_size):
        if limit and batch.mask.shape[1] > limit:  # the positional map only covers MAX_LEN positions
            batch = type(batch)(batch.ids[:, :limit], batch.tags[:, :limit], batch.mask[:, :limit], batch.index)
        values = method.relevance(system, batch.to(dev))
        if values is None:
            return None
        lengths = batch.mask.sum(1).tolist()
        for row, i in enumerate(batch.index.tolist()):
            n = lengths[row]
            s = data.sentences[i]
            out[i] = {"tokens": list(s.tokens[:n]), "tags": list(s.tags[:n])} | {
                k: (round(v[row].item(), 5) if v.dim() == 1 else [round(x, 5) for x in v[row, :n].tolist()])
                for k, v in values.items()
            }
    system.train()
    return out  # type: ignore[return-value]


def _run_spec(args: tuple[RunSpec, dict]) -> str:
    spec, common = args
    rec = run(spec.task, spec.method, seed=spec.seed, **common, **spec.overrides)
    return f"{spec.task}/{spec.method}/s{spec.seed}: test {rec['test']['score']:.2f}"


def iter_sweep(
    specs: Iterable[RunSpec], workers: int = 1, threads: int | None = None, progress: bool = True, **common: Any
) -> Iterator[str]:
    """Run every spec not yet recorded, yielding one summary line per run as it finishes.

    `workers` processes with `threads` torch threads each; recorded runs return at once.
    """
    specs = list(specs)
    common = dict(common, threads=threads, progress=progress and workers == 1)
    if workers <= 1:
        for spec in specs:
            yield _run_spec((spec, common))
        return
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        yield from pool.map(_run_spec, [(s, common) for s in specs])


def sweep(specs: Iterable[RunSpec], workers: int = 1, threads: int | None = None, progress: bool = True, **common: Any) -> list[str]:
    """`iter_sweep` collected into a list."""
    return list(iter_sweep(specs, workers, threads, progress, **common))


def load_records(results_dir: str | Path | None = None, **where: Any) -> list[dict]:
    """All run records under results_dir, filtered by top-level fields (e.g. task='ner_en', profile='quick')."""
    root = Path(results_dir) if results_dir else default_results_dir()
    out = []
    for p in sorted((root / "runs").glob("*/*/*.json")):
        rec = json.loads(p.read_text())
        if all(rec.get(k) == v for k, v in where.items()):
            rec["_path"] = str(p)
            out.append(rec)
    return out


def load_relevance(record: dict) -> dict:
    """The stored per-token relevance outputs of a run record."""
    path = Path(record["_path"]).parent / record["files"]["relevance"]
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)
