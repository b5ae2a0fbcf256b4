"""``deep``: alpha-LoRA and related adapters for transformers (torch extra).

Public API::

    from deep import AdapterConfig, inject, merge, unmerge, trainable_parameters
    from deep import save_adapter, load_adapter

    model = inject(model, AdapterConfig(method="alpha_lora", rank=8))
    print(trainable_parameters(model))      # counts per group: adapter, alpha, head, ...

Parameter groups for the training loop: :func:`adapter_layers`, :func:`alpha_parameters`,
:func:`adapter_parameters`, :func:`head_parameters`. Layer classes and the registry live in
:mod:`deep.layers`; equations in ``docs/adapters.md``.
"""

from . import _quiet  # noqa: F401  (first: silences torchao's GPU-kernel import noise)
from .config import AdapterConfig
from .inject import (
    adapter_info,
    adapter_layers,
    adapter_parameters,
    alpha_parameters,
    head_parameters,
    inject,
    merge,
    named_alpha_parameters,
    trainable_parameters,
    unmerge,
)
from .io import export_peft, load_adapter, save_adapter
from .layers import REGISTRY, AdapterLayer

__all__ = [
    "AdapterConfig",
    "AdapterLayer",
    "REGISTRY",
    "inject",
    "merge",
    "unmerge",
    "trainable_parameters",
    "save_adapter",
    "load_adapter",
    "export_peft",
    "adapter_info",
    "adapter_layers",
    "alpha_parameters",
    "named_alpha_parameters",
    "adapter_parameters",
    "head_parameters",
]
