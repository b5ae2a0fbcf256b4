"""alpha-LoRA inside PEFT: :class:`AlphaLoraConfig`, a LoRA variant (docs/adapters.md §2).

::

    from peft import get_peft_model, PeftModel
    from deep.peft import AlphaLoraConfig

    model = get_peft_model(model, AlphaLoraConfig(r=8, target_modules=["query", "value"]))
    model.save_pretrained("out")                       # adapter_model.safetensors, alpha included
    model = PeftModel.from_pretrained(base, "out", config=AlphaLoraConfig.from_pretrained("out"))

How it joins PEFT (0.21): PEFT's extension point for LoRA-family methods is the *LoRA variant*
(``peft.tuners.lora.variants``; DoRA is one). alpha-LoRA is a variant too: each wrapped layer
gets one extra parameter, ``lora_row_alpha`` (length ``out_features``, one entry per output row,
initialised to ``alpha_init``), and computes

    y = alpha ⊙ (W0 x + b) + s · B A dropout(x)        (scale_bias=True, the default)
    y = alpha ⊙ (W0 x) + b + s · B A dropout(x)        (scale_bias=False)

where ``W0 x + b`` is whatever the base layer returns, so any base layer implementation
(quantized ones included) composes with it. ``use_dora=True`` gives alpha-DoRA, as
``deep``'s ``alpha_dora``: ``y = (m / n) ⊙ (alpha ⊙ W0 x + s · B A dropout(x)) + b_alpha`` with
``n = ‖diag(alpha) W0 + s·B A‖_row`` detached and ``m`` (``lora_row_magnitude``) initialised
to ``n``. Merging writes ``diag(alpha) W0 + s·B A`` (times ``m/n`` for DoRA) and ``alpha ⊙ b``
(when ``scale_bias``), computed in float32 and cast back. The merge keeps a copy of the original
``W0`` and ``b`` of each merged layer (in the layer's PEFT cache, not in the state dict), so that
unmerging restores them **bitwise** for any alpha (inverting ``(W' − s·BA)/alpha`` loses
``eps·|s·BA|/|alpha|`` per entry: 1e-6 already at ``alpha = 0.03``); ``merge_and_unload``
drops the copy with the wrapper.

Quantized bases (bitsandbytes ``Linear4bit``, torchao tensor-subclass weights, ...): the forward
composes with them unchanged (``result`` is the quantized layer's own output; PEFT's bnb layers
are hooked too, see :func:`_patch_layer_classes`). Merging is refused with
:class:`QuantizedMergeError`: writing ``diag(alpha) W0 + s·BA`` into 4-/8-bit weights re-rounds
``W0``, so neither the merged model nor the unmerged one would equal what was trained.

The method is PEFT's ``LORA`` type (``peft_type`` stays ``"LORA"``): ``register_peft_method``
only accepts names that are members of PEFT's closed ``PeftType`` enum, so a new type cannot be
registered without a fork. Consequence: a saved ``adapter_config.json`` read by plain
``PeftModel.from_pretrained(base, path)`` becomes a plain ``LoraConfig`` (PEFT drops the
unknown ``use_alpha`` with a warning) — pass ``config=AlphaLoraConfig.from_pretrained(path)``,
or use :func:`from_pretrained` here, which does it.

The parameter names contain ``alpha`` and ``lora_`` so that PEFT saves and marks them as
adapter weights and :class:`deep.hf.AlphaCallback` finds them (:func:`alpha_parameters`).

Not supported here (clear errors): ``share_alpha=True``; combining alpha with another PEFT
variant (VeLoRA, arrow, BD-LoRA, ...); embedding / convolution targets.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from peft import LoraConfig, PeftModel
from peft.tuners.lora import layer as _lora_layer
from peft.tuners.lora.layer import LoraLayer, LoraVariant
from peft.utils.integrations import dequantize_module_weight
from torch import nn

__all__ = [
    "AlphaLoraConfig",
    "QuantizedMergeError",
    "AlphaLinearVariant",
    "AlphaDoraLinearVariant",
    "alpha_parameters",
    "named_alpha_parameters",
    "from_pretrained",
    "ALPHA_NAME",
    "MAGNITUDE_NAME",
]

#: attribute (a ``ParameterDict`` keyed by adapter name) holding alpha on each wrapped layer
ALPHA_NAME = "lora_row_alpha"
#: attribute holding alpha-DoRA's magnitude ``m``
MAGNITUDE_NAME = "lora_row_magnitude"
_SCALE_BIAS = "_row_alpha_scale_bias"  # dict adapter name -> bool, on each wrapped layer


class QuantizedMergeError(RuntimeError):
    """Merging alpha into a quantized base layer (not exact: the weight would be re-rounded)."""


@dataclass
class AlphaLoraConfig(LoraConfig):
    """Every :class:`peft.LoraConfig` option plus alpha's (as :class:`deep.AdapterConfig`).

    Parameters beyond LoRA's
    ------------------------
    use_alpha : bool
        The variant flag (default True; False gives plain LoRA / DoRA).
    alpha_init : float
        Initial value of every alpha entry (finite, nonzero; default 1: the layer equals its
        base at init).
    scale_bias : bool
        ``b_alpha = alpha ⊙ b`` (default, official alpha-LoRA code) or ``b``.
    share_alpha : bool
        Only False on the PEFT route (use :func:`deep.inject` for shared alpha).
    """

    use_alpha: bool = field(default=True, metadata={
        "help": "alpha-LoRA: a learnable scale per output row of the frozen base output",
        "is_lora_variant": True})
    alpha_init: float = field(default=1.0, metadata={"help": "initial value of alpha"})
    scale_bias: bool = field(default=True, metadata={"help": "alpha also scales the bias"})
    share_alpha: bool = field(default=False, metadata={"help": "not supported on this route"})

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("use_alpha", "scale_bias", "share_alpha"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name}={getattr(self, name)!r} is invalid; allowed: True, False")
        a = self.alpha_init
        if isinstance(a, bool) or not isinstance(a, int | float) or not math.isfinite(a) or a == 0:
            raise ValueError(f"alpha_init={a!r} is invalid; allowed: a finite nonzero number")
        self.alpha_init = float(a)
        if self.share_alpha:
            raise ValueError("share_alpha=True is not supported by AlphaLoraConfig (PEFT builds "
                             "each layer separately); allowed: share_alpha=False, or use "
                             "deep.inject(model, AdapterConfig(method='alpha_lora', "
                             "share_alpha=True))")
        if self.use_alpha:
            others = [f.name for f in dataclasses.fields(LoraConfig)
                      if f.metadata.get("is_lora_variant") and f.name != "use_dora"
                      and bool(getattr(self, f.name))]
            init = self.init_lora_weights
            variants = dataclasses.fields(LoraConfig)
            init_variants: list[Any] = next((f.metadata.get("lora_variants", []) for f in variants
                                  if f.name == "init_lora_weights"), [])
            if init in init_variants:
                others.append(f"init_lora_weights={init!r}")
            if others:
                raise ValueError(f"AlphaLoraConfig: alpha cannot be combined with the PEFT "
                                 f"variant(s) {others}; allowed: alpha alone or with use_dora")

    @classmethod
    def from_peft_type(cls, **kwargs: Any) -> AlphaLoraConfig:
        """Build from saved keys (``adapter_config.json``) as THIS class (PEFT's own lookup
        would give a plain ``LoraConfig`` for ``peft_type="LORA"``)."""
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise ValueError(f"AlphaLoraConfig: unknown saved option(s) {unknown}")
        kwargs.pop("peft_type", None)
        return cls(**kwargs)


# ---------------------------------------------------------------------------- helpers
def _base(module: LoraLayer) -> nn.Module:
    return module.get_base_layer()


def _base_bias(module: LoraLayer) -> torch.Tensor | None:
    b = getattr(_base(module), "bias", None)
    return b if isinstance(b, torch.Tensor) else None


def _w0(module: LoraLayer) -> torch.Tensor:
    """The frozen weight ``out×in`` in float32 (dequantized if the base is quantized)."""
    w = dequantize_module_weight(_base(module)).detach()
    if getattr(module, "fan_in_fan_out", False):
        w = w.t()
    return w.float()


def is_quantized_weight(w: Any) -> bool:
    """True for a weight that is not a plain floating tensor (bitsandbytes ``Params4bit`` /
    ``Int8Params`` hold integer codes; torchao weights are tensor subclasses)."""
    if not isinstance(w, torch.Tensor):
        return True
    return type(w) not in (torch.Tensor, nn.Parameter) or not w.dtype.is_floating_point


def _refuse_quantized_merge(module: LoraLayer, what: str) -> None:
    w = getattr(_base(module), "weight", None)
    if is_quantized_weight(w):
        raise QuantizedMergeError(
            f"AlphaLoraConfig: cannot {what} alpha into the quantized base layer "
            f"{type(_base(module)).__name__} (weight {type(w).__name__}, dtype "
            f"{getattr(w, 'dtype', None)}): diag(alpha) W0 + s·BA would be re-quantized, so the "
            "result is not the trained model. Keep the adapter unmerged, or load the base in "
            "float32/bfloat16 and merge there")


def _keep_base(module: LoraLayer, adapter: str) -> None:
    """Store copies of ``W0`` and ``b`` for an exact unmerge (PEFT's per-layer cache)."""
    w = cast(torch.Tensor, _base(module).weight)
    b = _base_bias(module)
    cast(Any, module)._cache_store(f"{adapter}-alpha-base", (
        w.detach().clone(), None if b is None else b.detach().clone()))


def _restore_base(module: LoraLayer, adapter: str) -> torch.Tensor:
    """Put the kept ``b`` back; return the kept ``W0`` (PEFT writes it into the weight)."""
    w, b = cast(Any, module)._cache_pop(f"{adapter}-alpha-base")
    cur = _base_bias(module)
    if cur is not None and b is not None:
        cur.data = b
    return cast(torch.Tensor, w)


def _factor(module: LoraLayer, which: str, adapter: str) -> nn.Linear:
    """``module.lora_A[adapter]`` / ``lora_B`` (PEFT keeps them in ``nn.ModuleDict`` s)."""
    return cast(nn.Linear, cast(nn.ModuleDict, getattr(module, which))[adapter])


def _delta32(module: LoraLayer, adapter: str) -> torch.Tensor:
    a = _factor(module, "lora_A", adapter).weight.detach().float()
    b = _factor(module, "lora_B", adapter).weight.detach().float()
    return (b @ a) * float(module.scaling[adapter])


def _lowrank(module: LoraLayer, adapter: str, x: torch.Tensor) -> torch.Tensor:
    lora_A, lora_B = _factor(module, "lora_A", adapter), _factor(module, "lora_B", adapter)
    dropout = cast(nn.ModuleDict, module.lora_dropout)[adapter]
    return lora_B(lora_A(dropout(x))) * module.scaling[adapter]


def _check_linear(module: LoraLayer) -> None:
    if isinstance(module, _lora_layer.Embedding | _lora_layer._ConvNd
                  | _lora_layer.MultiheadAttention):
        raise ValueError(f"AlphaLoraConfig: target of type {type(module).__name__} is not "
                         "supported; allowed: linear layers (nn.Linear or a quantized linear)")


def _init_alpha(module: LoraLayer, adapter: str, config: Any) -> None:
    _check_linear(module)
    if not hasattr(module, ALPHA_NAME):
        setattr(module, ALPHA_NAME, nn.ParameterDict())
        setattr(module, _SCALE_BIAS, {})
    if ALPHA_NAME not in module.adapter_layer_names:
        module.adapter_layer_names = tuple(module.adapter_layer_names) + (ALPHA_NAME,)
    ref = _factor(module, "lora_A", adapter).weight
    out = _factor(module, "lora_B", adapter).weight.shape[0]
    getattr(module, ALPHA_NAME)[adapter] = nn.Parameter(
        torch.full((out,), float(config.alpha_init), dtype=ref.dtype, device=ref.device))
    getattr(module, _SCALE_BIAS)[adapter] = bool(config.scale_bias)


def _alpha(module: LoraLayer, adapter: str) -> torch.Tensor:
    return getattr(module, ALPHA_NAME)[adapter]


def _scale_bias(module: LoraLayer, adapter: str) -> bool:
    return bool(getattr(module, _SCALE_BIAS)[adapter])


def _alpha_bias(module: LoraLayer, adapter: str) -> torch.Tensor | None:
    """``b_alpha`` in float32 or None."""
    b = _base_bias(module)
    if b is None:
        return None
    a = _alpha(module, adapter).detach().float()
    return b.detach().float() * a if _scale_bias(module, adapter) else b.detach().float()


def _write_bias(module: LoraLayer, value: torch.Tensor | None) -> None:
    b = _base_bias(module)
    if b is not None and value is not None:
        b.data = value.to(b.dtype)


def _scaled_base(module: LoraLayer, adapter: str, result: torch.Tensor) -> torch.Tensor:
    """``alpha ⊙ (W0 x + b)`` or ``alpha ⊙ (W0 x) + b`` from the base output ``result``."""
    a = _alpha(module, adapter)
    b = _base_bias(module)
    if b is None or _scale_bias(module, adapter):
        return result * a
    return (result - b) * a + b


# ---------------------------------------------------------------------------- variants
class AlphaLinearVariant(LoraVariant):
    """alpha-LoRA as a PEFT LoRA variant (see the module docstring)."""

    def supports_lora_conversion(self) -> bool:
        return False

    @staticmethod
    def init(module: LoraLayer, adapter_name: str, **kwargs: Any) -> None:
        _init_alpha(module, adapter_name, kwargs["config"])

    @staticmethod
    def _merged(module: LoraLayer, adapter: str) -> torch.Tensor:
        a = _alpha(module, adapter).detach().float()
        return _w0(module) * a[:, None] + _delta32(module, adapter)

    @staticmethod
    def _merged_weight(module: LoraLayer, adapter: str) -> torch.Tensor:
        """The merged weight ``diag(alpha) W0 + s·BA`` (float32, out×in)."""
        return AlphaLinearVariant._merged(module, adapter)

    @classmethod
    def merge_safe(cls, module: LoraLayer, active_adapter: str,
                   orig_weight: torch.Tensor) -> torch.Tensor:
        _refuse_quantized_merge(module, "merge")
        new = _orient(module, cls._merged_weight(module, active_adapter)).to(orig_weight.dtype)
        if not torch.isfinite(new).all():
            raise ValueError(f"NaNs detected in the merged weights of adapter {active_adapter!r}")
        _keep_base(module, active_adapter)
        _write_bias(module, _alpha_bias(module, active_adapter))
        return new

    @classmethod
    def merge_unsafe(cls, module: LoraLayer, active_adapter: str,
                     orig_weight: torch.Tensor) -> None:
        orig_weight.data = cls.merge_safe(module, active_adapter, orig_weight)

    @staticmethod
    def unmerge(module: LoraLayer, active_adapter: str, orig_weight: torch.Tensor) -> torch.Tensor:
        _refuse_quantized_merge(module, "unmerge")
        return _restore_base(module, active_adapter).to(orig_weight.dtype)

    @staticmethod
    def forward(module: LoraLayer, active_adapter: str, x: torch.Tensor, result: torch.Tensor,
                **kwargs: Any) -> torch.Tensor:
        return _scaled_base(module, active_adapter, result) + _lowrank(module, active_adapter, x)


class AlphaDoraLinearVariant(AlphaLinearVariant):
    """alpha-DoRA (``use_alpha`` and ``use_dora``), as ``deep``'s ``alpha_dora``."""

    @staticmethod
    def init(module: LoraLayer, adapter_name: str, **kwargs: Any) -> None:
        _init_alpha(module, adapter_name, kwargs["config"])
        if not hasattr(module, MAGNITUDE_NAME):
            setattr(module, MAGNITUDE_NAME, nn.ParameterDict())
        if MAGNITUDE_NAME not in module.adapter_layer_names:
            module.adapter_layer_names = tuple(module.adapter_layer_names) + (MAGNITUDE_NAME,)
        n = AlphaDoraLinearVariant._norm(module, adapter_name)
        ref = _factor(module, "lora_A", adapter_name).weight
        getattr(module, MAGNITUDE_NAME)[adapter_name] = nn.Parameter(n.to(ref.dtype))

    @staticmethod
    @torch.no_grad()
    def _norm(module: LoraLayer, adapter: str) -> torch.Tensor:
        """``n = ‖diag(alpha) W0 + s·B A‖_row`` (float32, detached)."""
        w = AlphaLinearVariant._merged(module, adapter)
        return torch.linalg.vector_norm(w, dim=1)

    @staticmethod
    def _g(module: LoraLayer, adapter: str) -> torch.Tensor:
        m = getattr(module, MAGNITUDE_NAME)[adapter]
        n = AlphaDoraLinearVariant._norm(module, adapter).clamp_min(1e-12).to(m.dtype)
        return m / n

    @staticmethod
    def _merged_weight(module: LoraLayer, adapter: str) -> torch.Tensor:
        """``(m/n) ⊙ (diag(alpha) W0 + s·BA)`` (float32, out×in)."""
        g = AlphaDoraLinearVariant._g(module, adapter).detach().float()
        return AlphaLinearVariant._merged(module, adapter) * g[:, None]

    @staticmethod
    def forward(module: LoraLayer, active_adapter: str, x: torch.Tensor, result: torch.Tensor,
                **kwargs: Any) -> torch.Tensor:
        g = AlphaDoraLinearVariant._g(module, active_adapter)
        a = _alpha(module, active_adapter)
        b = _base_bias(module)
        xw = result if b is None else result - b
        y = (xw * a + _lowrank(module, active_adapter, x)) * g
        if b is None:
            return y
        return y + (b * a if _scale_bias(module, active_adapter) else b)


def _orient(module: LoraLayer, w: torch.Tensor) -> torch.Tensor:
    return w.t() if getattr(module, "fan_in_fan_out", False) else w


# ---------------------------------------------------------------------------- hook into PEFT
_ORIGINAL_RESOLVE = LoraLayer.resolve_lora_variant
#: PEFT layer classes with their own ``resolve_lora_variant`` whose forward calls the variant
#: (``peft.tuners.lora.bnb``); alpha on any other such class (GPTQ, HQQ, ...) is refused.
_OWN_RESOLVE_SUPPORTED = ("Linear8bitLt", "Linear4bit")


def _alpha_variant(config: AlphaLoraConfig) -> LoraVariant:
    return AlphaDoraLinearVariant() if config.use_dora else AlphaLinearVariant()


def _resolve_lora_variant(self: LoraLayer, *, config: Any, **kwargs: Any) -> LoraVariant | None:
    if isinstance(config, AlphaLoraConfig) and config.use_alpha:
        return _alpha_variant(config)
    return _ORIGINAL_RESOLVE(self, config=config, **kwargs)


def _wrap_own_resolve(cls: type) -> None:
    original = cls.__dict__["resolve_lora_variant"]
    if getattr(original, "_alpha_wrapped", False):
        return

    def resolve(self: LoraLayer, *, config: Any, **kwargs: Any) -> LoraVariant | None:
        if isinstance(config, AlphaLoraConfig) and config.use_alpha:
            if cls.__name__ not in _OWN_RESOLVE_SUPPORTED:
                raise ValueError(f"AlphaLoraConfig: PEFT layer {cls.__module__}.{cls.__name__} "
                                 "does not run LoRA variants in its forward; allowed bases: "
                                 "nn.Linear, torchao-quantized nn.Linear, bitsandbytes "
                                 f"{list(_OWN_RESOLVE_SUPPORTED)}")
            return _alpha_variant(config)
        return cast(LoraVariant | None, original(self, config=config, **kwargs))

    resolve._alpha_wrapped = True  # type: ignore[attr-defined]
    resolve.__name__ = "resolve_lora_variant"
    cls.resolve_lora_variant = resolve  # type: ignore[attr-defined]


def _wrap_refuse_merge(cls: type, name: str) -> None:
    """``cls.merge`` / ``unmerge`` raise :class:`QuantizedMergeError` when an alpha variant is
    present (PEFT's torchao layer re-quantizes a plain LoRA merge and never calls the variant,
    so it would silently drop alpha)."""
    original = cls.__dict__[name]
    if getattr(original, "_alpha_wrapped", False):
        return

    def method(self: LoraLayer, *args: Any, **kwargs: Any) -> Any:
        if any(isinstance(v, AlphaLinearVariant) for v in self.lora_variant.values()):
            _refuse_quantized_merge(self, name)
            raise QuantizedMergeError(f"AlphaLoraConfig: {cls.__name__}.{name} of alpha is not "
                                      "supported (the weight is re-quantized)")
        return original(self, *args, **kwargs)

    method._alpha_wrapped = True  # type: ignore[attr-defined]
    method.__name__ = name
    setattr(cls, name, method)


def _subclasses(cls: type) -> list[type]:
    out: list[type] = []
    todo: list[type] = list(cls.__subclasses__())
    while todo:
        c = todo.pop()
        out.append(c)
        todo.extend(c.__subclasses__())
    return out


def _patch_layer_classes() -> None:
    """Route every PEFT LoRA layer class to the alpha variants: the base ``LoraLayer``, and the
    subclasses that override ``resolve_lora_variant`` (bitsandbytes' ``Linear4bit`` /
    ``Linear8bitLt``, imported here when bitsandbytes is installed, since PEFT imports them only
    when it dispatches); PEFT's torchao layer refuses to merge alpha."""
    if getattr(LoraLayer.resolve_lora_variant, "__name__", "") != "_resolve_lora_variant":
        LoraLayer.resolve_lora_variant = _resolve_lora_variant  # type: ignore[method-assign]
    from peft.import_utils import is_bnb_4bit_available, is_bnb_available

    if is_bnb_available() or is_bnb_4bit_available():
        try:
            import peft.tuners.lora.bnb  # noqa: F401
        except ImportError:  # a broken bitsandbytes install: PEFT cannot dispatch to it either
            pass
    for c in _subclasses(LoraLayer):
        if "resolve_lora_variant" in vars(c):
            _wrap_own_resolve(c)
    try:
        from peft.tuners.lora.torchao import TorchaoLoraLinear
    except ImportError:
        return
    for name in ("merge", "unmerge"):
        _wrap_refuse_merge(TorchaoLoraLinear, name)


_patch_layer_classes()


# ---------------------------------------------------------------------------- public helpers
def named_alpha_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``[(name, alpha)]`` of every PEFT alpha vector (``...lora_row_alpha.<adapter>``)."""
    out = []
    for mname, module in model.named_modules():
        pd = getattr(module, ALPHA_NAME, None)
        if isinstance(module, LoraLayer) and isinstance(pd, nn.ParameterDict):
            for adapter, p in pd.items():
                out.append((f"{mname}.{ALPHA_NAME}.{adapter}", p))
    return out


def alpha_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every PEFT alpha vector of ``model`` (empty list if none)."""
    return [p for _, p in named_alpha_parameters(model)]


def from_pretrained(model: nn.Module, path: str | os.PathLike, **kwargs: Any) -> PeftModel:
    """``PeftModel.from_pretrained`` that reads ``adapter_config.json`` as
    :class:`AlphaLoraConfig` when it holds alpha options (plain LoRA folders load as usual)."""
    cfg_file = os.path.join(os.fspath(path), "adapter_config.json")
    if not os.path.isfile(cfg_file):
        raise FileNotFoundError(f"path={os.fspath(path)!r}: no adapter_config.json there; "
                                "allowed: a folder written by save_pretrained")
    with open(cfg_file, encoding="utf-8") as f:
        keys = json.load(f)
    if "use_alpha" in keys and "config" not in kwargs:
        kwargs["config"] = AlphaLoraConfig.from_pretrained(os.fspath(path))
    return PeftModel.from_pretrained(model, os.fspath(path), **kwargs)
