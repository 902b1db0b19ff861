"""The run API: resolve a config, train, evaluate at the best dev point, write one JSON record per run.

Records live at ``results/runs/<task>/<method>/<profile>-<run key>-s<seed>.json`` with side files for
the target test predictions and the per-token relevance weights. Writes are atomic; a run whose record
exists is skipped; a killed run resumes exactly from its checkpoint (`checkpoint_root`).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import fcntl
import hashlib
import json
import os
import random
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch

from .config import KEY_NEUTRAL, Config, resolve
from .data import EncodedSet, atomic_write_text
from .denormals import flush_denormals
from .hooks import CheckpointHook, Hook, LogHook, ProgressHook, TimeBudgetHook, remove_checkpoint
from .identity import PACKAGE_ROOT, bf16_warning, code_version, device_name, library_versions
from .methods import BuildContext, Method, get_method
from .pool import worker_pool
from .prepare import Prepared, prepare, training_domains
from .relevance_store import write_relevance
from .scoring import score_paper
from .tasks import Task, TaskData, data_fingerprint, get_task, load_task
from .train import Trainer
from .validate import check_device, check_overrides, check_threads, check_workers, check_writable

SCHEMA = 2
#: seconds between a background run's progress lines (queues and parallel sweeps)
LOG_EVERY = 600.0


def default_results_dir() -> Path:
    """The one results root: $FGKF_RESULTS, else `results/` of the checkout holding fgkf_core, else ./results."""
    if os.environ.get("FGKF_RESULTS"):
        return Path(os.environ["FGKF_RESULTS"])
    checkout = PACKAGE_ROOT.parent / "results"
    return checkout if checkout.is_dir() else Path("results")


def checkpoint_root(results_dir: Path) -> Path:
    """Where checkpoints and run locks live: $FGKF_CHECKPOINTS, else <results>/checkpoints (never committed).

    A folder outside the work tree lets a long study resume on the same machine after a fresh checkout.
    """
    return Path(os.environ["FGKF_CHECKPOINTS"]) if os.environ.get("FGKF_CHECKPOINTS") else results_dir / "checkpoints"


def pick_device(device: str | None = None) -> torch.device:
    """CUDA when present, else CPU (an explicit choice wins)."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def record_path(results_dir: Path, task: str, method: str, profile: str, key: str, seed: int) -> Path:
    safe_task = task.replace(":", "_").replace("/", "_").replace(">", "")
    return results_dir / "runs" / safe_task / method / f"{profile}-{key}-s{seed}.json"


def run_key(task: Task, cfg: Config, data_files: dict[str, str]) -> str:
    """A run's identity (with method, profile and seed in the path): resolved config, task definition, data content.

    Keyed on the sha256 of every data file the run reads, so an edited file or another custom pair with the
    same folder names gets a key of its own.
    """
    config = {k: v for k, v in cfg.to_dict().items() if not (k in KEY_NEUTRAL and v == KEY_NEUTRAL[k])}
    ident = {
        "config": config, "data": sorted(data_files.values()),
        "task": {"scheme": task.scheme, "max_len": task.max_len, "target_fraction": task.target_fraction,
                 "unsplit_sizes": task.unsplit_sizes, "source_tag_map": task.source_tag_map},
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=list).encode()).hexdigest()[:12]


@dataclass
class RunSpec:
    """One entry of a sweep: task, method, seed, formulation and config overrides."""

    task: str
    method: str
    seed: int = 1
    overrides: dict[str, Any] = field(default_factory=dict)
    formulation: str = "paper"

    @property
    def label(self) -> str:
        return run_label(self.task, self.method, self.seed, self.overrides)


def run_label(task: str, method: str, seed: int, overrides: dict[str, Any]) -> str:
    """'cws_zx/fgkf/s1 routing_dtype=bfloat16': how logs name a run."""
    return f"{task}/{method}/s{seed}" + "".join(f" {k}={v}" for k, v in sorted(overrides.items()))


