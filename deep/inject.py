"""Put adapters into a Hugging Face model, merge them, and list their parameters.

* :func:`inject` freezes the base model, wraps the target ``nn.Linear`` modules (matched by
  exact name or dotted suffix, defaults keyed by ``model.config.model_type``) in the adapter
  layer of ``config.method`` and keeps the task head trainable;
* :func:`merge` / :func:`unmerge` fold the adapters into the base weights and back;
* :func:`adapter_layers`, :func:`alpha_parameters`, :func:`adapter_parameters`,
  :func:`head_parameters` give the parameter groups the training loop needs (the alpha optimiser
  steps ``alpha_parameters``; the adapter optimiser steps ``adapter_parameters`` + head);
* :func:`trainable_parameters` counts them (the "+0.02 % parameters" of alpha-LoRA).

Supported and tested: ``RobertaForSequenceClassification``, ``BertForSequenceClassification``,
``LlamaForCausalLM``, ``LlamaForSequenceClassification``. Any model whose target layers are
``nn.Linear`` works when ``target_modules`` is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

import torch
from torch import nn

from .config import ALL_LINEAR, AdapterConfig
from .layers import AdapterLayer, create_layer

__all__ = [
    "DEFAULT_TARGETS",
    "HEAD_NAMES",
    "AdapterInfo",
    "inject",
    "merge",
    "unmerge",
    "adapter_info",
    "adapter_layers",
    "alpha_parameters",
    "named_alpha_parameters",
    "adapter_parameters",
    "head_parameters",
    "head_modules",
    "trainable_parameters",
    "linear_module_names",
    "resolve_targets",
    "Plan",
    "build_layers",
    "install",
]

#: Default targets per ``model.config.model_type`` (paper: query and value projections).
DEFAULT_TARGETS: dict[str, tuple[str, ...]] = {
    "roberta": ("query", "value"),
    "xlm-roberta": ("query", "value"),
    "bert": ("query", "value"),
    "llama": ("q_proj", "v_proj"),
}

#: Names of the task heads (top-level children): fully trainable, never adapted.
HEAD_NAMES: tuple[str, ...] = ("classifier", "score")

_INFO_ATTR = "_deep_adapter"


@dataclass
class AdapterInfo:
    """What :func:`inject` recorded on the model (attribute ``_deep_adapter``)."""

    config: AdapterConfig
    targets: list[str]
    shared_alpha: dict[str, str] = field(default_factory=dict)  # follower -> owner
    base_replaced: list[str] = field(default_factory=list)  # layers training on a residual W0


# ---------------------------------------------------------------------------- discovery
def adapter_info(model: nn.Module) -> AdapterInfo | None:
    """The :class:`AdapterInfo` of an injected model, or None."""
    return getattr(model, _INFO_ATTR, None)


def head_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The task head(s): top-level children named ``classifier`` (bert/roberta) or ``score``
    (llama). Empty for a causal LM."""
    return [(n, m) for n, m in model.named_children() if n in HEAD_NAMES]


def excluded_modules(model: nn.Module) -> set[int]:
    """ids of the modules never adapted nor quantized: the task head(s) and ``lm_head``."""
    ids = {id(m) for _, h in head_modules(model) for m in h.modules()}
    get_out = getattr(model, "get_output_embeddings", None)
    out = get_out() if callable(get_out) else None
    if isinstance(out, nn.Module):
        ids.add(id(out))
    return ids


def linear_module_names(model: nn.Module) -> list[str]:
    """Names of the ``nn.Linear`` modules that may be adapted (task head and ``lm_head``
    excluded), in module order."""
    excluded = excluded_modules(model)
    return [n for n, m in model.named_modules()
            if isinstance(m, nn.Linear) and id(m) not in excluded]


def _available(names: list[str]) -> str:
    leaves = sorted({n.rsplit(".", 1)[-1] for n in names})
    two = sorted({".".join(n.split(".")[-2:]) for n in names if "." in n})
    return f"leaf names {leaves}; dotted suffixes such as {two}"


