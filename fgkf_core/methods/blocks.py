"""Building blocks of the multi-domain baselines (linear_projection, domain_mask, amcl, nal): a BiLSTM encoder
over real tokens only and a tagger head that exposes the `models.Tagger` interface over any features."""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..crf import CRF
from ..models import Tagger, TokenEmbedding


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
        """This domain's per-token features [B, T, F] (each subclass defines them)."""
        raise NotImplementedError

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.features(ids, mask)  # [B, T, F]
        return z, self.emit(z)  # [B, T, C]

    nll = Tagger.nll
    predict = Tagger.predict
