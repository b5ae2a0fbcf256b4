"""Adapter configuration: one frozen, validated dataclass (docs/adapters.md §0–§4).

``AdapterConfig`` says *what* to inject; :func:`deep.inject` does it. Every field is checked in
``__post_init__``; a bad value raises ``ValueError`` naming the field, the value and what is
allowed. Checks that need the model (``rank`` against ``min(in_features, out_features)``,
target names, ``share_alpha`` dimensions) run in :func:`deep.inject` before the model is touched.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

__all__ = ["AdapterConfig", "AllocatorOptions", "TrainConfig", "ALL_LINEAR", "INITS", "FULL"]

#: ``target_modules="all-linear"``: every ``nn.Linear`` except the task head and ``lm_head``.
ALL_LINEAR = "all-linear"

#: Initialisations of the low-rank factors (``B = 0`` except for OLoRA):
#: ``"kaiming"``: ``A`` Kaiming-uniform with ``a = √5`` (PEFT's default, bound ``1/√in``);
#: ``"gaussian"``: ``A ~ N(0, 1/r)``, i.e. std ``1/√r`` (official alpha-LoRA code);
#: ``"olora"``: thin QR of ``W0`` (only for the OLoRA methods, where it is the default).
INITS = ("kaiming", "gaussian", "olora")

#: fields read by some kinds only; a kind lists the ones it reads in its ``options`` class
#: attribute (a set value for a kind that does not read it is an error)
KIND_OPTION_FIELDS = ("target_rank", "inner_rank", "max_rank")


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
        from .layers import ALORA_NOTE, REGISTRY, method_names, resolve_method

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
        for name in KIND_OPTION_FIELDS:  # each kind declares the fields it reads (``options``)
            v = getattr(self, name)
            if v is None:
                continue
            if name not in cls.options:
                users = sorted(k for k, c in REGISTRY.items() if name in c.options)
                _fail(name, v, f"None for method {self.method!r} (used only by {users})")
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


# ============================================================================================
# the run: TrainConfig holds the adapter tree
# ============================================================================================
OPTIMIZERS = ("adamw", "loft")
ALPHA_MODES = ("alternating", "joint")
#: ``adapter="full"`` in the flat spelling (``adapter=None`` in the tree): full fine-tuning, no
#: adapter, every parameter trained (a reference row)
FULL = "full"

#: flat (CLI) spelling of the adapter fields -> :class:`AdapterConfig` field
FLAT_ADAPTER_FIELDS: dict[str, str] = {"adapter": "method", "rank": "rank", "lora_alpha": "lora_alpha",
                                       "lora_dropout": "dropout", "target_modules": "target_modules"}


def _check(cond: bool, field_name: str, value: Any, allowed: str) -> None:
    if not cond:
        raise ValueError(f"{field_name}={value!r} is invalid: allowed {allowed}")


@dataclass(frozen=True)
class AllocatorOptions:
    """Options of :func:`deep.allocation.make_allocator` for a rank-allocating adapter.

    The names a kind accepts are its layer class's ``allocator_options`` (checked when a
    :class:`TrainConfig` is built, so a wrong name fails before any model is loaded); the
    values are checked by ``make_allocator`` against the model. Empty for other kinds.
    """

    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.values, Mapping) or not all(isinstance(k, str) for k in self.values):
            raise ValueError(f"AllocatorOptions.values={self.values!r} is invalid; allowed: a "
                             "mapping from option names to values")
        object.__setattr__(self, "values", dict(self.values))

    def check_for(self, kind_cls: Any, method: str) -> None:
        """``ValueError`` unless every name is one the layer class ``kind_cls`` accepts."""
        allowed = tuple(getattr(kind_cls, "allocator_options", ()))
        unknown = sorted(set(self.values) - set(allowed))
        if unknown:
            what = f"one of {list(allowed)}" if allowed else "none (it allocates no ranks)"
            raise ValueError(f"allocator_options: unknown option(s) {unknown} for adapter "
                             f"{method!r}; allowed: {what}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. Validated at construction.

    The adapter is one :class:`AdapterConfig` (``adapter``; ``None`` = full fine-tuning) and
    the allocator its :class:`AllocatorOptions` (``allocator``): nothing about the adapter is
    declared twice. :meth:`from_flat` builds the tree from the CLI's flat spelling
    (``adapter="alpha_lora", rank=8, lora_dropout=0.1, extra={...}, allocator_options={...}``).

    Defaults follow the paper's recipe (docs/adapters.md §2.2) except where this machine needs
    otherwise (learning rate 5e-4 and batch 32 for MiniLM; docs/models.md).
    """

    task: str
    model: str = "minilm"
    adapter: AdapterConfig | None = field(default_factory=AdapterConfig)  # None: full fine-tuning
    allocator: AllocatorOptions = field(default_factory=AllocatorOptions)
    epochs: float = 3.0
    max_steps: int | None = None  # overrides epochs when set
    batch_size: int = 32
    eval_batch_size: int = 64
    lr: float = 5e-4
    head_lr: float | None = None  # None: = lr; else the task head's own AdamW lr
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    max_grad_norm: float | None = None
    optimizer: str = "adamw"
    alpha_lr: float = 5e-3
    alpha_every: int = 10
    alpha_split: float = 0.2
    alpha_batch_size: int | None = None  # None: = batch_size
    alpha_optimizer: str = "adam"
    alpha_mode: str = "alternating"  # or "joint": alpha in the AdamW step every step (alpha_lr)
    paper_compat: bool = False
    val_split: float = 0.0
    split_seed: int = 42
    seed: int = 0
    max_length: int = 128
    group_by_length: bool = True  # length-grouped train batches, length-sorted evaluation
    eval_every: int | None = None  # evaluate every this many steps (None: at each epoch end)
    subsample: int | None = None
    dev_subsample: int | None = None
    data_dir: str | None = None
    out: str = "runs/run"
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    stop_after: int | None = None  # stop (as if killed) after this many steps: for resume tests
    num_threads: int | None = None
    bf16: bool = False
    model_dropout: float | None = None  # None: the model's own dropout; else every nn.Dropout p

    #: fields that may differ between an interrupted run and its resumption
    RESUMABLE_CHANGES: ClassVar[tuple[str, ...]] = ("stop_after", "num_threads", "out", "data_dir")

    def __post_init__(self) -> None:
        from .alpha import AlphaOptimizer
        from .data import TASKS, get_task
        from .layers import resolve_method

        try:
            get_task(self.task)
        except (ValueError, KeyError, TypeError):
            _check(False, "task", self.task, f"a GLUE task name, one of {sorted(TASKS)}")
        if self.adapter is not None and not isinstance(self.adapter, AdapterConfig):
            raise TypeError(f"TrainConfig.adapter={self.adapter!r}: expected an AdapterConfig or None "
                            "(full fine-tuning); TrainConfig.from_flat(adapter='alpha_lora', rank=8, "
                            "...) builds one from the flat CLI spelling")
        if not isinstance(self.allocator, AllocatorOptions):
            raise TypeError(f"TrainConfig.allocator={self.allocator!r}: expected AllocatorOptions")
        for name in ("batch_size", "eval_batch_size", "alpha_every", "max_length", "checkpoint_every"):
            v = getattr(self, name)
            _check(_is_int(v) and v >= 1, name, v, "a positive integer")
        for name in ("max_steps", "subsample", "dev_subsample", "stop_after", "num_threads",
                     "alpha_batch_size", "eval_every"):
            v = getattr(self, name)
            _check(v is None or (_is_int(v) and v >= 1), name, v, "None or an integer >= 1")
        _check(self.epochs > 0 and math.isfinite(self.epochs), "epochs", self.epochs, "> 0")
        _check(self.lr > 0, "lr", self.lr, "> 0")
        _check(self.head_lr is None or (self.head_lr > 0 and math.isfinite(self.head_lr)),
               "head_lr", self.head_lr, "None or a finite number > 0")
        _check(self.head_lr is None or self.optimizer == "adamw", "head_lr", self.head_lr,
               "None with optimizer='loft' (LoFT steps the head at its own lr)")
        _check(self.alpha_lr > 0, "alpha_lr", self.alpha_lr, "> 0")
        _check(self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0")
        _check(0.0 < self.alpha_split < 1.0, "alpha_split", self.alpha_split, "the open interval (0, 1)")
        _check(0.0 <= self.val_split < 1.0, "val_split", self.val_split, "[0, 1)")
        _check(self.alpha_split + self.val_split < 1.0, "alpha_split + val_split",
               self.alpha_split + self.val_split, "< 1 (rows must remain for the adapters)")
        _check(self.optimizer in OPTIMIZERS, "optimizer", self.optimizer, f"one of {OPTIMIZERS}")
        _check(self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm",
               self.max_grad_norm, "None or > 0")
        _check(self.model_dropout is None or 0.0 <= self.model_dropout < 1.0, "model_dropout",
               self.model_dropout, "None or [0, 1)")
        _check(self.keep_checkpoints >= 1, "keep_checkpoints", self.keep_checkpoints, ">= 1")
        _check(len(self.betas) == 2 and all(0.0 <= b < 1.0 for b in self.betas), "betas",
               self.betas, "two numbers in [0, 1)")
        _check(self.alpha_optimizer in AlphaOptimizer.KINDS, "alpha_optimizer",
               self.alpha_optimizer, f"one of {AlphaOptimizer.KINDS}")
        _check(self.alpha_mode in ALPHA_MODES, "alpha_mode", self.alpha_mode, f"one of {ALPHA_MODES}")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.adapter is None:
            _check(self.optimizer == "adamw" and not self.allocator.values, "adapter", FULL,
                   "full fine-tuning only with optimizer='adamw' and no allocator options")
            return
        cls, _ = resolve_method(self.adapter.method)
        self.allocator.check_for(cls, self.adapter.method)
        if self.optimizer == "loft":
            from .layers import REGISTRY

            ok = sorted(k for k, c in REGISTRY.items() if c.loft_compatible)
            _check(cls.loft_compatible, "optimizer", "loft",
                   f"only with adapters whose update is one plain B @ A pair, {ok} (with or "
                   f"without 'alpha_'); adapter {self.adapter.method!r} would not be trained as "
                   "LoFT assumes")
            _check(abs(self.adapter.scaling - 1.0) < 1e-12, "optimizer", "loft",
                   f"only with scaling lora_alpha / r = 1 (got {self.adapter.scaling:g}; set "
                   "lora_alpha = rank, or None)")

    # ---------------------------------------------------------------- derived values
    @property
    def method(self) -> str:
        """The adapter method (``"full"`` for full fine-tuning)."""
        return FULL if self.adapter is None else self.adapter.method

    @property
    def uses_alpha(self) -> bool:
        """Whether the adapter has alpha vectors."""
        return self.adapter is not None and self.adapter.use_alpha

    @property
    def holds_out_alpha(self) -> bool:
        """Whether ``D_alpha`` is carved from train (alternating alpha optimiser only)."""
        return self.uses_alpha and self.alpha_mode == "alternating"

    @property
    def effective_alpha_batch_size(self) -> int:
        return self.batch_size if self.alpha_batch_size is None else self.alpha_batch_size

    # ---------------------------------------------------------------- flat spelling
    @classmethod
    def from_flat(cls, **kw: Any) -> TrainConfig:
        """Build the tree from the flat spelling of the CLI: ``adapter`` (a method name or
        ``"full"``), ``rank``, ``lora_alpha``, ``lora_dropout``, ``target_modules``, ``extra``
        (further :class:`AdapterConfig` fields) and ``allocator_options``; every other key is a
        :class:`TrainConfig` field. The adapter's ``seed`` is the run's ``seed``.

        Unknown keys raise ``ValueError`` naming them and the allowed ones."""
        kw = dict(kw)
        method = kw.pop("adapter", AdapterConfig.method)
        flat = {f: kw.pop(f) for f in list(FLAT_ADAPTER_FIELDS)[1:] if f in kw}
        extra = dict(kw.pop("extra", None) or {})
        alloc = dict(kw.pop("allocator_options", None) or {})
        known = {f.name for f in fields(cls)} - {"adapter", "allocator"}
        unknown = sorted(set(kw) - known)
        if unknown:
            raise ValueError(f"TrainConfig: unknown field(s) {unknown}; allowed: "
                             f"{sorted(known | set(FLAT_ADAPTER_FIELDS) | {'extra', 'allocator_options'})}")
        from .layers import ALORA_NOTE, method_names

        names = (*method_names(aliases=True), FULL)
        if not (isinstance(method, AdapterConfig) or method is None):
            _check(method in names, "adapter", method, f"one of {names} ({ALORA_NOTE})")
        if isinstance(method, AdapterConfig) or method is None:
            adapter: AdapterConfig | None = method
        elif method == FULL:
            if extra:
                _check(False, "adapter", FULL, "'full' only with no --extra options")
            adapter = None
        else:
            bad = sorted(k for k in extra if k in FLAT_ADAPTER_FIELDS.values() or k == "seed")
            if bad:
                raise ValueError(f"extra: {bad} are set by their own options (--rank, "
                                 "--lora-dropout, --target-modules, --seed), not by --extra")
            d = {FLAT_ADAPTER_FIELDS[k]: v for k, v in flat.items()} | extra
            d |= {"method": method, "seed": kw.get("seed", 0)}
            if isinstance(d.get("target_modules"), list):
                d["target_modules"] = tuple(d["target_modules"])
            adapter = AdapterConfig.from_dict(d)
        if isinstance(kw.get("betas"), list):
            kw["betas"] = tuple(kw["betas"])
        return cls(adapter=adapter, allocator=AllocatorOptions(alloc), **kw)

    def to_flat(self) -> dict[str, Any]:
        """The flat spelling (:meth:`from_flat` inverts it)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("adapter", "allocator")}
        d["allocator_options"] = dict(self.allocator.values)
        if self.adapter is None:
            return d | {"adapter": FULL}
        a = dataclasses.asdict(self.adapter)  # tuples stay tuples (as from_flat takes them)
        d |= {k: a.pop(v) for k, v in FLAT_ADAPTER_FIELDS.items()}
        a.pop("seed")
        defaults = AdapterConfig(method=self.adapter.method).to_dict()
        d["extra"] = {k: v for k, v in a.items() if v != defaults[k]}
        return d

    def with_flat(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` in the flat spelling (``adapter="lora"``, ``rank=4``, ...)."""
        return TrainConfig.from_flat(**(self.to_flat() | changes))

    # ---------------------------------------------------------------- (de)serialisation
    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples as lists; the adapter tree nested); :meth:`from_json`
        inverts it."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["adapter"] = None if self.adapter is None else self.adapter.to_dict()
        d["allocator"] = dict(self.allocator.values)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_json`; also reads the flat layout of older ``config.json``."""
        d = dict(d)
        if not isinstance(d.get("adapter"), dict | None) or "allocator_options" in d or "extra" in d:
            return cls.from_flat(**d)  # a config.json written before the tree
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; allowed: {sorted(known)}")
        if d.get("adapter") is not None:
            d["adapter"] = AdapterConfig.from_dict(d["adapter"])
        elif "adapter" in d:
            d["adapter"] = None
        d["allocator"] = AllocatorOptions(d.get("allocator") or {})
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)


def flat_fields() -> list[tuple[str, str, Any]]:
    """``(name, type, default)`` of every key of :meth:`TrainConfig.from_flat`, in the order of
    :class:`TrainConfig` (the adapter tree expanded in place): what the CLI turns into flags.
    Types and defaults of the adapter keys are :class:`AdapterConfig`'s own."""
    adapter_fields = {f.name: f for f in fields(AdapterConfig)}
    out: list[tuple[str, str, Any]] = []
    for f in fields(TrainConfig):
        if f.name == "adapter":
            for flat, name in FLAT_ADAPTER_FIELDS.items():
                af = adapter_fields[name]
                out.append((flat, str(af.type), af.default))
            out.append(("extra", "dict[str, Any]", None))
        elif f.name == "allocator":
            out.append(("allocator_options", "dict[str, Any]", None))
        else:
            out.append((f.name, str(f.type), None if f.default is dataclasses.MISSING else f.default))
    return out
