"""alpha-LoRA / LoRA on a quantized frozen base (QLoRA-style), through :func:`deep.inject`.

alpha multiplies the base layer's **output** rows, ``y = alpha ⊙ (W0 x + b) + s · B A x``, so it
composes with any implementation of ``x -> W0 x + b``: here that is the quantized layer's own
forward. Two quantizers are supported (``pip install "rescalora[deep,quant]"``):

* :func:`quantize_int8` — torchao int8 weight-only (``Int8WeightOnlyConfig``: one int8 code per
  weight, one scale per output row; the module stays an ``nn.Linear`` whose ``weight`` is a
  torchao tensor subclass);
* :func:`quantize_nf4` — bitsandbytes 4-bit NormalFloat (``Linear4bit``, blocks of 64, one
  absmax per block), the QLoRA format; bitsandbytes >= 0.45 has a CPU backend.

Both quantize every ``nn.Linear`` except the task head (``classifier`` / ``score``) and the
output embedding (``lm_head``), which stay in full precision (the head is trained).

The adapter layers of :mod:`deep.layers` read ``base_layer.weight`` and compute ``x W0ᵀ``
themselves, which a packed 4-bit weight cannot do. :func:`inject` therefore wraps each quantized
target in :class:`QuantLinear`, an ``nn.Linear`` whose ``weight`` is a :class:`FrozenQuantWeight`:
a shape-only tensor whose ONLY operation is the frozen product (``F.linear(x, W0)`` and the
``c.addmm_(x, W0.t())`` of the LoRA forward), computed by the quantized layer's own forward.
With ``scale_bias=True`` (the default) or plain LoRA the frozen branch is the full quantized
layer output ``W0 x + b`` and the wrapper shows ``bias=None``, so at initialisation (alpha = 1,
B = 0) the adapted model's output is **bitwise** the quantized model's. With
``scale_bias=False`` the branch is the quantized forward with the bias switched off and the
bias is added by the adapter layer (equal to the quantized model to float rounding).

Anything else needs a dense ``W0`` and raises :class:`QuantizedBaseError` naming the
operation: merging (``diag(alpha) W0 + s·BA`` written back into 4-/8-bit codes would re-round
``W0``: not exact, so it is refused), ``delta_weight`` / ``effective_weight``, and DoRA's row
norms. Supported methods: ``lora`` and ``alpha_lora``.

The PEFT route needs nothing from here beyond the quantizers: ``get_peft_model(quantized,
AlphaLoraConfig(...))`` works with both (see :mod:`deep.peft`; :func:`quantize_nf4` sets the
``is_loaded_in_4bit`` flag PEFT reads to pick its bitsandbytes layer). That route also gives
alpha-DoRA on a quantized base (``use_dora=True``: PEFT dequantizes ``W0`` for the row norms at
each forward), equal to :func:`deep.inject`'s ``alpha_dora`` on the float model holding the
dequantized weights (tests/deep/test_quant.py).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from .config import ALL_LINEAR, AdapterConfig
from .inject import excluded_modules, resolve_targets
from .inject import inject as _inject
from .layers import resolve_method

__all__ = [
    "SUPPORTED_KINDS",
    "QuantizedBaseError",
    "FrozenQuantWeight",
    "QuantLinear",
    "available",
    "is_quantized_linear",
    "quantizable_linear_names",
    "quantize_int8",
    "quantize_nf4",
    "inject",
]

#: adapter kinds (with or without the ``alpha_`` prefix) that run on a quantized base
SUPPORTED_KINDS: tuple[str, ...] = ("lora",)


class QuantizedBaseError(RuntimeError):
    """An operation that needs the dense frozen weight of a quantized layer."""


def available(which: str) -> bool:
    """Is the quantizer ``"int8"`` (torchao) or ``"nf4"`` (bitsandbytes) importable?"""
    name = {"int8": "torchao", "nf4": "bitsandbytes"}.get(which)
    if name is None:
        raise ValueError(f"which={which!r} is invalid; allowed: 'int8', 'nf4'")
    return importlib.util.find_spec(name) is not None


def _require(which: str) -> None:
    if not available(which):
        pkg = {"int8": "torchao", "nf4": "bitsandbytes"}[which]
        raise ImportError(f"quantizer {which!r} needs {pkg}: pip install \"rescalora[quant]\"")


# ---------------------------------------------------------------------------- detection
def is_quantized_linear(module: nn.Module) -> bool:
    """An ``nn.Linear`` whose weight is not a plain floating tensor (bitsandbytes
    ``Linear4bit`` / ``Linear8bitLt``, torchao tensor-subclass weights), or a :class:`QuantLinear`."""
    if isinstance(module, QuantLinear):
        return True
    if not isinstance(module, nn.Linear):
        return False
    w = module._parameters.get("weight")
    if w is None:
        return False
    return type(w) not in (torch.Tensor, nn.Parameter) or not w.dtype.is_floating_point


def quantizable_linear_names(model: nn.Module) -> list[str]:
    """Every plain (not yet quantized) ``nn.Linear`` except the task head and ``lm_head``."""
    excluded = excluded_modules(model)
    return [n for n, m in model.named_modules()
            if isinstance(m, nn.Linear) and id(m) not in excluded and not is_quantized_linear(m)]


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


# ---------------------------------------------------------------------------- quantizers
@torch.no_grad()
def quantize_int8(model: nn.Module) -> nn.Module:
    """torchao int8 weight-only quantization of :func:`quantizable_linear_names`, in place."""
    _require("int8")
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    keep = {id(model.get_submodule(n)) for n in quantizable_linear_names(model)}
    quantize_(model, Int8WeightOnlyConfig(), filter_fn=lambda m, fqn: id(m) in keep)
    for p in model.parameters():
        if is_quantized_weight_tensor(p):
            p.requires_grad_(False)
    return model


@torch.no_grad()
def quantize_nf4(model: nn.Module, compute_dtype: torch.dtype = torch.float32,
                 blocksize: int = 64) -> nn.Module:
    """bitsandbytes NF4 (``Linear4bit``, ``quant_type="nf4"``) of
    :func:`quantizable_linear_names`, in place; biases stay in ``compute_dtype``'s precision.
    Sets ``model.is_loaded_in_4bit = True`` (what PEFT reads to use its bitsandbytes layer)."""
    _require("nf4")
    import bitsandbytes as bnb

    for name in quantizable_linear_names(model):
        lin = cast(nn.Linear, model.get_submodule(name))
        q = bnb.nn.Linear4bit(lin.in_features, lin.out_features, bias=lin.bias is not None,
                              compute_dtype=compute_dtype, quant_type="nf4",
                              device=torch.device("meta"))
        q.weight = bnb.nn.Params4bit(lin.weight.detach().to(compute_dtype).cpu(),
                                     requires_grad=False, quant_type="nf4", blocksize=blocksize)
        if lin.bias is not None:
            q.bias = nn.Parameter(lin.bias.detach().to(compute_dtype).clone(), requires_grad=False)
        q = q.to(lin.weight.device)  # Params4bit quantizes on its first .to()
        q.train(lin.training)
        _set(model, name, q)
    object.__setattr__(model, "is_loaded_in_4bit", True)
    return model


def is_quantized_weight_tensor(w: Any) -> bool:
    return isinstance(w, torch.Tensor) and (
        type(w) not in (torch.Tensor, nn.Parameter) or not w.dtype.is_floating_point)


# ---------------------------------------------------------------------------- the wrapper
class FrozenQuantWeight(torch.Tensor):
    """The ``out×in`` frozen weight of a :class:`QuantLinear`, as a tensor with shape, dtype and
    device but no data. Supported: ``F.linear(x, W)`` (= the quantized product), ``W.t()``,
    ``c.addmm_(x, W.t())`` (= ``c + x W0ᵀ``, in place), ``W.to(<its own dtype/device>)`` and the
    metadata attributes. Any other operation raises :class:`QuantizedBaseError`."""

    _owner: QuantLinear
    _transposed: bool

    @staticmethod
    def __new__(cls, owner: QuantLinear, transposed: bool = False) -> FrozenQuantWeight:
        shape = (owner.out_features, owner.in_features)
        if transposed:
            shape = shape[::-1]
        t = torch.Tensor._make_wrapper_subclass(cls, shape, dtype=owner.compute_dtype,
                                                device=owner.device, requires_grad=False)
        t._owner, t._transposed = owner, transposed
        return cast(FrozenQuantWeight, t)

    def __repr__(self) -> str:  # type: ignore[override]
        t = ".t()" if self._transposed else ""
        return (f"FrozenQuantWeight{t}(shape={tuple(self.shape)}, dtype={self.dtype}, "
                f"of {type(self._owner.quantized).__name__})")

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        if name == "__get__":  # dtype, shape, device, requires_grad, _version, ...
            with torch._C.DisableTorchFunctionSubclass():
                return func(*args, **kwargs)
        if func is F.linear:
            x, w = args[0], args[1]
            bias = args[2] if len(args) > 2 else kwargs.get("bias")
            if isinstance(w, FrozenQuantWeight) and not w._transposed \
                    and not isinstance(x, FrozenQuantWeight):
                y = w._owner.frozen(x)
                return y if bias is None else y + bias
        elif func in (torch.Tensor.t, torch.t) and len(args) == 1:
            w = args[0]
            return FrozenQuantWeight(w._owner, not w._transposed)
        elif func is torch.Tensor.to:
            w = args[0]
            wanted = [a for a in (*args[1:], *kwargs.values())
                      if isinstance(a, torch.dtype | torch.device | str)]
            if all(a == w.dtype or (not isinstance(a, torch.dtype)
                                    and torch.device(a).type == w.device.type) for a in wanted):
                return w
        elif func is torch.Tensor.addmm_ and len(args) == 3 and not kwargs:
            c, x, wt = args
            if isinstance(wt, FrozenQuantWeight) and wt._transposed \
                    and not isinstance(c, FrozenQuantWeight) and not isinstance(x, FrozenQuantWeight):
                return c.add_(wt._owner.frozen(x))
        raise QuantizedBaseError(
            f"{name}: the frozen weight of a quantized layer ({type(args[0]).__name__ if args else ''}"
            f" ... of {cls.__name__}) supports only the forward product x W0ᵀ. Merging, "
            "delta_weight/effective_weight and DoRA's row norms need a dense W0 and are not "
            "available on a quantized base (re-quantizing a merged weight is not exact); keep "
            "the adapter unmerged, or inject into a float copy of the model to merge")

    @classmethod
    def __torch_dispatch__(cls, func: Any, types: Any, args: Any = (),  # type: ignore[override]
                           kwargs: Any = None) -> Any:
        raise QuantizedBaseError(f"{func}: not supported on the frozen weight of a quantized "
                                 "layer (only x W0ᵀ is)")


@contextmanager
def _bias_off(module: nn.Module) -> Iterator[None]:
    bias = module._parameters.get("bias")
    if bias is None:
        yield
        return
    module._parameters["bias"] = None
    try:
        yield
    finally:
        module._parameters["bias"] = bias


class QuantLinear(nn.Linear):
    """A quantized ``nn.Linear`` (submodule ``quantized``) as the base of a :mod:`deep.layers`
    adapter layer: ``weight`` is a :class:`FrozenQuantWeight`; ``bias`` is ``None`` when
    ``include_bias`` (the frozen branch is the full ``W0 x + b``) and the quantized layer's bias
    otherwise (the branch is ``W0 x``). ``forward`` is the quantized layer's forward."""

    def __init__(self, quantized: nn.Linear, include_bias: bool = True) -> None:
        nn.Module.__init__(self)
        if not is_quantized_linear(quantized) or isinstance(quantized, QuantLinear):
            raise TypeError(f"QuantLinear wraps a quantized nn.Linear, got {type(quantized).__name__}")
        self.in_features, self.out_features = quantized.in_features, quantized.out_features
        self.quantized = quantized
        self.include_bias = bool(include_bias)

    @property
    def compute_dtype(self) -> torch.dtype:
        q = self.quantized
        cd = getattr(q, "compute_dtype", None)
        if isinstance(cd, torch.dtype):
            return cd
        w = q._parameters["weight"]
        state = getattr(w, "quant_state", None)
        sd = getattr(state, "dtype", None)
        if isinstance(sd, torch.dtype):
            return sd
        assert w is not None
        return w.dtype if w.dtype.is_floating_point else torch.float32

    @property
    def device(self) -> torch.device:
        w = self.quantized._parameters["weight"]
        assert w is not None
        return w.device

    @property
    def weight(self) -> torch.Tensor:  # type: ignore[override]
        return FrozenQuantWeight(self)

    @property
    def bias(self) -> torch.Tensor | None:  # type: ignore[override]
        return None if self.include_bias else cast(torch.Tensor | None,
                                                   self.quantized._parameters.get("bias"))

    def frozen(self, x: torch.Tensor) -> torch.Tensor:
        """``x W0ᵀ + b`` (``include_bias``) or ``x W0ᵀ`` by the quantized layer itself."""
        if self.include_bias:
            return cast(torch.Tensor, self.quantized(x))
        with _bias_off(self.quantized):
            return cast(torch.Tensor, self.quantized(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.quantized(x))

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"include_bias={self.include_bias}")


