"""basicKD (paper Eq. 2): L = (1 - alpha) L_seq + alpha L_KD with a constant alpha, in Algorithm 1.

References:
    - Geoffrey Hinton, Oriol Vinyals and Jeff Dean. 2015.
      Distilling the Knowledge in a Neural Network. NIPS 2014 Deep Learning Workshop, arXiv:1503.02531.
    - Huiyun Yang, Shujian Huang, Xinyu Dai and Jiajun Chen. 2019.
      Fine-grained Knowledge Fusion for Sequence Labeling Domain Adaptation. EMNLP-IJCNLP 2019, pages 4197-4206.
      Eq. 2 (basicKD).
"""
from __future__ import annotations

import torch

from ..config import Config
from ..data import Batch
from ..fusion import kd_cross_entropy
from .base import Method, System, register, teacher_probs


@register
class BasicKD(Method):
    """Literal Eq. 2: (1 - a) * CRF-NLL(e) + a * KD, a = cfg.kd_alpha; the teacher is the source tagger."""

    name = "basic_kd"
    uses_teacher = True

    def target_loss(self, system: System, batch: Batch, p_source: torch.Tensor | None, cfg: Config):
        p_s = teacher_probs(system, batch, p_source)  # [B, T, C]
        _, e = system.target(batch.ids, batch.mask)  # [B, T, C]
        seq = system.target.nll(e, batch.tags, batch.mask)  # scalar: L_SEQ, batch mean
        kd = kd_cross_entropy(p_s, e, batch.mask).sum(1).mean()  # [B, T] -> scalar: L_KD (Eq. 4), batch mean
        a = cfg.kd_alpha
        return (1 - a) * seq + a * kd, {"seq": seq.item(), "kd": kd.item()}  # Eq. 2