@dataclass(frozen=True)
class Located:
    """Where a spec's record and checkpoint live, and the resolved config behind its key."""

    task: Task
    cfg: Config
    layers: dict[str, dict[str, Any]]
    key: str
    record: Path
    checkpoint: Path
    lock: Path


def locate(
    task: str | Task, method: str, seed: int, profile: str, formulation: str = "paper",
    data_dir: str | Path | None = None, results_dir: str | Path | None = None, **overrides: Any,
) -> Located:
    """Resolve a spec to its config, key and file locations (hashes the data files, trains nothing)."""
    task_obj = get_task(task)
    method_obj = get_method(method)
    check_overrides(method_obj, overrides)
    cfg, layers = resolve(task_obj.name, profile, formulation, kind=task_obj.kind, **overrides)
    key = run_key(task_obj, cfg, data_fingerprint(task_obj, data_dir))
    results = Path(results_dir) if results_dir else default_results_dir()
    path = record_path(results, task_obj.name, method, profile, key, seed)
    stem = path.relative_to(results / "runs").with_suffix("")
    ck = checkpoint_root(results) / stem.with_suffix(".pt")
    return Located(task_obj, cfg, layers, key, path, ck, ck.with_suffix(".lock"))


def read_record(path: Path) -> dict:
    """A record from disk; a damaged one is an error naming the file."""
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: corrupt run record ({err}); rerun with --force to replace it") from None
    rec["_path"] = str(path)
    return rec


class RunBusy(RuntimeError):
    """Another process holds the run's lock (it is training that run now); raised only when asked not to wait."""