# ---------------------------------------------------------------------------- inject
def inject(model: nn.Module, config: AdapterConfig | None = None, *,
           generator: torch.Generator | None = None) -> nn.Module:
    """:func:`deep.inject` for a model with quantized linear layers (:func:`quantize_int8`,
    :func:`quantize_nf4`, or bitsandbytes / torchao models loaded by transformers): each
    quantized target is wrapped in :class:`QuantLinear`, then the adapters are injected as
    usual (plain ``nn.Linear`` targets are adapted as usual too). Only ``lora`` and
    ``alpha_lora`` are allowed; ValueError otherwise. On error the model is unchanged."""
    config = AdapterConfig() if config is None else config
    if not isinstance(config, AdapterConfig):
        raise TypeError(f"config must be an AdapterConfig, got {type(config).__name__}")
    cls, use_alpha = resolve_method(config.method)
    if cls.kind not in SUPPORTED_KINDS:
        allowed = list(SUPPORTED_KINDS) + ["alpha_" + k for k in SUPPORTED_KINDS]
        raise ValueError(f"method={config.method!r} is invalid on a quantized base (it needs a "
                         f"dense W0); allowed: {allowed}")
    names = resolve_targets(model, config)
    include_bias = (not use_alpha) or config.scale_bias
    originals = {n: cast(nn.Linear, model.get_submodule(n)) for n in names}
    wrapped = [n for n, m in originals.items() if is_quantized_linear(m)]
    if config.target_modules == ALL_LINEAR:  # the wrappers' inner layers are nn.Linear too
        config = dataclasses.replace(config, target_modules=tuple(names))
    for n in wrapped:
        _set(model, n, QuantLinear(originals[n], include_bias=include_bias))
    try:
        return _inject(model, config, generator=generator)
    except BaseException:
        for n in wrapped:
            _set(model, n, originals[n])
        raise
