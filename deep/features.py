"""Frozen-encoder sentence features for linear transfer (issue 15 item 4).

A frozen transformer turns each GLUE row into a fixed vector; a linear head on those vectors is
exactly the linear setting of :mod:`linear` and :mod:`rmt` (source ridge ``w̃``, fine-tuned
``w_alpha = u + alpha v``), so the honest Table-1 protocol and both theories apply unchanged.

Features (``d`` = the encoder's hidden size, 384 for MiniLM):

* a sentence ``s`` → ``e(s) = Σ_t m_t h_t / Σ_t m_t`` (mean pooling of the last hidden states
  ``h_t`` over the non-padding tokens, ``m_t`` = attention mask), shape ``(d,)``;
* a sentence pair ``(a, b)`` → ``[u, v, |u − v|, u ⊙ v]`` with ``u = e(a)``, ``v = e(b)`` (each
  sentence encoded ALONE, Sentence-BERT style), shape ``(4 d,)``.

Sentences are truncated to ``max_length`` tokens (128), de-duplicated, sorted by token length
and batched (little padding), encoded under ``torch.inference_mode`` with a tqdm bar.

Cache: one ``.npz`` per (model, task, split, rows) in ``cache_dir``, named
``<model>__<task>__<split>__<key[:16]>.npz`` where ``key`` is the SHA-256 of the rows (every
``text_a``, ``text_b`` and label, in order) and the settings (model name, ``max_length``,
pooling, pair layout). A hit returns the stored arrays bit for bit; any changed row (another
subsample, an edited sentence) gives another key and is embedded afresh. Files are written to a
temporary name and renamed (no half-written cache).

Transfer protocol on arrays (:func:`transfer_protocol`): the honest protocol of
:mod:`linear.protocols` (one split per (seed, batch) from :func:`linear.amazon.split` shared by
every method, the Table-1 method columns, honest test accuracy on all non-training rows) plus
an anisotropic plug-in column and the accuracy-vs-alpha curves with both theory curves.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data import GlueSplit, get_task, load_glue

__all__ = [
    "MAX_LENGTH",
    "FEATURE_VERSION",
    "POSITIVE",
    "Features",
    "load_encoder",
    "mean_pool",
    "embed_sentences",
    "pair_features",
    "rows_key",
    "cache_path",
    "embed_rows",
    "glue_features",
    "signed_labels",
    "TransferResult",
    "transfer_protocol",
]

#: Token limit per sentence.
MAX_LENGTH = 128
#: Layout version written into every cache key (bump when the features change meaning).
FEATURE_VERSION = "mean-pool/pair-u,v,|u-v|,u*v/v1"
#: Which label is the positive class (+1) per task; STS-B: score >= threshold.
POSITIVE: dict[str, Any] = {
    "mrpc": 1,      # equivalent (paraphrase)
    "rte": 0,       # entailment
    "qnli": 0,      # entailment
    "sst2": 1,      # positive sentiment
    "cola": 1,      # acceptable
    "stsb": 3.0,    # similarity score >= 3
}


@dataclass(frozen=True, eq=False)
class Features:
    """Embedded rows of one GLUE split.

    Attributes
    ----------
    X : ndarray (rows, d) or (rows, 4 d), float32
        Features (module docstring), rows in the order of the :class:`deep.data.GlueSplit`.
    labels : ndarray (rows,)
        The split's labels as read (class ids, or STS-B scores).
    model, task, split : str
    key : str, SHA-256 of the rows and settings (the cache key).
    max_length : int
    path : Path or None, the cache file (None when not cached).
    cached : bool, whether the arrays came from the cache.
    note : str, how the rows were chosen (subsample size and seed).
    seconds : float, embedding time (0 on a cache hit).
    """

    X: np.ndarray
    labels: np.ndarray
    model: str
    task: str
    split: str
    key: str
    max_length: int
    path: Path | None = None
    cached: bool = False
    note: str = ""
    seconds: float = 0.0
    meta: dict = field(default_factory=dict, repr=False)

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


# ----------------------------------------------------------------------------------------
# encoding
# ----------------------------------------------------------------------------------------
def load_encoder(model: str = "minilm", seed: int = 0) -> tuple[torch.nn.Module, Any]:
    """``(encoder, tokenizer)`` for a model name of :mod:`deep.models` (``"minilm"``, a
    ``"tiny-*"`` random model, a local folder): the base transformer (``base_model`` of the
    sequence-classification model; its new head is dropped) in eval mode, and its tokenizer."""
    from .models import load_model, load_tokenizer

    full: Any = load_model(model, 2, seed=seed)
    base: torch.nn.Module = full.base_model
    return base.eval(), load_tokenizer(model)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``Σ_t m_t h_t / max(Σ_t m_t, 1)``: hidden (batch, tokens, d), mask (batch, tokens) →
    (batch, d)."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


def embed_sentences(
    sentences: Sequence[str],
    encoder: torch.nn.Module,
    tokenizer: Any,
    *,
    max_length: int = MAX_LENGTH,
    batch_tokens: int = 4096,
    progress: bool = True,
    desc: str = "embedding",
) -> np.ndarray:
    """Mean-pooled last hidden states, one row per sentence, float32 (len(sentences), d).

    Unique sentences only are encoded, sorted by token length, in batches of at most
    ``batch_tokens`` padded tokens (and at most 256 sentences), with a tqdm bar counting
    sentences."""
    from tqdm.auto import tqdm

    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"max_length={max_length!r} is invalid: allowed an integer >= 2")
    unique = list(dict.fromkeys(sentences))
    if not unique:
        hidden = int(getattr(getattr(encoder, "config", None), "hidden_size", 0))
        return np.zeros((0, hidden), dtype=np.float32)
    enc = tokenizer(unique, truncation=True, max_length=max_length, padding=False)
    ids = enc["input_ids"]
    order = np.argsort([len(t) for t in ids], kind="stable")
    rows: dict[int, np.ndarray] = {}
    bar = tqdm(total=len(unique), disable=not progress, desc=desc, unit="sent", leave=False)
    start = 0
    with torch.inference_mode():
        while start < len(order):
            stop = start + 1  # ascending lengths: the last sentence of a batch is its longest
            while (stop < len(order) and stop - start < 256
                   and (stop - start + 1) * len(ids[order[stop]]) <= batch_tokens):
                stop += 1
            chunk = [int(i) for i in order[start:stop]]
            feats = {k: [enc[k][i] for i in chunk] for k in enc.keys()}
            batch = tokenizer.pad(feats, return_tensors="pt")
            inputs = {k: v for k, v in batch.items()
                      if k in ("input_ids", "attention_mask", "token_type_ids")}
            hidden = encoder(**inputs).last_hidden_state
            pooled = mean_pool(hidden, inputs["attention_mask"]).float().numpy()
            for i, vec in zip(chunk, pooled, strict=True):
                rows[i] = vec
            bar.update(len(chunk))
            start = stop
    bar.close()
    out = np.stack([rows[i] for i in range(len(unique))]).astype(np.float32)
    index = {s: i for i, s in enumerate(unique)}
    return out[[index[s] for s in sentences]]


def pair_features(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``[u, v, |u − v|, u ⊙ v]`` row by row: (rows, d), (rows, d) → (rows, 4 d)."""
    u, v = np.asarray(u), np.asarray(v)
    if u.shape != v.shape or u.ndim != 2:
        raise ValueError(f"u and v must be two (rows, d) arrays of one shape, got {u.shape}, "
                         f"{v.shape}")
    return np.concatenate([u, v, np.abs(u - v), u * v], axis=1)


