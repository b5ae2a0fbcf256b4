"""GLUE metrics: accuracy, binary F1, Matthews correlation, Pearson and Spearman.

The input checks are ours; the metrics themselves are scikit-learn's (``f1_score``,
``matthews_corrcoef``) and SciPy's (``pearsonr``, ``spearmanr``), imported on first use.

Conventions: ``predictions`` and ``labels`` are 1-D of equal length ``n >= 1`` (NumPy arrays,
lists or CPU/GPU torch tensors). Classification metrics take class ids; :func:`compute_metrics`
also takes logits of shape ``(n, num_labels)`` (argmax) or ``(n, 1)`` regression outputs.
Degenerate cases follow scikit-learn: F1 = 0 when there is no positive label or prediction,
Matthews = 0 when a marginal is constant; Pearson/Spearman are ``nan`` when either input is
constant (a correlation is undefined there; SciPy also returns ``nan``), with a
``RuntimeWarning`` so that the NaN is never silent.

Bad inputs raise ``ValueError`` naming the argument: non-numeric or complex dtypes, NaN or inf
values (e.g. logits of a diverged model), empty or mismatched arrays.

Which metrics a task reports is in :data:`deep.data.TASKS` (``TaskSpec.metrics``, primary
first): accuracy (RTE, SST-2, QNLI, MNLI), accuracy + F1 (MRPC, QQP), Matthews + accuracy
(CoLA), Pearson + Spearman (STS-B).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .data import TaskSpec, get_task

__all__ = [
    "accuracy",
    "f1_binary",
    "matthews_corrcoef",
    "pearson",
    "spearman",
    "METRICS",
    "predictions_from_outputs",
    "compute_metrics",
]


def _as_array(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":  # object, strings, complex, datetimes, ...
        raise ValueError(f"{name} must be real numbers (bool, int or float), got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contain NaN or inf (e.g. the outputs of a diverged model)")
    return arr


def _pair(predictions: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    p = _as_array(predictions, "predictions")
    y = _as_array(labels, "labels")
    if p.ndim != 1 or y.ndim != 1:
        raise ValueError(f"predictions and labels must be 1-D, got shapes {p.shape} and {y.shape}")
    if p.shape != y.shape:
        raise ValueError(f"predictions ({p.shape[0]}) and labels ({y.shape[0]}) differ in length")
    if p.size == 0:
        raise ValueError("predictions and labels are empty")
    return p, y


def accuracy(predictions: Any, labels: Any) -> float:
    """Fraction of rows with ``predictions[i] == labels[i]``."""
    p, y = _pair(predictions, labels)
    return float(np.mean(p == y))


def _warn_constant() -> float:
    warnings.warn("pearson/spearman: an input is constant, the correlation is undefined (nan)",
                  RuntimeWarning, stacklevel=3)
    return float("nan")


def f1_binary(predictions: Any, labels: Any, positive: int = 1) -> float:
    """F1 of the class ``positive``: ``2 TP / (2 TP + FP + FN)`` (0 when that is 0/0).

    ``sklearn.metrics.f1_score`` on the indicators ``labels == positive`` and
    ``predictions == positive`` (so any number of classes, any dtype), ``zero_division=0``.
    """
    from sklearn.metrics import f1_score

    p, y = _pair(predictions, labels)
    return float(f1_score(y == positive, p == positive, zero_division=0.0))


def matthews_corrcoef(predictions: Any, labels: Any) -> float:
    """Matthews correlation for any number of classes (Gorodkin's R_K; binary: the phi
    coefficient ``(TP·TN − FP·FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))``).

    With confusion matrix ``C`` (rows: true, columns: predicted), ``t = C.sum(1)``,
    ``p = C.sum(0)``, ``c = trace(C)``, ``s = n``:
    ``MCC = (c·s − t·p) / sqrt((s² − p·p)(s² − t·t))``; 0 when the denominator is 0.
    Computed by ``sklearn.metrics.matthews_corrcoef`` on the class indices of the union of
    the values of both arrays.
    """
    from sklearn.metrics import matthews_corrcoef as sk_mcc

    pred, y = _pair(predictions, labels)
    _, inv = np.unique(np.concatenate([y, pred]), return_inverse=True)
    with warnings.catch_warnings():  # one class is a valid (degenerate) set: 0, no warning
        warnings.filterwarnings("ignore", "A single label was found", UserWarning)
        return float(sk_mcc(inv[: y.size], inv[y.size:]))


def pearson(predictions: Any, labels: Any) -> float:
    """Pearson correlation ``cov(p, y) / (std(p) std(y))`` (``scipy.stats.pearsonr``); ``nan``
    with a ``RuntimeWarning`` if either input is constant."""
    from scipy.stats import pearsonr

    p, y = _pair(predictions, labels)
    if np.all(p == p[0]) or np.all(y == y[0]):
        return _warn_constant()
    return float(pearsonr(p.astype(np.float64), y.astype(np.float64)).statistic)


def spearman(predictions: Any, labels: Any) -> float:
    """Spearman rank correlation: Pearson of the average ranks (ties share the mean of their
    ranks; ``scipy.stats.spearmanr``); ``nan`` with a ``RuntimeWarning`` if either input is
    constant."""
    from scipy.stats import spearmanr

    p, y = _pair(predictions, labels)
    if np.all(p == p[0]) or np.all(y == y[0]):
        return _warn_constant()
    return float(spearmanr(p.astype(np.float64), y.astype(np.float64)).statistic)


#: Metric name -> function ``(predictions, labels) -> float``.
METRICS: dict[str, Callable[[Any, Any], float]] = {
    "accuracy": accuracy,
    "f1": f1_binary,
    "matthews": matthews_corrcoef,
    "pearson": pearson,
    "spearman": spearman,
}


def predictions_from_outputs(task: str | TaskSpec, outputs: Any) -> np.ndarray:
    """Turn model outputs into predictions for ``task``.

    Classification: logits ``(n, num_labels)`` -> argmax class ids ``(n,)``; class ids ``(n,)``
    pass through (must be integers). Regression: ``(n, 1)`` or ``(n,)`` -> float ``(n,)``.
    """
    spec = get_task(task)
    out = _as_array(outputs, "outputs")
    if spec.is_regression:
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim != 1:
            raise ValueError(f"task {spec.name}: regression outputs must have shape (n,) or "
                             f"(n, 1), got {out.shape}")
        return out.astype(np.float64)
    if out.ndim == 2:
        if out.shape[1] != spec.num_labels:
            raise ValueError(f"task {spec.name}: logits must have shape (n, {spec.num_labels}), "
                             f"got {out.shape}")
        return out.argmax(axis=1)
    if out.ndim == 1:
        if out.size and not np.issubdtype(out.dtype, np.integer):
            raise ValueError(f"task {spec.name}: 1-D predictions must be integer class ids, got "
                             f"dtype {out.dtype} (pass logits of shape (n, {spec.num_labels}))")
        return out
    raise ValueError(f"task {spec.name}: predictions must be class ids (n,) or logits "
                     f"(n, {spec.num_labels}), got shape {out.shape}")


def compute_metrics(task: str | TaskSpec, predictions: Any, labels: Any) -> dict[str, float]:
    """``{metric: value}`` for every metric of ``task`` (primary first, :data:`deep.data.TASKS`).

    ``predictions``: class ids, logits or regression outputs (:func:`predictions_from_outputs`);
    ``labels``: class ids (classification) or scores (regression), shape ``(n,)``. Class ids
    outside ``0 .. num_labels - 1`` raise ``ValueError``.
    """
    spec = get_task(task)
    pred = predictions_from_outputs(spec, predictions)
    y = _as_array(labels, "labels")
    if not spec.is_regression:
        if y.ndim == 1 and y.size and not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"task {spec.name}: labels must be integer class ids, got dtype "
                             f"{y.dtype}")
        for name, arr in (("predictions", pred), ("labels", y)):
            if arr.size and (arr.min() < 0 or arr.max() >= spec.num_labels):
                raise ValueError(f"task {spec.name}: {name} hold class ids outside "
                                 f"0..{spec.num_labels - 1}")
    return {name: METRICS[name](pred, y) for name in spec.metrics}
