"""Save / load adapters (safetensors + JSON, never pickle) and export to PEFT's layout.

Our format, a directory with two files:

* ``rescalora_adapter.safetensors`` — only the adapter tensors (``<layer>.lora_A``,
  ``<layer>.lora_B``, ``<layer>.lora_magnitude``, ``<layer>.alpha``; OLoRA's
  ``<layer>.lora_A_init``/``<layer>.lora_B_init``) and the task head's parameters under their
  model names (``classifier.dense.weight``, ``score.weight``). A shared alpha is stored once,
  under its owner layer.
* ``rescalora_adapter.json`` — format tag and version, the :class:`AdapterConfig`, the model
  type and class, the adapted module names and every tensor's shape.

:func:`load_adapter` reads JSON and safetensors only. It checks the method and the functional
settings against the model's adapters (or injects the saved config into a model that has none),
then every key and shape, and only then copies anything: on any error the model is untouched.

PEFT layout (:func:`export_peft`, or ``save_adapter(..., peft=True)``): ``adapter_config.json`` +
``adapter_model.safetensors`` with keys ``base_model.model.<module>.lora_A.weight`` (``r×in``),
``.lora_B.weight`` (``out×r``), DoRA ``.lora_magnitude_vector`` (``out``), and the head under
``base_model.model.<head param>``, as PEFT 0.21 writes them; ``peft.PeftModel.from_pretrained``
loads it. Only methods without alpha can be expressed; OLoRA is exported relative to the
ORIGINAL base by the rank-``2r`` conversion (docs/adapters.md §4).

``save_pretrained`` of an adapted Hugging Face model (:func:`adapter_save_pretrained`, installed
by :func:`deep.inject`): our two files, the model's ``config.json`` and a
``model.safetensors.index.json`` that names our weights file as the only shard, and NO full
``model.safetensors``. So every ``Trainer`` checkpoint holds only what training changed, and
``Trainer.train(resume_from_checkpoint=...)`` reads it back as a sharded checkpoint of those
tensors (the frozen base keys are the model's ``_keys_to_ignore_on_save``, which the Trainer
expects to be absent). Such a folder is an adapter, not a model: load it with
:func:`load_adapter` into the base model, not with ``from_pretrained``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .config import AdapterConfig
from .inject import (
    AdapterInfo,
    Plan,
    adapter_info,
    adapter_layers,
    build_layers,
    head_modules,
    install,
)
from .layers import AdapterLayer, canonical_method

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "FORMAT",
    "VERSION",
    "adapter_state_dict",
    "save_adapter",
    "load_adapter",
    "peft_state_dict",
    "export_peft",
    "SAFE_INDEX_NAME",
    "adapter_save_pretrained",
    "install_adapter_save_pretrained",
]

CONFIG_NAME = "rescalora_adapter.json"
WEIGHTS_NAME = "rescalora_adapter.safetensors"
PEFT_CONFIG_NAME = "adapter_config.json"
PEFT_WEIGHTS_NAME = "adapter_model.safetensors"
FORMAT = "rescalora-adapter"
VERSION = 1
#: shard index written by :func:`adapter_save_pretrained` (transformers' SAFE_WEIGHTS_INDEX_NAME)
SAFE_INDEX_NAME = "model.safetensors.index.json"

#: Settings that change the function computed: they must agree between file and model.
_FUNCTIONAL_FIELDS = ("method", "rank", "use_rslora", "scale_bias", "share_alpha")


def _layer_tensors(layers: dict[str, AdapterLayer]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name, layer in layers.items():
        include_alpha = layer.alpha_shared_from is None
        for local, t in layer.state_tensors(include_alpha=include_alpha).items():
            out[f"{name}.{local}"] = t
    return out


def _head_tensors(model: nn.Module, config: AdapterConfig) -> dict[str, torch.Tensor]:
    if not config.train_head:
        return {}
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for hname, head in head_modules(model):
        for pname, p in head.named_parameters():
            if id(p) not in seen:
                seen.add(id(p))
                out[f"{hname}.{pname}"] = p
    return out


def _require_adapted(model: nn.Module, what: str) -> AdapterInfo:
    info = adapter_info(model)
    if info is None:
        raise ValueError(f"{what}: the model has no adapters (call deep.inject first)")
    return info


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """What :func:`save_adapter` writes: adapter, alpha and head tensors (live, not copies)."""
    info = _require_adapted(model, "adapter_state_dict")
    out = _layer_tensors(dict(adapter_layers(model)))
    out.update(_head_tensors(model, info.config))
    return out


def save_adapter(model: nn.Module, path: str | Path, *, peft: bool = False) -> Path:
    """Write the adapter of ``model`` to directory ``path`` (created): ``WEIGHTS_NAME``
    (safetensors) and ``CONFIG_NAME`` (JSON). With ``peft=True`` also the PEFT layout
    (:func:`export_peft`) in the same directory. Returns the directory.

    Adapter tensors are the same merged or not (merging changes only base weights)."""
    info = _require_adapted(model, "save_adapter")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous().clone()
               for k, v in adapter_state_dict(model).items()}
    model_config = getattr(model, "config", None)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "config": info.config.to_dict(),
        "model_type": getattr(model_config, "model_type", None),
        "model_class": type(model).__name__,
        "targets": list(info.targets),
        "shared_alpha": dict(info.shared_alpha),
        "tensors": {k: list(v.shape) for k, v in tensors.items()},
    }
    save_file(tensors, str(path / WEIGHTS_NAME), metadata={"format": FORMAT})
    (path / CONFIG_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    if peft:
        export_peft(model, path)
    return path


def adapter_save_pretrained(model: nn.Module, save_directory: str | Path, *,
                            is_main_process: bool = True, state_dict: dict | None = None,
                            **kwargs: Any) -> None:
    """``model.save_pretrained(save_directory)`` for a model with adapters (what a ``Trainer``
    checkpoint calls): :func:`save_adapter` (adapter, alpha and head tensors + JSON), the
    model's ``config.json``, and :data:`SAFE_INDEX_NAME` mapping every saved tensor name (a
    ``state_dict`` name) to :data:`WEIGHTS_NAME`; no full ``model.safetensors``.

    Falls back to the class's own ``save_pretrained`` when the model has no adapters or an
    explicit ``state_dict`` is passed (FSDP / DeepSpeed gathers; the frozen base keys are still
    left out, as ``_keys_to_ignore_on_save``). ``push_to_hub=True`` is refused. Only the main
    process writes."""
    if adapter_info(model) is None or state_dict is not None:
        class_save = getattr(type(model), "save_pretrained")  # noqa: B009 (not on nn.Module)
        class_save(model, save_directory, is_main_process=is_main_process, state_dict=state_dict,
                   **kwargs)
        return
    if kwargs.get("push_to_hub"):
        raise ValueError("save_pretrained(push_to_hub=True) is not supported for a model with "
                         "deep adapters; allowed: save_adapter(model, folder), then upload it")
    if not is_main_process:
        return
    path = save_adapter(model, save_directory)
    config = getattr(model, "config", None)
    if config is not None and callable(getattr(config, "save_pretrained", None)):
        config.save_pretrained(path)
    tensors = adapter_state_dict(model)
    index = {
        "metadata": {"total_size": sum(t.numel() * t.element_size() for t in tensors.values()),
                     "format": FORMAT,
                     "note": "adapter only: load with deep.load_adapter into the base model"},
        "weight_map": {k: WEIGHTS_NAME for k in sorted(tensors)},
    }
    (path / SAFE_INDEX_NAME).write_text(json.dumps(index, indent=2) + "\n")


class _AdapterSavePretrained:
    """The instance attribute ``model.save_pretrained`` (a plain object, so the model still
    deep-copies and pickles; a bound method of another name would not unpickle)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __call__(self, save_directory: str | Path, is_main_process: bool = True,
                 state_dict: dict | None = None, **kwargs: Any) -> None:
        adapter_save_pretrained(self.model, save_directory, is_main_process=is_main_process,
                                state_dict=state_dict, **kwargs)