# ----------------------------------------------------------------------------------------
# cache
# ----------------------------------------------------------------------------------------
def rows_key(rows: GlueSplit, model: str, max_length: int = MAX_LENGTH) -> str:
    """SHA-256 (hex) of every row (``text_a``, ``text_b``, label, in order) and the settings."""
    h = hashlib.sha256()
    head = {"model": model, "task": rows.task, "split": rows.split, "max_length": max_length,
            "version": FEATURE_VERSION, "pair": rows.text_b is not None, "rows": len(rows)}
    h.update(json.dumps(head, sort_keys=True).encode())
    b = rows.text_b if rows.text_b is not None else [None] * len(rows)
    for a, bb, y in zip(rows.text_a, b, rows.labels, strict=True):
        h.update(json.dumps([a, bb, y]).encode())
        h.update(b"\n")
    return h.hexdigest()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in str(name))


def cache_path(cache_dir: str | os.PathLike[str], model: str, task: str, split: str,
               key: str) -> Path:
    """``<cache_dir>/<model>__<task>__<split>__<key[:16]>.npz``."""
    return Path(cache_dir) / f"{_safe(model)}__{_safe(task)}__{_safe(split)}__{key[:16]}.npz"


def _labels_array(rows: GlueSplit) -> np.ndarray:
    return np.asarray(rows.labels, dtype=float if rows.task == "stsb" else np.int64)


