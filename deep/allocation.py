"""Rank allocation for the rank-allocating adapter kinds (docs/adapters.md §5–§7).

One entry point, called by our training loop (:mod:`deep.train`) and by
:class:`deep.hf.AllocationCallback`::

    allocator = make_allocator(model, total_steps)          # None: no rank-allocating layers
    for step in range(total_steps):
        loss = model(**batch).loss
        (loss + allocator.loss()).backward()                 # AdaLoRA/LoRA²: orthogonality
        optimizer.step()
        allocator.step(step, loss_fn=lambda: loss_of(batch)) # gradients still on the params
        optimizer.zero_grad()

``loss_fn`` evaluates the loss of the current batch (called under ``torch.no_grad()``); only
ALoRA needs it, at its allocation rounds (a clear error is raised if it is missing there).

**AdaLoRA / LoRA²** (:class:`SVDAllocator`). After every optimiser step, for each scored entry
``w`` (AdaLoRA: all of ``P, λ, Q``; LoRA²: only ``A₂, B₁, λ``, the "cheap" score):
``I = |w · ∂L/∂w|``, ``Ī ← β1 Ī + (1−β1) I``, ``Ū ← β2 Ū + (1−β2) |I − Ī|``, ``S = Ī·Ū``; the
score of rank ``i`` is ``S(λ_i)`` plus the mean of ``S`` over the entries of each factor that
belong to rank ``i``. Total budget (ranks summed over layers), cubic schedule
(``b_0 = Σ r_0``, ``b_T = Σ target_rank``, ``T = total_steps``)::

    b(t) = b_0                                                     t <= t_i
    b(t) = ⌊b_T + (b_0 − b_T)(1 − (t − t_i)/(T − t_f − t_i))³⌋    t_i < t <= T − t_f
    b(t) = b_T                                                     t > T − t_f

Every ``interval`` steps of the middle phase the ``b(t)`` highest-scoring ranks over all layers
stay active and the others are masked (``rank_mask``); in the final phase the scores are frozen
and the mask computed at its first step is kept. Masked singular values are set to exactly 0
after EVERY step (so a pruned rank contributes exactly zero to every forward), but stay
trainable, so a rank can win its place back at a later allocation (paper, PEFT).
:meth:`Allocator.loss` is ``γ · mean`` of the orthogonality errors ``‖·‖_F`` over all matrices
(AdaLoRA: ``‖QQᵀ − I‖_F``, ``‖PᵀP − I‖_F`` as PEFT/official code, not squared; LoRA²: the four
small-factor terms, optionally the composed planes).

**ALoRA** (:class:`AloraAllocator`). After ``init_warmup`` steps, ``rounds`` times every
``round_interval`` steps: the AB-LoRA importance of every active rank ``i`` of module ``m``,
with ``S = −loss`` of the current batch (``loss_fn``),
``IS(i) = [S(M) − S(M without i)] + [S(M with only i in m) − S(M with nothing in m)]``
(``ablation="drop"`` keeps only the first bracket: half the forward passes); the
``prune_per_round`` lowest ranks are closed (gate 0, ``B`` column zeroed; a module keeps at least
``min_rank``), and the same number of slots is opened in the modules with no pruned rank this
round, most important first (mean ``IS``), one per module in turn (fresh ``A`` row, zero ``B``
column: the function does not change). Total active rank is constant (``budget``).

**Stale optimiser state.** Both allocators edit factors in place (masking ``λ``; closing and
re-opening ALoRA slots). Adam moments of those entries are then stale (they still describe the
old values); as in the papers and PEFT we leave them. ``Allocator.changed`` is ``True`` after a
``step`` that changed the rank structure, so a loop may reset those optimiser states.

**Training without the allocator** raises after a few dozen training forwards (see
:class:`deep.layers.AllocatingLayer`); ``step`` resets that count.

Default options (each can be passed to :func:`make_allocator`; ``T = total_steps``):

=====================  =====================  ==============================================
option                 default                source
=====================  =====================  ==============================================
``target_rank``        config ``target_rank`` AdaLoRA/LoRA²: average final rank per layer
``init_warmup``        ``round(0.1 T)``       AdaLoRA/LoRA² GLUE scripts: t_i ≈ 9–12 % of T
``final_warmup``       ``round(0.5 T)``       AdaLoRA/LoRA² GLUE scripts: t_f ≈ 44–58 % of T
``interval``           ``10``                 ΔT (official scripts 10–100; PEFT default 1)
``beta1``, ``beta2``   ``0.85``               AdaLoRA paper, PEFT, LoRA² scripts
``orth_reg_weight``    0.5 / 0.1              AdaLoRA (PEFT default) / LoRA² scripts
``composed_orth``      ``False``              LoRA² only; our addition (docs §6)
ALoRA ``init_warmup``  ``round(0.2 T)``       warm-up of the super-network (paper: K₁ epochs)
``rounds``             ``3``                  N_A (paper: a few rounds)
``round_interval``     ``(T − t_i) // (rounds + 1)``  K₂: rounds spread, training after the last
``prune_per_round``    ``max(1, b_0 // 8)``   n_A
``ablation``           ``"both"``             the paper's IS; ``"drop"`` = first term only
``min_rank``           ``1``                  ranks a module keeps
``seed``               ``0``                  generator of re-opened ``A`` rows
=====================  =====================  ==============================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from .inject import adapter_layers
from .layers import AdaLoraLayer, AllocatingLayer, AloraLayer, Lora2Layer

__all__ = ["Allocator", "SVDAllocator", "AloraAllocator", "make_allocator"]

LossFn = Callable[[], torch.Tensor]


def _bad(name: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"make_allocator: {name}={value!r} is invalid; allowed: {allowed}")


def _int_option(name: str, v: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        rng = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
        raise _bad(name, v, rng)
    return v


def _float_option(name: str, v: Any, lo: float, hi: float, hi_open: bool = True) -> float:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and lo <= v and (
        v < hi if hi_open else v <= hi)
    if not ok:
        raise _bad(name, v, f"a number in [{lo}, {hi}{')' if hi_open else ']'}")
    return float(v)


class Allocator:
    """Common interface (see the module docstring). Subclasses: :class:`SVDAllocator`,
    :class:`AloraAllocator`.

    Attributes: ``kind`` (registry kind), ``total_steps``, ``options`` (resolved, plain
    numbers), ``layers`` (name -> layer), ``changed`` (the last ``step`` changed the rank
    structure).
    """

    kind: str = ""
    #: module name -> layer (a read-only view for the type checker: subclasses narrow the type)
    layers: Mapping[str, AllocatingLayer]

    def __init__(self, layers: dict[str, AllocatingLayer], total_steps: int,
                 options: dict[str, Any]) -> None:
        self.layers = layers
        self.total_steps = total_steps
        self.options = options
        self.changed = False
        self.last_step = -1
        for layer in layers.values():
            layer.reset_guard()

    # ---------------------------------------------------------------- interface
    def loss(self) -> torch.Tensor:
        """Regulariser to add to the training loss before ``backward`` (scalar)."""
        return self._zero()

    def step(self, step: int, loss_fn: LossFn | None = None) -> None:
        raise NotImplementedError

    def budget(self, step: int) -> int:
        """Total active rank the schedule allows at ``step``."""
        raise NotImplementedError

    def ranks(self) -> dict[str, int]:
        """Active rank per layer (module name -> int)."""
        return {n: layer.active_rank() for n, layer in self.layers.items()}

    def state_dict(self) -> dict[str, Any]:
        """Plain tensors and numbers (``torch.load(weights_only=True)`` loads it)."""
        return {"kind": self.kind, "total_steps": self.total_steps, "options": dict(self.options),
                "last_step": self.last_step,
                "rank_buffers": {n: getattr(layer, layer.rank_buffer).detach().clone()
                                 for n, layer in self.layers.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the model's tensors are restored separately; the rank
        buffers are written back too). Raises ValueError if it belongs to another setup."""
        if state.get("kind") != self.kind:
            raise ValueError(f"load_state_dict: the state is for kind {state.get('kind')!r}, "
                             f"this allocator drives {self.kind!r}")
        if state.get("total_steps") != self.total_steps:
            raise ValueError(f"load_state_dict: total_steps={state.get('total_steps')!r} in the "
                             f"state, {self.total_steps} here")
        for k, v in self.options.items():
            if state["options"].get(k) != v:
                raise ValueError(f"load_state_dict: option {k}={state['options'].get(k)!r} in the "
                                 f"state, {v!r} here")
        bufs = state["rank_buffers"]
        if set(bufs) != set(self.layers):
            raise ValueError("load_state_dict: the state's layers differ from the model's: "
                             f"{sorted(set(bufs) ^ set(self.layers))[:5]}")
        with torch.no_grad():
            for n, layer in self.layers.items():
                getattr(layer, layer.rank_buffer).copy_(bufs[n])
        self.last_step = int(state["last_step"])

    # ---------------------------------------------------------------- helpers
    def _zero(self) -> torch.Tensor:
        p = next(iter(self.layers.values())).adapter_parameters()[0]
        return torch.zeros((), device=p.device, dtype=torch.float32)

    def _begin(self, step: int) -> None:
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step={step!r} is invalid; allowed: an integer >= 0")
        merged = [n for n, layer in self.layers.items() if layer.merged]
        if merged:
            raise RuntimeError(f"allocator.step: layer {merged[0]!r} is merged; unmerge first")
        for layer in self.layers.values():
            layer.reset_guard()
        self.changed = False
        self.last_step = step

    def _buffers(self) -> list[torch.Tensor]:
        return [getattr(layer, layer.rank_buffer).detach().clone()
                for layer in self.layers.values()]


