"""Source-pre-trained embeddings: pretrained_embedding (target tagger on it) and fgkf_pe (FGKF on it).

References:
    - H. Zhou, Z. Yu, Y. Zhang, S. Huang, X. Dai and J. Chen. 2017.
      Word-Context Character Embeddings for Chinese Word Segmentation. EMNLP 2017.
    - Huiyun Yang, Shujian Huang, Xinyu Dai and Jiajun Chen. 2019.
      Fine-grained Knowledge Fusion for Sequence Labeling Domain Adaptation. EMNLP-IJCNLP 2019, pages 4197-4206.
"""
from __future__ import annotations

import torch

from ..config import Config
from ..data import Batch
from .base import Method, System, register
from .fgkf import FGKF


@register
class PretrainedEmbedding(Method):
    """Target tagger trained on target data from embeddings pre-trained on the labelled source corpus.

    Architecture: the usual two BiLSTM-CRF taggers over one embedding table (`TaggerPair`). Schedule
    "pretrain_finetune": cfg.pretrain_epochs of source steps train the source tagger and with it the
    shared embedding; `after_pretrain` hands over the embedding only (the target BiLSTM, emission layer and
    CRF keep their initial values, unlike `pretrained_model`, which copies the whole tagger); the target
    tagger is then trained on target data only, fine-tuning the embedding. With shared_embedding=False the
    source embedding is copied into the target embedding at the hand-over.

    Reference (flavour): H. Zhou, Z. Yu, Y. Zhang, S. Huang, X. Dai, J. Chen, "Word-Context Character
    Embeddings for Chinese Word Segmentation", EMNLP 2017. Deviation: Zhou et al. learn embeddings with a
    word2vec-style objective whose contexts carry segmentation labels (gold source data plus automatically
    labelled text); here the embeddings are the first layer of a BiLSTM-CRF trained on the gold source labels,
    for every task (not only CWS), and no unlabelled text is used.
    """

    name = "pretrained_embedding"
    schedule = "pretrain_finetune"
    uses_teacher = False

    @torch.no_grad()
    def after_pretrain(self, system: System) -> None:
        if system.target.embedding is not system.source.embedding:
            system.target.embedding.load_state_dict(system.source.embedding.state_dict())


@register
class FGKFPretrainedEmbedding(FGKF):
    """FGKF whose shared embedding is first pre-trained on the labelled source corpus.

    Schedule "pretrain_alternate": cfg.pretrain_epochs of source steps on the plain source CRF loss
    (no domain-classifier term) train the source tagger and the shared embedding, then Algorithm 1 runs
    exactly as `fgkf` (warm-up if cfg.warm_up, then cfg.max_source_epochs of alternating episodes, whose source
    budget does not count the pre-training steps). Everything else (relevance, alphas, ablation switches,
    formulation) is FGKF's. With shared_embedding=False only the source tagger's embedding is pre-trained.

    Reference: Yang et al., EMNLP 2019 (FGKF) with the pre-trained-embedding idea of Zhou et al., EMNLP 2017
    (see `pretrained_embedding` for how our pre-training differs from theirs).
    """

    name = "fgkf_pe"
    schedule = "pretrain_alternate"

    def pretrain_loss(self, system: System, batch: Batch, cfg: Config) -> torch.Tensor:
        return Method.source_loss(self, system, batch, cfg)[0]