def embed_rows(
    rows: GlueSplit,
    *,
    model: str = "minilm",
    cache_dir: str | os.PathLike[str] | None = None,
    encoder: torch.nn.Module | None = None,
    tokenizer: Any = None,
    max_length: int = MAX_LENGTH,
    progress: bool = True,
    note: str = "",
) -> Features:
    """Features of ``rows`` (module docstring), from the cache when the key matches.

    ``model`` names the encoder in the cache key; ``encoder`` / ``tokenizer`` (both or neither)
    override loading it by name (:func:`load_encoder`), e.g. a tiny random model in tests.
    ``cache_dir=None``: no cache."""
    key = rows_key(rows, model, max_length)
    path = None if cache_dir is None else cache_path(cache_dir, model, rows.task, rows.split, key)
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) == key:
                meta = json.loads(str(z["meta"]))
                return Features(X=z["X"], labels=z["labels"], model=model, task=rows.task,
                                split=rows.split, key=key, max_length=max_length, path=path,
                                cached=True, note=meta.get("note", note), meta=meta)
    if (encoder is None) != (tokenizer is None):
        raise ValueError("pass both encoder and tokenizer, or neither (loaded by model name)")
    if encoder is None:
        encoder, tokenizer = load_encoder(model)
    t0 = time.perf_counter()
    desc = f"{model} {rows.task}/{rows.split}"
    if rows.text_b is None:
        X = embed_sentences(rows.text_a, encoder, tokenizer, max_length=max_length,
                            progress=progress, desc=desc)
    else:
        both = embed_sentences(list(rows.text_a) + list(rows.text_b), encoder, tokenizer,
                               max_length=max_length, progress=progress, desc=desc)
        X = pair_features(both[: len(rows)], both[len(rows):])
    seconds = time.perf_counter() - t0
    labels = _labels_array(rows)
    meta = {"model": model, "task": rows.task, "split": rows.split, "rows": len(rows),
            "max_length": max_length, "version": FEATURE_VERSION, "note": note,
            "source": rows.source, "seconds": round(seconds, 2),
            "torch_threads": torch.get_num_threads()}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        os.close(fd)
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, X=X, labels=labels, key=np.array(key), meta=np.array(json.dumps(meta)))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return Features(X=X, labels=labels, model=model, task=rows.task, split=rows.split, key=key,
                    max_length=max_length, path=path, cached=False, note=note, seconds=seconds,
                    meta=meta)


