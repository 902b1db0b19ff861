"""`python -m fgkf_core bench`: training and decoding throughput (sentences/s) per task input shape.

Measures, on the current device and with the paper's full-size configuration: the plain BiLSTM-CRF
(train step and batched Viterbi decoding) and the FGKF source and target steps (capsules 60 x 200).
`--baseline REV` runs this very measurement (this file, copied into a git checkout of REV) in a subprocess,
task by task, interleaved with this code's, and prints both side by side with the speed-up.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from .config import resolve
from .methods import BuildContext, get_method
from .identity import BF16_FLAGS, device_name, native_bf16
from .runs import PACKAGE_ROOT, pick_device
from .tasks import TASKS, data_root, load_task
from .train import Trainer, predict, prepare

COLUMNS = ("plain_train", "plain_decode", "fgkf_source_step", "fgkf_target_step")
# FGKF steps with routing_dtype=bfloat16 (bf16 capsule matmuls), compared with the baseline's float32 steps
BF16_COLUMNS = {"fgkf_source_step_bf16": "fgkf_source_step", "fgkf_target_step_bf16": "fgkf_target_step"}


def _rate(fn: Callable[[], int], repeats: int) -> float:
    """Sentences per second of fn (which returns the sentences it processed), after `repeats` warm-up calls.

    The warm-up visits every batch shape once, so one-off kernel set-up (and compilation) is not timed.
    """
    for _ in range(repeats):
        fn()
    t0, n = time.perf_counter(), 0
    for _ in range(repeats):
        n += fn()
    return n / (time.perf_counter() - t0)


def bench_task(task: str, device: torch.device, batches: int = 10, bf16: bool = True) -> dict[str, float]:
    """Throughputs for one task on its target training sentences (real lengths, length-bucketed); `bf16` adds
    the FGKF steps with bfloat16 capsule matmuls (`BF16_COLUMNS`)."""
    cfg, _ = resolve(task, "full", source_limit=2000, eval_limit=512)
    torch.set_flush_denormal(getattr(cfg, "flush_denormal", False))  # as a full run (older commits: no switch)
    data = load_task(task).limited(cfg.source_limit, cfg.target_limit, cfg.eval_limit)
    prep = prepare(data, cfg)
    ctx = BuildContext(len(prep.encoder.vocab), len(prep.encoder.tags), data.task.features, data.task.max_len)
    out: dict[str, float] = {"mean_len": sum(map(len, prep.target_train.ids)) / len(prep.target_train)}
    for name in ("target_only", "fgkf") + (("fgkf_bf16",) if bf16 else ()):
        if name == "fgkf_bf16":
            cfg = resolve(task, "full", source_limit=2000, eval_limit=512, routing_dtype="bfloat16")[0]
        method = get_method(name.removesuffix("_bf16"))
        torch.manual_seed(0)
        system = method.build(cfg, ctx).to(device)
        tr = Trainer(method, system, prep, cfg, 0, device)
        # the public step API, or the private one of older commits (so a baseline runs this same measurement)
        do_target = getattr(tr, "target_step", None) or getattr(tr, "_target_step")
        do_source = getattr(tr, "source_step", None) or getattr(tr, "_source_step")
        batch_list = list(prep.target_train.batches(cfg.batch_size))
        cursor = iter(range(10**9))

        def target_step() -> int:
            b = batch_list[next(cursor) % len(batch_list)]
            do_target(b)
            return b.size

        def source_step() -> int:
            do_source()
            return cfg.batch_size

        if name == "target_only":
            out["plain_train"] = _rate(target_step, max(batches, len(batch_list)))
            out["plain_decode"] = _rate(lambda: (predict(system.target, prep.target_dev, 256, device), len(prep.target_dev))[1], 3)
        else:
            (getattr(tr, "refresh_teacher", None) or getattr(tr, "_refresh_teacher"))()
            suffix = name.removeprefix("fgkf")
            # source batches come at random from length buckets, so two timed steps gave a noisy rate: six at least
            out[f"fgkf_source_step{suffix}"] = _rate(source_step, max(6, batches // 2))
            out[f"fgkf_target_step{suffix}"] = _rate(target_step, max(len(batch_list), batches // 3))
    return out


def bench_capsule(device: torch.device, repeats: int = 3, bf16: bool = True) -> dict[str, float]:
    """Seconds per forward+backward of the paper-size capsule layer (60 x 200), 64 sentences of 10-40 tokens,
    eager and compiled routing (on CPU the fused C++ kernel, elsewhere torch.compile), with `bf16` the latter
    also with bfloat16 matmuls."""
    from .relevance import CapsuleRouting

    torch.manual_seed(0)
    lengths = torch.randint(10, 41, (64,))  # [B]
    mask = (torch.arange(40)[None, :] < lengths[:, None]).to(device)  # [B, T]
    h = torch.randn(64, 40, 200, device=device, requires_grad=True)  # [B, T, 2H]
    out = {}
    variants = (("eager", False, "float32"), ("compiled", True, "float32"), ("compiled_bf16", True, "bfloat16"))
    for name, compiled, dtype in variants[:None if bf16 else 2]:
        torch.manual_seed(0)
        caps = CapsuleRouting(200, 60, 200, 3, compiled=compiled, dtype=dtype).to(device)

        def step() -> int:
            caps(h, mask).sum().backward()
            return 1

        out[name] = 1.0 / _rate(step, repeats)
    return out


def _baseline_rows(rev: str, tasks: list[str], batches: int) -> dict[str, dict[str, float]]:
    """`bench_task` of this file run against a git checkout of `rev` (one subprocess, same thread count)."""
    repo = PACKAGE_ROOT.parent
    with tempfile.TemporaryDirectory(prefix="fgkf-bench-") as tmp:
        subprocess.run(["git", "worktree", "add", "--detach", "-q", tmp, rev], cwd=repo, check=True)
        try:
            shutil.copy(Path(__file__), Path(tmp) / "fgkf_core" / "_bench_current.py")
            code = (f"import json, torch; torch.set_num_threads({torch.get_num_threads()}); "
                    "from fgkf_core._bench_current import bench_task; "
                    f"print(json.dumps({{t: bench_task(t, torch.device('cpu'), {batches}, False) for t in {tasks!r}}}))")
            env = dict(os.environ, FGKF_DATA=str(data_root().resolve()))
            proc = subprocess.run([sys.executable, "-c", code], cwd=tmp, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                raise RuntimeError(f"bench of {rev} failed: {proc.stderr.strip().splitlines()[-1:]}")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", tmp], cwd=repo, check=False)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench(tasks: list[str] | None = None, device: str | None = None, batches: int = 10, baseline: str | None = None) -> list[dict]:
    """Print a markdown table of sentences/s per task (beside `baseline`'s when given) and return its rows."""
    dev = pick_device(device)
    tasks = tasks or [t for t in TASKS if t != "ner_zh_revised"]
    print(f"device: {dev}, torch threads: {torch.get_num_threads()}, batch 64, full-size config")
    bf16 = native_bf16(dev)  # emulated bf16 (no hardware) is ~15x slower (identity.BF16_FLAGS): not worth minutes of timing
    caps = bench_capsule(dev, bf16=bf16)
    bf16_caps = (f"compiled with bf16 matmuls {caps['compiled_bf16']:.3f} s" if bf16 else
                 f"bf16 not timed: {device_name(dev)} has no {' or '.join(BF16_FLAGS)} (its bf16 matmuls are emulated)")
    print(f"capsule layer 60x200, 64 sentences (10-40 tokens), forward+backward: eager {caps['eager']:.3f} s, "
          f"compiled {caps['compiled']:.3f} s, {bf16_caps}")
    rows = []
    if baseline is not None:
        print(f"sentences/s, this code vs {baseline} (speed-up; the bf16 columns against {baseline}'s float32 steps)")
    print("| task | mean len | plain train | plain decode | FGKF source step | FGKF target step "
          "| FGKF source step, bf16 | FGKF target step, bf16 |")
    print("|---|---|---|---|---|---|---|---|")
    for task in tasks:
        r = bench_task(task, dev, batches, bf16) | {"task": task}
        pairs = [(c, c) for c in COLUMNS] + list(BF16_COLUMNS.items() if bf16 else ())
        if baseline is not None:
            old = _baseline_rows(baseline, [task], batches)[task]
            r["baseline"] = old
            cells = [f"{r[c]:.0f} vs {old[o]:.0f} ({r[c] / old[o]:.1f}x)" for c, o in pairs]
        else:
            cells = [f"{r[c]:.0f}" for c, _ in pairs]
        rows.append(r)
        cells += [] if bf16 else ["n/a"] * len(BF16_COLUMNS)
        print(f"| {task} | {r['mean_len']:.1f} | " + " | ".join(cells) + " |", flush=True)
    if baseline is not None:
        print(json.dumps(rows))
    return rows

