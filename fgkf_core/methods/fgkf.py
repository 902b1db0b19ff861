"""FGKF (paper section 4): capsule/Domain-q relevance -> alpha_samp/elem/multi -> weighted seq + KD losses.

References:
    - Huiyun Yang, Shujian Huang, Xinyu Dai and Jiajun Chen. 2019.
      Fine-grained Knowledge Fusion for Sequence Labeling Domain Adaptation. EMNLP-IJCNLP 2019, pages 4197-4206.
      Section 4, Eqs. 5-17 and Algorithm 1.
"""
from __future__ import annotations

import torch

from ..config import Config
from ..data import Batch
from ..fusion import Fusion, weighted_target_loss
from ..relevance import RelevanceModule, domain_loss
from .base import SOURCE, TARGET, BuildContext, Method, TaggerPair, register, teacher_probs


class FGKFSystem(TaggerPair):
    """The two taggers, the target side's relevance module (Eqs. 5-9), the code formulation's own source-side
    relevance module (None in the paper formulation) and the fusion layer that turns relevance into alphas."""

    relevance: RelevanceModule
    source_relevance: RelevanceModule | None
    fusion: Fusion

    def __init__(self, cfg: Config, ctx: BuildContext):
        super().__init__(cfg, ctx)
        h = 2 * cfg.hidden
        rel_kw = dict(
            kind=cfg.relevance, n_capsules=cfg.n_capsules, capsule_dim=cfg.capsule_dim, iters=cfg.routing_iters,
            mlp_hidden=cfg.mlp_hidden, mlp_dropout=cfg.mlp_dropout, classifier_input=cfg.domain_clf,
            compiled_routing=cfg.compile_routing, routing_dtype=cfg.routing_dtype,
        )
        self.relevance = RelevanceModule(h, **rel_kw)
        self.source_relevance = RelevanceModule(h, **rel_kw) if cfg.domain_clf == "one_class_caps" else None
        self.fusion = Fusion(
            cfg.alpha, cfg.sample_weight, cfg.elem_map, cfg.loss_split, cfg.tau, cfg.gamma, cfg.kd_alpha, ctx.max_len,
            cfg.fusion_weights,
        )


@register
class FGKF(Method):
    """Fine-grained knowledge fusion. Variants come from the config: relevance x alpha x warm_up x formulation.

    Paper formulation: one two-class domain classifier on r (Eqs. 7-9) sees source batches (label 0) in
    source steps and target batches (label 1) in target steps. Code formulation (`domain_clf=one_class_caps`):
    each tagger has its own capsule classifier that only ever sees its own domain, as the released code.
    """

    name = "fgkf"
    uses_teacher = True
    warm_up = True

    def build(self, cfg: Config, ctx: BuildContext) -> FGKFSystem:
        return FGKFSystem(cfg, ctx)

    def source_loss(self, system: FGKFSystem, batch: Batch, cfg: Config):
        """Algorithm 1, lines 6-10: the source CRF loss L_S plus the domain loss L^S_sc on a source batch."""
        h, e = system.source(batch.ids, batch.mask)  # [B, T, 2H], [B, T, C]
        loss = system.source.nll(e, batch.tags, batch.mask)  # scalar: L_S
        if cfg.alpha == "basic":
            return loss, {}
        if cfg.domain_clf == "one_class_caps":  # code formulation: the source tagger's own classifier
            logits = system.source_relevance(h, batch.mask).domain_logits  # [B, 2]
        else:  # the target-side classifier learns what source samples look like
            h_t = system.target.encode(batch.ids, batch.mask)  # [B, T, 2H]
            logits = system.relevance(h_t, batch.mask).domain_logits  # [B, 2]
        d = domain_loss(logits, SOURCE)  # scalar: L^S_sc (Algorithm 1)
        return loss + d, {"domain_src": d.item()}

    def target_loss(self, system: FGKFSystem, batch: Batch, p_source: torch.Tensor | None, cfg: Config):
        """Algorithm 1, lines 12-19: L_T = L_SEQ + L_KD weighted by the alphas (Eq. 11), plus L^T_sc."""
        p_s = teacher_probs(system, batch, p_source)  # [B, T, C]
        h, e = system.target(batch.ids, batch.mask)  # [B, T, 2H], [B, T, C]
        rel = None if cfg.alpha == "basic" else system.relevance(h, batch.mask)
        alphas = system.fusion(rel, batch.mask)  # Eqs. 10, 14, 17: weights [B] and [B, T]
        seq, kd = weighted_target_loss(system.target, e, batch.tags, batch.mask, p_s, alphas.seq_weight,
                                       alphas.kd_weight)  # scalars: Eqs. 12/15 and 13/16
        loss = seq + kd  # scalar: Eq. 11
        n = batch.mask.sum()  # scalar: real tokens in the batch
        logs = {"seq": seq.item(), "kd": kd.item(), "tau": system.fusion.tau.item(), "gamma": system.fusion.gamma.item()}
        if rel is not None:
            d = domain_loss(rel.domain_logits, TARGET)  # scalar: L^T_sc (Algorithm 1, line 18)
            loss = loss + d
            logs |= {
                "domain_tgt": d.item(), "alpha_samp": alphas.samp.mean().item(),
                "alpha_elem": ((alphas.elem * batch.mask).sum() / n).item(),
                "alpha_kd": ((alphas.kd_weight * batch.mask).sum() / n).item(),
            }
        return loss, logs

    def l2_params(self, system: FGKFSystem, side: str) -> list[torch.Tensor]:
        extra = [system.relevance.B, *system.fusion.matrices()] if side == "target" else []
        return super().l2_params(system, side) + extra

    @torch.no_grad()
    def relevance(self, system: FGKFSystem, batch: Batch) -> dict[str, torch.Tensor] | None:
        h, _ = system.target(batch.ids, batch.mask)  # [B, T, 2H]
        rel = system.relevance(h, batch.mask)
        alphas = system.fusion(rel, batch.mask)
        return {
            "w_elem": rel.w_elem, "w_norm": rel.w_norm, "alpha_elem": alphas.elem,
            "alpha_kd": alphas.kd_weight, "alpha_samp": alphas.samp,
        }