def install_adapter_save_pretrained(model: nn.Module) -> None:
    """Make ``model.save_pretrained`` :func:`adapter_save_pretrained` (models whose class has a
    ``save_pretrained``, i.e. Hugging Face ``PreTrainedModel``s; others are left alone) and set
    ``model._keys_to_ignore_on_save`` to the ``state_dict`` keys that are not saved (the
    frozen base), so a Trainer resuming from such a checkpoint does not report them missing.
    Called by :func:`deep.inject` and :func:`load_adapter`; idempotent."""
    if not callable(getattr(type(model), "save_pretrained", None)):
        return
    if not isinstance(model.__dict__.get("save_pretrained"), _AdapterSavePretrained):
        model.__dict__["save_pretrained"] = _AdapterSavePretrained(model)
    saved = set(adapter_state_dict(model))
    model.__dict__["_keys_to_ignore_on_save"] = {k for k in model.state_dict() if k not in saved}


def _read_meta(path: Path) -> dict[str, Any]:
    cfg_file, w_file = path / CONFIG_NAME, path / WEIGHTS_NAME
    for f in (cfg_file, w_file):
        if not f.is_file():
            raise FileNotFoundError(
                f"load_adapter: {f} not found (expected a save_adapter directory)")
    try:
        meta = json.loads(cfg_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"load_adapter: {cfg_file} is not valid JSON: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"load_adapter: {cfg_file} is not a {FORMAT!r} file")
    if meta.get("version") != VERSION:
        raise ValueError(
            f"load_adapter: format version {meta.get('version')!r}; this code reads {VERSION}")
    return meta


def _check_same_setup(model_cfg: AdapterConfig, file_cfg: AdapterConfig) -> None:
    for f in _FUNCTIONAL_FIELDS:
        a, b = getattr(file_cfg, f), getattr(model_cfg, f)
        if f == "method":  # an alias ('ablation_alora') is the same method as its kind ('alora')
            a, b = canonical_method(a), canonical_method(b)
        if a != b:
            raise ValueError(
                f"load_adapter: the file has {f}={a!r} but the model's adapters have {f}={b!r}")
    if abs(file_cfg.scaling - model_cfg.scaling) > 1e-12 * max(1.0, abs(model_cfg.scaling)):
        raise ValueError(
            f"load_adapter: the file has scaling lora_alpha/r = {file_cfg.scaling:g} "
            f"(lora_alpha={file_cfg.lora_alpha!r}) but the model's adapters use "
            f"{model_cfg.scaling:g}"
        )


def _validate(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> None:
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    bad_shape = [f"{k}: file {tuple(found[k].shape)} vs model {tuple(expected[k].shape)}"
                 for k in sorted(set(expected) & set(found)) if found[k].shape != expected[k].shape]
    bad_dtype = [f"{k}: {found[k].dtype}" for k in sorted(set(expected) & set(found))
                 if not found[k].is_floating_point()]
    problems = []
    if missing:
        problems.append(f"missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
    if bad_shape:
        problems.append(f"wrong shapes {bad_shape[:5]}{' ...' if len(bad_shape) > 5 else ''}")
    if bad_dtype:
        problems.append(f"non-floating tensors {bad_dtype[:5]}")
    if problems:
        raise ValueError("load_adapter: the file does not fit the model: " + "; ".join(problems)
                         + ". Nothing was loaded")


def load_adapter(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a :func:`save_adapter` directory into ``model`` and return it.

    * ``model`` without adapters (a fresh base model): the saved config is injected first;
    * ``model`` with adapters: its method, rank, scaling, ``scale_bias``, ``share_alpha`` and
      adapted module names must equal the file's.

    Everything (JSON, keys, shapes) is checked before any change; errors are ValueError
    (FileNotFoundError for a missing file, RuntimeError for a merged model) and leave the model
    as it was. Uses ``json`` and ``safetensors`` only: nothing is unpickled.
    """
    path = Path(path)
    meta = _read_meta(path)
    try:
        file_cfg = AdapterConfig.from_dict(meta["config"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"load_adapter: bad config in {path / CONFIG_NAME}: {err}") from None
    try:
        found = load_file(str(path / WEIGHTS_NAME))
    except SafetensorError as err:  # truncated or corrupted file: say which one
        raise ValueError(f"load_adapter: {path / WEIGHTS_NAME} is not a readable safetensors "
                         f"file (truncated or corrupted?): {err}") from None
    bad = sorted(k for k, t in found.items() if t.is_floating_point() and not torch.isfinite(t).all())
    if bad:
        raise ValueError(f"load_adapter: {path / WEIGHTS_NAME} holds NaN or Inf in {bad[:5]} "
                         "(corrupted file, or a diverged run): refusing to load it")
    saved_type = meta.get("model_type")
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if saved_type and model_type and saved_type != model_type:
        raise ValueError(f"load_adapter: {path} was saved from a {saved_type!r} model; this model "
                         f"is {model_type!r} (load it into the architecture it was trained on)")
    info = adapter_info(model)
    plan: Plan | None = None
    if info is None:
        plan = build_layers(model, file_cfg, None)
        layers = plan.layers
        cfg = file_cfg
    else:
        _check_same_setup(info.config, file_cfg)
        layers = dict(adapter_layers(model))
        cfg = info.config
        merged = [n for n, layer in layers.items() if layer.merged]
        if merged:
            raise RuntimeError(
                f"load_adapter: the model is merged (e.g. {merged[0]!r}); unmerge first")
    targets = list(meta.get("targets", []))
    if targets != list(layers):
        raise ValueError(
            f"load_adapter: the file adapts {len(targets)} modules, the model {len(layers)}; "
            f"first differences: {sorted(set(targets) ^ set(layers))[:5]}"
        )
    expected = _layer_tensors(layers)
    expected.update(_head_tensors(model, cfg))
    _validate(expected, found)
    with torch.no_grad():
        for name, layer in layers.items():
            prefix = name + "."
            local = {k[len(prefix):]: v for k, v in found.items()
                     if k.startswith(prefix) and "." not in k[len(prefix):]}
            layer.load_state_tensors(local)
        head = _head_tensors(model, cfg)
        for k, p in head.items():
            p.copy_(found[k])
    if plan is not None:
        install(model, plan)
    return model


# ---------------------------------------------------------------------------- PEFT
def _peft_task_type(model: nn.Module, with_head: bool) -> str | None:
    if with_head:
        return "SEQ_CLS"
    if type(model).__name__.endswith("ForCausalLM"):
        return "CAUSAL_LM"
    return None


def peft_state_dict(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(tensors, adapter_config)`` in PEFT 0.21's on-disk layout (see module docstring).
    Raises ValueError for alpha methods and kinds PEFT cannot express."""
    info = _require_adapted(model, "export_peft")
    layers = adapter_layers(model)
    tensors: dict[str, torch.Tensor] = {}
    fields: dict[str, Any] | None = None
    for name, layer in layers:
        tensors.update(layer.to_peft_state_dict(f"base_model.model.{name}"))
        fields = fields or layer.peft_config_fields()
    assert fields is not None
    head = _head_tensors(model, info.config)
    for k, p in head.items():
        tensors[f"base_model.model.{k}"] = p.detach().contiguous().clone()
    heads = [n for n, _ in head_modules(model)] if head else []
    model_config = getattr(model, "config", None)
    config = {
        "peft_type": "LORA",
        "task_type": _peft_task_type(model, bool(head)),
        "base_model_name_or_path": getattr(model_config, "_name_or_path", None) or None,
        "r": fields["r"],
        "lora_alpha": fields["lora_alpha"],
        "use_rslora": fields["use_rslora"],
        "use_dora": fields["use_dora"],
        "lora_dropout": info.config.dropout,
        "target_modules": list(info.targets),
        "modules_to_save": heads or None,
        "bias": "none",
        "fan_in_fan_out": False,
        "init_lora_weights": True,
        "inference_mode": True,
        "rank_pattern": {},
        "alpha_pattern": {},
    }
    return tensors, config


def export_peft(model: nn.Module, path: str | Path) -> Path:
    """Write ``adapter_config.json`` + ``adapter_model.safetensors`` (PEFT 0.21 layout) to
    directory ``path`` so that ``PeftModel.from_pretrained(base_model, path)`` rebuilds the
    adapted model on the ORIGINAL base (LoRA, DoRA; OLoRA via the rank-2r conversion)."""
    tensors, config = peft_state_dict(model)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()},
              str(path / PEFT_WEIGHTS_NAME), metadata={"format": "pt"})
    (path / PEFT_CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return path
