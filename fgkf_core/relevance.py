"""Relevance modelling (paper section 4.1): capsule Sample-q, Domain-q, bilinear w_elem, domain classifier.

All computations run over real tokens only: the capsule layer works on the packed [N_tokens, ...]
tensor, softmaxes are masked, so padding never changes a real token's output.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fused_routing import Workspace, fused_capsules
from .models import glorot_


def squash(s: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Capsule non-linearity ||s||^2/(1+||s||^2) * s/||s|| (epsilon inside the root, as the authors' code)."""
    sq = (s**2).sum(-1, keepdim=True)  # [..., 1]
    return sq / (1 + sq) * s / torch.sqrt(sq + eps)  # [..., D]


def route(u: torch.Tensor, mask: torch.Tensor, iters: int) -> torch.Tensor:
    """Dynamic routing of prediction vectors u [B, T, N, D] into N capsules [B, N, D]; padding has no vote.

    Written as broadcast products and sums over [B, T, N, D] so that `torch.compile` fuses each product
    with its reduction (one pass over u per operation instead of a materialised temporary).
    """
    m = mask.unsqueeze(-1).to(u.dtype)  # [B, T, 1]
    logits = u.new_zeros(u.shape[:3])  # [B, T, N]
    for it in range(iters):
        c = logits.softmax(-1) * m  # [B, T, N] coupling over output capsules, 0 at padding
        s = (c.unsqueeze(-1) * u).sum(1)  # [B, N, D]
        v = squash(s)  # [B, N, D]
        if it + 1 < iters:
            logits = logits + (u * v.unsqueeze(1)).sum(-1)  # [B, T, N] agreement
    return v


_compiled_route: Callable[..., torch.Tensor] | None = None


def compiled_route(u: torch.Tensor, mask: torch.Tensor, iters: int) -> torch.Tensor:
    """`route` compiled once by inductor with dynamic shapes: the compiled routing off CPU float32 (on CPU in
    float32 the fused kernel of `fused_routing` takes its place)."""
    global _compiled_route
    if _compiled_route is None:
        os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")  # no pool of compile workers beside training
        _compiled_route = torch.compile(route, dynamic=True)
    return _compiled_route(u, mask, iters)


class CapsuleRouting(nn.Module):
    """Dynamic routing from token states to N output capsules of dimension D (Sabour et al. 2017).

    `compiled` selects a compiled routing kernel (same function, float round-off differs): on CPU the fused C++
    kernel of `fused_routing` (projection, tanh and routing in one op), elsewhere inductor's compiled `route`.
    `dtype` bfloat16: on CPU with `compiled`, the fused kernel's three matmuls take bfloat16 operands (tanh and
    routing in float32); otherwise the prediction vectors and routing run under autocast (capsules in fp32).
    """

    def __init__(
        self, in_dim: int, n_capsules: int, capsule_dim: int, iters: int = 3, compiled: bool = False,
        dtype: str = "float32",
    ):
        super().__init__()
        if iters < 1:
            raise ValueError(f"routing needs at least one iteration, got {iters}")
        if dtype not in ("float32", "bfloat16"):
            raise ValueError(f"routing dtype: expected 'float32' or 'bfloat16', got {dtype!r}")
        self.n, self.d, self.iters, self.compiled, self.bf16 = n_capsules, capsule_dim, iters, compiled, dtype == "bfloat16"
        self.u_hat = nn.Linear(in_dim, n_capsules * capsule_dim)
        self.workspace = Workspace()  # the fused kernel's reused buffers (not state: never saved)
        glorot_(self)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Capsules [B, N, D] from states h [B, T, H]; padding positions cast no vote."""
        B, T, _ = h.shape
        if self.compiled and h.device.type == "cpu" and h.dtype == torch.float32:
            w, b = self.u_hat.weight, self.u_hat.bias
            return fused_capsules(h, w, b, mask, self.n, self.iters, self.workspace, self.bf16)  # [B, N, D]
        with torch.autocast(h.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            u = torch.tanh(self.u_hat(h)).view(B, T, self.n, self.d)  # [B, T, N, D]
            v = (compiled_route if self.compiled else route)(u, mask, self.iters)  # [B, N, D]
        return v.float()


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the time axis that gives padding exactly zero weight."""
    return scores.masked_fill(~mask, float("-inf")).softmax(-1).masked_fill(~mask, 0.0)  # [B, T]


