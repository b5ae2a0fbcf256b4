"""LoRA² (arXiv 2408.06854), optionally with alpha (docs/adapters.md §6).

Two small LoRAs form the two planes of an SVD-like update ``P Λ Q`` whose rank ``r`` (config
``rank``) may exceed the inner rank ``k`` (config ``inner_rank``, default ``k = r``; the official
scripts use ``k = r = 8``):

* plane 1, input side:  ``Q = B₁ A₁``  with ``A₁: k×in`` (``lora_A1``), ``B₁: r×k`` (``lora_B1``);
* plane 2, output side: ``P = B₂ A₂``  with ``A₂: k×r`` (``lora_A2``), ``B₂: out×k`` (``lora_B2``);
* singular values ``λ: r`` (``lora_E``).

    Δ(x) = s' · x (B₂ A₂ diag(λ) B₁ A₁)ᵀ,    s' = lora_alpha / (r + 1e-5)

computed right to left on rank-``k``/rank-``r`` intermediates (never an ``out×in`` matrix).
Merge uses the matrix products above (the official code's element-wise merge is wrong for
``in ≠ out``). Init: ``λ = 0``; the four factors ``N(0, 0.02²)`` (``init="gaussian"``,
default) or Kaiming-uniform.

Orthogonality ("two orthogonal planes"): the regulariser (added by the allocator's ``loss()``)
is the mean of ``‖A₁A₁ᵀ − I_k‖_F, ‖B₁ᵀB₁ − I_k‖_F, ‖A₂A₂ᵀ − I_k‖_F, ‖B₂ᵀB₂ − I_k‖_F``; with
``k = r`` these make ``Q`` have orthonormal rows and ``P`` orthonormal columns. Optional (our
addition, off by default): the AdaLoRA-style terms on the composed planes ``‖QQᵀ − I_r‖_F``,
``‖PᵀP − I_r‖_F``. :meth:`Lora2Layer.plane_orthogonality` reports both planes' errors.

Cheap importance: the allocator scores only ``A₂`` (per rank: column ``i``, mean over ``k``),
``B₁`` (row ``i``, mean over ``k``) and ``λ`` — ``2kr + r`` entries instead of AdaLoRA's
``r(in + out) + r``. Pruning and the rank mask are AdaLoRA's (:mod:`deep.layers.adalora`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .adalora import SVDLayer, draw_factor, orth_error
from .base import register

__all__ = ["Lora2Layer"]


@register("lora2")
class Lora2Layer(SVDLayer):
    """LoRA² / alpha-LoRA². Trainable count per layer: ``k(in + r) + k(r + out) + r``
    (+ ``out`` with alpha); buffer ``rank_mask`` (``r``)."""

    adapter_param_names = ("lora_A1", "lora_B1", "lora_E", "lora_A2", "lora_B2")
    saved_buffer_names = ("rank_mask",)
    importance_params: ClassVar[dict[str, int]] = {"lora_A2": 1, "lora_E": 0, "lora_B1": 0}

    options: ClassVar[tuple[str, ...]] = ("target_rank", "inner_rank")

    def _init_options(self, *, inner_rank: int | None = None, **options: Any) -> None:
        super()._init_options(**options)
        k = self.r if inner_rank is None else inner_rank
        lim = min(self.in_features, self.out_features)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= lim:
            raise ValueError(f"inner_rank={inner_rank!r} is invalid; allowed: None (= rank) or an "
                             f"integer in [1, min(in_features, out_features)] = [1, {lim}]")
        self.inner_rank = k

    def _create_parameters(self, factory: dict[str, Any]) -> None:
        super()._create_parameters(factory)
        k, r = self.inner_rank, self.r
        self.lora_A1 = nn.Parameter(torch.empty(k, self.in_features, **factory))
        self.lora_B1 = nn.Parameter(torch.empty(r, k, **factory))
        self.lora_A2 = nn.Parameter(torch.empty(k, r, **factory))
        self.lora_B2 = nn.Parameter(torch.empty(self.out_features, k, **factory))

    def _reset_adapter(self, generator: torch.Generator | None) -> None:
        super()._reset_adapter(generator)
        for name in ("lora_A1", "lora_B1", "lora_A2", "lora_B2"):
            p = getattr(self, name)
            p.copy_(draw_factor(tuple(p.shape), self.init, self.kind, generator))

    def _delta(self, xd: torch.Tensor, bias: torch.Tensor | None,
               row_scale: torch.Tensor | None) -> torch.Tensor:
        z = F.linear(F.linear(xd, self.lora_A1), self.lora_B1) * self._scaled_values()
        z = F.linear(z, self.lora_A2)
        b2 = self.lora_B2 if row_scale is None else self.lora_B2 * row_scale[:, None]
        return F.linear(z, b2, bias)

    def planes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(P, Q) = (B₂A₂, B₁A₁)``: ``out×r`` and ``r×in`` (differentiable)."""
        return self.lora_B2 @ self.lora_A2, self.lora_B1 @ self.lora_A1

    @torch.no_grad()
    def lowrank_weight(self) -> torch.Tensor:
        """``ΔW = s' · B₂A₂ diag(λ) B₁A₁`` (float32, ``out×in``)."""
        p, q = (m.detach().float() for m in self.planes())
        e = self.lora_E.detach().float() * self.scaling
        return p @ (q * e[:, None])

    def orth_terms(self, composed: bool = False) -> list[torch.Tensor]:
        """The four self-terms on the small factors (+ the composed-plane terms)."""
        terms = [orth_error(self.lora_A1, rows=True), orth_error(self.lora_B1, rows=False),
                 orth_error(self.lora_A2, rows=True), orth_error(self.lora_B2, rows=False)]
        if composed:
            p, q = self.planes()
            terms += [orth_error(q, rows=True), orth_error(p, rows=False)]
        return terms

    @torch.no_grad()
    def plane_orthogonality(self) -> dict[str, float]:
        """``{"P": ‖PᵀP − I_r‖_F, "Q": ‖QQᵀ − I_r‖_F}`` of the composed planes."""
        p, q = (m.detach().float() for m in self.planes())
        return {"P": float(orth_error(p, rows=False)), "Q": float(orth_error(q, rows=True))}
