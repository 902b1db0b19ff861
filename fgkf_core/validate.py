"""Checks a run's arguments before any data is read or any training starts: one clear line per problem."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from .methods.base import Method

#: config keys that only some methods read -> which methods read them
_RELEVANCE = (
    "relevance", "n_capsules", "capsule_dim", "routing_iters", "mlp_hidden", "mlp_dropout", "alpha", "tau", "gamma",
    "fusion_weights", "sample_weight", "loss_split", "domain_clf", "elem_map", "compile_routing", "routing_dtype",
)
_ALTERNATE = ("alternate", "pretrain_alternate")


def _fgkf(m: Method) -> bool:
    from .methods.fgkf import FGKF

    return isinstance(m, FGKF)


READERS: dict[str, tuple[str, Callable[[Method], bool]]] = {
    **{k: ("FGKF methods (fgkf, fgkf_pe)", _fgkf) for k in _RELEVANCE},
    "kd_alpha": ("basic_kd and FGKF methods", lambda m: m.name == "basic_kd" or _fgkf(m)),
    "gradient_block": ("methods with a teacher", lambda m: m.uses_teacher),
    "ps_refresh": ("methods with a teacher", lambda m: m.uses_teacher),
    "warm_up": ("methods with Algorithm 1's warm-up", lambda m: m.warm_up),
    "warm_up_epochs": ("methods with Algorithm 1's warm-up", lambda m: m.warm_up),
    "teach_step": ("Algorithm 1 schedules", lambda m: m.schedule in _ALTERNATE),
    "max_source_epochs": ("source-training schedules", lambda m: m.schedule in (*_ALTERNATE, "source")),
    "max_target_epochs": ("target-epoch schedules", lambda m: m.schedule in ("target", "pretrain_finetune")),
    "pretrain_epochs": ("pre-training schedules", lambda m: m.schedule.startswith("pretrain")),
    "vocab": ("single-domain methods (target_only, source_only)", lambda m: m.schedule in ("target", "source")),
    "shared_embedding": ("two-tagger methods", lambda m: m.two_taggers),
}


def check_overrides(method: Method, overrides: dict[str, Any]) -> None:
    """Refuse a method-specific key given to a method that never reads it (it would silently do nothing)."""
    for key in overrides:
        if key in READERS:
            who, reads = READERS[key]
            if not reads(method):
                raise ValueError(f"--set {key}: method {method.name!r} ignores it (only {who} read {key!r})")


def check_threads(threads: int | None) -> None:
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads: expected a positive integer, got {threads!r}")


def check_workers(workers: int) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: expected a positive integer, got {workers!r}")


def check_device(device: str | None) -> None:
    """An explicit device must exist here (`cuda` without CUDA is refused before any work)."""
    if not device:
        return
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device {device!r}: {err}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available on this machine (use cpu)")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r}: expected cpu or cuda")


def check_writable(results: Path) -> None:
    """The results folder can hold records (created if missing)."""
    try:
        results.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=results, prefix=".write-test-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise ValueError(f"results dir {results} is not writable ({err.strerror or err})") from None