# ==================================================================================== SVD
class SVDAllocator(Allocator):
    """AdaLoRA / LoRA² budget schedule with sensitivity × uncertainty scores."""

    layers: dict[str, AdaLoraLayer | Lora2Layer]  # make_allocator checks the kinds

    def __init__(self, layers: dict[str, AllocatingLayer], total_steps: int,
                 options: dict[str, Any]) -> None:
        super().__init__(layers, total_steps, options)
        self.kind = next(iter(layers.values())).kind
        self.b0 = sum(layer.r for layer in layers.values())
        self.bT = sum(options["target_rank"] or layer.target_rank
                      for layer in self.layers.values())
        self.ema: dict[str, torch.Tensor] = {}
        self.unc: dict[str, torch.Tensor] = {}
        for n, layer in self.layers.items():
            for pname in layer.importance_params:
                p = getattr(layer, pname)
                self.ema[f"{n}.{pname}"] = torch.zeros(p.shape, dtype=torch.float32,
                                                       device=p.device)
                self.unc[f"{n}.{pname}"] = torch.zeros_like(self.ema[f"{n}.{pname}"])
        self.final_fixed = False

    def loss(self) -> torch.Tensor:
        w = self.options["orth_reg_weight"]
        if w == 0:
            return self._zero()
        composed = bool(self.options.get("composed_orth", False))
        terms: list[torch.Tensor] = []
        for layer in self.layers.values():
            terms += (layer.orth_terms(composed) if isinstance(layer, Lora2Layer)
                      else layer.orth_terms())
        return w * torch.stack([t.float() for t in terms]).mean()

    def budget(self, step: int) -> int:
        t_i, t_f, total = self.options["init_warmup"], self.options["final_warmup"], self.total_steps
        if step <= t_i:
            return self.b0
        if step > total - t_f:
            return self.bT
        mul = 1.0 - (step - t_i) / (total - t_f - t_i)
        return int(self.bT + (self.b0 - self.bT) * mul ** 3)

    @torch.no_grad()
    def _update_scores(self) -> None:
        grads = [getattr(layer, p).grad for layer in self.layers.values()
                 for p in layer.importance_params]
        if all(g is None for g in grads):
            raise RuntimeError(
                "allocator.step: no gradients on the adapter parameters; call it after "
                "loss.backward() and optimizer.step(), BEFORE optimizer.zero_grad()")
        b1, b2 = self.options["beta1"], self.options["beta2"]
        for n, layer in self.layers.items():
            for pname in layer.importance_params:
                p = getattr(layer, pname)
                if p.grad is None:
                    continue
                key = f"{n}.{pname}"
                ipt = (p.detach().float() * p.grad.float()).abs_()
                ema = self.ema[key].mul_(b1).add_(ipt, alpha=1 - b1)
                self.unc[key].mul_(b2).add_((ipt - ema).abs_(), alpha=1 - b2)

    @torch.no_grad()
    def scores(self) -> dict[str, torch.Tensor]:
        """Per-rank score of every layer (name -> float32 vector of length ``r_0``):
        ``S(λ_i) + Σ_factors mean S(factor entries of rank i)``."""
        out = {}
        for n, layer in self.layers.items():
            total = torch.zeros(layer.r, device=self.ema[f"{n}.lora_E"].device)
            for pname, dim in layer.importance_params.items():
                s = self.ema[f"{n}.{pname}"] * self.unc[f"{n}.{pname}"]
                total += s.movedim(dim, 0).reshape(layer.r, -1).mean(1)
            out[n] = total
        return out

    def _masks_for(self, budget: int) -> list[torch.Tensor]:
        sc = self.scores()
        flat = torch.cat([sc[n].cpu() for n in self.layers])
        keep = torch.zeros(flat.numel())
        order = torch.argsort(flat, descending=True, stable=True)
        keep[order[: max(0, min(budget, flat.numel()))]] = 1.0
        return list(keep.split([layer.r for layer in self.layers.values()]))

    def step(self, step: int, loss_fn: LossFn | None = None) -> None:
        """Scores (while ``step < T − t_f``), then the mask of the schedule; pruned singular
        values are set to 0 in place every step. ``loss_fn`` is not used."""
        self._begin(step)
        total, t_f = self.total_steps, self.options["final_warmup"]
        if step < total - t_f:
            self._update_scores()
        masks = None
        if step > total - t_f:
            if not self.final_fixed:
                masks = self._masks_for(self.bT)
                self.final_fixed = True
        elif step > self.options["init_warmup"] and step % self.options["interval"] == 0:
            masks = self._masks_for(self.budget(step))
        if masks is not None:
            before = self._buffers()
            for layer, m in zip(self.layers.values(), masks, strict=True):
                layer.rank_mask.copy_(m.to(layer.rank_mask))
            self.changed = any(not torch.equal(a, layer.rank_mask)
                               for a, layer in zip(before, self.layers.values(), strict=True))
        for layer in self.layers.values():
            layer.apply_rank_mask_()

    def state_dict(self) -> dict[str, Any]:
        out = super().state_dict()
        out["ema"] = {k: v.clone() for k, v in self.ema.items()}
        out["unc"] = {k: v.clone() for k, v in self.unc.items()}
        out["final_fixed"] = self.final_fixed
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("ema", "unc"):
            if set(state.get(key, {})) != set(self.ema):
                raise ValueError(f"load_state_dict: the state's {key!r} entries differ from "
                                 "this model's scored parameters")
        super().load_state_dict(state)
        with torch.no_grad():
            for k in self.ema:
                self.ema[k].copy_(state["ema"][k])
                self.unc[k].copy_(state["unc"][k])
        self.final_fixed = bool(state["final_fixed"])


