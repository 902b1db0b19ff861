"""`python -m fgkf_core bench`: training and decoding throughput (sentences/s) per task input shape.

Measures, on the current device and with the paper's full-size configuration: the plain BiLSTM-CRF
(train step and batched Viterbi decoding) and the FGKF source and target steps (capsules 60 x 200).
"""
from __future__ import annotations

import time
from typing import Callable

import torch

from .config import resolve
from .methods import BuildContext, get_method
from .runs import pick_device
from .tasks import TASKS, load_task
from .train import Trainer, predict, prepare


def _rate(fn: Callable[[], int], repeats: int) -> float:
    """Sentences per second of fn (which returns the sentences it processed), after `repeats` warm-up calls.

    The warm-up visits every batch shape once, so one-off kernel set-up costs are not timed.
    """
    for _ in range(repeats):
        fn()
    t0, n = time.perf_counter(), 0
    for _ in range(repeats):
        n += fn()
    return n / (time.perf_counter() - t0)


def bench_task(task: str, device: torch.device, batches: int = 10) -> dict[str, float]:
    """Throughputs for one task on its target training sentences (real lengths, length-bucketed)."""
    cfg, _ = resolve(task, "full", source_limit=2000, eval_limit=512)
    data = load_task(task).limited(cfg.source_limit, cfg.target_limit, cfg.eval_limit)
    prep = prepare(data, cfg)
    ctx = BuildContext(len(prep.encoder.vocab), len(prep.encoder.tags), data.task.features, data.task.max_len)
    out: dict[str, float] = {"mean_len": sum(map(len, prep.target_train.ids)) / len(prep.target_train)}
    for name in ("target_only", "fgkf"):
        method = get_method(name)
        torch.manual_seed(0)
        system = method.build(cfg, ctx).to(device)
        tr = Trainer(method, system, prep, cfg, 0, device, progress=False)
        batch_list = list(prep.target_train.batches(cfg.batch_size))
        cursor = iter(range(10**9))

        def target_step() -> int:
            b = batch_list[next(cursor) % len(batch_list)]
            tr._target_step(b)
            return b.size

        def source_step() -> int:
            tr._source_step()
            return cfg.batch_size

        if name == "target_only":
            out["plain_train"] = _rate(target_step, max(batches, len(batch_list)))
            out["plain_decode"] = _rate(lambda: (predict(system.target, prep.target_dev, 256, device), len(prep.target_dev))[1], 3)
        else:
            tr._refresh_teacher()
            out["fgkf_source_step"] = _rate(source_step, max(2, batches // 3))
            out["fgkf_target_step"] = _rate(target_step, max(2, batches // 3))
    return out


def bench_capsule(device: torch.device, repeats: int = 3) -> dict[str, float]:
    """Seconds per forward+backward of the paper-size capsule layer (60 x 200) for 64 sentences of <= 40 tokens.

    `real_tokens`: our routing over real tokens only; `padded_to_100`: every position of a MAX_LEN=100
    batch, as the authors' code runs it (no masking).
    """
    from .relevance import CapsuleRouting

    torch.manual_seed(0)
    caps = CapsuleRouting(200, 60, 200, 3).to(device)
    lengths = torch.randint(10, 41, (64,))  # [B]
    out = {}
    for name, T, mask in (
        ("real_tokens", 40, torch.arange(40)[None, :] < lengths[:, None]),
        ("padded_to_100", 100, torch.ones(64, 100, dtype=torch.bool)),
    ):
        h = torch.randn(64, T, 200, device=device, requires_grad=True)  # [B, T, 2H]

        def step() -> int:
            caps(h, mask.to(device)).sum().backward()
            return 1

        out[name] = 1.0 / _rate(step, repeats)
    return out


def bench(tasks: list[str] | None = None, device: str | None = None, batches: int = 10) -> list[dict]:
    """Print a markdown table of sentences/s per task and return its rows."""
    dev = pick_device(device)
    rows = []
    print(f"device: {dev}, torch threads: {torch.get_num_threads()}, batch 64, full-size config")
    caps = bench_capsule(dev)
    print(
        f"capsule layer 60x200, 64 sentences (10-40 tokens), forward+backward: real tokens only "
        f"{caps['real_tokens']:.3f} s, padded to MAX_LEN 100 as the TF code {caps['padded_to_100']:.3f} s"
    )
    print("| task | mean len | plain train | plain decode | FGKF source step | FGKF target step |")
    print("|---|---|---|---|---|---|")
    for task in tasks or [t for t in TASKS if t != "ner_zh_revised"]:
        r = bench_task(task, dev, batches) | {"task": task}
        rows.append(r)
        print(
            f"| {task} | {r['mean_len']:.1f} | {r['plain_train']:.0f} | {r['plain_decode']:.0f} | "
            f"{r['fgkf_source_step']:.0f} | {r['fgkf_target_step']:.0f} |", flush=True,
        )
    return rows
