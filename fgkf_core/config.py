"""Run configuration: paper section 5.2 defaults, per-task values, profiles and formulations.

A config resolves in layers: defaults -> task -> formulation -> profile -> user overrides.
The resolved config, less the `KEY_NEUTRAL` fields at their defaults, keys the run record (with the task
definition and the data hashes, `runs.run_key`), so an identical run is never repeated.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args, get_origin, get_type_hints


@dataclass(frozen=True)
class Config:
    """Every knob a run reads. Field comments give the paper/code origin of the default."""

    # model (paper 5.2)
    emb_dim: int = 100
    hidden: int = 100  # per LSTM direction
    emb_dropout: float = 0.2  # embedding dropout rate (paper); the code keeps 0.2, i.e. rate 0.8
    mlp_dropout: float = 0.2  # domain-MLP dropout rate
    shared_embedding: bool = True
    emb_init: Literal["random", "zeros"] = "random"  # "random" (paper) | "zeros" (authors' code)
    crf_start_end: bool = True  # pytorch-crf start/end transitions; the TF code has none
    # relevance (paper section 4)
    relevance: Literal["sample_q", "domain_q"] = "sample_q"  # "sample_q" (capsules) | "domain_q" (trainable query)
    n_capsules: int = 60
    capsule_dim: int = 200
    routing_iters: int = 3
    mlp_hidden: int = 100
    compile_routing: bool = True  # compiled capsule routing: fused C++ kernel on CPU (fp32), else inductor (same function)
    routing_dtype: Literal["float32", "bfloat16"] = "float32"  # bfloat16: capsule matmuls in bf16 (CPU: fused kernel)
    # fusion
    alpha: Literal["samp", "elem", "multi", "basic"] = "multi"  # "samp" | "elem" | "multi" | "basic" (constant kd_alpha, i.e. w/o alpha_multi)
    kd_alpha: float = 0.5  # basicKD alpha (Eq. 2)
    tau: float = 1.0  # Eq. 10 temperature (initial value: trained, as the paper's table and the code)
    gamma: float = 0.5  # Eq. 10 bias (initial value: trained)
    fusion_weights: Literal["trained", "fixed"] = "trained"  # tau, gamma and Eq. 14's map: "trained" on L_T (paper, code) | "fixed" at their initial values (beyond the paper)
    gradient_block: bool = True  # p^S under no_grad; off lets the KD loss reach the source model
    # formulation sub-switches (paper values; "code" flips them, see FORMULATIONS)
    sample_weight: Literal["sigmoid", "exp"] = "sigmoid"  # "sigmoid" sigma(tau*w+gamma) (Eq. 10) | "exp" exp(g*(t-P_tgt)) on KD only
    loss_split: Literal["multi_both", "elem_seq"] = "multi_both"  # "multi_both" (Eqs. 15-17) | "elem_seq" (1-alpha_elem on seq, alpha_multi on KD)
    domain_clf: Literal["two_class_r", "one_class_caps"] = "two_class_r"  # "two_class_r" (Eqs. 7-9) | "one_class_caps" (code: flattened capsules, own domain only)
    elem_map: Literal["token", "positional"] = "token"  # "token" (softmax w_elem, shared affine) | "positional" (raw w_elem, MAX_LEN x MAX_LEN W_alpha)
    ps_refresh: Literal["every_teach", "on_source_improve"] = "every_teach"  # "every_teach" | "on_source_improve" (code: only when source improves on target dev)
    l2: float = 0.0  # paper says 0.1; TF-style 0.1*sum(w^2)/2 stops learning here (README), the code never applies it
    # optimisation (paper 5.2; Adam as in the authors' code)
    lr: float = 0.01
    batch_size: int = 64
    clip: float = 5.0
    teach_step: int = 100  # I: source steps between target episodes
    warm_up: bool = True
    warm_up_epochs: float = 2.0  # source passes (code: CWS 5, POS/NER 2)
    max_source_epochs: float = 100.0
    max_target_epochs: int = 100  # for target-only schedules
    eval_every: int = 100  # target steps between dev evaluations
    patience: int = 2000  # target steps without dev gain
    # data
    vocab: Literal["trained", "both"] = "trained"  # vocabulary of the domains the method trains on | of both
    min_count: int = 1
    bigram_min_count: int = 4  # authors' code keeps bigrams with count > 3
    source_limit: int | None = None
    target_limit: int | None = None
    eval_limit: int | None = None
    target_pool: float | None = None  # replaces the task's target subsample share (Figure 5: a 10% Weibo pool)
    target_fraction: float | None = None  # Figure 5: nested share of that pool (0.2 .. 1.0)
    split_seed: int = 2019  # shuffle of an unsplit target before its train/dev/test cut (ner_en: split noise)
    # pretraining (pretrained_model / pretrained_embedding)
    pretrain_epochs: float = 2.0
    # numerics
    flush_denormal: bool = False  # CPU: flush denormal floats to zero (FTZ/DAZ, as TF's CPU runtime); on in `full`

    def __post_init__(self) -> None:
        """Check every value's type, allowed literal and range, so a typo fails before any training."""
        hints = get_type_hints(type(self))
        for f in fields(self):
            value, hint = getattr(self, f.name), hints[f.name]
            if not _fits(value, hint):
                raise ValueError(f"config {f.name}: expected {_describe(hint)}, got {value!r}")
        for name, (low, high, closed_low) in RANGES.items():
            value = getattr(self, name)
            if value is None:
                continue
            if value < low or (not closed_low and value == low) or (high is not None and value > high):
                bound = f"{'>=' if closed_low else '>'} {low}" + (f" and <= {high}" if high is not None else "")
                raise ValueError(f"config {name}: expected a value {bound}, got {value!r}")

    def replace(self, **kw: Any) -> "Config":
        unknown = sorted(set(kw) - {f.name for f in fields(self)})
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; valid keys: {sorted(f.name for f in fields(self))}")
        return dataclasses.replace(self, **kw)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """Stable short hash of the resolved values."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


#: name -> (lower bound, upper bound or None, lower bound allowed)
RANGES: dict[str, tuple[float, float | None, bool]] = {
    **{k: (1, None, True) for k in (
        "emb_dim", "hidden", "n_capsules", "capsule_dim", "routing_iters", "mlp_hidden", "batch_size", "teach_step",
        "eval_every", "patience", "min_count", "bigram_min_count", "source_limit", "target_limit", "eval_limit",
    )},
    **{k: (0.0, 1.0, True) for k in ("emb_dropout", "mlp_dropout", "kd_alpha")},
    **{k: (0.0, None, True) for k in (
        "lr", "clip", "warm_up_epochs", "max_source_epochs", "max_target_epochs", "l2", "pretrain_epochs",
    )},
    **{k: (0.0, 1.0, False) for k in ("target_pool", "target_fraction")},
}


def _fits(value: Any, hint: Any) -> bool:
    """Whether value matches a field annotation (bool, int, float, str, Literal, X | None)."""
    origin = get_origin(hint)
    if origin is Literal:
        return value in get_args(hint)
    if origin is not None:  # a union such as `int | None`
        return any(_fits(value, h) for h in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(hint))
    if origin is not None:
        return " or ".join(_describe(h) for h in get_args(hint))
    return "None" if hint is type(None) else hint.__name__


#: fields added after runs were first keyed, at the value that reproduces the earlier behaviour: at that value
#: they are left out of the run key (`runs.run_key`), so adding a knob never orphans a recorded run
KEY_NEUTRAL: dict[str, Any] = {"split_seed": 2019, "routing_dtype": "float32", "flush_denormal": False,
                               "fusion_weights": "trained"}

def with_neutral(config: dict[str, Any]) -> dict[str, Any]:
    """A record's resolved config with every key added since it was written at its neutral value (`KEY_NEUTRAL`)."""
    return {**KEY_NEUTRAL, **config}


