"""Adversarial multi-criteria learning (Chen et al. 2017) as a two-domain baseline: amcl.

References:
    - Xinchi Chen, Zhan Shi, Xipeng Qiu and Xuanjing Huang. 2017.
      Adversarial Multi-Criteria Learning for Chinese Word Segmentation. ACL 2017.
    - Pengfei Liu, Xipeng Qiu and Xuanjing Huang. 2017.
      Adversarial Multi-task Learning for Text Classification. ACL 2017 (orthogonality constraint, weights).
    - Yaroslav Ganin and Victor Lempitsky. 2015.
      Unsupervised Domain Adaptation by Backpropagation. ICML 2015 (gradient reversal layer).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import Config
from ..data import Batch
from ..models import TokenEmbedding
from .base import SOURCE, TARGET, BuildContext, Method, System, register
from .blocks import BiLSTMEncoder, HeadTagger


class _GradReverse(torch.autograd.Function):
    """Identity forward; multiplies the incoming gradient by -scale backward (Ganin & Lempitsky 2015)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.scale * grad, None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Gradient reversal layer."""
    return _GradReverse.apply(x, scale)


def masked_max(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max-pool [B, T, D] over real tokens -> [B, D]."""
    return h.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(1).values


def orthogonality(shared: torch.Tensor, private: torch.Tensor) -> torch.Tensor:
    """Batch mean of ||S_i^T P_i||_F^2, S_i and P_i the [T, 2H] state matrices of sentence i (zero at padding)."""
    return torch.einsum("btd,bte->bde", shared, private).pow(2).sum((1, 2)).mean()  # [B, 2H, 2H] -> scalar


class AMCLTagger(HeadTagger):
    """[shared BiLSTM states ; this domain's private BiLSTM states] -> emissions -> CRF."""

    def __init__(self, shared: BiLSTMEncoder, private: BiLSTMEncoder, n_tags: int, crf_start_end: bool = True):
        super().__init__(shared.out_dim + private.out_dim, n_tags, crf_start_end)
        self.shared, self.private = shared, private

    def parts(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(shared states S [B, T, 2H], private states P [B, T, 2H]) over one embedding lookup."""
        x = self.shared.embedding(ids)  # [B, T, in_dim]
        return self.shared(ids, mask, embedded=x), self.private(ids, mask, embedded=x)

    def features(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.parts(ids, mask), -1)  # [B, T, 4H]


class AMCLSystem(System):
    """One embedding, a shared BiLSTM, a private BiLSTM and a tagger per domain, and the domain discriminator."""

    shared: BiLSTMEncoder
    source: AMCLTagger
    target: AMCLTagger
    discriminator: nn.Linear

    def __init__(self, cfg: Config, ctx: BuildContext):
        super().__init__()
        in_dim = cfg.emb_dim * ctx.width
        emb = TokenEmbedding(ctx.vocab_size, cfg.emb_dim, cfg.emb_init)
        self.shared = BiLSTMEncoder(emb, in_dim, cfg.hidden, cfg.emb_dropout)
        # private encoders read the shared embedding lookup (their own dropout), so they hold no embedding
        private = [BiLSTMEncoder(None, in_dim, cfg.hidden, cfg.emb_dropout) for _ in (SOURCE, TARGET)]
        self.source = AMCLTagger(self.shared, private[SOURCE], ctx.n_tags, cfg.crf_start_end)
        self.target = AMCLTagger(self.shared, private[TARGET], ctx.n_tags, cfg.crf_start_end)
        self.discriminator = nn.Linear(self.shared.out_dim, 2)


@register
class AMCL(Method):
    """Adversarial multi-criteria learning with the two domains as the two "criteria".

    Architecture (Chen et al. 2017, shared-private model): one embedding; a shared BiLSTM S and a private
    BiLSTM P_d per domain; domain d's tagger reads [S; P_d] -> emissions -> CRF_d. A domain discriminator
    (linear + softmax over {source, target}) reads the max-pooled shared states through a gradient reversal
    layer, so it learns to tell the domains apart while S learns to fool it. An orthogonality penalty
    ||S^T P_d||_F^2 pushes shared and private features apart. Each step's loss:
    CRF_d + adv_weight * CE(D(GRL(maxpool S)), d) + ortho_weight * ||S^T P_d||_F^2, on alternating
    source/target batches (schedule "alternate": I source steps then one target pass); the target tagger is
    evaluated.

    Reference: X. Chen, Z. Shi, X. Qiu, X. Huang, "Adversarial Multi-Criteria Learning for Chinese Word
    Segmentation", ACL 2017; orthogonality constraint and weights from P. Liu, X. Qiu, X. Huang,
    "Adversarial Multi-task Learning for Text Classification", ACL 2017 (lambda = 0.05, gamma = 0.01).
    Deviations: the adversarial min-max is implemented with a gradient reversal layer (Chen et al. also train
    the shared layer to maximise the discriminator's error; GRL is the standard one-pass equivalent);
    two domains instead of several criteria; Adam, sizes and schedule from the config; the weights are
    class attributes (`adv_weight`, `ortho_weight`), not config keys.
    """

    name = "amcl"
    schedule = "alternate"
    uses_teacher = False
    warm_up = False
    two_taggers = False  # builds its own embedding and encoders
    adv_weight = 0.05
    ortho_weight = 0.01
    reverse = True  # False (tests only): plain gradient from the discriminator into the shared encoder

    def build(self, cfg: Config, ctx: BuildContext) -> AMCLSystem:
        return AMCLSystem(cfg, ctx)

    def adversarial_loss(
        self, system: AMCLSystem, shared: torch.Tensor, mask: torch.Tensor, domain: int
    ) -> torch.Tensor:
        """Discriminator cross-entropy on max-pooled shared states, through the gradient reversal layer."""
        pooled = masked_max(shared, mask)  # [B, 2H]
        logits = system.discriminator(grad_reverse(pooled) if self.reverse else pooled)  # [B, 2]
        labels = torch.full((logits.shape[0],), domain, dtype=torch.long, device=logits.device)  # [B]
        return F.cross_entropy(logits, labels)  # scalar

    def _loss(self, system: AMCLSystem, tagger: AMCLTagger, batch: Batch, domain: int) -> tuple[torch.Tensor, dict]:
        s, p = tagger.parts(batch.ids, batch.mask)  # [B, T, 2H] each
        e = tagger.emit(torch.cat([s, p], -1))  # [B, T, C]
        seq = tagger.nll(e, batch.tags, batch.mask)  # scalar
        adv = self.adversarial_loss(system, s, batch.mask, domain)  # scalar
        ortho = orthogonality(s, p)  # scalar
        loss = seq + self.adv_weight * adv + self.ortho_weight * ortho  # scalar
        return loss, {"seq": seq.item(), "adv": adv.item(), "ortho": ortho.item()}

    def source_loss(self, system: AMCLSystem, batch: Batch, cfg: Config):
        return self._loss(system, system.source, batch, SOURCE)

    def target_loss(self, system: AMCLSystem, batch: Batch, p_source: torch.Tensor | None, cfg: Config):
        return self._loss(system, system.target, batch, TARGET)
