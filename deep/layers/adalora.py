"""AdaLoRA (Zhang et al., ICLR 2023), optionally with alpha (docs/adapters.md §5), and the
base class of every rank-allocating kind (:class:`AllocatingLayer`).

SVD-form update with ``P: out×r`` (``lora_B``), ``λ: r`` (``lora_E``), ``Q: r×in``
(``lora_A``), ``r = r_0`` the initial rank (config ``rank``)::

    Δ(x) = s' · x (Q ⊙ λ)ᵀ Pᵀ,    ΔW = s' · P diag(λ) Q,    s' = lora_alpha / (r_0 + 1e-5)

which is PEFT's convention (``scaling = lora_alpha``, divided by ``ranknum + 1e-5`` with
``ranknum = r_0`` fixed: pruning does not rescale). ``lora_alpha=None`` means ``r_0`` (s' ≈ 1).
rsLoRA is refused (not defined for AdaLoRA).

Init (PEFT): ``λ = 0`` (so the layer equals its base), ``P, Q ~ N(0, 0.02²)``
(``init="gaussian"``, the default) or Kaiming-uniform (``init="kaiming"``).

Pruning. The allocator (:mod:`deep.allocation`) keeps a 0/1 buffer ``rank_mask`` (length
``r_0``, saved with the adapter) and writes ``λ_i = 0`` in place where the mask is 0 after every
optimiser step, so a pruned triplet contributes exactly zero to every forward. Its ``P``/``Q``
entries stay trainable (and ``λ_i`` receives gradients), so a triplet can come back at a later
allocation, as in the paper. ``target_rank`` (config) is the per-layer average rank the budget
schedule ends at.

Training without the allocator is refused: see :class:`AllocatingLayer`.
"""

from __future__ import annotations

import math
import weakref
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from .base import AdapterLayer, register

__all__ = ["AllocatingLayer", "AdaLoraLayer", "SVDLayer", "ALLOCATION_GUARD", "ALLOCATOR_FIX",
           "draw_factor", "orth_error"]

#: Default number of optimiser steps a rank-allocating layer may take since the last allocator
#: step; the next optimiser step over its parameters raises. The allocator runs after every
#: ``optimizer.step()``, so 1 leaves no room for a forgotten allocator and any room for gradient
#: accumulation (forwards and backwards are not counted), checkpointing and alpha steps (an
#: optimiser that holds none of the layer's adapter tensors is not counted).
ALLOCATION_GUARD = 1

ALLOCATOR_FIX = (
    "create deep.allocation.make_allocator(model, total_steps) and call .step(step) after each "
    "optimizer.step() (before zero_grad), or use deep.hf.AllocationCallback"
)


_LIVE: weakref.WeakSet[AllocatingLayer] = weakref.WeakSet()


def _param_ids(optimizer: torch.optim.Optimizer) -> set[int]:
    return {id(p) for g in optimizer.param_groups for p in g["params"]}