@dataclass
class Relevance:
    """What the relevance module computes for one batch."""

    w_elem: torch.Tensor  # [B, T] raw bilinear scores q^T B h_j (0 at padding)
    w_norm: torch.Tensor  # [B, T] masked softmax of w_elem (Eq. 7)
    domain_logits: torch.Tensor  # [B, 2] (class 0 = source, 1 = target)


class RelevanceModule(nn.Module):
    """q (Sample-q capsules or a trainable Domain-q), w_elem = q^T B h_j (Eq. 6), and the domain MLP (Eqs. 7-9)."""

    def __init__(
        self, h_dim: int, kind: str = "sample_q", n_capsules: int = 60, capsule_dim: int = 200, iters: int = 3,
        mlp_hidden: int = 100, mlp_dropout: float = 0.2, classifier_input: str = "two_class_r",
        compiled_routing: bool = False, routing_dtype: str = "float32",
    ):
        super().__init__()
        if kind not in ("sample_q", "domain_q"):
            raise ValueError(f"unknown relevance {kind!r}; valid: 'sample_q', 'domain_q'")
        if classifier_input not in ("two_class_r", "one_class_caps"):
            raise ValueError(f"unknown domain_clf {classifier_input!r}; valid: 'two_class_r', 'one_class_caps'")
        if classifier_input == "one_class_caps" and kind != "sample_q":
            raise ValueError("domain_clf='one_class_caps' reads capsules and needs relevance='sample_q'")
        self.kind, self.classifier_input = kind, classifier_input
        q_dim = capsule_dim if kind == "sample_q" else h_dim
        if kind == "sample_q":
            self.capsules = CapsuleRouting(h_dim, n_capsules, capsule_dim, iters, compiled_routing, routing_dtype)
        else:
            self.query = nn.Parameter(torch.empty(h_dim).uniform_(-(3 / h_dim) ** 0.5, (3 / h_dim) ** 0.5))
        self.B = nn.Parameter(torch.empty(q_dim, h_dim))
        nn.init.trunc_normal_(self.B, std=0.01, a=-0.02, b=0.02)
        clf_in = n_capsules * capsule_dim if classifier_input == "one_class_caps" else h_dim
        self.mlp = nn.Sequential(nn.Linear(clf_in, mlp_hidden), nn.Dropout(mlp_dropout), nn.Tanh(), nn.Linear(mlp_hidden, 2))
        glorot_(self.mlp)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> Relevance:
        """Relevance scores and domain logits for states h [B, T, H]."""
        if self.kind == "sample_q":
            caps = self.capsules(h, mask)  # [B, N, D]
            q = caps.mean(1)  # [B, D] Eq. 5: the encoded sample vector (mean of capsules, as the authors' code)
        else:
            caps = None
            q = self.query.expand(h.shape[0], -1)  # [B, H]
        w = torch.einsum("bd,de,bte->bt", q, self.B, h).masked_fill(~mask, 0.0)  # [B, T] Eq. 6: w_elem = q^T B h_j
        w_norm = masked_softmax(w, mask)  # [B, T] Eq. 7
        if self.classifier_input == "two_class_r":
            clf_in = torch.einsum("bt,bth->bh", w_norm, h)  # [B, H] r = sum_j w^_j h_j (Eq. 8)
        else:
            clf_in = caps.flatten(1)  # [B, N*D]
        return Relevance(w, w_norm, self.mlp(clf_in))  # [B, 2] Eq. 9: MLP(r); its softmax is in Fusion.alpha_samp


def domain_loss(logits: torch.Tensor, domain: int) -> torch.Tensor:
    """Cross-entropy of the domain classifier for a batch that is all from one domain (0 source, 1 target)."""
    # L_sc of Algorithm 1 (source steps, lines 6-10; target steps, line 18): cross-entropy of the Eq. 9 classifier
    return F.cross_entropy(logits, torch.full((logits.shape[0],), domain, dtype=torch.long, device=logits.device))