def resolve_targets(model: nn.Module, config: AdapterConfig) -> list[str]:
    """Full names of the modules :func:`inject` would wrap (module order).

    Raises ValueError (naming ``target_modules``) for a name that matches no adaptable
    ``nn.Linear``, listing the available names, or when the model type has no defaults."""
    names = linear_module_names(model)
    targets = config.target_modules
    if targets == ALL_LINEAR:
        if not names:
            raise ValueError("target_modules='all-linear': the model has no adaptable nn.Linear")
        return names
    if targets is None:
        model_type = getattr(getattr(model, "config", None), "model_type", None)
        if model_type not in DEFAULT_TARGETS:
            raise ValueError(
                f"target_modules=None: no default targets for model_type={model_type!r} "
                f"(defaults exist for {sorted(DEFAULT_TARGETS)}); pass target_modules, e.g. "
                f"one of the available linear modules: {_available(names)}"
            )
        targets = DEFAULT_TARGETS[model_type]
    chosen: set[str] = set()
    all_names = dict(model.named_modules())
    for t in targets:
        hits = [n for n in names if n == t or n.endswith("." + t)]
        if not hits:
            other = [n for n in all_names if n == t or n.endswith("." + t)]
            why = (f"it matches {other[:3]} which are not adaptable nn.Linear modules (task heads "
                   "and lm_head are never adapted)" if other else "it matches no module")
            raise ValueError(
                f"target_modules entry {t!r}: {why}. Available linear modules: {_available(names)}"
            )
        chosen.update(hits)
    return [n for n in names if n in chosen]


def adapter_layers(model: nn.Module) -> list[tuple[str, AdapterLayer]]:
    """``[(name, layer)]`` of every adapter layer, in module order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, AdapterLayer)]


def _unique(params: Iterator[nn.Parameter]) -> list[nn.Parameter]:
    seen: set[int] = set()
    out = []
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def named_alpha_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``[("<layer>.alpha", alpha)]``, each shared alpha listed once (under its owner)."""
    out, seen = [], set()
    for name, layer in adapter_layers(model):
        if layer.alpha is not None and id(layer.alpha) not in seen:
            seen.add(id(layer.alpha))
            out.append((f"{name}.alpha", layer.alpha))
    return out


def alpha_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every alpha vector (length ``out_features`` of its layer), shared ones once."""
    return [p for _, p in named_alpha_parameters(model)]


def adapter_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every adapter parameter except alpha: low-rank factors ``lora_A``/``lora_B``, DoRA's
    ``lora_magnitude``, ... (per kind: ``adapter_param_names``)."""
    return _unique(p for _, layer in adapter_layers(model) for p in layer.adapter_parameters())