# ==================================================================================== ALoRA
class AloraAllocator(Allocator):
    """ALoRA: ablation importance, prune and reallocate, ``rounds`` times."""

    kind = "alora"
    layers: dict[str, AloraLayer]  # make_allocator checks the kind

    def __init__(self, layers: dict[str, AllocatingLayer], total_steps: int,
                 options: dict[str, Any]) -> None:
        super().__init__(layers, total_steps, options)
        self.b0 = sum(layer.active_rank() for layer in layers.values())
        o = options
        self.round_steps = [o["init_warmup"] + j * o["round_interval"] for j in range(o["rounds"])]
        self.generator = torch.Generator().manual_seed(o["seed"])
        self.rounds_done = 0
        #: importance of the last round (name -> vector over slots, NaN for closed slots)
        self.last_importance: dict[str, torch.Tensor] = {}

    def budget(self, step: int) -> int:
        return self.b0

    @torch.no_grad()
    def importance(self, loss_fn: LossFn) -> dict[str, torch.Tensor]:
        """AB-LoRA importance of every active rank (name -> float64 vector over the slots, NaN
        where closed). Changes nothing (gates are restored exactly)."""
        both = self.options["ablation"] == "both"

        def value() -> float:
            return float(loss_fn())

        base = value()
        out: dict[str, torch.Tensor] = {}
        for n, layer in self.layers.items():
            gate = layer.lora_gate
            saved = gate.clone()
            active = torch.nonzero(saved).flatten().tolist()
            scores = torch.full((layer.capacity(),), float("nan"), dtype=torch.float64)
            try:
                empty = 0.0
                if both:
                    gate.zero_()
                    empty = value()
                for i in active:
                    gate.copy_(saved)
                    gate[i] = 0.0
                    s = value() - base
                    if both:
                        gate.zero_()
                        gate[i] = saved[i]
                        s += empty - value()
                    scores[i] = s
            finally:
                gate.copy_(saved)
            out[n] = scores
        return out

    def step(self, step: int, loss_fn: LossFn | None = None) -> None:
        """At a round step (and only there) ``loss_fn`` is required."""
        self._begin(step)
        if self.rounds_done >= len(self.round_steps) or step != self.round_steps[self.rounds_done]:
            return
        if loss_fn is None:
            raise ValueError(
                f"allocator.step({step}): ALoRA allocation round {self.rounds_done + 1} needs "
                "loss_fn (the loss of the current batch, evaluated without grad) to score ranks "
                "by ablation; pass step(step, loss_fn=...). deep.hf.AllocationCallback does not "
                "provide one: use deep.train, or call the allocator yourself")
        imp = self.importance(loss_fn)
        self.last_importance = imp
        self._prune_and_reallocate(imp)
        self.rounds_done += 1
        self.changed = True

    @torch.no_grad()
    def _prune_and_reallocate(self, imp: dict[str, torch.Tensor]) -> None:
        names = list(self.layers)
        cand = [(float(imp[n][i]), k, i) for k, n in enumerate(names)
                for i in torch.nonzero(self.layers[n].lora_gate).flatten().tolist()]
        cand.sort(key=lambda c: (c[0], c[1], c[2]))
        active = {n: self.layers[n].active_rank() for n in names}
        pruned: dict[str, int] = {}
        n_prune = self.options["prune_per_round"]
        for _, k, i in cand:
            if sum(pruned.values()) == n_prune:
                break
            n = names[k]
            if active[n] <= self.options["min_rank"]:
                continue
            self.layers[n].close_slot(i)
            active[n] -= 1
            pruned[n] = pruned.get(n, 0) + 1
        freed = sum(pruned.values())

        def need(n: str) -> float:  # mean importance of the module's active ranks
            v = imp[n][~torch.isnan(imp[n])]
            return float(v.mean()) if v.numel() else float("-inf")

        def free_slots(n: str) -> list[int]:
            return torch.nonzero(self.layers[n].lora_gate == 0).flatten().tolist()

        ranked = sorted(names, key=lambda n: (-need(n), names.index(n)))
        receivers = [n for n in ranked if n not in pruned] or ranked
        while freed:
            opened = False
            for n in receivers:
                slots = free_slots(n)
                if freed and slots:
                    self.layers[n].open_slot(slots[0], self.generator)
                    freed -= 1
                    opened = True
            if not opened:
                if receivers is ranked:
                    break  # no capacity anywhere (cannot happen: pruned slots are free)
                receivers = ranked

    def state_dict(self) -> dict[str, Any]:
        out = super().state_dict()
        out["rounds_done"] = self.rounds_done
        out["generator"] = self.generator.get_state()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.rounds_done = int(state["rounds_done"])
        self.generator.set_state(state["generator"])


