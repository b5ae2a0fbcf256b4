"""ALoRA, "Allocating Low-Rank Adaptation" (Liu et al., NAACL 2024, arXiv 2403.16187), optionally
with alpha (docs/adapters.md §7). Not PEFT's "Activated LoRA".

LoRA with per-rank gates over ``R`` rank slots (config ``max_rank``, default
``min(2r, in, out)``), of which the first ``r`` (config ``rank``) are on at init::

    Δ(x) = s · x Aᵀ (B diag(g))ᵀ,    ΔW = s · B diag(g) A,    s = lora_alpha / r

``A: R×in`` (``lora_A``), ``B: out×R`` (``lora_B``), gates ``g ∈ {0,1}^R`` (buffer ``lora_gate``,
saved with the adapter). ``s`` uses the INITIAL rank ``r`` and never changes when ranks move.
Init as LoRA (``B = 0``; ``A`` Kaiming-uniform or ``N(0, 1/r)``).

A gated-off slot contributes exactly zero and receives exactly zero gradient (its ``A`` row and
``B`` column are multiplied by ``g_i = 0``); pruning also zeroes its ``B`` column. The allocator
(:mod:`deep.allocation`) scores active ranks by ablation (AB-LoRA), prunes the lowest and
re-opens free slots in the modules that need them (new ``A`` row drawn afresh, ``B`` column
zero: the function is unchanged at that moment). Trainable count per layer: ``R·(in + out)``
(every slot is a parameter; only the gated-on ones learn).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .adalora import AllocatingLayer
from .base import register
from .lora import draw_lora_A

__all__ = ["AloraLayer"]


@register("alora")
class AloraLayer(AllocatingLayer):
    """ALoRA / alpha-ALoRA: ``lora_A`` (``R×in``), ``lora_B`` (``out×R``), buffer
    ``lora_gate`` (``R``, 0/1)."""

    adapter_param_names = ("lora_A", "lora_B")
    saved_buffer_names = ("lora_gate",)
    rank_buffer = "lora_gate"
    # buffer (register_buffer in _create_parameters), declared for the type checker
    lora_gate: torch.Tensor

    options: ClassVar[tuple[str, ...]] = ("max_rank",)
    allocator_options: ClassVar[tuple[str, ...]] = (
        "init_warmup", "rounds", "round_interval", "prune_per_round", "ablation", "min_rank", "seed")
    loft_compatible = False  # the update is B diag(gate) A: LoFT would ignore the gates

    def _init_options(self, *, max_rank: int | None = None, **options: Any) -> None:
        super()._init_options(**options)
        rank, lim = self.r, min(self.in_features, self.out_features)
        cap = min(2 * rank, lim) if max_rank is None else max_rank
        if isinstance(cap, bool) or not isinstance(cap, int) or not rank <= cap <= lim:
            raise ValueError(f"max_rank={max_rank!r} is invalid; allowed: None (= min(2·rank, in, "
                             f"out)) or an integer in [rank, min(in_features, out_features)] = "
                             f"[{rank}, {lim}]")
        self.max_rank = cap

    def _create_parameters(self, factory: dict[str, Any]) -> None:
        super()._create_parameters(factory)
        n = self.max_rank
        self.lora_A = nn.Parameter(torch.empty(n, self.in_features, **factory))
        self.lora_B = nn.Parameter(torch.empty(self.out_features, n, **factory))
        self.register_buffer("lora_gate", torch.zeros(n, **factory))

    def draw_A_rows(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """``n`` fresh rows of ``A`` (CPU float32), drawn as LoRA's (:func:`draw_lora_A`)."""
        return draw_lora_A(self, n, generator)

    def _reset_adapter(self, generator: torch.Generator | None) -> None:
        self.lora_A.copy_(self.draw_A_rows(self.max_rank, generator))
        self.lora_B.zero_()
        self.lora_gate.zero_()
        self.lora_gate[: self.r] = 1.0

    @torch.no_grad()
    def apply_rank_mask_(self) -> None:
        self.lora_B.mul_(self.lora_gate)

    @torch.no_grad()
    def open_slot(self, slot: int, generator: torch.Generator | None) -> None:
        """Turn slot ``slot`` on with a fresh ``A`` row and a zero ``B`` column (no change to
        the layer's function)."""
        self.lora_A[slot] = self.draw_A_rows(1, generator)[0].to(self.lora_A.dtype)
        self.lora_B[:, slot] = 0.0
        self.lora_gate[slot] = 1.0

    @torch.no_grad()
    def close_slot(self, slot: int) -> None:
        """Turn slot ``slot`` off (gate 0, ``B`` column zeroed)."""
        self.lora_gate[slot] = 0.0
        self.lora_B[:, slot] = 0.0

    def _delta(self, xd: torch.Tensor, bias: torch.Tensor | None,
               row_scale: torch.Tensor | None) -> torch.Tensor:
        z = F.linear(xd, self.lora_A) * (self.lora_gate * self.scaling)
        b = self.lora_B if row_scale is None else self.lora_B * row_scale[:, None]
        return F.linear(z, b, bias)

    @torch.no_grad()
    def lowrank_weight(self) -> torch.Tensor:
        """``ΔW = s · B diag(g) A`` (float32, ``out×in``)."""
        g = self.lora_gate.float() * self.scaling
        return self.lora_B.detach().float() @ (self.lora_A.detach().float() * g[:, None])

    def _peft_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        raise ValueError("adapter kind 'alora' (Allocating LoRA) has no PEFT on-disk equivalent; "
                         "use deep.save_adapter, or merge the model")
