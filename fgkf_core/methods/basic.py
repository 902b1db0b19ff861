"""Single-domain and pre-training baselines: source_only, target_only, pretrained_model."""
from __future__ import annotations

from .base import Method, register


@register
class TargetOnly(Method):
    """BiLSTM-CRF trained on the target training data only."""

    name = "target_only"
    schedule = "target"


@register
class SourceOnly(Method):
    """BiLSTM-CRF trained on source data only, model selected on target dev, tested on target test."""

    name = "source_only"
    schedule = "source"


@register
class PretrainedModel(Method):
    """Train the tagger on source data (cfg.pretrain_epochs), then fine-tune all of it on target data."""

    name = "pretrained_model"
    schedule = "pretrain_finetune"