# ==================================================================================== factory
_SVD_OPTIONS = ("target_rank", "init_warmup", "final_warmup", "interval", "beta1", "beta2",
                "orth_reg_weight", "composed_orth")
_ALORA_OPTIONS = ("init_warmup", "rounds", "round_interval", "prune_per_round", "ablation",
                  "min_rank", "seed")


def _svd_options(kind: str, layers: dict[str, AllocatingLayer], total: int,
                 given: dict[str, Any]) -> dict[str, Any]:
    o: dict[str, Any] = {}
    r_min = min(layer.r for layer in layers.values())
    t = given.get("target_rank")
    o["target_rank"] = None if t is None else _int_option("target_rank", t, 1, r_min)
    t_i = given.get("init_warmup")
    o["init_warmup"] = round(0.1 * total) if t_i is None else _int_option("init_warmup", t_i, 0)
    t_f = given.get("final_warmup")
    o["final_warmup"] = round(0.5 * total) if t_f is None else _int_option("final_warmup", t_f, 0)
    if o["init_warmup"] + o["final_warmup"] >= total:
        raise _bad("init_warmup + final_warmup", o["init_warmup"] + o["final_warmup"],
                   f"< total_steps = {total} (the budget must have steps to decrease over)")
    o["interval"] = _int_option("interval", given.get("interval", 10), 1)
    o["beta1"] = _float_option("beta1", given.get("beta1", 0.85), 0.0, 1.0)
    o["beta2"] = _float_option("beta2", given.get("beta2", 0.85), 0.0, 1.0)
    default_w = 0.5 if kind == "adalora" else 0.1
    o["orth_reg_weight"] = _float_option("orth_reg_weight", given.get("orth_reg_weight", default_w),
                                         0.0, float("inf"))
    comp = given.get("composed_orth", False)
    if not isinstance(comp, bool) or (comp and kind != "lora2"):
        raise _bad("composed_orth", comp, "True or False (True only for 'lora2')")
    o["composed_orth"] = comp
    return o


