"""`python -m fgkf_core bench --trained TASK METHOD`: step times of a trained model (a run's checkpoint), with
denormal floats kept and flushed.

Kept apart from `bench`, whose file `bench --baseline` copies into checkouts of older commits (which lack the
modules imported here).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from .denormals import flush_denormals
from .methods import get_method
from .runs import load_prepared, locate, run_label
from .train import Trainer


def bench_trained(task: str, method: str, seed: int = 1, profile: str = "full", steps: int = 5,
                  results_dir: str | Path | None = None, **overrides) -> dict[str, float]:
    """Seconds per source and target step of a trained model, the spec's checkpoint (e.g. the full queue's),
    with denormal floats kept and flushed: what `bench` on fresh models cannot show. The checkpoint is only read.
    """
    loc = locate(task, method, seed, profile, results_dir=results_dir, **overrides)
    label = run_label(loc.task.name, method, seed, overrides)
    if not loc.checkpoint.exists():
        raise FileNotFoundError(f"{loc.checkpoint}: no checkpoint of {label} ({profile}); start the run first "
                                "(FGKF_CHECKPOINTS names the queue's checkpoint folder)")
    cfg, method_obj = loc.cfg, get_method(method)
    _, prep, ctx = load_prepared(loc, method_obj)
    ck = torch.load(loc.checkpoint, map_location="cpu", weights_only=False)
    batches = list(prep.target_train.batches(cfg.batch_size))
    has_source = method_obj.schedule == "source" or "alternate" in method_obj.schedule
    out: dict[str, float] = {"source_step": ck["state"]["source_step"], "target_step": ck["state"]["target_step"]}
    for flush in (False, True):
        torch.manual_seed(seed)
        tr = Trainer(method_obj, method_obj.build(cfg, ctx), prep, cfg, seed, torch.device("cpu"))
        tr.restore(ck)
        name = "flushed" if flush else "kept"
        with flush_denormals(flush):
            if has_source:
                tr.source_step()  # warm-up call: kernel set-up and first-touch buffers are not timed
                t0 = time.perf_counter()
                for _ in range(steps):
                    tr.source_step()
                out[f"source_s_{name}"] = (time.perf_counter() - t0) / steps
            if method_obj.schedule != "source":
                tr.target_step(batches[0])
                t0 = time.perf_counter()
                for i in range(steps):
                    tr.target_step(batches[(i * 7) % len(batches)])
                out[f"target_s_{name}"] = (time.perf_counter() - t0) / steps
    kinds = [k for k in ("source", "target") if f"{k}_s_kept" in out]
    cells = [f"{k} step {out[f'{k}_s_kept']:.3f} s kept vs {out[f'{k}_s_flushed']:.3f} s flushed "
             f"({out[f'{k}_s_kept'] / out[f'{k}_s_flushed']:.1f}x)" for k in kinds]
    print(f"{label} ({profile}, checkpoint at {out['source_step']} source / {out['target_step']} target steps, "
          f"{torch.get_num_threads()} thread(s)): " + "; ".join(cells), flush=True)
    return out
