"""The adapter base class and the registry (docs/adapters.md §0, §2.1).

Every adapter kind wraps one frozen ``nn.Linear`` (``W0: out×in``, bias ``b: out``) and computes

    y = g ⊙ (alpha ⊙ x W0ᵀ + Δ(x)) + b_alpha            x: (..., in) -> y: (..., out)

where the kind supplies the low-rank branch ``Δ(x)`` (e.g. ``s · dropout(x) Aᵀ Bᵀ``, shape
``(..., out)``) and optionally a per-output-row scale ``g`` (DoRA's ``m / ‖·‖_row``; ``None``
means ``g = 1``). Everything about **alpha** lives here, once, for every kind:

* ``alpha`` is an ``nn.Parameter`` of length ``out`` (one entry per output row of ``W0``),
  initialised to ``alpha_init`` (1), present only with ``use_alpha=True`` (methods ``alpha_*``);
* it scales the frozen branch: ``alpha ⊙ x W0ᵀ``; the bias becomes ``b_alpha = alpha ⊙ b``
  when ``scale_bias`` (default, official alpha-LoRA code) and stays ``b`` otherwise;
* effective weight ``W = diag(g) (diag(alpha) W0 + ΔW)``, effective bias ``b_alpha``
  (merge writes exactly these, in float32, cast back to the weight's dtype).

Without alpha and ``g`` this is plain LoRA: ``y = x W0ᵀ + b + s · x Aᵀ Bᵀ``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AdapterLayer", "REGISTRY", "register", "UNMERGE_MIN_ABS"]

#: ``unmerge`` divides by alpha (and by DoRA's ``g``); it refuses when an entry is smaller in
#: absolute value than this (W0 would not be recoverable to useful precision).
UNMERGE_MIN_ABS = 1e-4

#: name -> adapter class, filled by :func:`register`. Methods are the keys and the keys with
#: the ``alpha_`` prefix (same class, ``use_alpha=True``).
REGISTRY: dict[str, type[AdapterLayer]] = {}


def register(name: str) -> Callable[[type[AdapterLayer]], type[AdapterLayer]]:
    """Class decorator: ``@register("lora")`` adds the class to :data:`REGISTRY` under ``name``
    (which must not start with ``alpha_``: that prefix is the alpha flag)."""

    def deco(cls: type[AdapterLayer]) -> type[AdapterLayer]:
        if name in REGISTRY and REGISTRY[name] is not cls:
            raise ValueError(f"adapter kind {name!r} is already registered to {REGISTRY[name]}")
        if name.startswith("alpha_"):
            raise ValueError(f"adapter kind {name!r}: the 'alpha_' prefix is reserved for the flag")
        cls.kind = name
        REGISTRY[name] = cls
        return cls

    return deco


def _addmm_(c: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``c + x wᵀ`` for 2-D ``x: (T, in)``, ``w: (out, in)``, ``c: (T, out)``: one GEMM with
    BLAS beta = 1 accumulating IN PLACE into ``c``, which must be a fresh non-view intermediate
    that autograd does not save (the low-rank output). Saves an addition pass and a copy."""
    return c.addmm_(x, w.t())


