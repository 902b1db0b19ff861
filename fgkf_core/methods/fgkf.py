"""FGKF (paper section 4): capsule/Domain-q relevance -> alpha_samp/elem/multi -> weighted seq + KD losses."""
from __future__ import annotations

import torch

from ..config import Config
from ..data import Batch
from ..fusion import Fusion, weighted_target_loss
from ..relevance import RelevanceModule, domain_loss
from .base import BuildContext, Method, System, register, teacher_probs

SOURCE, TARGET = 0, 1


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
    reference = "Yang et al., EMNLP 2019"

    def build(self, cfg: Config, ctx: BuildContext) -> System:
        system = System(cfg, ctx)
        h = 2 * cfg.hidden
        rel_kw = dict(
            kind=cfg.relevance, n_capsules=cfg.n_capsules, capsule_dim=cfg.capsule_dim, iters=cfg.routing_iters,
            mlp_hidden=cfg.mlp_hidden, mlp_dropout=cfg.mlp_dropout, classifier_input=cfg.domain_clf,
            compiled_routing=cfg.compile_routing,
        )
        system.relevance = RelevanceModule(h, **rel_kw)
        if cfg.domain_clf == "one_class_caps":
            system.source_relevance = RelevanceModule(h, **rel_kw)
        system.fusion = Fusion(
            cfg.alpha, cfg.sample_weight, cfg.elem_map, cfg.loss_split, cfg.tau, cfg.gamma, cfg.kd_alpha, ctx.max_len
        )
        return system

    def source_loss(self, system: System, batch: Batch, cfg: Config):
        h, e = system.source(batch.ids, batch.mask)  # [B, T, 2H], [B, T, C]
        loss = system.source.nll(e, batch.tags, batch.mask)
        if cfg.alpha == "basic":
            return loss, {}
        if cfg.domain_clf == "one_class_caps":
            logits = system.source_relevance(h, batch.mask).domain_logits  # [B, 2]
        else:  # the target-side classifier learns what source samples look like
            h_t = system.target.encode(batch.ids, batch.mask)  # [B, T, 2H]
            logits = system.relevance(h_t, batch.mask).domain_logits  # [B, 2]
        d = domain_loss(logits, SOURCE)
        return loss + d, {"domain_src": d.item()}

    def target_loss(self, system: System, batch: Batch, p_source: torch.Tensor | None, cfg: Config):
        p_s = teacher_probs(system, batch, p_source)  # [B, T, C]
        h, e = system.target(batch.ids, batch.mask)  # [B, T, 2H], [B, T, C]
        rel = None if cfg.alpha == "basic" else system.relevance(h, batch.mask)
        alphas = system.fusion(rel, batch.mask)
        seq, kd = weighted_target_loss(system.target, e, batch.tags, batch.mask, p_s, alphas.seq_weight, alphas.kd_weight)
        loss = seq + kd
        n = batch.mask.sum()
        logs = {"seq": seq.item(), "kd": kd.item(), "tau": system.fusion.tau.item(), "gamma": system.fusion.gamma.item()}
        if rel is not None:
            d = domain_loss(rel.domain_logits, TARGET)
            loss = loss + d
            logs |= {
                "domain_tgt": d.item(), "alpha_samp": alphas.samp.mean().item(),
                "alpha_elem": ((alphas.elem * batch.mask).sum() / n).item(),
                "alpha_kd": ((alphas.kd_weight * batch.mask).sum() / n).item(),
            }
        return loss, logs

    def l2_params(self, system: System, side: str) -> list[torch.Tensor]:
        extra = [system.relevance.B, *system.fusion.matrices()] if side == "target" else []
        return super().l2_params(system, side) + extra

    @torch.no_grad()
    def relevance(self, system: System, batch: Batch) -> dict[str, torch.Tensor] | None:
        h, _ = system.target(batch.ids, batch.mask)  # [B, T, 2H]
        rel = system.relevance(h, batch.mask)
        alphas = system.fusion(rel, batch.mask)
        return {
            "w_elem": rel.w_elem, "w_norm": rel.w_norm, "alpha_elem": alphas.elem,
            "alpha_kd": alphas.kd_weight, "alpha_samp": alphas.samp,
        }
