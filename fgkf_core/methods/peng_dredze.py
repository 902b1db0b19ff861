"""Peng & Dredze (2017) multi-task domain adaptation baselines: linear_projection and domain_mask.

Both share one embedding and one BiLSTM between the domains and give each domain its own output
layer (emissions + CRF); they differ in how a domain's view of the shared states is formed.

References:
    - Nanyun Peng and Mark Dredze. 2017.
      Multi-task Domain Adaptation for Sequence Tagging. 2nd Workshop on Representation Learning for NLP
      (RepL4NLP) 2017.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch
import torch.nn as nn

from ..config import Config
from ..data import Batch
from ..models import TokenEmbedding
from .base import SOURCE, TARGET, BuildContext, Method, System, register
from .blocks import BiLSTMEncoder, HeadTagger


class ProjectedTagger(HeadTagger):
    """Shared BiLSTM states -> a domain transform (`nn.Module` on [B, T, 2H]) -> emissions -> CRF."""

    def __init__(self, encoder: BiLSTMEncoder, transform: nn.Module, n_tags: int, crf_start_end: bool = True):
        super().__init__(encoder.out_dim, n_tags, crf_start_end)
        self.encoder, self.transform = encoder, transform

    def features(self, ids: torch.Tensor, mask: torch.Tensor, shared: torch.Tensor | None = None) -> torch.Tensor:
        """Domain view of the shared states; `shared` [B, T, 2H] skips the encoder (tests probe gradients with it)."""
        h = self.encoder(ids, mask) if shared is None else shared  # [B, T, 2H]
        return self.transform(h)  # [B, T, 2H]

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, shared: torch.Tensor | None = None):
        z = self.features(ids, mask, shared)  # [B, T, 2H]
        return z, self.emit(z)  # [B, T, C]


class DomainMask(nn.Module):
    """Multiplies the states by a fixed 0/1 mask over the hidden units (a buffer, not trained)."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask.float())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h * self.mask  # [B, T, 2H]


def mask_regions(hidden: int) -> dict[str, torch.Tensor]:
    """Per-direction split of the 2H BiLSTM units: first half shared, next quarter source-private, rest target-private.

    Returns bool masks over the 2H units for "shared", "source", "target" (each direction split the same way).
    """
    n_shared = hidden // 2
    n_src = (hidden - n_shared) // 2
    if n_shared < 1 or n_src < 1 or hidden - n_shared - n_src < 1:
        raise ValueError(f"domain_mask needs hidden >= 4 units per direction, got {hidden}")
    idx = torch.arange(hidden)
    one = {
        "shared": idx < n_shared,
        "source": (idx >= n_shared) & (idx < n_shared + n_src),
        "target": idx >= n_shared + n_src,
    }
    return {k: torch.cat([v, v]) for k, v in one.items()}  # [2H] forward units then backward units


class SharedEncoderSystem(System):
    """One embedding and BiLSTM shared by the domains; per domain a transform of the shared states, emissions, CRF."""

    shared: BiLSTMEncoder
    source: ProjectedTagger
    target: ProjectedTagger

    def __init__(self, cfg: Config, ctx: BuildContext, transform: Callable[[int], nn.Module]):
        """`transform(domain)` builds that domain's view of the shared states (a module on [B, T, 2H])."""
        super().__init__()
        emb = TokenEmbedding(ctx.vocab_size, cfg.emb_dim, cfg.emb_init)
        self.shared = BiLSTMEncoder(emb, cfg.emb_dim * ctx.width, cfg.hidden, cfg.emb_dropout)
        self.source = ProjectedTagger(self.shared, transform(SOURCE), ctx.n_tags, cfg.crf_start_end)
        self.target = ProjectedTagger(self.shared, transform(TARGET), ctx.n_tags, cfg.crf_start_end)


class _SharedBiLSTMMethod(Method):
    """Shared embedding + BiLSTM, one output layer per domain, trained on alternating source/target batches.

    Source steps minimise the source head's CRF loss, target steps the target head's; both go through the
    shared encoder. No teacher, no warm-up; the target head is evaluated on the target dev/test sets.
    """

    schedule = "alternate"
    uses_teacher = False
    warm_up = False
    two_taggers = False  # builds its own embedding and encoders

    def transform(self, cfg: Config, domain: int) -> nn.Module:
        """Domain `domain`'s map of the shared BiLSTM states (each method defines it)."""
        raise NotImplementedError

    def build(self, cfg: Config, ctx: BuildContext) -> SharedEncoderSystem:
        return SharedEncoderSystem(cfg, ctx, partial(self.transform, cfg))

    def target_loss(self, system: SharedEncoderSystem, batch: Batch, p_source: torch.Tensor | None, cfg: Config):
        _, e = system.target(batch.ids, batch.mask)  # [B, T, C]
        seq = system.target.nll(e, batch.tags, batch.mask)
        return seq, {"seq": seq.item()}


@register
class LinearProjection(_SharedBiLSTMMethod):
    """Peng & Dredze (2017) "linear projection": a domain-specific linear map of the shared BiLSTM states.

    Architecture: shared embedding -> shared BiLSTM -> h; domain d: z_d = W_d h + b_d (2H -> 2H) ->
    emissions_d -> CRF_d. Trained on alternating batches (schedule "alternate": I source steps on the
    source CRF loss, then one pass over the target data on the target CRF loss).

    Reference: N. Peng and M. Dredze, "Multi-task Domain Adaptation for Sequence Tagging", RepL4NLP 2017.
    Deviations: single task (the paper is multi-task over domains *and* tasks, with task-specific CRFs);
    here each domain has its own emission layer and CRF, since the tag sets coincide but the domains are the
    units of sharing. W_d is initialised as nn.Linear (not identity). Sizes from cfg (emb_dim, hidden).
    The alternation follows Algorithm 1's rhythm (cfg.teach_step source steps per target epoch), not the
    paper's random domain sampling per mini-batch.
    """

    name = "linear_projection"

    def transform(self, cfg: Config, domain: int) -> nn.Module:
        return nn.Linear(2 * cfg.hidden, 2 * cfg.hidden)


@register
class DomainMaskMethod(_SharedBiLSTMMethod):
    """Peng & Dredze (2017) "domain mask": shared and domain-private regions of the shared BiLSTM states.

    Architecture: shared embedding -> shared BiLSTM -> h (2H units). In each direction the first half of the
    units is shared, the next quarter source-private, the last quarter target-private (`mask_regions`).
    Domain d's output layer reads h * m_d, where m_d keeps the shared units and d's private units, so the
    target CRF never reads the source-private units (and vice versa). Alternating batches as linear_projection.

    Reference: N. Peng and M. Dredze, "Multi-task Domain Adaptation for Sequence Tagging", RepL4NLP 2017.
    Deviations: single task, per-domain emission layer + CRF; the split is fixed at 1/2 shared, 1/4 per
    domain and applied per LSTM direction (the paper gives the idea, not these proportions).
    """

    name = "domain_mask"

    def transform(self, cfg: Config, domain: int) -> nn.Module:
        regions = mask_regions(cfg.hidden)
        own = regions["source" if domain == SOURCE else "target"]
        return DomainMask(regions["shared"] | own)
