"""The fused CPU routing kernel (`csrc/routing.cpp`): `route(tanh(pre + bias), mask, iters)` in one C++ op.

Built once per machine at first use (torch.utils.cpp_extension; gcc and ninja, both in the requirements'
reach), cached under $TORCH_EXTENSIONS_DIR. It keeps one sentence's prediction vectors in cache through
all routing iterations, skips padding and fuses tanh and the bias into the first and last passes: the
capsule layer's elementwise work drops to a few passes over [B, T, N*D] (see `bench`).
"""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from types import ModuleType

import torch

SOURCE = Path(__file__).parent / "csrc" / "routing.cpp"
EPS = 1e-9  # relevance.squash's epsilon
_ext: ModuleType | None = None


def extension() -> ModuleType:
    """The compiled kernel module (built on first call; a clear error where no C++ toolchain is found)."""
    global _ext
    if _ext is None:
        from torch.utils.cpp_extension import load

        # pip's ninja lives beside this interpreter; put it on PATH for the build
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        os.environ.setdefault("MAX_JOBS", "1")  # one compile job beside training
        # x86-64-v3 (AVX2, FMA): the same instructions, hence the same numbers, on every recent x86 CPU
        flags = ["-O3", "-fopenmp-simd"] + (["-march=x86-64-v3"] if platform.machine() == "x86_64" else [])
        try:
            _ext = load(name="fgkf_fused_routing", sources=[str(SOURCE)], extra_cflags=flags, verbose=False)
        except (OSError, RuntimeError) as err:
            raise RuntimeError(
                f"cannot build the fused routing kernel {SOURCE} ({type(err).__name__}: {str(err).splitlines()[0]}); "
                "it needs a C++ compiler and ninja (pip install ninja), or set compile_routing=false"
            ) from None
    return _ext


class FusedCapsules(torch.autograd.Function):
    """Capsules v [B, N, D] = route(tanh(h W^T + b).view(B, T, N, D), lengths, iters), forward and backward.

    The projection is done here, into a buffer this op owns, so the kernel can work in place and spare two
    fresh [B, T, N*D] buffers (their page faults cost as much as the arithmetic): the forward turns the
    projection into u = tanh(. + b), the backward turns the saved u into its own gradient before the two
    matmuls of the projection's backward. Hence one backward per forward (no retain_graph).
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, lengths: torch.Tensor,
                n_caps: int, iters: int):
        B, T, H = h.shape
        u = torch.mm(h.reshape(B * T, H), weight.t()).view(B, T, -1)  # [B, T, N*D] projection, then u in place
        v, c, s, vs = extension().forward(u, bias, lengths, n_caps, iters, EPS)
        ctx.save_for_backward(h, weight, u, c, s, vs, lengths)
        ctx.n_caps, ctx.spent = n_caps, False
        return v

    @staticmethod
    def backward(ctx, gv: torch.Tensor):
        if ctx.spent:
            raise RuntimeError("fused routing: its saved prediction vectors were consumed by a first backward")
        ctx.spent = True
        h, weight, u, c, s, vs, lengths = ctx.saved_tensors
        dbias = extension().backward(gv, u, c, s, vs, lengths, ctx.n_caps, EPS)  # u now holds d projection
        B, T, H = h.shape
        dpre = u.view(B * T, -1)  # [B*T, N*D]
        dh = torch.mm(dpre, weight).view(B, T, H) if ctx.needs_input_grad[0] else None  # [B, T, H]
        dw = torch.mm(dpre.t(), h.reshape(B * T, H)) if ctx.needs_input_grad[1] else None  # [N*D, H]
        return dh, dw, dbias, None, None, None


def fused_capsules(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, mask: torch.Tensor, n_caps: int,
                   iters: int) -> torch.Tensor:
    """Capsules [B, N, D] = route(tanh(F.linear(h, weight, bias)).view(B, T, N, D), mask, iters) for a
    right-padded mask, by the fused kernel."""
    lengths = mask.sum(1)  # [B]
    positions = torch.arange(mask.shape[1], device=mask.device)  # [T]
    if not torch.equal(mask, positions[None, :] < lengths[:, None]):
        raise ValueError("fused routing expects right-padded masks (real tokens first in every row)")
    return FusedCapsules.apply(h.contiguous(), weight, bias, lengths.to(torch.long), n_caps, iters)
