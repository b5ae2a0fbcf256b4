"""LoRA (Hu et al. 2021) and, with ``use_alpha=True``, alpha-LoRA (docs/adapters.md §1, §2).

``y = x W0ᵀ + b + s · dropout(x) Aᵀ Bᵀ`` with ``A: r×in`` (``lora_A``), ``B: out×r``
(``lora_B``), ``s = lora_alpha / r`` (or ``/ √r``); effective weight ``W0 + s·B·A``.
alpha-LoRA (alpha handled by :class:`~deep.layers.base.AdapterLayer`):
``y = alpha ⊙ (x W0ᵀ + b) + s · dropout(x) Aᵀ Bᵀ``, weight ``diag(alpha) W0 + s·B·A``.

Init: ``B = 0``; ``A`` Kaiming-uniform (``a = √5``, PEFT default, ``init="kaiming"``) or
``A ~ N(0, 1/r)`` (``init="gaussian"``, the official alpha-LoRA code; default for alpha methods).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .base import AdapterLayer, register

__all__ = ["LoraLayer", "draw_lora_A"]


def draw_lora_A(layer: AdapterLayer, rows: int, generator: torch.Generator | None) -> torch.Tensor:
    """``rows`` rows of a LoRA ``A`` (``rows × in``), drawn on the CPU in float32
    (device-independent) per ``layer.init``: Kaiming-uniform (``a = √5``, bound ``1/√in``,
    PEFT's default) or ``N(0, 1/r)`` with ``r = layer.r`` (the official alpha-LoRA code)."""
    a = torch.empty(rows, layer.in_features)
    if layer.init == "kaiming":
        nn.init.kaiming_uniform_(a, a=math.sqrt(5), generator=generator)
    elif layer.init == "gaussian":
        a.normal_(0.0, 1.0 / math.sqrt(layer.r), generator=generator)
    else:
        raise ValueError(
            f"init={layer.init!r} is invalid for {layer.kind!r}; allowed: 'kaiming', 'gaussian'"
        )
    return a


@register("lora")
class LoraLayer(AdapterLayer):
    """LoRA / alpha-LoRA around a frozen ``nn.Linear``.

    Parameters: ``lora_A`` (``r×in``), ``lora_B`` (``out×r``), ``alpha`` (``out``, alpha
    methods only). Trainable count per layer: ``r·(in + out)`` (+ ``out`` with alpha).
    """

    adapter_param_names: ClassVar[tuple[str, ...]] = ("lora_A", "lora_B")

    def _create_parameters(self, factory: dict[str, Any]) -> None:
        self.lora_A = nn.Parameter(torch.empty(self.r, self.in_features, **factory))
        self.lora_B = nn.Parameter(torch.empty(self.out_features, self.r, **factory))

    def _draw_A(self, generator: torch.Generator | None) -> torch.Tensor:
        return draw_lora_A(self, self.r, generator)

    def _reset_adapter(self, generator: torch.Generator | None) -> None:
        self.lora_A.copy_(self._draw_A(generator))
        self.lora_B.zero_()

    def _delta(self, xd: torch.Tensor, bias: torch.Tensor | None,
               row_scale: torch.Tensor | None) -> torch.Tensor:
        """``s · xd Aᵀ (diag(row_scale) B)ᵀ + bias``; ``s`` is applied on the rank-``r``
        intermediate and ``row_scale`` on ``B`` (``out×r``): both cheap."""
        z = F.linear(xd, self.lora_A)
        if self.scaling != 1.0:
            z = z * self.scaling
        b_mat = self.lora_B if row_scale is None else self.lora_B * row_scale[:, None]
        return F.linear(z, b_mat, bias)

    @torch.no_grad()
    def lowrank_weight(self) -> torch.Tensor:
        """``ΔW = s · B A`` (float32, ``out×in``)."""
        return (self.lora_B.detach().float() @ self.lora_A.detach().float()) * self.scaling

    def _peft_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        return {f"{prefix}.lora_A.weight": self.lora_A, f"{prefix}.lora_B.weight": self.lora_B}
