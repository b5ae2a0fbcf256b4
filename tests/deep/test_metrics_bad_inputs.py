"""deep.metrics on bad inputs: a clear ValueError naming the argument, never a silent NaN.

Before the fix, NaN / inf predictions, string and complex arrays were accepted and turned into a
plausible-looking number (e.g. accuracy 0.5 with a NaN prediction, argmax of NaN logits, Spearman
of strings = 1.0); constant inputs gave a NaN correlation without any warning.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from deep import metrics as M

FUNCS = [M.accuracy, M.f1_binary, M.matthews_corrcoef, M.pearson, M.spearman]
Y = np.array([0, 1, 0, 0])


def _bad(kind):
    return {
        "nan": np.array([0.0, np.nan, 1.0, 0.0]),
        "inf": np.array([0.0, np.inf, 1.0, 0.0]),
        "-inf": np.array([0.0, -np.inf, 1.0, 0.0]),
        "strings": np.array(["a", "b", "a", "a"]),
        "complex": np.array([0, 1, 1, 0]) + 1j,
        "objects": np.array([None, 1, 0, 0], dtype=object),
    }[kind]


@pytest.mark.parametrize("fn", FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("kind", ["nan", "inf", "-inf", "strings", "complex", "objects"])
@pytest.mark.parametrize("which", ["predictions", "labels"])
def test_bad_values_raise_naming_the_argument(fn, kind, which):
    bad = _bad(kind)
    args = (bad, Y) if which == "predictions" else (Y, bad)
    with pytest.raises(ValueError, match=which):
        fn(*args)


@pytest.mark.parametrize("fn", FUNCS, ids=lambda f: f.__name__)
def test_empty_mismatched_and_2d_raise(fn):
    with pytest.raises(ValueError, match="empty"):
        fn([], [])
    with pytest.raises(ValueError, match="differ in length"):
        fn(Y, Y[:3])
    with pytest.raises(ValueError, match="1-D"):
        fn(Y[None], Y[None])


@pytest.mark.parametrize("fn", [M.pearson, M.spearman], ids=lambda f: f.__name__)
def test_constant_input_nan_is_announced(fn):
    with pytest.warns(RuntimeWarning, match="constant"):
        assert math.isnan(fn(np.ones(4), np.arange(4.0)))


def test_one_class_classification_metrics_are_defined():
    # a single class is a valid (if degenerate) evaluation set: sklearn's conventions, no NaN
    assert M.accuracy(np.zeros(4, int), np.zeros(4, int)) == 1.0
    assert M.f1_binary(np.zeros(4, int), np.zeros(4, int)) == 0.0
    assert M.matthews_corrcoef(np.zeros(4, int), np.zeros(4, int)) == 0.0


@pytest.mark.parametrize(
    "task, outputs, labels, match",
    [
        ("sst2", np.array([[0.1, np.nan], [1.0, 0.0]]), [0, 1], "outputs contain NaN"),
        ("sst2", np.array([[0.1, np.inf], [1.0, 0.0]]), [0, 1], "outputs contain NaN"),
        ("stsb", np.array([0.1, np.nan]), [0.0, 1.0], "outputs contain NaN"),
        ("stsb", np.array([0.1, 0.2]), [0.0, np.nan], "labels contain NaN"),
        ("sst2", np.zeros((2, 2)) + 1j, [0, 1], "outputs must be real"),
        ("stsb", np.zeros(2) + 1j, [0.0, 1.0], "outputs must be real"),
        ("sst2", np.array([["a", "b"], ["c", "d"]]), [0, 1], "outputs must be real"),
        ("stsb", np.array([0.1, 0.2]), ["a", "b"], "labels must be real"),
        ("sst2", np.zeros((2, 2)), ["a", "b"], "labels must be"),
        ("sst2", np.zeros((0, 2)), [], "empty"),
        ("sst2", np.zeros((3, 2)), [0, 1], "differ in length"),
        ("sst2", np.zeros((2, 3)), [0, 1], r"logits must have shape \(n, 2\)"),
        ("sst2", np.array([0, 5]), [0, 1], "predictions hold class ids outside"),
        ("sst2", np.array([0.0, 1.0]), [0, 1], "integer class ids"),
        ("nope", np.zeros((2, 2)), [0, 1], "task='nope' is unknown"),
    ],
)
def test_compute_metrics_bad_inputs(task, outputs, labels, match):
    with pytest.raises(ValueError, match=match):
        M.compute_metrics(task, outputs, labels)
