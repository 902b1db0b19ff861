"""The fused CPU routing kernel (`csrc/routing.cpp`): `route(tanh(pre + bias), mask, iters)` in one C++ op.

Built once per machine at first use (torch.utils.cpp_extension; gcc and ninja, both in the requirements'
reach), cached under $TORCH_EXTENSIONS_DIR. It keeps one sentence's prediction vectors in cache through
all routing iterations, skips padding and fuses tanh and the bias into the first and last passes: the
capsule layer's elementwise work drops to a few passes over [B, T, N*D] (see `bench`).
"""
from __future__ import annotations

from types import ModuleType

import torch

from .cext import CSRC, build

SOURCE = CSRC / "routing.cpp"
EPS = 1e-9  # relevance.squash's epsilon


def extension() -> ModuleType:
    """The compiled kernel module (built on first call; a clear error where no C++ toolchain is found)."""
    return build("fgkf_fused_routing", SOURCE.name, "set compile_routing=false")


class Workspace:
    """The reused projection buffers of one capsule layer, grown to the largest batch seen.

    A fresh [B*T, N*D] buffer per step (over 100 MB at paper size) costs ~50 ms of page faults, a third of
    the projection's matmul; a reused one costs nothing. The buffers hold one forward's saved tensors until
    its backward, so each forward takes a new generation and a backward of an older one is refused.
    """

    def __init__(self) -> None:
        self.buffers: dict[torch.dtype, torch.Tensor] = {}
        self.generation = 0

    def take(self, dtype: torch.dtype, rows: int, cols: int) -> torch.Tensor:
        """A contiguous [rows, cols] view of the `dtype` buffer (grown when too small; contents undefined)."""
        buf = self.buffers.get(dtype)
        if buf is None or buf.numel() < rows * cols:
            buf = self.buffers[dtype] = torch.empty(rows * cols, dtype=dtype)  # [rows * cols]
        return buf[: rows * cols].view(rows, cols)  # [rows, cols]


class FusedCapsules(torch.autograd.Function):
    """Capsules v [B, N, D] = route(tanh(h W^T + b).view(B, T, N, D), lengths, iters), forward and backward.

    The projection is done here, into the layer's `Workspace`, so the kernel can work in place: the forward
    turns the projection into u = tanh(. + b), the backward turns the saved u into its own gradient before
    the two matmuls of the projection's backward. Hence one backward per forward (no retain_graph).
    With `bf16`, the three matmuls take bfloat16 operands (AMX/AVX512-BF16 on CPU: ~4x the float32 rate)
    and round their results to bfloat16; tanh and the routing stay in float32.
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, lengths: torch.Tensor,
                n_caps: int, iters: int, ws: Workspace, bf16: bool):
        B, T, H = h.shape
        ND = weight.shape[0]
        h2 = h.reshape(B * T, H)  # [B*T, H]
        u = ws.take(torch.float32 if bf16 else h.dtype, B * T, ND)  # [B*T, N*D]
        if bf16:
            h2, weight = h2.bfloat16(), weight.bfloat16()  # [B*T, H], [N*D, H]
            pre = torch.mm(h2, weight.t(), out=ws.take(torch.bfloat16, B * T, ND))  # [B*T, N*D]
        else:
            pre = torch.mm(h2, weight.t(), out=u)  # [B*T, N*D] projection, turned into u in place
        u, pre = u.view(B, T, ND), pre.view(B, T, ND)  # [B, T, N*D]
        v, c, s, vs = extension().forward(pre, u, bias, lengths, n_caps, iters, EPS)  # [B, N, D], ...
        ws.generation += 1
        ctx.save_for_backward(h2, weight, u, c, s, vs, lengths)
        ctx.n_caps, ctx.ws, ctx.generation, ctx.bf16, ctx.h_shape = n_caps, ws, ws.generation, bf16, (B, T, H)
        return v

    @staticmethod
    def backward(ctx, gv: torch.Tensor):
        if ctx.generation != ctx.ws.generation:
            raise RuntimeError("fused routing: its saved prediction vectors were consumed by a first backward "
                               "or overwritten by a later forward of the same capsule layer")
        ctx.ws.generation += 1
        h2, weight, u, c, s, vs, lengths = ctx.saved_tensors
        B, T, H = ctx.h_shape
        dpre = ctx.ws.take(torch.bfloat16, B * T, u.shape[2]).view_as(u) if ctx.bf16 else u  # [B, T, N*D]
        dbias = extension().backward(gv, u, c, s, vs, lengths, ctx.n_caps, EPS, dpre)  # [N*D]; dpre written
        dpre = dpre.view(B * T, -1)  # [B*T, N*D]
        dh = torch.mm(dpre, weight).view(B, T, H).to(gv.dtype) if ctx.needs_input_grad[0] else None  # [B, T, H]
        dw = torch.mm(dpre.t(), h2).to(gv.dtype) if ctx.needs_input_grad[1] else None  # [N*D, H]
        return dh, dw, dbias, None, None, None, None, None


def fused_capsules(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, mask: torch.Tensor, n_caps: int,
                   iters: int, workspace: Workspace | None = None, bf16: bool = False) -> torch.Tensor:
    """Capsules [B, N, D] = route(tanh(F.linear(h, weight, bias)).view(B, T, N, D), mask, iters) for a
    right-padded mask, by the fused kernel (matmuls in bfloat16 with `bf16`)."""
    lengths = mask.sum(1)  # [B]
    positions = torch.arange(mask.shape[1], device=mask.device)  # [T]
    if not torch.equal(mask, positions[None, :] < lengths[:, None]):
        raise ValueError("fused routing expects right-padded masks (real tokens first in every row)")
    if bf16 and h.dtype != torch.float32:
        raise ValueError(f"fused routing: bf16 matmuls expect float32 states, got {h.dtype}")
    ws = Workspace() if workspace is None else workspace
    return FusedCapsules.apply(h.contiguous(), weight, bias, lengths.to(torch.long), n_caps, iters, ws, bf16)