@contextmanager
def _locked(lock: Path, wait: bool = True) -> Iterator[None]:
    """An exclusive lock per run key: a second process with the same spec waits for the first (or, with
    `wait=False`, raises RunBusy naming the lock and the process holding it)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise RunBusy(f"another process (pid {holder}) is training this run now (lock {lock})") from None
        fh.truncate(0)
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run(
    task: str | Task, method: str, seed: int = 1, profile: str = "quick", data_dir: str | Path | None = None,
    results_dir: str | Path | None = None, device: str | None = None, formulation: str = "paper",
    progress: bool = True, force: bool = False, threads: int | None = 1, time_budget: float | None = None,
    log_every: float | None = None, wait_for_lock: bool = True, **overrides: Any,
) -> dict:
    """Train and evaluate one (task, method, seed) and return its record; an existing record is returned as is.

    Every argument is checked before any data is read. `threads` torch threads (default and None: 1); `time_budget`
    seconds: checkpoint and raise RunPaused at the next boundary after it (never writes a record); `log_every`
    seconds: without a progress bar, print a progress line at most this often (background queues).
    A killed run resumes exactly from its checkpoint; `force` discards record and checkpoint first.
    `wait_for_lock=False`: raise RunBusy at once where another process is training the same run (queues).
    """
    t0 = time.time()
    code_version()  # pin the code identity of this process before any file can change under it
    check_threads(threads)
    check_device(device)
    if log_every is not None and log_every < 0:
        raise ValueError(f"log_every: expected seconds >= 0, got {log_every}")
    results = Path(results_dir) if results_dir else default_results_dir()
    loc = locate(task, method, seed, profile, formulation, data_dir, results, **overrides)
    check_writable(results)
    with _locked(loc.lock, wait_for_lock):
        if force:
            loc.record.unlink(missing_ok=True)
            remove_checkpoint(loc.checkpoint)
        if loc.record.exists():
            rec = read_record(loc.record)
            rec["_skipped"] = True
            return rec
        label = run_label(loc.task.name, method, seed, overrides)
        log = LogHook(label, log_every) if log_every is not None else None
        return _train(loc, method, seed, profile, formulation, data_dir, device, progress, threads, time_budget, log, t0)


def load_prepared(
    loc: Located, method: Method, data_dir: str | Path | None = None
) -> tuple[TaskData, Prepared, BuildContext]:
    """The data a located spec trains on (its target share and limits), encoded for `method`'s domains, and the
    context its models are built with: what a run, and anything that rebuilds its models, starts from."""
    cfg = loc.cfg
    data = load_task(loc.task, data_dir, cfg.target_fraction, cfg.target_pool, cfg.split_seed)
    data = data.limited(cfg.source_limit, cfg.target_limit, cfg.eval_limit)
    prep = prepare(data, cfg, training_domains(method.schedule))
    ctx = BuildContext(len(prep.encoder.vocab), len(prep.encoder.tags), loc.task.features, loc.task.max_len)
    return data, prep, ctx


def _train(
    loc: Located, method: str, seed: int, profile: str, formulation: str, data_dir: str | Path | None,
    device: str | None, progress: bool, threads: int | None, time_budget: float | None, log: LogHook | None,
    t0: float,
) -> dict:
    """Train one located spec (under its lock) and write its record atomically."""
    cfg, task_obj, method_obj = loc.cfg, loc.task, get_method(method)
    torch.set_num_threads(threads or 1)  # one intra-op thread unless asked: workers x threads <= cores
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    random.seed(seed)
    torch.manual_seed(seed)
    dev = pick_device(device)
    if dev.type == "cuda":  # float32 as on CPU (cuDNN's LSTM would take TF32), and cuDNN's deterministic kernels
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    if cfg.routing_dtype == "bfloat16" and (warning := bf16_warning(dev)):
        print(warning, file=sys.stderr, flush=True)
    data, prep, ctx = load_prepared(loc, method_obj, data_dir)
    torch.manual_seed(seed)
    system = method_obj.build(cfg, ctx)
    hooks: list[Hook] = [CheckpointHook(loc.checkpoint)]
    if time_budget is not None:
        hooks.append(TimeBudgetHook(time_budget))
    code = code_version()
    trainer = Trainer(method_obj, system, prep, cfg, seed, dev, hooks=hooks, wall_origin=t0, code_id=code["package_sha256"])
    if progress:
        from .schedules import SCHEDULES

        trainer.hooks.append(ProgressHook(SCHEDULES[method_obj.schedule].planned_steps(trainer), method))
    elif log is not None:
        trainer.hooks.append(log)
    with flush_denormals(cfg.flush_denormal):  # training and every evaluation, in every segment of the run
        fit = trainer.fit()
        tagger = method_obj.evaluated(system)
        test, test_pred = prep.score(tagger, "target_test", cfg.batch_size, dev)
        side = _write_side_files(loc.record, prep, test_pred, method_obj, system, dev, cfg.batch_size)
    gold = [list(x.tags) for x in prep.target_test.sentences]
    test_paper = score_paper(task_obj.metric, gold, test_pred, task_obj.max_len)  # the authors' scoring (§7)
    record = {
        "schema": SCHEMA, "task": task_obj.name, "method": method, "seed": seed, "profile": profile,
        "formulation": formulation, "reduced_profile": profile != "full", "run_key": loc.key,
        "config": cfg.to_dict(), "config_hash": cfg.hash(), "config_layers": loc.layers,
        "task_info": {
            "description": task_obj.description, "source": task_obj.source, "target": task_obj.target,
            "scheme": task_obj.scheme, "metric": task_obj.metric, "comparable_to_paper": task_obj.comparable,
            "sizes": {k: len(getattr(data, k)) for k in ("source_train", "target_train", "target_dev", "target_test")},
            "vocab_size": len(prep.encoder.vocab), "tags": prep.encoder.tags.itos,
        },
        "data": {"root_relative_sha256": data.files},
        "code": code, "segment_code": fit.segment_code, "segment_hosts": fit.segment_hosts,
        "versions": library_versions(), "device": device_name(dev),
        "threads": torch.get_num_threads(), "started_at": started, "wall_seconds": round(fit.wall_seconds, 2),
        "train_seconds": round(fit.train_seconds, 2), "resumed": fit.segments > 1, "segments": fit.segments,
        "stop_reason": fit.stop_reason, "steps": fit.steps, "steps_after_best": fit.steps_after_best,
        "dev_curve": fit.dev_curve, "best_dev": fit.best_dev, "best_step": fit.best_step, "dev": fit.dev_metrics,
        "scoring": "standard", "test": test, "test_paper": test_paper, "alpha_trace": fit.alpha_trace, "files": side,
    }
    atomic_write_text(loc.record, json.dumps(record, indent=1, default=_jsonable))
    remove_checkpoint(loc.checkpoint)
    record["_path"] = str(loc.record)
    return record


def _jsonable(x: Any) -> Any:
    if isinstance(x, (set, frozenset)):
        return sorted(x)
    if isinstance(x, torch.Tensor):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x)}")


def _write_side_files(
    path: Path, prep: Prepared, test_pred: list[list[str]], method: Any, system: Any, dev: torch.device, batch_size: int
) -> dict[str, str]:
    """Target test predictions (TSV.gz) and, for relevance methods, per-token weights on test and train (JSON.gz)."""
    lines = []
    for s, pred in zip(prep.target_test.sentences, test_pred):
        lines.extend(f"{t}\t{g}\t{p}" for t, g, p in zip(s.tokens, s.tags, pred))
        lines.append("")
    pred_path = path.with_suffix(".pred.tsv.gz")
    atomic_write_text(pred_path, "\n".join(lines) + "\n")
    files = {"predictions": pred_path.name}
    test_rel = relevance_outputs(method, system, prep.target_test, dev, batch_size)  # test is encoded whole already
    if test_rel is not None:
        # the training split was cut to MAX_LEN for training; its relevance is reported over whole sentences
        whole_train = EncodedSet(prep.target_train.sentences, prep.encoder, None)
        rel = {"target_test": test_rel, "target_train": relevance_outputs(method, system, whole_train, dev, batch_size)}
        rel_path = path.with_suffix(".relevance.json.gz")
        write_relevance(rel_path, rel)
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
    rec = run(spec.task, spec.method, seed=spec.seed, formulation=spec.formulation, **common, **spec.overrides)
    what = "already recorded" if rec.get("_skipped") else f"trained in {rec['wall_seconds'] / 60:.1f} min"
    return f"{spec.task}/{spec.method}/s{spec.seed}: test {rec['test']['score']:.2f} ({what}: {rec['_path']})"


def iter_sweep(
    specs: Iterable[RunSpec], workers: int = 1, threads: int | None = 1, progress: bool = True, **common: Any
) -> Iterator[str]:
    """Run every spec not yet recorded, yielding one summary line per run as it finishes (in spec order).

    `workers` processes with `threads` torch threads each (workers x threads may not exceed the cores);
    identical specs run once; recorded runs return at once. Parallel workers print progress lines, not bars.
    """
    check_threads(threads)
    check_workers(workers)
    cores = os.cpu_count() or 1
    if workers * (threads or 1) > cores:
        raise ValueError(f"{workers} workers x {threads} threads exceed the {cores} CPU cores of this machine")
    unique: dict[str, RunSpec] = {}
    for spec in specs:
        unique.setdefault(json.dumps(dataclasses.asdict(spec), sort_keys=True, default=str), spec)
    common = dict(common, threads=threads, progress=progress and workers == 1)
    if progress and workers > 1:  # bars of parallel workers would garble: progress lines instead
        common.setdefault("log_every", LOG_EVERY)
    if workers <= 1:
        for spec in unique.values():
            yield _run_spec((spec, common))
        return
    with worker_pool(workers) as pool:
        yield from pool.map(_run_spec, [(s, common) for s in unique.values()])


def sweep(specs: Iterable[RunSpec], workers: int = 1, threads: int | None = 1, progress: bool = True, **common: Any) -> list[str]:
    """`iter_sweep` collected into a list."""
    return list(iter_sweep(specs, workers, threads, progress, **common))


def load_records(results_dir: str | Path | None = None, **where: Any) -> list[dict]:
    """All run records under results_dir, filtered by top-level fields (e.g. task='ner_en', profile='quick')."""
    root = Path(results_dir) if results_dir else default_results_dir()
    out = []
    for p in sorted((root / "runs").glob("*/*/*.json")):
        rec = read_record(p)
        if all(rec.get(k) == v for k, v in where.items()):
            out.append(rec)
    return out

