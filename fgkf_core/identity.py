"""What produced a run record: the code (git commit, dirty flag, package hash), library versions, the device."""
from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

PACKAGE_ROOT = Path(__file__).resolve().parent

_CODE: dict[str, Any] = {}


def code_version() -> dict[str, Any]:
    """Git commit, uncommitted-changes flag and a hash of the package's source files, Python and C++ (exact
    code identity).

    Read once per process, so a record names the code its process loaded even if the files change later.
    """
    if not _CODE:
        _CODE.update(_read_code_version())
    return dict(_CODE)


def _read_code_version() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PACKAGE_ROOT, capture_output=True, text=True, timeout=10).stdout.strip()

    digest = hashlib.sha256()
    sources = [*PACKAGE_ROOT.rglob("*.py"), *PACKAGE_ROOT.glob("csrc/*.cpp")]  # the C++ kernel shapes numbers too
    for path in sorted(sources):
        digest.update(path.relative_to(PACKAGE_ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    out: dict[str, Any] = {"package_sha256": digest.hexdigest()[:16]}
    try:
        return out | {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain", "--", "."))}
    except (OSError, subprocess.SubprocessError):
        return out | {"commit": None, "dirty": None}


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape a run's numbers."""
    out = {"python": platform.python_version()}
    for pkg in ("torch", "pytorch-crf", "numpy", "tqdm"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


#: CPU features that change which kernels run (and so the speed, and the last bits of some results)
CPU_FLAGS = ("avx512f", "avx512_bf16", "amx_bf16")


#: CPU features that multiply bfloat16 in hardware; without them torch emulates bf16 matmuls (measured on an
#: AVX2-only EPYC: the bf16 capsule layer 15x slower than float32, where AMX and AVX512-BF16 make it 1.9x faster)
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def _cpuinfo_fields(cpuinfo: str | None) -> dict[str, str]:
    """The first processor's 'key: value' fields of /proc/cpuinfo (or of `cpuinfo` text); {} where unreadable."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def cpu_model(cpuinfo: str | None = None) -> str:
    """'AMD EPYC (x86_64; avx512f avx512_bf16)': the processor's model name and the kernel-relevant features
    (`CPU_FLAGS`) from /proc/cpuinfo (or `cpuinfo` text); the architecture alone where there is none."""
    fields = _cpuinfo_fields(cpuinfo)
    arch = platform.machine() or "unknown"
    name = fields.get("model name")
    if not name:
        return platform.processor() or arch
    flags = set(fields.get("flags", "").split())
    features = " ".join(f for f in CPU_FLAGS if f in flags)
    return f"{name} ({arch}; {features})" if features else f"{name} ({arch})"


def native_bf16(dev: torch.device, cpuinfo: str | None = None) -> bool:
    """Whether `dev` multiplies bfloat16 in hardware (a CUDA GPU that supports it; a CPU with `BF16_FLAGS`), so
    that `routing_dtype=bfloat16` is a speed-up there and not a ~15x slow-down."""
    if dev.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(set(_cpuinfo_fields(cpuinfo).get("flags", "").split()) & set(BF16_FLAGS))


def bf16_warning(dev: torch.device) -> str | None:
    """The line to show before training with bfloat16 capsule matmuls on `dev` without bf16 hardware, else None."""
    if native_bf16(dev):
        return None
    return (f"warning: routing_dtype=bfloat16 on {device_name(dev)}, which has no {' or '.join(BF16_FLAGS)}: its bf16 "
            "matmuls are emulated, ~15x slower than float32 (run it on a CPU with bf16 hardware or a GPU)")


def device_name(dev: torch.device) -> str:
    """The device a record names: cuda:<GPU name> or cpu:<model (arch; features)>, since records of one spec
    from different processors may differ in their last bits and surely in their wall time."""
    if dev.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(dev)}"
    return f"cpu:{cpu_model()}"


def record_threads(rec: dict) -> list[int]:
    """The distinct torch thread counts a record's segments ran with, in order ([2] for one 2-thread segment, [1, 2]
    for a run resumed on 2 threads); [rec['threads']] for a record without `segment_hosts`, [] without either."""
    counts = [int(h.rsplit(", ", 1)[1].split()[0]) for h in rec.get("segment_hosts") or []]
    if not counts:
        return [int(rec["threads"])] if rec.get("threads") else []
    return list(dict.fromkeys(counts))


def segment_host(dev: torch.device) -> str:
    """'cpu:AMD EPYC (x86_64; avx512f avx512_bf16), 1 thread': what one segment of a run trained on. Exact resume
    holds on the same host; a run resumed elsewhere says so in its record (`segment_hosts`)."""
    n = torch.get_num_threads()
    return f"{device_name(dev)}, {n} thread{'s' if n != 1 else ''}"
