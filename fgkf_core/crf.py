"""Linear-chain CRF, numerically equivalent to ``torchcrf.CRF(batch_first=True)``.

Differences from pytorch-crf:

* The log-partition function is a custom :class:`torch.autograd.Function`: the
  forward algorithm runs without building an autograd graph and the backward
  pass computes the exact gradients from forward-backward marginals (one
  backward recursion over time plus fully vectorised marginal computation).
  The recursions are scaled per step, and for transition matrices with a
  moderate spread (max - min < 40, always the case for learned CRFs unless
  hard constraints are imposed) each step is a small ``exp -> matmul -> log``
  instead of a ``logsumexp`` over a (batch, C, C) tensor; otherwise the exact
  ``logsumexp`` recursion is used. Results agree with pytorch-crf to float32
  round-off (gradients are in fact closer to a float64 reference).
* Viterbi decoding is fully batched, including the backtracking (one
  ``gather`` per time step for the whole batch, no per-sentence Python loop
  and no ``.item()`` calls).
* ``use_start_end=False`` turns the start/end transition vectors into zero
  buffers (the authors' TensorFlow CRF has no start/end transitions).
* Tags at padding positions are ignored entirely (they may hold any value,
  e.g. ``-100``).

All tensors are batch-first. The mask must be a boolean prefix (right-padding)
mask whose first column is all True (the prefix property is assumed, not
checked). Emissions at padding positions never affect results or gradients,
even when they are inf/nan.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .crf_partition import _LogPartition

__all__ = ["CRF"]

_REDUCTIONS = ("none", "sum", "mean", "token_mean")


class CRF(nn.Module):
    """Linear-chain conditional random field (batch-first).

    Args:
        num_tags: number of tags ``C``.
        use_start_end: if True (default) learn start/end transition scores as in
            pytorch-crf; if False they are fixed zero buffers.

    Attributes:
        start_transitions: ``(num_tags,)`` score of starting with each tag.
        end_transitions: ``(num_tags,)`` score of ending with each tag.
        transitions: ``(num_tags, num_tags)``; ``transitions[i, j]`` is the score
            of moving from tag ``i`` to tag ``j``.
    """

    start_transitions: torch.Tensor
    end_transitions: torch.Tensor

    def __init__(self, num_tags: int, use_start_end: bool = True) -> None:
        if num_tags <= 0:
            raise ValueError(f"invalid number of tags: {num_tags}")
        super().__init__()
        self.num_tags = num_tags
        self.use_start_end = use_start_end
        if use_start_end:
            self.start_transitions = nn.Parameter(torch.empty(num_tags))
            self.end_transitions = nn.Parameter(torch.empty(num_tags))
        else:
            self.register_buffer("start_transitions", torch.zeros(num_tags))
            self.register_buffer("end_transitions", torch.zeros(num_tags))
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise parameters uniformly in (-0.1, 0.1), as pytorch-crf does."""
        if self.use_start_end:
            nn.init.uniform_(self.start_transitions, -0.1, 0.1)
            nn.init.uniform_(self.end_transitions, -0.1, 0.1)
        nn.init.uniform_(self.transitions, -0.1, 0.1)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}, use_start_end={self.use_start_end}"

    # ------------------------------------------------------------------ checks
    def _validate(
        self,
        emissions: torch.Tensor,
        mask: Optional[torch.Tensor],
        tags: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Check shapes/dtypes and return the (bool) mask."""
        if emissions.dim() != 3:
            raise ValueError(f"emissions must have dimension of 3, got {emissions.dim()}")
        if not emissions.is_floating_point():
            raise ValueError(f"emissions must be a floating point tensor, got {emissions.dtype}")
        if emissions.size(2) != self.num_tags:
            raise ValueError(
                f"expected last dimension of emissions is {self.num_tags}, got {emissions.size(2)}"
            )
        batch_seq = emissions.shape[:2]
        if tags is not None:
            _check_companion("tags", tags, torch.long, "torch.long", batch_seq)
        if mask is None:
            if batch_seq[1] == 0:
                raise ValueError("sequences must contain at least one timestep")
            return torch.ones(batch_seq, dtype=torch.bool, device=emissions.device)
        _check_companion("mask", mask, torch.bool, "torch.bool", batch_seq)
        if batch_seq[1] == 0:
            raise ValueError("sequences must contain at least one timestep")
        if not bool(mask[:, 0].all()):
            raise ValueError("mask of the first timestep must all be on")
        return mask

    # --------------------------------------------------------------- training
    def nll(
        self,
        emissions: torch.Tensor,
        tags: torch.Tensor,
        mask: Optional[torch.Tensor] = None,
        reduction: str = "mean",
    ) -> torch.Tensor:
        """Negative log-likelihood of ``tags`` given ``emissions``.

        Args:
            emissions: ``(batch_size, seq_length, num_tags)`` unary scores.
            tags: ``(batch_size, seq_length)`` long gold tags (padding ignored).
            mask: ``(batch_size, seq_length)`` bool prefix mask, ``mask[:, 0]`` all True.
                ``None`` means no padding.
            reduction: ``"none"`` -> ``(batch_size,)``; ``"sum"``; ``"mean"`` (over
                the batch); ``"token_mean"`` (sum divided by number of real tokens).
        """
        if reduction not in _REDUCTIONS:
            raise ValueError(f"invalid reduction: {reduction!r}, expected one of {_REDUCTIONS}")
        mask = self._validate(emissions, mask, tags)
        # compute in the promoted dtype (e.g. float32 for half emissions); the
        # cast is a no-op in the common case and autograd maps gradients back
        emissions = emissions.to(torch.promote_types(emissions.dtype, self.transitions.dtype))
        # shape: (batch_size,)
        nll = self._log_partition(emissions, mask) - self._gold_score(emissions, tags, mask)
        if reduction == "none":
            return nll
        if reduction == "sum":
            return nll.sum()
        if reduction == "mean":
            return nll.mean()
        return nll.sum() / mask.sum().to(nll.dtype)


    forward = nll  # `crf(emissions, tags, mask)` is the negative log-likelihood, unlike pytorch-crf

    def _log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        dtype = emissions.dtype  # already promoted by nll()
        # shape: (batch_size,)
        return _LogPartition.apply(
            emissions,
            mask,
            self.start_transitions.to(dtype),
            self.end_transitions.to(dtype),
            self.transitions.to(dtype),
        )

    def _gold_score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch_size, seq_length, _ = emissions.shape
        # padding tags may be arbitrary (e.g. -100): replace them by a valid index
        # shape: (batch_size, seq_length)
        tags = tags.masked_fill(~mask, 0)
        # shape: (batch_size,)
        lengths = mask.sum(1)
        # torch.where rather than multiplying by the mask: padding emissions may be inf/nan
        # shape: (batch_size, seq_length)
        unary = torch.where(mask, emissions.gather(2, tags.unsqueeze(2)).squeeze(2), 0.0)
        # shape: (batch_size,)
        score = unary.sum(1)
        if seq_length > 1:
            # shape: (batch_size, seq_length - 1)
            pair = self.transitions[tags[:, :-1], tags[:, 1:]]
            score = score + torch.where(mask[:, 1:], pair, 0.0).sum(1)
        # shape: (batch_size,)
        last_tags = tags.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)
        return score + self.start_transitions[tags[:, 0]] + self.end_transitions[last_tags]

    # --------------------------------------------------------------- decoding
    @torch.no_grad()
    def decode_tensor(self, emissions: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Batched Viterbi decoding.

        Args:
            emissions: ``(batch_size, seq_length, num_tags)``.
            mask: ``(batch_size, seq_length)`` bool prefix mask (``None``: no padding).

        Returns:
            ``(batch_size, seq_length)`` long tensor of best tags, 0 at padding.
        """
        return self._viterbi(emissions, self._validate(emissions, mask))

    def _viterbi(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch_size, seq_length, num_tags = emissions.shape
        dtype = torch.promote_types(emissions.dtype, self.transitions.dtype)
        emissions = emissions.to(dtype)
        # shape: (seq_length, batch_size, num_tags)
        em = emissions.transpose(0, 1).contiguous()
        # shape: (seq_length, batch_size, 1)
        mask_t = mask.t().unsqueeze(2)
        mask_steps = mask_t.unbind(0)
        em_steps = em.unbind(0)
        # transposed so that the max runs over the contiguous last dimension
        # shape: (1, num_tags, num_tags), [0, j, i] = transitions[i, j]
        trans_t = self.transitions.detach().to(dtype).t().contiguous().unsqueeze(0)

        # shape: (batch_size, num_tags)
        score = self.start_transitions.detach() + em[0]
        history = []
        for t in range(1, seq_length):
            # best previous tag i for every current tag j
            # shape: (batch_size, num_tags), (batch_size, num_tags)
            best, idx = (score.unsqueeze(1) + trans_t).max(dim=2)
            # shape: (batch_size, num_tags)
            score = torch.where(mask_steps[t], best.add_(em_steps[t]), score)
            history.append(idx)
        # shape: (batch_size, num_tags)
        score = score + self.end_transitions.detach()
        # shape: (batch_size,)
        cur = score.argmax(dim=1)

        # shape: (batch_size, 1)
        cur = cur.unsqueeze(1)
        path = [cur]
        if seq_length > 1:
            # identity backpointers at padding: backtracking starts at each
            # sentence's own last real position
            # shape: (seq_length - 1, batch_size, num_tags)
            arange = torch.arange(num_tags, device=emissions.device)
            bps = torch.where(mask_t[1:], torch.stack(history), arange).unbind(0)
            for t in range(seq_length - 2, -1, -1):
                # shape: (batch_size, 1)
                cur = bps[t].gather(1, cur)
                path.append(cur)
        path.reverse()
        # shape: (batch_size, seq_length)
        return torch.cat(path, dim=1).masked_fill_(~mask, 0)

    def decode(self, emissions: torch.Tensor, mask: Optional[torch.Tensor] = None) -> list[list[int]]:
        """Viterbi best tag sequence of each sentence (length = its mask row sum)."""
        mask = self._validate(emissions, mask)
        with torch.no_grad():
            paths = self._viterbi(emissions, mask).tolist()
        lengths = mask.sum(1).tolist()
        return [path[:n] for path, n in zip(paths, lengths)]


def _check_companion(
    name: str, tensor: torch.Tensor, dtype: torch.dtype, dtype_name: str, batch_seq: torch.Size
) -> None:
    """Raise ValueError unless `tensor` (tags or mask) has `dtype` and the emissions' [batch, seq] shape."""
    if tensor.dtype != dtype:
        raise ValueError(f"{name} must be a {dtype_name} tensor, got {tensor.dtype}")
    if tensor.shape != batch_seq:
        raise ValueError(
            f"the first two dimensions of emissions and {name} must match, "
            f"got {tuple(batch_seq)} and {tuple(tensor.shape)}"
        )
