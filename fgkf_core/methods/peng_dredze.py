"""Peng & Dredze (2017) multi-task domain adaptation baselines: linear_projection and domain_mask.

Both share one embedding and one BiLSTM between the domains and give each domain its own output
layer (emissions + CRF); they differ in how a domain's view of the shared states is formed.
`BiLSTMEncoder` and `HeadTagger` are also the building blocks of `amcl` and `nal`.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..config import Config
from ..crf import CRF
from ..data import Batch
from ..models import Tagger, TokenEmbedding
from .base import BuildContext, Method, register

SOURCE, TARGET = 0, 1


class BiLSTMEncoder(nn.Module):
    """Embedding -> dropout -> BiLSTM states [B, T, 2H] (packed: zero at padding). Embedding may be shared."""

    def __init__(self, embedding: TokenEmbedding | None, in_dim: int, hidden: int, emb_dropout: float = 0.2):
        super().__init__()
        self.embedding = embedding
        self.dropout = nn.Dropout(emb_dropout)
        self.lstm = nn.LSTM(in_dim, hidden, batch_first=True, bidirectional=True)
        self.out_dim = 2 * hidden

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, embedded: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embedding(ids) if embedded is None else embedded  # [B, T, in_dim]
        return run_lstm(self.lstm, self.dropout(x), mask)  # [B, T, 2H]


def run_lstm(lstm: nn.LSTM, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A batch-first (Bi)LSTM over the real tokens of x [B, T, D] only; outputs zero at padding."""
    lengths = mask.sum(1).cpu()  # [B]
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    h, _ = lstm(packed)
    h, _ = pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])  # [B, T, out]
    return h


class HeadTagger(nn.Module):
    """A tagger over domain features: `features(ids, mask)` -> emissions -> CRF.

    Exposes the `Tagger` interface the trainer and the scorer use: forward -> (features, emissions),
    nll(emissions, tags, mask), predict(ids, mask) (Viterbi on unscaled emissions) and `emit`.
    """

    def __init__(self, feat_dim: int, n_tags: int, crf_start_end: bool = True):
        super().__init__()
        self.emit = nn.Linear(feat_dim, n_tags)
        self.crf = CRF(n_tags, use_start_end=crf_start_end)
        self.out_dim = feat_dim

    def features(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.features(ids, mask)  # [B, T, F]
        return z, self.emit(z)  # [B, T, C]

    nll = Tagger.nll
    predict = Tagger.predict


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


class MultiDomainSystem(nn.Module):
    """Source and target taggers over shared modules; `source`/`target` follow the Tagger interface."""


class _SharedBiLSTMMethod(Method):
    """Shared embedding + BiLSTM, one output layer per domain, trained on alternating source/target batches.

    Source steps minimise the source head's CRF loss, target steps the target head's; both go through the
    shared encoder. No teacher, no warm-up; the target head is evaluated on the target dev/test sets.
    """

    schedule = "alternate"
    uses_teacher = False
    warm_up = False

    def transform(self, cfg: Config, domain: int) -> nn.Module:
        raise NotImplementedError

    def build(self, cfg: Config, ctx: BuildContext) -> MultiDomainSystem:
        system = MultiDomainSystem()
        emb = TokenEmbedding(ctx.vocab_size, cfg.emb_dim, cfg.emb_init)
        system.shared = BiLSTMEncoder(emb, cfg.emb_dim * ctx.width, cfg.hidden, cfg.emb_dropout)
        system.source = ProjectedTagger(system.shared, self.transform(cfg, SOURCE), ctx.n_tags, cfg.crf_start_end)
        system.target = ProjectedTagger(system.shared, self.transform(cfg, TARGET), ctx.n_tags, cfg.crf_start_end)
        return system

    def source_loss(self, system, batch: Batch, cfg: Config):
        _, e = system.source(batch.ids, batch.mask)  # [B, T, C]
        return system.source.nll(e, batch.tags, batch.mask), {}

    def target_loss(self, system, batch: Batch, p_source, cfg: Config):
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
    reference = "Peng & Dredze, RepL4NLP 2017 (linear projection)"

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
    reference = "Peng & Dredze, RepL4NLP 2017 (domain mask)"

    def transform(self, cfg: Config, domain: int) -> nn.Module:
        regions = mask_regions(cfg.hidden)
        own = regions["source" if domain == SOURCE else "target"]
        return DomainMask(regions["shared"] | own)