def glue_features(
    task: str,
    split: str = "train",
    *,
    model: str = "minilm",
    subsample: int | None = 4000,
    seed: int = 0,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    encoder: torch.nn.Module | None = None,
    tokenizer: Any = None,
    max_length: int = MAX_LENGTH,
    progress: bool = True,
) -> Features:
    """:func:`embed_rows` of ``deep.data.load_glue(task, split, data_dir, subsample=subsample,
    seed=seed)`` (at most ``subsample`` rows, drawn with ``seed``, kept in file order)."""
    rows = load_glue(task, split, data_dir, subsample=subsample, seed=seed)
    note = (f"all {len(rows)} rows" if subsample is None or len(rows) < subsample
            else f"{len(rows)} rows subsampled with seed {seed}")
    return embed_rows(rows, model=model, cache_dir=cache_dir, encoder=encoder,
                      tokenizer=tokenizer, max_length=max_length, progress=progress, note=note)


def signed_labels(task: str, labels: np.ndarray) -> np.ndarray:
    """Labels as ±1 with :data:`POSITIVE` as +1 (STS-B: ``score >= 3`` → +1)."""
    spec = get_task(task)
    lab = np.asarray(labels)
    if spec.name not in POSITIVE:
        raise ValueError(f"task {spec.name!r} has no positive class defined; allowed: "
                         f"{sorted(POSITIVE)}")
    pos = POSITIVE[spec.name]
    hit = lab >= pos if spec.is_regression else lab == pos
    return np.where(hit, 1.0, -1.0)


# ----------------------------------------------------------------------------------------
# the honest transfer protocol on feature arrays
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class TransferResult:
    """Everything :func:`transfer_protocol` measured on one (source, target) pair."""

    source: str
    target: str
    records: list
    curves: list  # one linear.covariance.TheoryCheck per n (theories "iso" and "aniso")
    covariance_origin: str
    settings: dict


#: The anisotropic plug-in column added to the Table-1 methods.
ANISO_METHOD = "alpha_plugin_aniso"
ANISO_LABEL = "α-LoRA, anisotropic plug-in α* (source covariance, Ledoit-Wolf)"


