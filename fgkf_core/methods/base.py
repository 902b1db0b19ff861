"""What every method shares: the domain labels, the system classes, the method interface and the registry.

The default losses are the steps of Algorithm 1 without knowledge fusion; `schedules.py` runs them, driven by
`train.Trainer`.

References:
    - Huiyun Yang, Shujian Huang, Xinyu Dai and Jiajun Chen. 2019.
      Fine-grained Knowledge Fusion for Sequence Labeling Domain Adaptation. EMNLP-IJCNLP 2019, pages 4197-4206.
      Algorithm 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from ..config import Config
from ..data import Batch
from ..models import Tagger, TokenEmbedding


@dataclass(frozen=True)
class BuildContext:
    """Sizes a method needs to build its modules."""

    vocab_size: int
    n_tags: int
    features: str  # "word" | "char_bigram"
    max_len: int

    @property
    def width(self) -> int:
        return 5 if self.features == "char_bigram" else 1


#: domain labels: the classes of every domain classifier and the index of each domain's modules
SOURCE, TARGET = 0, 1


class System(nn.Module):
    """A method's trainable modules: a source and a target tagger, plus whatever the method adds.

    Both taggers expose the `models.Tagger` interface the trainer and the scorer use (forward -> (features,
    emissions), nll, predict, emit). Each subclass creates its modules in `__init__`; their creation order fixes
    the initial weights drawn for a seed and the order of the parameters, so it is part of the numbers.
    """

    source: nn.Module
    target: nn.Module


class TaggerPair(System):
    """Source and target BiLSTM-CRF taggers over one shared embedding (or one each)."""

    source: Tagger
    target: Tagger

    def __init__(self, cfg: Config, ctx: BuildContext):
        super().__init__()
        in_dim = cfg.emb_dim * ctx.width
        shared = TokenEmbedding(ctx.vocab_size, cfg.emb_dim, cfg.emb_init)
        src_emb = shared if cfg.shared_embedding else TokenEmbedding(ctx.vocab_size, cfg.emb_dim, cfg.emb_init)
        self.source = Tagger(src_emb, in_dim, cfg.hidden, ctx.n_tags, cfg.emb_dropout, cfg.crf_start_end)
        self.target = Tagger(shared, in_dim, cfg.hidden, ctx.n_tags, cfg.emb_dropout, cfg.crf_start_end)


class Method:
    """A training method: which schedule drives it and the loss of each kind of step.

    Schedules (see `schedules.SCHEDULES`): "target" (target data only), "source" (source data only,
    selected on target dev), "alternate" (Algorithm 1), "pretrain_finetune" (source pre-training,
    `after_pretrain` hand-over, target training) and "pretrain_alternate" (source pre-training, then Algorithm 1).
    """

    name: str = ""
    schedule: str = "alternate"
    uses_teacher: bool = False  # needs p^S from the source model
    warm_up: bool = False  # honours cfg.warm_up
    two_taggers: bool = True  # builds a `TaggerPair` (so honours cfg.shared_embedding)

    def build(self, cfg: Config, ctx: BuildContext) -> System:
        """The method's system, freshly initialised (the caller seeds the RNG): two taggers by default."""
        return TaggerPair(cfg, ctx)

    def source_loss(self, system: System, batch: Batch, cfg: Config) -> tuple[torch.Tensor, dict]:
        """Loss of one source step (Algorithm 1, lines 6-10)."""
        _, e = system.source(batch.ids, batch.mask)  # [B, T, C]
        return system.source.nll(e, batch.tags, batch.mask), {}

    def warm_loss(self, system: System, batch: Batch, cfg: Config) -> torch.Tensor:
        """Warm-up target step: the target tagger's plain CRF loss on a source batch."""
        _, e = system.target(batch.ids, batch.mask)  # [B, T, C]
        return system.target.nll(e, batch.tags, batch.mask)

    def target_loss(
        self, system: System, batch: Batch, p_source: torch.Tensor | None, cfg: Config
    ) -> tuple[torch.Tensor, dict]:
        """Loss of one target step (Algorithm 1, lines 12-19); p_source [B, T, C] is the cached teacher output
        (None: compute online)."""
        _, e = system.target(batch.ids, batch.mask)  # [B, T, C]
        return system.target.nll(e, batch.tags, batch.mask), {}

    def pretrain_loss(self, system: System, batch: Batch, cfg: Config) -> torch.Tensor:
        """Loss of one source pre-training step (the pretrain_* schedules): the source step's loss by default."""
        return self.source_loss(system, batch, cfg)[0]

    def after_pretrain(self, system: System) -> None:
        """Hand-over after "pretrain_finetune"'s pre-training: by default the target tagger becomes a source copy."""
        system.target.load_state_dict(system.source.state_dict())

    def l2_params(self, system: System, side: str) -> list[torch.Tensor]:
        """Weights under the paper's L2 term (the emission matrix of the stepped tagger, as the TF code declares)."""
        return [getattr(system, side).emit.weight]

    def relevance(self, system: System, batch: Batch) -> dict[str, torch.Tensor] | None:
        """Per-token relevance outputs (w_elem, alphas) for storage; None for methods without relevance."""
        return None

    def evaluated(self, system: System) -> nn.Module:
        """The tagger whose target-dev score selects the model and whose test score is reported."""
        return system.source if self.schedule == "source" else system.target


METHODS: dict[str, Callable[[], Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator adding a method to the registry under cls.name."""
    if not cls.name or cls.name in METHODS:
        raise ValueError(f"method name {cls.name!r} is empty or already registered")
    METHODS[cls.name] = cls
    return cls


def get_method(name: str) -> Method:
    """Instantiate a registered method; unknown names list the valid ones."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}")
    return METHODS[name]()


def teacher_probs(system: System, batch: Batch, p_source: torch.Tensor | None) -> torch.Tensor:
    """p^S for a target batch (Algorithm 1, line 11): the cached (gradient-blocked) tensor, or the source tagger's
    softmax online."""
    if p_source is not None:
        return p_source
    _, e = system.source(batch.ids, batch.mask)  # [B, T, C] gradient reaches the source model
    return e.softmax(-1) * batch.mask.unsqueeze(-1)  # [B, T, C]
