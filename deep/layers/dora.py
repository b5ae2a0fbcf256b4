"""DoRA (Liu et al., ICML 2024), optionally with alpha (docs/adapters.md §3).

``y = (m / n) ⊙ (x W0ᵀ + s · dropout(x) Aᵀ Bᵀ) + b`` with the magnitude ``m`` (``out``,
``lora_magnitude``) and ``n = ‖W0 + s·B·A‖_row`` (L2 norm of each OUTPUT row, ``out×in``
layout) treated as a constant in backward (paper §4.3: detached). The bias is not scaled.
Init: LoRA's (``B = 0``), then ``m = n`` so the layer equals its base.

With alpha (``alpha_dora``) the frozen weight is ``diag(alpha) W0`` everywhere, norm included:
``n = ‖diag(alpha) W0 + s·B·A‖_row`` (detached with respect to alpha too).

The norm is computed without forming ``W0 + s·BA`` (no ``out×in`` temporary):
``n_i² = a_i² ‖W0_i‖² + 2 s a_i (B ⊙ W0 Aᵀ)_i·1 + s² (B (A Aᵀ) ⊙ B)_i·1``.

Dropout (only when ``dropout > 0``) applies to the low-rank input only; PEFT applies it to
the ``(m/n − 1) ⊙ x W0ᵀ`` term too. Identical without dropout.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .base import register
from .lora import LoraLayer

__all__ = ["DoraLayer"]


def _compute_dtype(w: torch.Tensor) -> torch.dtype:
    """float64 for a float64 base, float32 otherwise (bf16/fp16 bases: norms in float32)."""
    return torch.float64 if w.dtype == torch.float64 else torch.float32


@register("dora")
class DoraLayer(LoraLayer):
    """DoRA / alpha-DoRA: LoRA factors plus the magnitude ``lora_magnitude`` (``out``).

    Trainable count per layer: ``r·(in + out) + out`` (+ ``out`` with alpha).
    """

    loft_compatible = False  # the update is rescaled by m / ‖W‖_row, not W0 + B @ A

    adapter_param_names = ("lora_A", "lora_B", "lora_magnitude")
    peft_use_dora = True

    def _create_parameters(self, factory: dict[str, Any]) -> None:
        super()._create_parameters(factory)
        self.lora_magnitude = nn.Parameter(torch.empty(self.out_features, **factory))
        self._w0_sq: tuple[tuple, torch.Tensor] | None = None

    def _base_row_sq(self) -> torch.Tensor:
        """``‖W0_i‖²`` (float32, float64 on a float64 base; ``out``), cached while ``W0`` is
        unchanged (same storage and version counter; in-place writes through ``.data`` bypass the counter:
        call ``reset_norm_cache()`` after those)."""
        w = self.base_layer.weight
        key = (w.data_ptr(), w._version, w.dtype, w.device, tuple(w.shape))
        if self._w0_sq is None or self._w0_sq[0] != key:
            sq = torch.linalg.vector_norm(w.detach(), dim=1, dtype=_compute_dtype(w)).square()
            self._w0_sq = (key, sq)
        return self._w0_sq[1]

    def reset_norm_cache(self) -> None:
        self._w0_sq = None

    def _reset_adapter(self, generator: torch.Generator | None) -> None:
        super()._reset_adapter(generator)
        self.lora_magnitude.copy_(self.weight_norm())

    @torch.no_grad()
    def weight_norm(self) -> torch.Tensor:
        """``n = ‖diag(alpha) W0 + s·B·A‖_row`` (float32 — float64 on a float64 base —, length
        ``out``, no grad)."""
        w0 = self.base_layer.weight.detach()
        ct = _compute_dtype(w0)
        a_mat = self.lora_A.detach().to(w0.dtype)
        b_mat = self.lora_B.detach().to(ct)
        s = self.scaling
        w_sq = self._base_row_sq()
        cross = (b_mat * (w0 @ a_mat.t()).to(ct)).sum(1)             # <W0_i, (BA)_i>
        a32 = a_mat.to(ct)
        quad = ((b_mat @ (a32 @ a32.t())) * b_mat).sum(1)            # ‖(BA)_i‖²
        if self.alpha is not None:
            al = self.alpha.detach().to(ct)
            n_sq = al.square() * w_sq + (2.0 * s) * al * cross + (s * s) * quad
        else:
            n_sq = w_sq + (2.0 * s) * cross + (s * s) * quad
        return n_sq.clamp_min(0.0).sqrt()

    def row_scale(self) -> torch.Tensor:
        """``g = m / n`` (gradient to ``m`` only; ``n`` floored at 1e-12)."""
        n = self.weight_norm().clamp_min(1e-12).to(self.lora_magnitude.dtype)
        return self.lora_magnitude / n

    def _peft_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        out = super()._peft_tensors(prefix)
        out[f"{prefix}.lora_magnitude_vector"] = self.lora_magnitude
        return out