def transfer_protocol(
    X_source: np.ndarray,
    y_source: np.ndarray,
    X_target: np.ndarray,
    y_target: np.ndarray,
    *,
    source: str = "source",
    target: str = "target",
    ns: Sequence[int] = (20, 100, 400),
    gamma_pre: float = 1.0,
    gamma_ft: float = 1.0,
    seeds: Sequence[int] = (1, 123, 404),
    batches: int = 10,
    methods: Sequence[str] | None = None,
    stratify: bool = True,
    standardize: bool = True,
    shrinkage: str = "ledoit-wolf",
    alphas: np.ndarray | None = None,
    max_grid: float = 64.0,
    gaussian: bool = True,
    progress: bool = True,
) -> TransferResult:
    """The honest Table-1 protocol of :mod:`linear.protocols` on feature arrays.

    1. ``standardize``: each domain's features are standardised with that domain's own mean
       and std (label-free, as :func:`linear.amazon.standardize` does for Amazon);
    2. ``w̃`` = ridge on ALL source rows (``gamma_pre``; ``N`` = source rows);
    3. the noise covariance = pooled within-class covariance of the SOURCE rows
       (:func:`linear.covariance.from_source`, ``shrinkage``): no target row is read;
    4. per n and per split ``(seed, batch)`` = ``linear.amazon.split(y_target, n, seed, batch,
       stratify=stratify)``, shared by every method: the Table-1 methods
       (:func:`linear.protocols.evaluate_split`) plus ``alpha_plugin_aniso`` (the plug-in alpha*
       of :mod:`rmt.anisotropic` from the n training rows and the source covariance), and the
       accuracy on the alpha grid;
    5. per n, :func:`linear.covariance.theory_check` on the same splits: the empirical curve,
       the isotropic (``"iso"``) and anisotropic (``"aniso"``, source covariance) theory curves
       from ALL target rows (descriptive), and with ``gaussian`` two DIAGNOSTICS that read the
       test rows: ``"aniso_target_oracle"`` (the target's own within-class covariance, all
       rows, no shrinkage) and the Gaussian-given-w curve. The
       grid (default ``arange(-4, 12, 0.1)``) is extended on a side where the empirical argmax
       sits at the end, up to ``±max_grid``.

    Labels are ±1 (use :func:`signed_labels`). Records have the keys of
    :func:`linear.protocols.honest_pair`, so :func:`linear.protocols.summarize` applies.
    """
    from tqdm.auto import tqdm

    from linear import amazon, covariance, protocols, selection
    from linear.solve import accuracy_path, affine_parts
    from linear.solve import ridge as ridge_fit

    methods = tuple(protocols.TABLE1_METHODS if methods is None else methods)
    policy = protocols.split_policy(stratify)
    Xs = np.asarray(X_source, dtype=float)
    Xt = np.asarray(X_target, dtype=float)
    ys = np.asarray(y_source, dtype=float).reshape(-1)
    yt = np.asarray(y_target, dtype=float).reshape(-1)
    for nm, y in (("y_source", ys), ("y_target", yt)):
        if not np.all(np.isin(y, (-1.0, 1.0))):
            raise ValueError(f"{nm} must hold labels -1/+1 (see signed_labels)")
    if standardize:
        Xs, Xt = amazon.standardize(Xs), amazon.standardize(Xt)
    w = ridge_fit(Xs, ys, gamma_pre)
    cov = covariance.from_source(Xs, ys, shrinkage)
    target_cov = covariance.from_source(Xt, yt, "none") if gaussian else None
    grid = None if alphas is None else np.asarray(alphas, dtype=float)
    records: list[dict] = []
    curves: list = []
    splits = [(s, b) for s in seeds for b in range(batches)]
    bar = tqdm(total=len(ns) * len(splits), disable=not progress, leave=False,
               desc=f"{source}→{target}")
    for n in ns:
        trains = [amazon.split(yt, int(n), s, b, stratify=stratify) for s, b in splits]
        paths = [affine_parts(Xt[tr], yt[tr], w, gamma_ft) for tr, _ in trains]
        for (seed, batch), (tr, te), path in zip(splits, trains, paths, strict=True):
            rng = np.random.default_rng([seed, batch, 1])
            scored = protocols.evaluate_split(Xt[tr], yt[tr], Xt[te], yt[te], w, gamma_ft,
                                              methods, rng)
            a_an = selection.plugin_alpha(Xt[tr], yt[tr], w, gamma_ft, covariance=cov)
            acc_an = float(accuracy_path(Xt[te], yt[te], path, np.array([a_an]))[0])
            scored.append((ANISO_METHOD, float(a_an), float(gamma_ft), acc_an))
            for name, alpha, g, acc in scored:
                records.append({"source": source, "target": target, "n": int(n),
                                "N": int(Xs.shape[0]), "gamma_pre": gamma_pre, "seed": seed,
                                "batch": batch, "n_test": int(te.size), "method": name,
                                "alpha": alpha, "gamma_ft": g, "accuracy": acc,
                                "split": policy})
            bar.update(1)
        covs = {"iso": None, "aniso": cov}
        if gaussian:  # diagnostics that read test rows: target covariance, Gaussian given w
            covs["aniso_target_oracle"] = target_cov
        curves.append(covariance.theory_check(
            Xt, yt, w, trains, gamma=gamma_ft, covariances=covs, alphas=grid,
            max_alpha=max_grid, gaussian=gaussian))
    bar.close()
    settings = {"N": int(Xs.shape[0]), "p": int(Xs.shape[1]), "rows_target": int(Xt.shape[0]),
                "gamma_pre": gamma_pre, "gamma_ft": gamma_ft, "split": policy,
                "seeds": " ".join(map(str, seeds)), "batches": batches,
                "standardized": standardize,
                "target_positive_share": float(np.mean(yt > 0)),
                "source_positive_share": float(np.mean(ys > 0))}
    return TransferResult(source=source, target=target, records=records, curves=curves,
                          covariance_origin=cov.origin, settings=settings)