def _guard_pre_step(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    """Before any optimiser step: refuse when a layer it trains skipped its allocator."""
    if not _LIVE:
        return
    ids = _param_ids(optimizer)
    for layer in list(_LIVE):
        guard = layer.allocation_guard
        if guard is None or layer.merged or not layer._held_by(ids):
            continue
        if layer.optimizer_steps_since_allocation >= guard:
            raise RuntimeError(
                f"{type(layer).__name__} ({layer.kind!r}): {layer.optimizer_steps_since_allocation} "
                f"optimiser step(s) without a rank-allocation step; training a rank-allocating "
                f"adapter without its allocator would silently train a fixed-rank adapter. Fix: "
                f"{ALLOCATOR_FIX}. (To train at a fixed rank on purpose set "
                "layer.allocation_guard = None.)")


def _guard_post_step(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    if not _LIVE:
        return
    ids = _param_ids(optimizer)
    for layer in list(_LIVE):
        if layer._held_by(ids):
            layer.optimizer_steps_since_allocation += 1


register_optimizer_step_pre_hook(_guard_pre_step)
register_optimizer_step_post_hook(_guard_post_step)


class AllocatingLayer(AdapterLayer):
    """Base of the rank-allocating kinds (AdaLoRA, LoRA², ALoRA).

    **No silent no-op (policy).** PEFT's AdaLoRA quietly becomes a fixed-rank SVD adapter when
    its allocator is never called (docs/adapters.md §11). Here each layer counts the optimiser
    steps taken over its adapter tensors since the last allocator step
    (``optimizer_steps_since_allocation``, through torch's global optimiser step hooks); an
    optimiser step that finds the count at ``allocation_guard`` (default
    :data:`ALLOCATION_GUARD` = 1) raises ``RuntimeError`` saying how to fix it — i.e. the
    second step of a loop that forgot the allocator, before it changes anything. Forwards,
    backwards (gradient accumulation over any number of micro-batches) and optimisers that
    hold none of the layer's adapter tensors (the alpha optimiser) do not count. The allocator
    resets the count at every ``step``. Set ``layer.allocation_guard = None`` to switch the
    check off deliberately (e.g. to train at a fixed rank).
    """

    allocation_guard: int | None = ALLOCATION_GUARD
    #: whether the kind has a 0/1 ``rank_mask``-style buffer (see subclasses)
    rank_buffer: ClassVar[str] = ""

    def _create_parameters(self, factory: dict[str, Any]) -> None:
        self.optimizer_steps_since_allocation = 0
        _LIVE.add(self)

    def reset_guard(self) -> None:
        self.optimizer_steps_since_allocation = 0

    def _held_by(self, ids: set[int]) -> bool:
        return any(id(getattr(self, n)) in ids for n in self.adapter_param_names)

    def active_rank(self) -> int:
        """Number of active ranks (nonzero entries of the rank buffer)."""
        return int(torch.count_nonzero(getattr(self, self.rank_buffer)))

    def capacity(self) -> int:
        """Number of rank slots (length of the rank buffer)."""
        return int(getattr(self, self.rank_buffer).numel())

    @torch.no_grad()
    def set_rank_mask(self, mask: torch.Tensor) -> None:
        """Copy a 0/1 vector into the rank buffer and apply it."""
        buf = getattr(self, self.rank_buffer)
        buf.copy_(mask.to(buf.dtype))
        self.apply_rank_mask_()

    def apply_rank_mask_(self) -> None:
        """Make pruned ranks contribute exactly zero (kind-specific, in place)."""


def _check_no_rslora(layer: AdapterLayer) -> None:
    if layer.use_rslora:
        raise ValueError(
            f"use_rslora=True is invalid for {layer.kind!r}; allowed: False (the scaling is "
            "lora_alpha / (r + 1e-5) as in PEFT's AdaLoRA)"
        )


def draw_factor(shape: tuple[int, ...], init: str, kind: str,
                generator: torch.Generator | None) -> torch.Tensor:
    """A factor drawn on the CPU in float32: N(0, 0.02²) (``gaussian``, PEFT's AdaLoRA and the
    official LoRA² code) or Kaiming-uniform with ``a = √5`` (``kaiming``)."""
    t = torch.empty(shape)
    if init == "gaussian":
        t.normal_(0.0, 0.02, generator=generator)
    elif init == "kaiming":
        nn.init.kaiming_uniform_(t, a=math.sqrt(5), generator=generator)
    else:
        raise ValueError(f"init={init!r} is invalid for {kind!r}; allowed: 'gaussian', 'kaiming'")
    return t


def orth_error(m: torch.Tensor, rows: bool) -> torch.Tensor:
    """``‖M Mᵀ − I‖_F`` (``rows``: orthonormal rows) or ``‖MᵀM − I‖_F`` (orthonormal columns)."""
    cov = m @ m.t() if rows else m.t() @ m
    eye = torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
    return torch.linalg.matrix_norm(cov - eye)


class SVDLayer(AllocatingLayer):
    """Shared by AdaLoRA and LoRA²: singular values ``lora_E`` masked by ``rank_mask``."""

    rank_buffer = "rank_mask"
    zero_factor = "lora_E"  # P and Q random, the singular values 0
    # buffer (register_buffer in _create_parameters), declared for the type checker
    rank_mask: torch.Tensor

    options: ClassVar[tuple[str, ...]] = ("target_rank",)
    allocator_options: ClassVar[tuple[str, ...]] = (
        "target_rank", "init_warmup", "final_warmup", "interval", "beta1", "beta2",
        "orth_reg_weight", "composed_orth")
    loft_compatible = False  # the update is P diag(E) Q, not one B @ A pair

    def __init__(self, base_layer: nn.Linear, **kw: Any) -> None:
        super().__init__(base_layer, **kw)
        _check_no_rslora(self)
        self.scaling = self.lora_alpha / (self.r + 1e-5)

    def _init_options(self, *, target_rank: int | None = None, **options: Any) -> None:
        super()._init_options(**options)
        t = max(1, (2 * self.r) // 3) if target_rank is None else target_rank
        if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= self.r:
            raise ValueError(f"target_rank={target_rank!r} is invalid; allowed: None or an "
                             f"integer in [1, rank] = [1, {self.r}]")
        #: average rank per layer the budget schedule ends at (default ⌊2 r_0 / 3⌋, PEFT's
        #: 12 -> 8 ratio)
        self.target_rank = t

    @classmethod
    def default_init(cls, use_alpha: bool) -> str:
        return "gaussian"

    def _create_parameters(self, factory: dict[str, Any]) -> None:
        super()._create_parameters(factory)
        self.lora_E = nn.Parameter(torch.empty(self.r, **factory))
        self.register_buffer("rank_mask", torch.ones(self.r, **factory))

    def _reset_adapter(self, generator: torch.Generator | None) -> None:
        self.lora_E.zero_()
        self.rank_mask.fill_(1.0)

    @torch.no_grad()
    def apply_rank_mask_(self) -> None:
        self.lora_E.mul_(self.rank_mask)

    def _scaled_values(self) -> torch.Tensor:
        return self.lora_E * self.scaling


@register("adalora")
class AdaLoraLayer(SVDLayer):
    """AdaLoRA / alpha-AdaLoRA: ``lora_A`` (Q, ``r×in``), ``lora_E`` (λ, ``r``), ``lora_B``
    (P, ``out×r``); buffer ``rank_mask`` (``r``). Trainable count per layer:
    ``r·(in + out) + r`` (+ ``out`` with alpha)."""

    adapter_param_names = ("lora_A", "lora_E", "lora_B")
    saved_buffer_names = ("rank_mask",)
    #: entries scored by the allocator: name -> dimension that indexes the rank
    importance_params: ClassVar[dict[str, int]] = {"lora_A": 0, "lora_E": 0, "lora_B": 1}

    def _create_parameters(self, factory: dict[str, Any]) -> None:
        super()._create_parameters(factory)
        self.lora_A = nn.Parameter(torch.empty(self.r, self.in_features, **factory))
        self.lora_B = nn.Parameter(torch.empty(self.out_features, self.r, **factory))

    def _reset_adapter(self, generator: torch.Generator | None) -> None:
        super()._reset_adapter(generator)
        self.lora_A.copy_(draw_factor((self.r, self.in_features), self.init, self.kind, generator))
        self.lora_B.copy_(draw_factor((self.out_features, self.r), self.init, self.kind, generator))

    def _delta(self, xd: torch.Tensor, bias: torch.Tensor | None,
               row_scale: torch.Tensor | None) -> torch.Tensor:
        """``s' · xd Qᵀ diag(λ) (diag(row_scale) P)ᵀ + bias`` (λ and s' on the rank-r
        intermediate)."""
        z = F.linear(xd, self.lora_A) * self._scaled_values()
        p = self.lora_B if row_scale is None else self.lora_B * row_scale[:, None]
        return F.linear(z, p, bias)

    @torch.no_grad()
    def lowrank_weight(self) -> torch.Tensor:
        """``ΔW = s' · P diag(λ) Q`` (float32, ``out×in``)."""
        e = self.lora_E.detach().float() * self.scaling
        return self.lora_B.detach().float() @ (self.lora_A.detach().float() * e[:, None])

    def orth_terms(self) -> list[torch.Tensor]:
        """``[‖QQᵀ − I‖_F, ‖PᵀP − I‖_F]`` (differentiable)."""
        return [orth_error(self.lora_A, rows=True), orth_error(self.lora_B, rows=False)]

    def _peft_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        raise ValueError(
            "adapter kind 'adalora' is not exported in PEFT layout (PEFT export covers "
            "lora/dora/olora); use deep.save_adapter, or merge the model"
        )
