"""Adapter layers: one file per kind, a registry maps the name to the class.

``REGISTRY`` holds the kinds (``"lora"``, ``"dora"``, ``"olora"``, and the rank-allocating
``"adalora"``, ``"lora2"``, ``"alora"``, driven by :mod:`deep.allocation`). A *method* is a kind,
optionally with the ``alpha_`` prefix: ``"alpha_lora"`` (alpha-LoRA), ``"alpha_dora"``,
``"alpha_olora"`` are the same classes with ``use_alpha=True`` (alpha is implemented once, in
:class:`AdapterLayer`). Adding a kind: one class in a new file with ``@register("name")``, its
import below, and one row in the parametrised tests (``tests/deep/test_layers.py``).
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
    "resolve_method",
    "create_layer",
]

ALPHA_PREFIX = "alpha_"


def method_names() -> tuple[str, ...]:
    """Every accepted method: each registered kind, then each with the ``alpha_`` prefix."""
    kinds = tuple(REGISTRY)
    return kinds + tuple(ALPHA_PREFIX + k for k in kinds)


def resolve_method(method: str) -> tuple[type[AdapterLayer], bool]:
    """``"alpha_dora"`` -> ``(DoraLayer, True)``; ``"lora"`` -> ``(LoraLayer, False)``."""
    use_alpha = method.startswith(ALPHA_PREFIX)
    kind = method[len(ALPHA_PREFIX):] if use_alpha else method
    if kind not in REGISTRY:
        raise ValueError(f"method={method!r} is invalid; allowed: one of {method_names()}")
    return REGISTRY[kind], use_alpha


def create_layer(base_layer: nn.Linear, config: Any, generator: torch.Generator | None = None,
                 freeze_base: bool = True) -> AdapterLayer:
    """The adapter layer of ``config.method`` around ``base_layer`` (an ``AdapterConfig``).
    With ``freeze_base=False`` the wrapped layer is not modified at all."""
    cls, use_alpha = resolve_method(config.method)
    return cls.from_config(base_layer, config, use_alpha=use_alpha, generator=generator,
                           freeze_base=freeze_base)
