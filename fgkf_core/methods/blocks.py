"""Building blocks of the multi-domain baselines (linear_projection, domain_mask, amcl, nal): a BiLSTM encoder
over real tokens only and a tagger head that exposes the `models.Tagger` interface over any features."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..crf import CRF
from ..models import Tagger, TokenEmbedding, run_bilstm


class BiLSTMEncoder(nn.Module):
    """Embedding -> dropout -> BiLSTM states [B, T, 2H] (real tokens only: zero at padding). Embedding may be shared."""

    def __init__(self, embedding: TokenEmbedding | None, in_dim: int, hidden: int, emb_dropout: float = 0.2):
        super().__init__()
        self.embedding = embedding
        self.dropout = nn.Dropout(emb_dropout)
        self.lstm = nn.LSTM(in_dim, hidden, batch_first=True, bidirectional=True)
        self.out_dim = 2 * hidden

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, embedded: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embedding(ids) if embedded is None else embedded  # [B, T, in_dim]
        return run_bilstm(self.lstm, self.dropout(x), mask)  # [B, T, 2H]


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
        """This domain's per-token features [B, T, F] (each subclass defines them)."""
        raise NotImplementedError

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.features(ids, mask)  # [B, T, F]
        return z, self.emit(z)  # [B, T, C]

    nll = Tagger.nll
    predict = Tagger.predict
