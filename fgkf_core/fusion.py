"""Knowledge fusion (paper section 4.2): alpha_samp (Eq. 10), alpha_elem (Eq. 14), alpha_multi (Eq. 17), losses.

With a CRF the paper's per-token weight on the sequence loss is ambiguous; we follow the authors'
resolution and scale the emissions per token by (1 - alpha) before the CRF likelihood.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .relevance import Relevance


def kd_cross_entropy(p_source: torch.Tensor, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Token-level KD loss -sum_c p^S log p^T [B, T] (Eq. 4); p^T = softmax of the target emissions; 0 at padding."""
    log_pt = emissions.log_softmax(-1)  # [B, T, C]
    return -(p_source * log_pt).sum(-1) * mask  # [B, T] Eq. 4


def weighted_target_loss(
    tagger: nn.Module, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor, p_source: torch.Tensor,
    seq_weight: torch.Tensor, kd_weight: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sequence loss on emissions scaled by seq_weight [B, T], batch-mean of sum_j kd_weight * KD_j)."""
    seq = tagger.nll(emissions, tags, mask, scale=seq_weight)  # scalar, Eqs. 12/15 (emission scaling)
    kd = (kd_weight * kd_cross_entropy(p_source, emissions, mask)).sum(1).mean()  # scalar, Eqs. 13/16
    return seq, kd


@dataclass
class Alphas:
    """Per-batch fusion weights, kept for logging and the relevance outputs."""

    samp: torch.Tensor  # [B]
    elem: torch.Tensor  # [B, T]
    seq_weight: torch.Tensor  # [B, T] multiplies the target emissions
    kd_weight: torch.Tensor  # [B, T] multiplies the token KD loss


class Fusion(nn.Module):
    """Maps relevance to alphas. `mode`: samp | elem | multi | basic (constant kd_alpha, no relevance); `weights`:
    "trained" (tau, gamma and the alpha_elem map learn on L_T) or "fixed" (kept at their initial values)."""

    MODES = ("samp", "elem", "multi", "basic")

    def __init__(
        self, mode: str = "multi", sample_weight: str = "sigmoid", elem_map: str = "token", loss_split: str = "multi_both",
        tau: float = 1.0, gamma: float = 0.5, kd_alpha: float = 0.5, max_len: int = 100, weights: str = "trained",
    ):
        super().__init__()
        for name, value, valid in [
            ("alpha", mode, self.MODES), ("sample_weight", sample_weight, ("sigmoid", "exp")),
            ("elem_map", elem_map, ("token", "positional")), ("loss_split", loss_split, ("multi_both", "elem_seq")),
            ("fusion_weights", weights, ("trained", "fixed")),
        ]:
            if value not in valid:
                raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")
        self.mode, self.sample_weight, self.elem_map, self.loss_split = mode, sample_weight, elem_map, loss_split
        self.kd_alpha, self.max_len = kd_alpha, max_len
        self.tau = nn.Parameter(torch.tensor(float(tau)))  # code: `gamma` (multiplier)
        self.gamma = nn.Parameter(torch.tensor(float(gamma)))  # code: `tao` (offset)
        if elem_map == "token":
            self.w_alpha = nn.Parameter(torch.ones(()))  # scalar affine shared by positions
            self.b_alpha = nn.Parameter(torch.zeros(()))
        else:
            self.W_alpha = nn.Parameter(nn.init.trunc_normal_(torch.empty(max_len, max_len), std=0.01, a=-0.02, b=0.02))
            self.b_alpha = nn.Parameter(torch.zeros(max_len))
        if weights == "fixed":  # trained on L_T they cut the KD weight (`study.fusion_weights`): keep initial values
            for p in self.parameters():
                p.requires_grad_(False)

    def matrices(self) -> list[torch.Tensor]:
        """Weights the TF code attaches its L2 regulariser to (W_alpha in the positional map)."""
        return [self.W_alpha] if self.elem_map == "positional" else []

    def alpha_samp(self, domain_logits: torch.Tensor) -> torch.Tensor:
        """Eq. 10 sigma(tau * w_samp + gamma) with w_samp = P(source); code: exp(tau * (gamma - P(target)))."""
        p = domain_logits.softmax(-1)  # [B, 2] Eq. 9: [w_samp, 1 - w_samp]
        if self.sample_weight == "sigmoid":
            return torch.sigmoid(self.tau * p[:, 0] + self.gamma)  # [B] Eq. 10
        return torch.exp(self.tau * (self.gamma - p[:, 1]))  # [B]

    def alpha_elem(self, rel: Relevance, mask: torch.Tensor) -> torch.Tensor:
        """Eq. 14: token map on normalised w_elem, or the code's positional MAX_LEN x MAX_LEN map on raw w_elem."""
        if self.elem_map == "token":
            centred = rel.w_norm * mask.sum(1, keepdim=True) - 1.0  # [B, T] 0 for uniform relevance
            return torch.sigmoid(self.w_alpha * centred + self.b_alpha) * mask  # [B, T] Eq. 14
        T = mask.shape[1]
        if T > self.max_len:
            raise ValueError(f"positional alpha_elem needs sequences <= max_len={self.max_len}, got {T}")
        return torch.sigmoid(rel.w_elem @ self.W_alpha[:T, :T] + self.b_alpha[:T]) * mask  # [B, T] Eq. 14

    def forward(self, rel: Relevance | None, mask: torch.Tensor) -> Alphas:
        """Alphas for one target batch; sequence weight is 1 - alpha (emission scaling)."""
        B, T = mask.shape
        ones = mask.new_ones(B, T, dtype=torch.float)  # [B, T]
        if self.mode == "basic" or rel is None:
            a = ones * self.kd_alpha  # [B, T]; Eq. 2's constant α at every token
            return Alphas(ones[:, 0] * self.kd_alpha, a, 1 - a, a)  # samp [B], elem, seq and kd weights [B, T]
        samp = self.alpha_samp(rel.domain_logits)  # [B]
        elem = self.alpha_elem(rel, mask)  # [B, T]
        if self.mode == "samp":
            a = samp[:, None] * ones  # [B, T]
            seq, kd = (ones * (1 - self.kd_alpha), a) if self.sample_weight == "exp" else (1 - a, a)  # Eqs. 12-13
        elif self.mode == "elem":
            seq, kd = 1 - elem, elem  # Eqs. 15-16
        else:
            multi = samp[:, None] * elem  # [B, T] Eq. 17
            # the code's exp weight is unbounded (up to e^0.5) and acts on KD only, never on the sequence side
            kd_only = self.loss_split == "elem_seq" or self.sample_weight == "exp"
            seq, kd = (1 - elem, multi) if kd_only else (1 - multi, multi)  # Eqs. 15-16 with alpha_multi
        return Alphas(samp, elem, seq, kd)
