"""Encoded splits of one run: vocabulary fit, encoding, Viterbi prediction and target scoring."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .config import Config
from .data import EncodedSet, Encoder
from .metrics import bmes_words, evaluate
from .tasks import TaskData


@dataclass
class Prepared:
    """Encoded splits and metric arguments for one run."""

    encoder: Encoder
    source_train: EncodedSet
    target_train: EncodedSet
    target_dev: EncodedSet
    target_test: EncodedSet
    metric: str
    metric_kw: dict[str, Any]

    def score(self, tagger: torch.nn.Module, split: str, batch_size: int, device: torch.device) -> tuple[dict, list[list[str]]]:
        """Metrics of `tagger` on a target split, and its predicted tag sequences."""
        data: EncodedSet = getattr(self, split)
        pred = predict(tagger, data, batch_size, device)
        tags = self.encoder.tags.itos
        pred_tags = [[tags[i] for i in row] for row in pred]
        gold = [list(s.tags) for s in data.sentences]
        kw = dict(self.metric_kw)
        if self.metric == "word_f1":
            kw["chars"] = [list(s.tokens) for s in data.sentences]
        return evaluate(self.metric, gold, pred_tags, **kw), pred_tags


def training_domains(schedule: str) -> tuple[str, ...]:
    """The training splits a schedule learns from: target-only and source-only read one domain, the rest both."""
    return {"target": ("target",), "source": ("source",)}.get(schedule, ("source", "target"))


def prepare(data: TaskData, cfg: Config, domains: tuple[str, ...] = ("source", "target")) -> Prepared:
    """Fit the vocabulary and encode every split.

    With cfg.vocab == "trained" the vocabulary holds only the training data of `domains` (what the model
    trains on), so every embedding row it has was trained and unseen words share one UNK; "both" fits it on
    both domains whatever the method trains on (words seen only in the other domain keep untrained random
    vectors). Training sentences are cut to the task's MAX_LEN (as the authors' code); dev and test are scored
    whole.
    """
    task = data.task
    if not set(domains) <= {"source", "target"} or not domains:
        raise ValueError(f"domains: expected a non-empty subset of ('source', 'target'), got {domains!r}")
    fit_on = domains if cfg.vocab == "trained" else ("source", "target")
    sentences = [s for d in fit_on for s in getattr(data, f"{d}_train")]
    encoder = Encoder.fit(sentences, data.tag_set, task.features, cfg.min_count, cfg.bigram_min_count)
    kw: dict[str, Any] = {}
    if task.metric == "accuracy":
        kw["labels"] = data.target_tags
    if task.metric == "word_f1":  # OOV = words absent from both domains' training words (one list per task)
        kw["train_words"] = {w for s in data.source_train + data.target_train for w in bmes_to_words(s.tokens, s.tags)}
    return Prepared(
        encoder,
        EncodedSet(data.source_train, encoder, task.max_len),
        EncodedSet(data.target_train, encoder, task.max_len),
        EncodedSet(data.target_dev, encoder),
        EncodedSet(data.target_test, encoder),
        task.metric,
        kw,
    )


def bmes_to_words(chars: tuple[str, ...], tags: tuple[str, ...]) -> list[str]:
    """Words of a BMES-tagged sentence."""
    return ["".join(chars[a:b]) for a, b in bmes_words(list(tags))]


@torch.no_grad()
def predict(tagger: torch.nn.Module, data: EncodedSet, batch_size: int, device: torch.device) -> list[list[int]]:
    """Viterbi predictions for every sentence, in dataset order (batched, length-bucketed)."""
    was_training = tagger.training
    tagger.eval()
    out: list[list[int]] = [[] for _ in range(len(data))]
    for batch in data.batches(max(batch_size, 256)):
        batch = batch.to(device)
        tags = tagger.predict(batch.ids, batch.mask).cpu()  # [B, T]
        lengths = batch.mask.sum(1).cpu().tolist()
        for row, i in enumerate(batch.index.tolist()):
            out[i] = tags[row, : lengths[row]].tolist()
    tagger.train(was_training)
    return out