class _ScaleAdd(torch.autograd.Function):
    """``y = c + h ⊙ v`` with ``c, h: (T, out)`` and a row vector ``v: (out,)``, written into
    ``c`` in place (``c`` must be a fresh non-view intermediate).

    Backward: ``∂c = g``, ``∂h = g ⊙ v``, ``∂v = Σ_t g_t ⊙ h_t``, each computed only when
    needed (``h`` is saved only if ``v`` requires grad). Autograd's own ``addcmul`` backward
    also multiplies ``h`` by the scalar ``value`` and allocates more; this is one pass per
    gradient.
    """

    @staticmethod
    def forward(ctx: Any, c: torch.Tensor, h: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        need_c, need_h, need_v = ctx.needs_input_grad
        ctx.mark_dirty(c)
        ctx.save_for_backward(h if need_v else None, v if need_h else None)
        return c.addcmul_(h, v)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor
                 ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        h, v = ctx.saved_tensors
        need_c, need_h, need_v = ctx.needs_input_grad
        grad_h = grad * v if need_h else None
        grad_v = torch.linalg.vecdot(grad, h, dim=0) if need_v else None
        return (grad if need_c else None), grad_h, grad_v


class AdapterLayer(nn.Module):
    """Base of every adapter layer: a frozen ``base_layer`` plus trainable adapter tensors.

    Subclasses implement these hooks and call :func:`register`:

    * :meth:`_create_parameters` — create the adapter ``nn.Parameter``s (uninitialised);
    * :meth:`_reset_adapter` — initialise them (``generator`` passed in, never global seeding);
    * :meth:`_delta` — the low-rank branch ``row_scale ⊙ Δ(x) + bias`` of a (dropped-out)
      2-D input;
    * :meth:`lowrank_weight` — the dense ``ΔW`` (float32, ``out×in``) with ``Δ(x) = x ΔWᵀ``;
    * optionally :meth:`row_scale` (``g``), :meth:`_peft_tensors` (PEFT export).

    Class attributes: ``kind`` (registry name), ``adapter_param_names`` (trainable adapter
    parameters other than alpha, e.g. ``("lora_A", "lora_B")``), ``saved_buffer_names``
    (buffers written by ``save_adapter``), ``init_kind`` (``"lowrank"`` or ``"olora"``),
    ``replaces_base_weight`` (the layer trains against its own residual copy of ``W0``, the
    caller's tensor is never reused), ``peft_use_dora`` (PEFT export flag), ``options`` (the
    :class:`deep.AdapterConfig` fields this kind reads beyond the common ones; they arrive as
    constructor keywords and are handled by :meth:`_init_options`), ``allocator_options`` (the
    option names :func:`deep.allocation.make_allocator` accepts for this kind),
    ``loft_compatible`` (the update is one plain ``B @ A`` pair, so :class:`deep.optim.LoFT`
    applies exactly), ``zero_factor`` (the adapter tensor that is zero at initialisation, so the
    layer equals its base; ``None`` when the equality holds otherwise, as for OLoRA).

    The layer exposes ``weight`` / ``bias`` of the frozen base (read-only properties, as PEFT
    does) so code that inspects ``module.weight.dtype`` keeps working.
    """

    kind: ClassVar[str] = ""
    init_kind: ClassVar[str] = "lowrank"
    adapter_param_names: ClassVar[tuple[str, ...]] = ()
    saved_buffer_names: ClassVar[tuple[str, ...]] = ()
    replaces_base_weight: ClassVar[bool] = False
    peft_use_dora: ClassVar[bool] = False
    options: ClassVar[tuple[str, ...]] = ()
    allocator_options: ClassVar[tuple[str, ...]] = ()
    loft_compatible: ClassVar[bool] = True
    zero_factor: ClassVar[str | None] = "lora_B"

    def __init__(
        self,
        base_layer: nn.Linear,
        *,
        rank: int = 8,
        lora_alpha: float | None = None,
        use_rslora: bool = False,
        dropout: float = 0.0,
        use_alpha: bool = False,
        scale_bias: bool = True,
        alpha_init: float = 1.0,
        init: str | None = None,
        generator: torch.Generator | None = None,
        freeze_base: bool = True,
        **options: Any,
    ) -> None:
        super().__init__()
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown option(s) {unknown}; allowed: "
                            f"{list(self.options)}")
        if not isinstance(base_layer, nn.Linear):
            raise TypeError(
                f"{type(self).__name__} wraps an nn.Linear, got {type(base_layer).__name__}"
            )
        n_in, n_out = base_layer.in_features, base_layer.out_features
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= min(n_in, n_out):
            raise ValueError(
                f"rank={rank!r} is invalid for a {n_out}x{n_in} linear layer; allowed: an "
                f"integer in [1, min(in_features, out_features)] = [1, {min(n_in, n_out)}]"
            )
        if not isinstance(dropout, int | float) or not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout={dropout!r} is invalid; allowed: a number in [0, 1)")
        if lora_alpha is not None and not (math.isfinite(lora_alpha) and lora_alpha > 0):
            raise ValueError(f"lora_alpha={lora_alpha!r} is invalid; allowed: None or > 0")
        if not (math.isfinite(alpha_init) and alpha_init != 0):
            raise ValueError(f"alpha_init={alpha_init!r} is invalid; allowed: finite, nonzero")
        self.base_layer = base_layer
        self.in_features, self.out_features, self.r = n_in, n_out, rank
        self.lora_alpha = float(rank if lora_alpha is None else lora_alpha)
        self.use_rslora = bool(use_rslora)
        self.scaling = self.lora_alpha / (math.sqrt(rank) if use_rslora else rank)
        self.dropout = nn.Dropout(float(dropout)) if dropout > 0 else nn.Identity()
        self.use_alpha, self.scale_bias = bool(use_alpha), bool(scale_bias)
        self.alpha_init = float(alpha_init)
        self.init = init if init is not None else self.default_init(self.use_alpha)
        w = base_layer.weight
        # adapter tensors and alpha stay float32 on a bf16/fp16 base (small optimiser updates
        # would round away in 8-bit mantissas); float64 bases keep float64
        dtype = w.dtype if w.dtype in (torch.float32, torch.float64) else torch.float32
        factory: dict[str, Any] = {"device": w.device, "dtype": dtype}
        if self.use_alpha:
            self.alpha = nn.Parameter(torch.empty(n_out, **factory))
        else:
            self.register_parameter("alpha", None)
        #: name of the layer whose alpha this one shares (``share_alpha``), else None
        self.alpha_shared_from: str | None = None
        self.merged = False
        self._merge_state: dict[str, Any] | None = None
        self._init_options(**options)
        self._create_parameters(factory)
        self.reset_parameters(generator)
        if freeze_base:
            self.freeze_base()

    # ------------------------------------------------------------------ construction
    @classmethod
    def default_init(cls, use_alpha: bool) -> str:
        """Initialisation used when ``init=None`` (see :data:`deep.config.INITS`)."""
        if cls.init_kind == "olora":
            return "olora"
        return "gaussian" if use_alpha else "kaiming"

    def freeze_base(self) -> None:
        """``requires_grad=False`` on ``W0`` and ``b`` (the constructor does it unless
        ``freeze_base=False``, which :func:`deep.inject` uses so that nothing in the model changes
        before every target has been built)."""
        for p in self.base_layer.parameters():
            p.requires_grad_(False)

    @classmethod
    def from_config(cls, base_layer: nn.Linear, config: Any, *, use_alpha: bool,
                    generator: torch.Generator | None = None,
                    freeze_base: bool = True) -> AdapterLayer:
        """Build from an :class:`deep.AdapterConfig`; kinds with extra options add them in
        :meth:`_extra`."""
        return cls(
            base_layer,
            rank=config.rank,
            lora_alpha=config.lora_alpha,
            use_rslora=config.use_rslora,
            dropout=config.dropout,
            use_alpha=use_alpha,
            scale_bias=config.scale_bias,
            alpha_init=config.alpha_init,
            init=config.init,
            generator=generator,
            freeze_base=freeze_base,
            **cls._extra(config),
        )

    @classmethod
    def _extra(cls, config: Any) -> dict[str, Any]:
        """Constructor keywords of this kind beyond the common ones: its ``options``, read
        from ``config``."""
        return {name: getattr(config, name, None) for name in cls.options}

    def _init_options(self, **options: Any) -> None:
        """Validate and store the kind's ``options`` (called once the common attributes —
        ``r``, ``in_features``, ``out_features`` — are set, before :meth:`_create_parameters`)."""

    def _create_parameters(self, factory: dict[str, Any]) -> None:
        raise NotImplementedError

    def _reset_adapter(self, generator: torch.Generator | None) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Re-initialise: ``alpha = alpha_init`` (if present), then the kind's adapter tensors
        (``B = 0`` for the LoRA family, so the layer equals its base). ``generator=None`` draws
        from torch's default generator (it is never seeded here)."""
        if self.merged:
            raise RuntimeError(f"{type(self).__name__}.reset_parameters: unmerge first")
        if self.alpha is not None:
            self.alpha.fill_(self.alpha_init)
        self._reset_adapter(generator)

    # ------------------------------------------------------------------ the frozen base
    @property
    def weight(self) -> torch.Tensor:
        """The frozen base weight ``W0`` (``out×in``); NOT the effective weight."""
        return self.base_layer.weight

    @property
    def bias(self) -> torch.Tensor | None:
        """The frozen base bias ``b`` (``out``) or None."""
        return self.base_layer.bias

    # ------------------------------------------------------------------ kind hooks
    def _delta(self, xd: torch.Tensor, bias: torch.Tensor | None,
               row_scale: torch.Tensor | None) -> torch.Tensor:
        """Low-rank branch ``row_scale ⊙ Δ(xd) + bias``: ``(T, in) -> (T, out)``, a fresh
        tensor (the forward accumulates the frozen branch into it in place)."""
        raise NotImplementedError

    def lowrank_weight(self) -> torch.Tensor:
        """Dense ``ΔW`` (float32, ``out×in``, no grad) such that ``Δ(x) = x ΔWᵀ``."""
        raise NotImplementedError

    def row_scale(self) -> torch.Tensor | None:
        """Per-output-row factor ``g`` (length ``out``) or None for ``g = 1``."""
        return None

    def _peft_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        raise ValueError(f"adapter kind {self.kind!r} has no PEFT on-disk equivalent; use "
                         "deep.save_adapter, or merge the model")

    def peft_config_fields(self) -> dict[str, Any]:
        """``r``, ``lora_alpha``, ``use_rslora``, ``use_dora`` of the PEFT export."""
        return {"r": self.r, "lora_alpha": self.lora_alpha, "use_rslora": self.use_rslora,
                "use_dora": self.peft_use_dora}

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``y = g ⊙ (alpha ⊙ x W0ᵀ + Δ(dropout(x))) + b_alpha``; merged: ``x W'ᵀ + b'``.

        Computed on the flattened ``(T, in)`` input as
        ``y = v ⊙ (x W0ᵀ) + (s · dropout(x) Aᵀ (diag(g) B)ᵀ + b_alpha)`` with ``v = g ⊙ alpha``:
        the row scale of the low-rank branch is folded into ``B`` (``out×r``), the bias into
        the low-rank GEMM, and ``v ⊙ (x W0ᵀ)`` is accumulated in place (one pass; without
        ``v`` the frozen GEMM itself accumulates into the low-rank output).
        """
        base = self.base_layer
        if self.merged:
            return base(x)
        lead = x.shape[:-1]
        x = x.reshape(-1, x.shape[-1])  # 2-D so that the in-place ops act on non-views
        w0, b = base.weight, base.bias
        a = self.alpha
        g = self.row_scale()
        # y = v ⊙ (x W0ᵀ) + [s · dropout(x) Aᵀ (diag(g) B)ᵀ + b_alpha],  v = g ⊙ alpha
        v = a if g is None else (g if a is None else g * a)
        bias = b * a if (a is not None and b is not None and self.scale_bias) else b
        xd = self.dropout(x)
        autocast = torch.is_autocast_enabled(x.device.type)
        if not autocast:  # e.g. bf16 base, fp32 adapters: low-rank branch in the adapter dtype
            names = self.adapter_param_names
            pdt = getattr(self, names[0]).dtype if names else xd.dtype
            if xd.dtype != pdt:
                xd = xd.to(pdt)
                bias = None if bias is None else bias.to(pdt)
        delta = self._delta(xd, bias, g)
        if not autocast and delta.dtype != x.dtype:
            delta = delta.to(x.dtype)  # back to the activations' dtype
        if v is None:  # LoRA / OLoRA: the frozen GEMM accumulates into the low-rank output
            # (under autocast the low-rank output has the autocast dtype: cast x, W0 to it)
            y = _addmm_(delta, x.to(delta.dtype), w0.to(delta.dtype))
        else:
            y = _ScaleAdd.apply(delta, F.linear(x, w0), v)
        return y.view(*lead, self.out_features)

    # ------------------------------------------------------------------ dense forms
    @torch.no_grad()
    def effective_weight(self) -> torch.Tensor:
        """``W = diag(g) (diag(alpha) W0 + ΔW)`` in float32 (``out×in``). Unmerged only."""
        self._require_unmerged("effective_weight")
        return self._effective_weight32()

    @torch.no_grad()
    def effective_bias(self) -> torch.Tensor | None:
        """``b_alpha`` in float32 (``out``) or None. Unmerged only."""
        self._require_unmerged("effective_bias")
        return self._effective_bias32()

    @torch.no_grad()
    def delta_weight(self) -> torch.Tensor:
        """``W − W0`` in float32 (``out×in``): what merging adds to the frozen weight."""
        self._require_unmerged("delta_weight")
        return self._effective_weight32() - self.base_layer.weight.float()

    def _effective_weight32(self, g: torch.Tensor | None = None) -> torch.Tensor:
        w = self.base_layer.weight.detach().float()
        w = w * self.alpha.detach().float()[:, None] if self.alpha is not None else w.clone()
        w += self.lowrank_weight()
        if g is None:
            g = self.row_scale()
        if g is not None:
            w *= g.detach().float()[:, None]
        return w

    def _effective_bias32(self) -> torch.Tensor | None:
        bias = self.base_layer.bias
        if bias is None:
            return None
        b = bias.detach().float()
        if self.alpha is not None and self.scale_bias:
            return b * self.alpha.detach().float()
        return b.clone()

    # ------------------------------------------------------------------ merge / unmerge
    def _require_unmerged(self, what: str) -> None:
        if self.merged:
            raise RuntimeError(f"{type(self).__name__}.{what}: the layer is merged; unmerge first")

    def _versions(self) -> tuple[int, ...]:
        return tuple(p._version for p in self.trainable_parameters())

    @torch.no_grad()
    def merge(self, keep_base: bool = False) -> None:
        """Fold the adapter into the base: ``W0 ← diag(g)(diag(alpha) W0 + ΔW)``,
        ``b ← b_alpha`` (float32, cast back). Afterwards ``forward`` is the plain linear layer.

        ``keep_base=True`` keeps a copy of ``W0``/``b`` so that :meth:`unmerge` is exact for
        any alpha; otherwise unmerge inverts the formula (needs ``|alpha_i|, |g_i| >= 1e-4``).
        Raises RuntimeError if already merged.
        """
        if self.merged:
            raise RuntimeError(f"{type(self).__name__}.merge: already merged (double merge)")
        w, b = self.base_layer.weight, self.base_layer.bias
        g = self.row_scale()
        g = None if g is None else g.detach().float().clone()
        state: dict[str, Any] = {"g": g}
        if keep_base:
            state["weight"] = w.detach().clone()
            state["bias"] = None if b is None else b.detach().clone()
        new_w = self._effective_weight32(g)
        new_b = self._effective_bias32()
        w.copy_(new_w.to(w.dtype))
        if b is not None and new_b is not None:
            b.copy_(new_b.to(b.dtype))
        state["versions"] = self._versions()
        self._merge_state = state
        self.merged = True

    def check_unmerge(self) -> None:
        """Raise RuntimeError if :meth:`unmerge` cannot restore ``W0`` (does nothing else)."""
        if not self.merged or self._merge_state is None:
            raise RuntimeError(f"{type(self).__name__}.unmerge: the layer is not merged")
        st = self._merge_state
        if self._versions() != st["versions"]:
            raise RuntimeError(
                f"{type(self).__name__}.unmerge: adapter parameters changed while merged "
                "(e.g. an optimiser step), so W0 cannot be recovered; reload the base weights"
            )
        if "weight" in st:
            return
        for name, v in (("alpha", self.alpha), ("g (DoRA m/‖·‖)", st["g"])):
            if v is not None:
                smallest = float(v.detach().abs().min())
                if not smallest >= UNMERGE_MIN_ABS:
                    raise RuntimeError(
                        f"{type(self).__name__}.unmerge: min |{name}| = {smallest:.3g} < "
                        f"{UNMERGE_MIN_ABS:g}; W0 = (W'/g − ΔW)/alpha would be unreliable. "
                        "Merge with keep_base=True to unmerge exactly, or reload the base weights"
                    )

    @torch.no_grad()
    def unmerge(self) -> None:
        """Restore ``W0 = diag(1/alpha)(diag(1/g) W' − ΔW)`` and ``b = b'/alpha`` (with the
        ``g`` cached at merge time), or the kept copy. Raises RuntimeError where impossible:
        not merged, adapter tensors changed since the merge, or tiny ``alpha``/``g`` entries."""
        self.check_unmerge()
        st = self._merge_state
        assert st is not None
        w, b = self.base_layer.weight, self.base_layer.bias
        if "weight" in st:
            w.copy_(st["weight"])
            if b is not None:
                b.copy_(st["bias"])
        else:
            w32 = w.detach().float()
            if st["g"] is not None:
                w32 = w32 / st["g"][:, None]
            w32 = w32 - self.lowrank_weight()
            a = None if self.alpha is None else self.alpha.detach().float()
            if a is not None:
                w32 /= a[:, None]
            w.copy_(w32.to(w.dtype))
            if b is not None and a is not None and self.scale_bias:
                b.copy_((b.detach().float() / a).to(b.dtype))
        self._merge_state = None
        self.merged = False

    # ------------------------------------------------------------------ parameters / state
    def trainable_parameters(self) -> list[nn.Parameter]:
        """The adapter parameters (``adapter_param_names``) followed by alpha if present."""
        params = [getattr(self, n) for n in self.adapter_param_names]
        if self.alpha is not None:
            params.append(self.alpha)
        return params

    def adapter_parameters(self) -> list[nn.Parameter]:
        """The adapter parameters without alpha (low-rank factors, DoRA magnitude, ...)."""
        return [getattr(self, n) for n in self.adapter_param_names]

    @torch.no_grad()
    def set_alpha(self, values: torch.Tensor | Iterable[float]) -> None:
        """Copy ``values`` (length ``out_features``) into alpha."""
        if self.alpha is None:
            raise ValueError(f"alpha: this {self.kind!r} layer has no alpha (use_alpha=False)")
        v = torch.as_tensor(values if torch.is_tensor(values) else list(values))
        if v.shape != self.alpha.shape:
            raise ValueError(
                f"alpha: expected shape ({self.out_features},) (= out_features), "
                f"got {tuple(v.shape)}"
            )
        self.alpha.copy_(v)

    def state_tensors(self, include_alpha: bool = True) -> dict[str, torch.Tensor]:
        """Local name -> tensor of what ``save_adapter`` writes for this layer."""
        out = {n: getattr(self, n) for n in self.adapter_param_names}
        if include_alpha and self.alpha is not None:
            out["alpha"] = self.alpha
        for n in self.saved_buffer_names:
            out[n] = getattr(self, n)
        return out

    @torch.no_grad()
    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Copy (already validated) tensors from :meth:`state_tensors` names into the layer."""
        self._require_unmerged("load_state_tensors")
        for n, t in tensors.items():
            getattr(self, n).copy_(t)

    def to_peft_state_dict(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors in PEFT 0.21's on-disk layout, keys ``{prefix}.lora_A.weight`` etc.
        (``prefix`` = ``base_model.model.<module path>``). Raises ValueError for alpha layers
        (PEFT cannot express alpha) and for kinds without a PEFT equivalent."""
        if self.alpha is not None:
            raise ValueError(
                f"method 'alpha_{self.kind}' cannot be exported in PEFT layout: PEFT has no "
                "per-row alpha on the frozen weight. Use save_adapter, or merge the model"
            )
        self._require_unmerged("to_peft_state_dict")
        return {k: v.detach().contiguous().clone() for k, v in self._peft_tensors(prefix).items()}

    def extra_repr(self) -> str:
        a = f", alpha(shared from {self.alpha_shared_from})" if self.alpha_shared_from else ""
        return (
            f"kind={self.kind}, in={self.in_features}, out={self.out_features}, r={self.r}, "
            f"scaling={self.scaling:g}, use_alpha={self.use_alpha}, scale_bias={self.scale_bias}"
            f"{a}, merged={self.merged}"
        )
