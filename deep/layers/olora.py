"""OLoRA (Büyükakyüz 2024, arXiv 2406.01775), optionally with alpha (docs/adapters.md §4).

Initialisation only; forward and merge are LoRA's. With the thin QR ``W0 = Q R`` (float32,
``Q: out×k``, ``R: k×in``, ``k = min(out, in)``): ``B = Q[:, :r]``, ``A = R[:r, :]`` and the
frozen weight becomes the residual ``W_res = W0 − s·B·A``, so the effective weight
``W_res + s·B·A`` equals ``W0`` at init.

The residual lives in a NEW ``nn.Linear`` owned by the layer (``replaces_base_weight``): the
caller's ``W0`` tensor is neither mutated nor reused (bias shared, untouched). The initial
factors are kept as buffers ``lora_A_init``/``lora_B_init`` (saved with the adapter) so that
the original base ``W0 = W_res + s·B0·A0`` and the PEFT export stay available.

PEFT export relative to the ORIGINAL base (the rank-``2r`` conversion):
``ΔW = s(B A − B0 A0) = s' B' A'`` with ``B' = [B, −B0]`` (``out×2r``), ``A' = [A; A0]``
(``2r×in``), ``r' = 2r`` and ``lora_alpha' = 2·lora_alpha`` (``√2·lora_alpha`` with rsLoRA) so
that ``s' = s``.

With alpha (``alpha_olora``) alpha scales the residual: ``diag(alpha) W_res + s·B·A``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .base import register
from .lora import LoraLayer

__all__ = ["OloraLayer"]


def _residual_linear(original: nn.Linear, weight: torch.Tensor) -> nn.Linear:
    """A new ``nn.Linear`` with ``weight`` (frozen) and the original's bias Parameter."""
    lin = nn.Linear(original.in_features, original.out_features, bias=False, device="meta")
    lin.weight = nn.Parameter(weight, requires_grad=False)
    lin.bias = original.bias
    return lin


@register("olora")
class OloraLayer(LoraLayer):
    """OLoRA / alpha-OLoRA. Parameters as LoRA; buffers ``lora_A_init``, ``lora_B_init``."""

    init_kind = "olora"
    zero_factor = None  # B != 0: the base is replaced by the residual W0 - s·B·A
    replaces_base_weight = True
    saved_buffer_names = ("lora_A_init", "lora_B_init")
    # buffers (register_buffer in _create_parameters), declared for the type checker
    lora_A_init: torch.Tensor
    lora_B_init: torch.Tensor

    def _create_parameters(self, factory: dict[str, Any]) -> None:
        super()._create_parameters(factory)
        self.register_buffer("lora_A_init", torch.empty(self.r, self.in_features, **factory),
                             persistent=False)
        self.register_buffer("lora_B_init", torch.empty(self.out_features, self.r, **factory),
                             persistent=False)
        self._residual_ready = False

    @torch.no_grad()
    def original_weight(self) -> torch.Tensor:
        """The original base ``W0 = W_res + s·B0·A0`` (float32, ``out×in``). Unmerged only."""
        self._require_unmerged("original_weight")
        if not self._residual_ready:
            return self.base_layer.weight.detach().float()
        b0, a0 = self.lora_B_init.float(), self.lora_A_init.float()
        return self.base_layer.weight.detach().float() + self.scaling * (b0 @ a0)

    def _reset_adapter(self, generator: torch.Generator | None) -> None:
        if self.init != "olora":
            raise ValueError(f"init={self.init!r} is invalid for 'olora'; allowed: 'olora'")
        w0 = self.original_weight()
        q, r_mat = torch.linalg.qr(w0, mode="reduced")
        b0, a0 = q[:, : self.r].contiguous(), r_mat[: self.r].contiguous()
        residual = w0 - self.scaling * (b0 @ a0)
        w = self.base_layer.weight
        if self._residual_ready:
            w.copy_(residual.to(w.dtype))
        else:  # first init: never write into the caller's tensor
            self.base_layer = _residual_linear(self.base_layer, residual.to(w.dtype))
            self._residual_ready = True
        self.lora_A.copy_(a0)
        self.lora_B.copy_(b0)
        self.lora_A_init.copy_(a0)
        self.lora_B_init.copy_(b0)

    @torch.no_grad()
    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """As the base, but the residual base is recomputed from the ORIGINAL ``W0`` with the
        loaded initial factors: ``W_res = W0 − s·B0_loaded·A0_loaded``."""
        self._require_unmerged("load_state_tensors")
        if "lora_A_init" in tensors or "lora_B_init" in tensors:
            w0 = self.original_weight()
            a0 = tensors.get("lora_A_init", self.lora_A_init).float()
            b0 = tensors.get("lora_B_init", self.lora_B_init).float()
            w = self.base_layer.weight
            w.copy_((w0 - self.scaling * (b0 @ a0)).to(w.dtype))
        super().load_state_tensors(tensors)

    def peft_config_fields(self) -> dict[str, Any]:
        fields = super().peft_config_fields()
        fields["r"] = 2 * self.r
        fields["lora_alpha"] = self.lora_alpha * (math.sqrt(2.0) if self.use_rslora else 2.0)
        return fields

    def _peft_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        return {
            f"{prefix}.lora_A.weight": torch.cat([self.lora_A.detach(), self.lora_A_init], 0),
            f"{prefix}.lora_B.weight": torch.cat([self.lora_B.detach(), -self.lora_B_init], 1),
        }