def _alora_options(layers: dict[str, AllocatingLayer], total: int,
                   given: dict[str, Any]) -> dict[str, Any]:
    o: dict[str, Any] = {}
    t_i = given.get("init_warmup")
    o["init_warmup"] = round(0.2 * total) if t_i is None else _int_option("init_warmup", t_i, 0)
    o["rounds"] = _int_option("rounds", given.get("rounds", 3), 0)
    ri = given.get("round_interval")
    default_ri = max(1, (total - o["init_warmup"]) // (o["rounds"] + 1))
    o["round_interval"] = default_ri if ri is None else _int_option("round_interval", ri, 1)
    last = o["init_warmup"] + (o["rounds"] - 1) * o["round_interval"]
    if o["rounds"] and last >= total:
        raise _bad("init_warmup + (rounds - 1) * round_interval", last,
                   f"< total_steps = {total} (every round must fall inside training)")
    b0 = sum(layer.active_rank() for layer in layers.values())
    pp = given.get("prune_per_round")
    o["prune_per_round"] = max(1, b0 // 8) if pp is None else _int_option(
        "prune_per_round", pp, 1, b0)
    ab = given.get("ablation", "both")
    if ab not in ("both", "drop"):
        raise _bad("ablation", ab, "'both' (paper) or 'drop'")
    o["ablation"] = ab
    o["min_rank"] = _int_option("min_rank", given.get("min_rank", 1), 0)
    o["seed"] = _int_option("seed", given.get("seed", 0), 0)
    return o


def make_allocator(model: nn.Module, total_steps: int, **options: Any) -> Allocator | None:
    """The allocator of ``model``'s rank-allocating layers, or ``None`` when it has none.

    ``total_steps``: number of optimiser steps of the run (``T``). ``options``: see the module
    docstring (defaults from the papers); unknown names and bad values raise ValueError naming
    the argument, the value and what is allowed.
    """
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise _bad("total_steps", total_steps, "an integer >= 1")
    layers = {n: m for n, m in adapter_layers(model) if isinstance(m, AllocatingLayer)}
    if not layers:
        if options:
            raise ValueError(f"make_allocator: options {sorted(options)} given but the model has "
                             "no rank-allocating adapter layers (adalora, lora2, alora)")
        return None
    kinds = sorted({m.kind for m in layers.values()})
    if len(kinds) > 1:
        raise ValueError(f"make_allocator: one rank-allocating kind per model, found {kinds}")
    kind = kinds[0]
    allowed = _ALORA_OPTIONS if kind == "alora" else _SVD_OPTIONS
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"make_allocator: unknown option(s) {unknown} for kind {kind!r}; "
                         f"allowed: {list(allowed)}")
    if kind == "alora":
        assert all(isinstance(m, AloraLayer) for m in layers.values())
        return AloraAllocator(layers, total_steps, _alora_options(layers, total_steps, options))
    assert all(isinstance(m, AdaLoraLayer | Lora2Layer) for m in layers.values())
    return SVDAllocator(layers, total_steps, _svd_options(kind, layers, total_steps, options))
