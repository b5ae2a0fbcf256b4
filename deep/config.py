"""Adapter configuration: one frozen, validated dataclass (docs/adapters.md §0–§4).

``AdapterConfig`` says *what* to inject; :func:`deep.inject` does it. Every field is checked in
``__post_init__``; a bad value raises ``ValueError`` naming the field, the value and what is
allowed. Checks that need the model (``rank`` against ``min(in_features, out_features)``,
target names, ``share_alpha`` dimensions) run in :func:`deep.inject` before the model is touched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["AdapterConfig", "ALL_LINEAR", "INITS"]

#: ``target_modules="all-linear"``: every ``nn.Linear`` except the task head and ``lm_head``.
ALL_LINEAR = "all-linear"

#: Initialisations of the low-rank factors (``B = 0`` except for OLoRA):
#: ``"kaiming"``: ``A`` Kaiming-uniform with ``a = √5`` (PEFT's default, bound ``1/√in``);
#: ``"gaussian"``: ``A ~ N(0, 1/r)``, i.e. std ``1/√r`` (official alpha-LoRA code);
#: ``"olora"``: thin QR of ``W0`` (only for the OLoRA methods, where it is the default).
INITS = ("kaiming", "gaussian", "olora")


def _fail(field: str, value: Any, allowed: str) -> None:
    raise ValueError(f"AdapterConfig.{field}={value!r} is invalid; allowed: {allowed}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class AdapterConfig:
    """What to inject into a model.

    Effective layer (docs/adapters.md, shapes ``W0: out×in``, ``A: r×in``, ``B: out×r``,
    ``alpha, m: out``)::

        y = g ⊙ (alpha ⊙ x W0ᵀ + s · dropout(x) Aᵀ Bᵀ) + b_alpha

    with ``g = 1`` (LoRA, OLoRA) or ``g = m / ‖alpha ⊙ W0 + s·BA‖_row`` (DoRA, norm detached),
    ``alpha = 1`` and absent for the methods without the ``alpha_`` prefix, and
    ``b_alpha = alpha ⊙ b`` when ``scale_bias`` else ``b``.

    Attributes
    ----------
    method : str
        ``"lora"``, ``"dora"``, ``"olora"`` or the same with the ``alpha_`` prefix
        (``"alpha_lora"`` = alpha-LoRA, the project's central method; ``"alpha_dora"``,
        ``"alpha_olora"``: the trainable per-output-row alpha on top of that adapter). Any kind
        registered in :data:`deep.layers.REGISTRY` is accepted, with or without the prefix.
    rank : int
        ``r >= 1``; checked against ``min(in_features, out_features)`` of every target at
        injection.
    lora_alpha : float or None
        Numerator of the scaling ``s = lora_alpha / r`` (``lora_alpha / √r`` with
        ``use_rslora``). ``None`` (default) means ``lora_alpha = r``, i.e. ``s = 1`` as in the
        official alpha-LoRA code (PEFT's default ``lora_alpha = 8`` with ``r = 8`` is the same).
    use_rslora : bool
        Use ``s = lora_alpha / √r``.
    dropout : float
        Dropout probability on the adapter input only (never on the frozen branch), in [0, 1).
    target_modules : tuple of str, "all-linear" or None
        Names of the ``nn.Linear`` modules to adapt, matched exactly or as a dotted suffix
        (``"query"`` matches ``...attention.self.query``; ``"attention.output.dense"`` matches
        only that ``dense``). ``None``: the default of the model type
        (``query, value`` for roberta/bert, ``q_proj, v_proj`` for llama). ``"all-linear"``:
        every linear layer except the task head and ``lm_head``. A list is stored as a tuple.
    share_alpha : bool
        ``False`` (default): one alpha vector per adapted layer (paper). ``True``: adapted
        layers with the same parent module (one attention block: ``query`` and ``value`` of
        ``layer.i.attention.self``; ``q_proj`` and ``v_proj`` of ``layers.i.self_attn``) share
        ONE alpha parameter, which requires equal ``out_features`` inside the block (LLaMA
        with grouped-query attention has ``v_proj`` narrower than ``q_proj`` and is refused).
        Halves the alpha parameters for q/v targets. Only meaningful with an ``alpha_`` method.
    scale_bias : bool
        ``True`` (default, official alpha-LoRA code): alpha scales the whole frozen output,
        ``alpha ⊙ (x W0ᵀ + b)``. ``False``: ``alpha ⊙ (x W0ᵀ) + b``.
    alpha_init : float
        Initial value of every alpha entry (default ``1``: the adapted model starts equal to
        the base model). Must be finite and nonzero.
    init : str or None
        Initialisation of the factors, one of :data:`INITS`; ``None`` picks the method's
        default: ``"gaussian"`` for alpha methods (official alpha-LoRA), ``"kaiming"`` for
        ``lora``/``dora`` (PEFT), ``"olora"`` for the OLoRA methods (which accept nothing else).
    train_head : bool
        Keep the task head (``classifier`` for bert/roberta, ``score`` for llama) fully
        trainable, as in the paper. Causal LMs have no such head.
    seed : int
        Seed of the ``torch.Generator`` used for the initialisation when :func:`deep.inject`
        gets no generator (no global RNG is touched either way).
    target_rank : int or None
        Rank-allocating SVD kinds only (``adalora``, ``lora2``): the average rank per layer at
        the end of the budget schedule (``rank`` is the initial rank ``r_0``), in
        ``[1, rank]``. ``None``: ``max(1, ⌊2·rank/3⌋)`` (PEFT's AdaLoRA default ratio 12 -> 8).
    inner_rank : int or None
        ``lora2`` only: the inner rank ``k`` of the two small LoRAs (``None``: ``k = rank``; the
        official scripts use ``k = r = 8``).
    max_rank : int or None
        ``alora`` only: rank slots per layer available to reallocation, in
        ``[rank, min(in, out)]``; ``None``: ``min(2·rank, in, out)``.
    """

    method: str = "alpha_lora"
    rank: int = 8
    lora_alpha: float | None = None
    use_rslora: bool = False
    dropout: float = 0.0
    target_modules: tuple[str, ...] | str | None = None
    share_alpha: bool = False
    scale_bias: bool = True
    alpha_init: float = 1.0
    init: str | None = None
    train_head: bool = True
    seed: int = 0
    target_rank: int | None = None
    inner_rank: int | None = None
    max_rank: int | None = None

    def __post_init__(self) -> None:
        from .layers import ALORA_NOTE, method_names, resolve_method

        if not isinstance(self.method, str) or self.method not in method_names(aliases=True):
            _fail("method", self.method, f"one of {method_names(aliases=True)} ({ALORA_NOTE})")
        if not _is_int(self.rank) or self.rank < 1:
            _fail("rank", self.rank, "an integer >= 1 (and <= min(in_features, out_features))")
        if self.lora_alpha is not None and (not _is_real(self.lora_alpha) or self.lora_alpha <= 0):
            _fail("lora_alpha", self.lora_alpha, "None (= rank) or a finite number > 0")
        for name in ("use_rslora", "share_alpha", "scale_bias", "train_head"):
            if not isinstance(getattr(self, name), bool):
                _fail(name, getattr(self, name), "True or False")
        if not _is_real(self.dropout) or not 0.0 <= self.dropout < 1.0:
            _fail("dropout", self.dropout, "a number in [0, 1)")
        if not _is_real(self.alpha_init) or self.alpha_init == 0:
            _fail("alpha_init", self.alpha_init, "a finite nonzero number (default 1.0)")
        if not _is_int(self.seed):
            _fail("seed", self.seed, "an integer")
        targets = self.target_modules
        if isinstance(targets, list | tuple):
            ok = all(isinstance(t, str) and t and t.strip(".") == t for t in targets)
            if not targets or not ok:
                _fail("target_modules", targets,
                      "None, 'all-linear' or a non-empty list of module names / dotted suffixes")
            object.__setattr__(self, "target_modules", tuple(dict.fromkeys(targets)))
        elif targets is not None and targets != ALL_LINEAR:
            _fail("target_modules", targets,
                  "None, 'all-linear' or a non-empty list of module names / dotted suffixes")
        cls, use_alpha = resolve_method(self.method)
        olora = cls.init_kind == "olora"
        if self.init is not None:
            if self.init not in INITS:
                _fail("init", self.init, f"None or one of {INITS}")
            if olora != (self.init == "olora"):
                allowed = "None or 'olora'" if olora else "None, 'kaiming' or 'gaussian'"
                _fail("init", self.init, f"{allowed} for method {self.method!r}")
        for name, kinds in (("target_rank", ("adalora", "lora2")), ("inner_rank", ("lora2",)),
                            ("max_rank", ("alora",))):
            v = getattr(self, name)
            if v is None:
                continue
            if cls.kind not in kinds:
                _fail(name, v, f"None for method {self.method!r} (used only by {kinds})")
            if not _is_int(v) or v < 1:
                _fail(name, v, "None or an integer >= 1")
        if self.target_rank is not None and self.target_rank > self.rank:
            _fail("target_rank", self.target_rank, f"None or an integer in [1, rank={self.rank}]")
        if self.max_rank is not None and self.max_rank < self.rank:
            _fail("max_rank", self.max_rank,
                  f"None or an integer >= rank={self.rank} (and <= min(in, out))")
        if self.share_alpha and not use_alpha:
            _fail("share_alpha", self.share_alpha,
                  f"False for method {self.method!r} (it has no alpha; use an 'alpha_' method)")

    # ---------------------------------------------------------------- derived values
    @property
    def kind(self) -> str:
        """Registry key of the layer class (``method`` without the ``alpha_`` prefix)."""
        from .layers import resolve_method

        return resolve_method(self.method)[0].kind

    @property
    def use_alpha(self) -> bool:
        """Whether the method carries the trainable alpha vector."""
        from .layers import resolve_method

        return resolve_method(self.method)[1]

    @property
    def effective_lora_alpha(self) -> float:
        return float(self.rank if self.lora_alpha is None else self.lora_alpha)

    @property
    def scaling(self) -> float:
        """``s = lora_alpha / r`` (or ``/ √r`` with ``use_rslora``)."""
        denom = math.sqrt(self.rank) if self.use_rslora else self.rank
        return self.effective_lora_alpha / denom

    @property
    def effective_init(self) -> str:
        if self.init is not None:
            return self.init
        from .layers import resolve_method

        cls, use_alpha = resolve_method(self.method)
        return cls.default_init(use_alpha)  # olora / gaussian (alpha, adalora, lora2) / kaiming

    # ---------------------------------------------------------------- (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if isinstance(d["target_modules"], tuple):
            d["target_modules"] = list(d["target_modules"])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AdapterConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"AdapterConfig: unknown field(s) {unknown}; allowed: {sorted(known)}")
        return cls(**dict(d))

    def replace(self, **changes: Any) -> AdapterConfig:
        d = self.to_dict()
        d.update(changes)
        return AdapterConfig.from_dict(d)