#: per-task values from the authors' code (MAX_LEN lives on the Task)
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "cws_zx": {"warm_up_epochs": 5.0},
    "cws_weibo": {"warm_up_epochs": 5.0},
}
#: the authors' learning rate per task kind (section 9 of the reference notes)
CODE_LR = {"cws": 0.01, "pos": 0.001, "ner": 0.001}

FORMULATIONS: dict[str, dict[str, Any]] = {
    "paper": {},
    "code": {
        "sample_weight": "exp",
        "loss_split": "elem_seq",
        "domain_clf": "one_class_caps",
        "elem_map": "positional",
        "emb_dropout": 0.8,
        "emb_init": "zeros",
        "l2": 0.0,
        "code_lr": True,
        "ps_refresh": "on_source_improve",
        "crf_start_end": False,
    },
}

PROFILES: dict[str, dict[str, Any]] = {
    # tiny real slices: tests and notebook validation, well under a minute on 2 CPU cores
    "smoke": {
        "source_limit": 400, "target_limit": 200, "eval_limit": 100, "n_capsules": 4, "capsule_dim": 16,
        "warm_up_epochs": 0.25, "max_source_epochs": 1.0, "teach_step": 3, "eval_every": 3, "patience": 1000,
        "max_target_epochs": 6, "pretrain_epochs": 0.5, "emb_dim": 32, "hidden": 32,
        "mlp_hidden": 16, "compile_routing": False,
    },
    # a few minutes per run on 2 CPU cores; shrinks source data, schedule and capsule size (eager routing)
    "quick": {
        "source_limit": 6000, "target_limit": 2000, "eval_limit": 1000, "n_capsules": 10, "capsule_dim": 40,
        "warm_up_epochs": 0.5, "max_source_epochs": 4.0, "teach_step": 10, "eval_every": 15, "patience": 400,
        "max_target_epochs": 60, "pretrain_epochs": 1.0, "compile_routing": False,
    },
    # the paper's settings; denormals flushed (`fgkf_core.denormals`: source steps of a trained model 3.3x faster, measured)
    "full": {"flush_denormal": True},
}


def resolve(
    task: str, profile: str = "quick", formulation: str = "paper", kind: str | None = None, **overrides: Any
) -> tuple[Config, dict]:
    """Resolve defaults -> task -> formulation -> profile -> overrides; also return what each layer set.

    `kind` (cws | pos | ner) picks per-kind defaults; by default it is looked up from the task registry.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    if formulation not in FORMULATIONS:
        raise ValueError(f"unknown formulation {formulation!r}; valid: {', '.join(FORMULATIONS)}")
    layers: dict[str, dict[str, Any]] = {"task": dict(TASK_DEFAULTS.get(task, {}))}
    form = dict(FORMULATIONS[formulation])
    if form.pop("code_lr", False):
        if kind is None:
            from .tasks import get_task

            kind = get_task(task).kind
        if kind not in CODE_LR:
            raise ValueError(f"unknown task kind {kind!r}; valid: {', '.join(CODE_LR)}")
        form["lr"] = CODE_LR[kind]
    layers["formulation"] = form
    layers["profile"] = dict(PROFILES[profile])
    layers["overrides"] = dict(overrides)
    cfg = Config()
    for values in layers.values():
        cfg = cfg.replace(**values)
    return cfg, layers
