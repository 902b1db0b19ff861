"""The package's C++ extensions (`csrc/`): built once per machine, interpreter and source at first use, cached
under $TORCH_EXTENSIONS_DIR (torch.utils.cpp_extension; gcc and ninja, both in the requirements' reach)."""
from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

CSRC = Path(__file__).parent / "csrc"
_built: dict[str, ModuleType] = {}


def build_dir(name: str, path: Path, flags: list[str], root: Path | None = None) -> Path:
    """The build folder of `name`: one per interpreter, torch, flags and source text, so two checkouts (or a CI
    clone beside the work tree) never rebuild over each other's module."""
    import torch
    from torch.utils.cpp_extension import get_default_build_root

    key = "\0".join([sys.prefix, torch.__version__, *flags, path.read_text()])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    root = root or Path(os.environ.get("TORCH_EXTENSIONS_DIR") or get_default_build_root())
    return root / "fgkf" / f"{name}-{digest}"


@contextmanager
def build_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `folder` (the kernel drops it when its process dies, even by SIGKILL) and clear
    torch's own lock file, which a killed build leaves behind and on which torch would wait forever: while we
    hold the flock, no live build of ours can own it."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "fgkf-build.flock", "a") as handle:  # closing it releases the flock
        fcntl.flock(handle, fcntl.LOCK_EX)
        stale = folder / "lock"
        if stale.exists():
            warnings.warn(f"removing stale build lock {stale} (left by a build that did not finish)", stacklevel=3)
            stale.unlink(missing_ok=True)
        yield


def build(name: str, source: str, fallback: str, cflags: tuple[str, ...] = ()) -> ModuleType:
    """The compiled module `name` from `csrc/<source>` (with extra compile `cflags`); a clear error naming the
    file and `fallback` (what to set instead) where no C++ toolchain is found."""
    if name not in _built:
        from torch.utils.cpp_extension import load

        path = CSRC / source
        # pip's ninja lives beside this interpreter; put it on PATH for the build
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        os.environ.setdefault("MAX_JOBS", "1")  # one compile job beside training
        # x86-64-v3 (AVX2, FMA): the same instructions, hence the same numbers, on every recent x86 CPU
        flags = ["-O3", "-fopenmp-simd", *cflags] + (["-march=x86-64-v3"] if platform.machine() == "x86_64" else [])
        folder = build_dir(name, path, flags)
        try:
            with build_lock(folder):
                _built[name] = load(name=name, sources=[str(path)], extra_cflags=flags, build_directory=str(folder),
                                    verbose=False)
        except (OSError, RuntimeError) as err:
            raise RuntimeError(
                f"cannot build {path} ({type(err).__name__}: {str(err).splitlines()[0]}); "
                f"it needs a C++ compiler and ninja (pip install ninja), or {fallback}"
            ) from None
    return _built[name]