def head_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters of the task head (``classifier`` / ``score``); empty for a causal LM."""
    return _unique(p for _, h in head_modules(model) for p in h.parameters())


def trainable_parameters(model: nn.Module) -> dict[str, float]:
    """Parameter counts per group, whatever ``requires_grad`` currently says (the alpha
    optimiser toggles it).

    Keys: ``adapter`` (low-rank factors, magnitudes), ``alpha``, ``head``,
    ``total_trainable`` (their sum), ``base`` (the original model, head included, i.e. every
    parameter that is not an adapter or alpha), ``total`` (``base + adapter + alpha``), and the
    percentages ``adapter_pct``, ``alpha_pct``, ``head_pct``, ``trainable_pct`` relative to
    ``base``. For roberta-base with alpha-LoRA r=8 on query/value: ``alpha = 2·12·768 = 18432``
    (≈ 0.015 % of the base, the paper's "+0.02 %"), ``adapter = 294912``.
    """
    count = {
        "adapter": sum(p.numel() for p in adapter_parameters(model)),
        "alpha": sum(p.numel() for p in alpha_parameters(model)),
        "head": sum(p.numel() for p in head_parameters(model)),
    }
    total = sum(p.numel() for p in _unique(iter(model.parameters())))
    base = total - count["adapter"] - count["alpha"]
    out: dict[str, float] = dict(count)
    out["total_trainable"] = count["adapter"] + count["alpha"] + count["head"]
    out["base"] = base
    out["total"] = total
    for k in ("adapter", "alpha", "head"):
        out[f"{k}_pct"] = 100.0 * count[k] / base if base else 0.0
    out["trainable_pct"] = 100.0 * out["total_trainable"] / base if base else 0.0
    return out


# ---------------------------------------------------------------------------- inject
@dataclass
class Plan:
    """Layers built for a model by :func:`build_layers`, not yet installed (the model is still
    untouched); :func:`install` puts them in. :func:`inject` and :func:`deep.io.load_adapter`
    are the two callers."""

    config: AdapterConfig
    names: list[str]
    layers: dict[str, AdapterLayer]
    shared_alpha: dict[str, str]


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    if "." not in name:
        return model, name
    parent, leaf = name.rsplit(".", 1)
    return model.get_submodule(parent), leaf


def build_layers(model: nn.Module, config: AdapterConfig, generator: torch.Generator | None) -> Plan:
    """Resolve and check every target, then build the layers; raises before touching the
    model (the wrapped ``nn.Linear`` objects are only read)."""
    if not isinstance(config, AdapterConfig):
        raise TypeError(f"config must be an AdapterConfig, got {type(config).__name__}")
    if adapter_info(model) is not None or adapter_layers(model):
        info = adapter_info(model)
        what = (f"method {info.config.method!r} on {len(info.targets)} modules" if info
                else "adapters")
        raise RuntimeError(
            f"inject: the model already has {what}; inject once per model (load a fresh model "
            "to change the adapter)"
        )
    names = resolve_targets(model, config)
    modules = {n: cast(nn.Linear, model.get_submodule(n)) for n in names}  # resolve_targets: Linear
    for n, lin in modules.items():
        k = min(lin.in_features, lin.out_features)
        if config.rank > k:
            raise ValueError(
                f"rank={config.rank} is invalid for target {n!r} ({lin.out_features}x"
                f"{lin.in_features}); allowed: 1 <= rank <= min(in_features, out_features) = {k}"
            )
    shared: dict[str, str] = {}
    if config.share_alpha:
        groups: dict[str, list[str]] = {}
        for n in names:
            groups.setdefault(n.rsplit(".", 1)[0] if "." in n else "", []).append(n)
        for members in groups.values():
            outs = {m: modules[m].out_features for m in members}
            if len(set(outs.values())) > 1:
                raise ValueError(
                    f"share_alpha=True needs equal out_features inside a block, got {outs} (e.g. "
                    "LLaMA with grouped-query attention); allowed: share_alpha=False"
                )
            for m in members[1:]:
                shared[m] = members[0]
    if generator is None:
        generator = torch.Generator().manual_seed(config.seed)
    layers = {n: create_layer(modules[n], config, generator, freeze_base=False) for n in names}
    for follower, owner in shared.items():
        layers[follower].alpha = layers[owner].alpha
        layers[follower].alpha_shared_from = owner
    return Plan(config, names, layers, shared)


def install(model: nn.Module, plan: Plan) -> None:
    """Install a :class:`Plan` in ``model`` (in place): freeze the base, swap the layers in,
    unfreeze adapters (+ head), record the :class:`AdapterInfo`."""
    for p in model.parameters():
        p.requires_grad_(False)
    for n in plan.names:
        parent, leaf = _parent(model, n)
        setattr(parent, leaf, plan.layers[n])
    for layer in plan.layers.values():
        layer.freeze_base()
        for p in layer.trainable_parameters():
            p.requires_grad_(True)
    if plan.config.train_head:
        for p in head_parameters(model):
            p.requires_grad_(True)
    info = AdapterInfo(
        config=plan.config,
        targets=list(plan.names),
        shared_alpha=dict(plan.shared_alpha),
        base_replaced=[n for n in plan.names if plan.layers[n].replaces_base_weight],
    )
    object.__setattr__(model, _INFO_ATTR, info)
    from .io import install_adapter_save_pretrained  # io imports this module

    install_adapter_save_pretrained(model)  # save_pretrained / Trainer checkpoints: adapter only


def inject(model: nn.Module, config: AdapterConfig | None = None, *,
           generator: torch.Generator | None = None) -> nn.Module:
    """Add the adapters of ``config`` (default ``AdapterConfig()``) to ``model`` in place.

    Every base parameter is frozen; each target ``nn.Linear`` (``resolve_targets``) is replaced
    by the adapter layer wrapping it; adapter tensors, alpha and (``train_head``) the task head
    are trainable. Initial values come from ``generator`` (default:
    ``torch.Generator().manual_seed(config.seed)``); the global RNG is untouched. Returns
    ``model``. Raises ValueError for unknown targets (listing the available linear modules),
    a rank above a target's ``min(in, out)``, or ``share_alpha`` with unequal widths, and
    RuntimeError when the model already has adapters. On error the model is unchanged.

    A target whose base layer is quantized (bitsandbytes, torchao) is handed to
    :func:`deep.quant.inject`, which wraps it so the adapter only asks for ``x W0ᵀ``.
    """
    from . import quant  # local: deep.quant builds on this module

    config = AdapterConfig() if config is None else config
    try:  # build_layers reports a bad config or an already adapted model with its own message
        names = resolve_targets(model, config) if isinstance(config, AdapterConfig) else []
    except ValueError:
        names = []
    if names:
        subs = (model.get_submodule(n) for n in names)
        if any(quant.is_quantized_linear(m) and not isinstance(m, quant.QuantLinear) for m in subs):
            return quant.inject(model, config, generator=generator)
    plan = build_layers(model, config, generator)
    install(model, plan)
    return model


# ---------------------------------------------------------------------------- merge
def _layers_or_raise(model: nn.Module, what: str) -> list[tuple[str, AdapterLayer]]:
    layers = adapter_layers(model)
    if not layers:
        raise ValueError(f"{what}: the model has no adapters (call deep.inject first)")
    return layers


@torch.no_grad()
def merge(model: nn.Module, *, keep_base: bool = False) -> nn.Module:
    """Fold every adapter into its base weights for inference (see
    :meth:`AdapterLayer.merge`): ``W0 ← diag(g)(diag(alpha) W0 + ΔW)``, ``b ← b_alpha``.
    ``keep_base=True`` keeps copies of ``W0``/``b`` so :func:`unmerge` is exact for any
    alpha. Raises RuntimeError if any layer is already merged (nothing is changed then)."""
    layers = _layers_or_raise(model, "merge")
    done = [n for n, layer in layers if layer.merged]
    if done:
        raise RuntimeError(f"merge: already merged ({len(done)} layers, e.g. {done[0]!r})")
    for _, layer in layers:
        layer.merge(keep_base=keep_base)
    return model


@torch.no_grad()
def unmerge(model: nn.Module) -> nn.Module:
    """Undo :func:`merge`. Every layer is checked first; if any cannot be restored
    (not merged, adapter tensors changed while merged, ``|alpha_i|`` or DoRA ``|m_i/n_i|`` below
    1e-4 without ``keep_base``) a RuntimeError says why and nothing is changed."""
    layers = _layers_or_raise(model, "unmerge")
    for name, layer in layers:
        try:
            layer.check_unmerge()
        except RuntimeError as err:
            raise RuntimeError(f"unmerge: layer {name!r}: {err}") from None
    for _, layer in layers:
        layer.unmerge()
    return model
