"""Neural adaptation layers (Lin & Lu 2018) as a baseline: nal.

References:
    - Bill Yuchen Lin and Wei Lu. 2018.
      Neural Adaptation Layers for Cross-domain Named Entity Recognition. EMNLP 2018.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..config import Config
from ..models import Tagger, TokenEmbedding, run_bilstm
from .base import BuildContext, Method, System, register
from .blocks import HeadTagger


def identity_linear(dim: int) -> nn.Linear:
    """A dim x dim linear layer initialised to the identity (zero bias)."""
    layer = nn.Linear(dim, dim)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(dim))
        layer.bias.zero_()
    return layer


class NALTagger(HeadTagger):
    """Target model: pre-trained layers (copies of the source tagger's) with adaptation layers inserted.

    embedding -> word adaptation (linear, identity init) -> dropout -> pre-trained BiLSTM -> h ->
    h + sentence adaptation BiLSTM(h) -> pre-trained emission layer -> output adaptation (linear C x C,
    identity init) -> CRF (initialised from the source CRF, re-trained).
    """

    def __init__(
        self, embedding: TokenEmbedding, in_dim: int, hidden: int, n_tags: int, emb_dropout: float, crf_start_end: bool
    ):
        super().__init__(2 * hidden, n_tags, crf_start_end)
        # pre-trained part: same shapes as the source Tagger, loaded from it by NAL.after_pretrain
        self.embedding = embedding
        self.dropout = nn.Dropout(emb_dropout)
        self.lstm = nn.LSTM(in_dim, hidden, batch_first=True, bidirectional=True)
        # adaptation layers (new, trained on target only)
        self.word_adapt = identity_linear(in_dim)
        self.sentence_adapt = nn.LSTM(2 * hidden, hidden, batch_first=True, bidirectional=True)
        self.output_adapt = identity_linear(n_tags)

    def pretrained_modules(self) -> dict[str, nn.Module]:
        """The layers copied from the source tagger (what `NAL.freeze_source` freezes)."""
        return {"embedding": self.embedding, "lstm": self.lstm, "emit": self.emit}

    def adaptation_modules(self) -> dict[str, nn.Module]:
        return {"word_adapt": self.word_adapt, "sentence_adapt": self.sentence_adapt, "output_adapt": self.output_adapt}

    def features(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.word_adapt(self.embedding(ids))  # [B, T, in_dim]
        h = run_bilstm(self.lstm, self.dropout(x), mask)  # [B, T, 2H]
        return h + run_bilstm(self.sentence_adapt, h, mask)  # [B, T, 2H]

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.features(ids, mask)  # [B, T, 2H]
        return z, self.output_adapt(self.emit(z))  # [B, T, C]


class NALSystem(System):
    """A plain source BiLSTM-CRF (pre-trained first) and the adapted target model, each with its own embedding."""

    source: Tagger
    target: NALTagger

    def __init__(self, cfg: Config, ctx: BuildContext, freeze_source: bool = False):
        """`freeze_source`: the target's copied layers get no gradient (set here, so a resumed run is frozen too)."""
        super().__init__()
        in_dim = cfg.emb_dim * ctx.width
        src_emb = TokenEmbedding(ctx.vocab_size, cfg.emb_dim, cfg.emb_init)
        self.source = Tagger(src_emb, in_dim, cfg.hidden, ctx.n_tags, cfg.emb_dropout, cfg.crf_start_end)
        tgt_emb = TokenEmbedding(ctx.vocab_size, cfg.emb_dim, cfg.emb_init)
        self.target = NALTagger(tgt_emb, in_dim, cfg.hidden, ctx.n_tags, cfg.emb_dropout, cfg.crf_start_end)
        if freeze_source:
            for module in self.target.pretrained_modules().values():
                module.requires_grad_(False)


@register
class NAL(Method):
    """Neural adaptation layers: pre-train a source BiLSTM-CRF, then train an adapted copy on target data.

    Schedule "pretrain_finetune": cfg.pretrain_epochs of source steps train `system.source` (a plain
    BiLSTM-CRF with its own embedding); `after_pretrain` copies its embedding, BiLSTM, emission layer and
    CRF into the target model (`NALTagger`), which adds a word adaptation layer (linear on the embeddings),
    a sentence adaptation layer (a BiLSTM over the pre-trained BiLSTM states, added residually) and an
    output adaptation layer (a linear C x C map of the emissions) before a re-trained CRF; it is then
    trained on target data only. The adaptation layers that are linear start at the identity, so training
    starts from the source model's function up to the residual sentence layer.

    Freezing: `freeze_source = False` (default) fine-tunes the copied layers with the adaptation layers;
    True keeps the copied embedding, BiLSTM and emission layer fixed and trains only the adaptation layers
    and the CRF. We fine-tune by default: Lin & Lu adapt a trained source model with target data only and,
    as far as we could check, do not freeze it; this choice was not verified against their code.

    Reference: B. Y. Lin and W. Lu, "Neural Adaptation Layers for Cross-domain Named Entity Recognition",
    EMNLP 2018. Deviations: one vocabulary and embedding table fitted on both domains, so the word adaptation
    layer is a learned linear map of that embedding (the paper maps separately pre-trained source/target word
    embeddings, with a word-pair alignment objective, which we do not have); the sentence adaptation BiLSTM sits
    on top of the pre-trained BiLSTM with a residual connection, and output adaptation is a linear map of the
    emissions (the paper places its sentence layer between the word layer and the pre-trained BiLSTM and uses
    a BiLSTM as output adaptation layer). No character features.
    """

    name = "nal"
    schedule = "pretrain_finetune"
    uses_teacher = False
    two_taggers = False  # builds its own embedding and encoders
    freeze_source = False

    def build(self, cfg: Config, ctx: BuildContext) -> NALSystem:
        return NALSystem(cfg, ctx, self.freeze_source)

    @torch.no_grad()
    def after_pretrain(self, system: NALSystem) -> None:
        src, tgt = system.source, system.target
        tgt.embedding.load_state_dict(src.embedding.state_dict())
        tgt.lstm.load_state_dict(src.lstm.state_dict())
        tgt.emit.load_state_dict(src.emit.state_dict())
        tgt.crf.load_state_dict(src.crf.state_dict())
