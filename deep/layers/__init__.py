"""Adapter layers: one file per kind, a registry maps the name to the class.

``REGISTRY`` holds the kinds (``"lora"``, ``"dora"``, ``"olora"``, and the rank-allocating
``"adalora"``, ``"lora2"``, ``"alora"``, driven by :mod:`deep.allocation`). A *method* is a kind,
optionally with the ``alpha_`` prefix: ``"alpha_lora"`` (alpha-LoRA), ``"alpha_dora"``,
``"alpha_olora"`` are the same classes with ``use_alpha=True`` (alpha is implemented once, in
:class:`AdapterLayer`). Adding a kind: one class in a new file of this package with
``@register("name")`` — nothing else: every module here is imported at package import
(:func:`_discover`), the parametrised tests (``tests/deep/test_layers.py``) derive their rows
from the registry and the class attributes (``adapter_param_names``, ``zero_factor``,
``loft_compatible``, ``options``), and a kind defined in any other module registers itself
when that module is imported (``tests/deep/test_new_kind.py`` does exactly that).

Name clash: our ``"alora"`` is **ALoRA, Allocating LoRA** (Liu et al., NAACL 2024), whose
allocator scores ranks by ablation; PEFT's ``"alora"`` is an unrelated method, *Activated
LoRA*, which this project does not implement. :data:`METHOD_ALIASES` therefore accepts the
explicit name ``"ablation_alora"`` (and ``"alpha_ablation_alora"``) wherever a method name is
accepted; it resolves to the same layer class as ``"alora"`` and trains identically.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .adalora import AdaLoraLayer, AllocatingLayer
from .alora import AloraLayer
from .base import REGISTRY, UNMERGE_MIN_ABS, AdapterLayer, register
from .dora import DoraLayer
from .lora import LoraLayer
from .lora2 import Lora2Layer
from .olora import OloraLayer

__all__ = [
    "REGISTRY",
    "ALPHA_PREFIX",
    "METHOD_ALIASES",
    "ALORA_NOTE",
    "UNMERGE_MIN_ABS",
    "AdapterLayer",
    "LoraLayer",
    "DoraLayer",
    "OloraLayer",
    "AllocatingLayer",
    "AdaLoraLayer",
    "Lora2Layer",
    "AloraLayer",
    "register",
    "method_names",
    "canonical_method",
    "resolve_method",
    "create_layer",
]

ALPHA_PREFIX = "alpha_"


def _discover() -> None:
    """Import every module of this package, so that each ``@register`` runs."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


_discover()

#: Explicit names accepted in place of a registered kind (also with the ``alpha_`` prefix).
METHOD_ALIASES: dict[str, str] = {"ablation_alora": "alora"}

#: Which ALoRA ``"alora"`` is, for error messages and help texts.
ALORA_NOTE = ("'alora' is ALoRA, Allocating LoRA with ablation-scored ranks (Liu et al. 2024; "
              "alias 'ablation_alora'), not PEFT's Activated LoRA, which is not implemented here")


def method_names(aliases: bool = False) -> tuple[str, ...]:
    """Every accepted method: each registered kind, then each with the ``alpha_`` prefix;
    with ``aliases=True`` also the names of :data:`METHOD_ALIASES` (plain and prefixed)."""
    kinds = tuple(REGISTRY)
    names = kinds + tuple(ALPHA_PREFIX + k for k in kinds)
    if aliases:
        extra = tuple(a for a, k in METHOD_ALIASES.items() if k in REGISTRY)
        names += extra + tuple(ALPHA_PREFIX + a for a in extra)
    return names


def canonical_method(method: str) -> str:
    """The registered spelling of ``method``: ``"alpha_ablation_alora"`` -> ``"alpha_alora"``;
    any other name is returned unchanged."""
    use_alpha = method.startswith(ALPHA_PREFIX)
    kind = method[len(ALPHA_PREFIX):] if use_alpha else method
    kind = METHOD_ALIASES.get(kind, kind)
    return ALPHA_PREFIX + kind if use_alpha else kind


def resolve_method(method: str) -> tuple[type[AdapterLayer], bool]:
    """``"alpha_dora"`` -> ``(DoraLayer, True)``; ``"lora"`` -> ``(LoraLayer, False)``;
    aliases resolve as their kind (``"ablation_alora"`` -> ``(AloraLayer, False)``)."""
    if not isinstance(method, str):
        raise ValueError(f"method={method!r} is invalid; allowed: one of "
                         f"{method_names(aliases=True)} ({ALORA_NOTE})")
    canonical = canonical_method(method)
    use_alpha = canonical.startswith(ALPHA_PREFIX)
    kind = canonical[len(ALPHA_PREFIX):] if use_alpha else canonical
    if kind not in REGISTRY:
        raise ValueError(f"method={method!r} is invalid; allowed: one of "
                         f"{method_names(aliases=True)} ({ALORA_NOTE})")
    return REGISTRY[kind], use_alpha


def create_layer(base_layer: nn.Linear, config: Any, generator: torch.Generator | None = None,
                 freeze_base: bool = True) -> AdapterLayer:
    """The adapter layer of ``config.method`` around ``base_layer`` (an ``AdapterConfig``).
    With ``freeze_base=False`` the wrapped layer is not modified at all."""
    cls, use_alpha = resolve_method(config.method)
    return cls.from_config(base_layer, config, use_alpha=use_alpha, generator=generator,
                           freeze_base=freeze_base)
