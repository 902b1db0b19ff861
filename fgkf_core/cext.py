"""The package's C++ extensions (`csrc/`): built once per machine at first use, cached under
$TORCH_EXTENSIONS_DIR (torch.utils.cpp_extension; gcc and ninja, both in the requirements' reach)."""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from types import ModuleType

CSRC = Path(__file__).parent / "csrc"
_built: dict[str, ModuleType] = {}


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
        try:
            _built[name] = load(name=name, sources=[str(path)], extra_cflags=flags, verbose=False)
        except (OSError, RuntimeError) as err:
            raise RuntimeError(
                f"cannot build {path} ({type(err).__name__}: {str(err).splitlines()[0]}); "
                f"it needs a C++ compiler and ninja (pip install ninja), or {fallback}"
            ) from None
    return _built[name]
