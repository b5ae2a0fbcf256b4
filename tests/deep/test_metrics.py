"""deep.metrics against scikit-learn, SciPy and hand formulas (independent implementations).

Bad inputs (formerly tests/deep/test_metrics_bad_inputs.py, folded in here, issue 13): a clear
ValueError naming the argument, never a silent NaN. Before that fix, NaN / inf predictions,
string and complex arrays were accepted and turned into a plausible-looking number (e.g.
accuracy 0.5 with a NaN prediction, argmax of NaN logits, Spearman of strings = 1.0); constant
inputs gave a NaN correlation without any warning.
"""

import math

import numpy as np
import pytest
import scipy.stats
import sklearn.metrics
import torch

from deep import metrics as M
from deep.metrics import (
    METRICS,
    accuracy,
    compute_metrics,
    f1_binary,
    matthews_corrcoef,
    pearson,
    predictions_from_outputs,
    spearman,
)


@pytest.mark.filterwarnings("ignore:A single label was found")
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n", [1, 7, 200])
def test_binary_metrics_match_sklearn(seed, n):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.where(rng.random(n) < 0.7, y, 1 - y)
    assert accuracy(p, y) == pytest.approx(sklearn.metrics.accuracy_score(y, p), abs=1e-12)
    assert f1_binary(p, y) == pytest.approx(
        sklearn.metrics.f1_score(y, p, zero_division=0.0), abs=1e-12)
    assert matthews_corrcoef(p, y) == pytest.approx(
        sklearn.metrics.matthews_corrcoef(y, p), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_mcc_and_accuracy_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 300)
    p = np.where(rng.random(300) < 0.5, y, rng.integers(0, 3, 300))
    assert matthews_corrcoef(p, y) == pytest.approx(
        sklearn.metrics.matthews_corrcoef(y, p), abs=1e-12)
    assert accuracy(p, y) == pytest.approx(sklearn.metrics.accuracy_score(y, p), abs=1e-12)


def test_hand_computed_small_case():
    p, y = [1, 1, 0, 0], [1, 0, 1, 0]
    assert accuracy(p, y) == 0.5
    assert f1_binary(p, y) == 0.5  # TP=1, FP=1, FN=1
    assert matthews_corrcoef(p, y) == 0.0
    # perfect and inverted predictions
    assert matthews_corrcoef([0, 1, 1, 0], [0, 1, 1, 0]) == pytest.approx(1.0)
    assert matthews_corrcoef([1, 0, 0, 1], [0, 1, 1, 0]) == pytest.approx(-1.0)


def test_degenerate_cases_follow_sklearn():
    y = np.array([0, 1, 1, 0, 1])
    const = np.ones(5, dtype=int)
    assert matthews_corrcoef(const, y) == sklearn.metrics.matthews_corrcoef(y, const) == 0.0
    zeros = np.zeros(5, dtype=int)
    assert f1_binary(zeros, zeros) == sklearn.metrics.f1_score(zeros, zeros, zero_division=0.0)
    assert f1_binary(zeros, y) == 0.0
    assert math.isnan(pearson(np.ones(5), np.arange(5.0)))
    assert math.isnan(spearman(np.arange(5.0), np.full(5, 2.0)))


@pytest.mark.parametrize("seed", [0, 3])
def test_correlations_match_scipy(seed):
    rng = np.random.default_rng(seed)
    y = rng.uniform(0, 5, 500)
    p = y + rng.normal(0, 1.5, 500)
    assert pearson(p, y) == pytest.approx(scipy.stats.pearsonr(p, y)[0], abs=1e-12)
    assert spearman(p, y) == pytest.approx(scipy.stats.spearmanr(p, y)[0], abs=1e-12)
    # heavy ties: STS-B scores are often multiples of 0.2
    yt, pt = np.round(y * 5) / 5, np.round(p)
    assert spearman(pt, yt) == pytest.approx(scipy.stats.spearmanr(pt, yt)[0], abs=1e-12)


def test_inputs_may_be_torch_tensors_and_lists():
    y = torch.tensor([0, 1, 1, 0])
    p = torch.tensor([0, 1, 0, 0])
    assert accuracy(p, y) == 0.75
    assert f1_binary(p.tolist(), y.tolist()) == pytest.approx(2 / 3)
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0]], requires_grad=True)
    assert compute_metrics("rte", logits, [0, 1]) == {"accuracy": 1.0}


def test_compute_metrics_per_task_from_logits():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(50, 2))
    y = rng.integers(0, 2, 50)
    pred = logits.argmax(1)
    out = compute_metrics("mrpc", logits, y)
    assert list(out) == ["accuracy", "f1"]
    assert out["accuracy"] == pytest.approx(sklearn.metrics.accuracy_score(y, pred))
    assert out["f1"] == pytest.approx(sklearn.metrics.f1_score(y, pred))
    cola = compute_metrics("CoLA", pred, y)
    assert list(cola) == ["matthews", "accuracy"]
    assert cola["matthews"] == pytest.approx(sklearn.metrics.matthews_corrcoef(y, pred))
    mnli = compute_metrics("mnli", rng.normal(size=(30, 3)), rng.integers(0, 3, 30))
    assert list(mnli) == ["accuracy"]
    scores = rng.uniform(0, 5, 40)
    outputs = scores[:, None] + rng.normal(0, 1, (40, 1))
    out = compute_metrics("sts-b", outputs, scores)
    assert list(out) == ["pearson", "spearman"]
    assert out["pearson"] == pytest.approx(scipy.stats.pearsonr(outputs[:, 0], scores)[0])
    np.testing.assert_array_equal(predictions_from_outputs("mrpc", logits), pred)
    assert set(METRICS) >= {"accuracy", "f1", "matthews", "pearson", "spearman"}


def test_stsb_outputs_shape_n_by_1_are_squeezed():
    rng = np.random.default_rng(9)
    y = rng.uniform(0, 5, 30)
    out = y + rng.normal(0, 1, 30)
    got = compute_metrics("stsb", out[:, None], y)
    assert got["pearson"] == pytest.approx(scipy.stats.pearsonr(out, y)[0], abs=1e-12)
    assert got["spearman"] == pytest.approx(scipy.stats.spearmanr(out, y)[0], abs=1e-12)


@pytest.mark.parametrize(
    "task, preds, labels, match",
    [
        ("rte", [0, 1], [0, 1, 1], "differ in length"),
        ("rte", [0, 2], [0, 1], "outside 0..1"),
        ("rte", [0, 1], [0, -1], "outside 0..1"),
        ("rte", [0.2, 0.9], [0, 1], "integer class ids"),
        ("rte", np.zeros((2, 3)), [0, 1], r"shape \(n, 2\)"),
        ("stsb", np.zeros((2, 2)), [0.0, 1.0], "regression outputs"),
        ("rte", [], [], "empty"),
        ("nope", [0], [0], "valid tasks: rte"),
    ],
)
def test_bad_inputs_raise_clear_errors(task, preds, labels, match):
    with pytest.raises(ValueError, match=match):
        compute_metrics(task, np.asarray(preds), np.asarray(labels))


# ------------------------------------------------------------------ delegation (issue 13 item D)
# deep.metrics now calls scikit-learn / SciPy; the references below are the hand formulas of the
# previous NumPy implementation, written out here (not imported), on random inputs with ties.
EPS = np.finfo(np.float64).eps  # 2.2e-16


def hand_f1(p, y, positive=1):
    pp, yp = p == positive, y == positive
    tp = np.sum(pp & yp)
    denom = 2 * tp + np.sum(pp & ~yp) + np.sum(~pp & yp)
    return float(2 * tp / denom) if denom else 0.0


def hand_mcc(p, y):
    classes, inv = np.unique(np.concatenate([y, p]), return_inverse=True)
    k, n = classes.size, y.size
    conf = np.zeros((k, k))
    np.add.at(conf, (inv[:n], inv[n:]), 1.0)
    t, q = conf.sum(axis=1), conf.sum(axis=0)
    c, s = np.trace(conf), float(n)
    denom = np.sqrt((s * s - q @ q) * (s * s - t @ t))
    return float((c * s - t @ q) / denom) if denom > 0 else 0.0


def hand_pearson(p, y):
    p, y = p - p.mean(), y - y.mean()
    return float(np.clip((p @ y) / np.sqrt((p @ p) * (y @ y)), -1.0, 1.0))


def hand_ranks(x):
    """Average ranks 1..n by brute force: rank_i = #(x < x_i) + (#(x == x_i) + 1) / 2."""
    less = (x[None, :] < x[:, None]).sum(axis=1)
    equal = (x[None, :] == x[:, None]).sum(axis=1)
    return less + (equal + 1) / 2.0


@pytest.mark.parametrize("seed", range(12))
def test_delegated_metrics_equal_the_hand_formulas(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(2, 300)), int(rng.integers(2, 5))
    y = rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))
    assert f1_binary(p, y) == hand_f1(p, y)
    assert f1_binary(p, y, positive=0) == hand_f1(p, y, positive=0)
    assert matthews_corrcoef(p, y) == hand_mcc(p, y)
    ys = rng.normal(size=n) * rng.uniform(0.1, 100)
    ps = ys + rng.normal(size=n) * rng.uniform(0.1, 3)
    if seed % 2:  # heavy ties, as STS-B scores
        ys, ps = np.round(ys * 2) / 2, np.round(ps)
    assert abs(pearson(ps, ys) - hand_pearson(ps, ys)) <= 4 * EPS
    assert abs(spearman(ps, ys) - hand_pearson(hand_ranks(ps), hand_ranks(ys))) <= 4 * EPS


def test_delegated_metrics_keep_the_documented_edge_cases():
    y = np.array([0, 1, 1, 0, 1])
    for const in (np.zeros(5, int), np.ones(5, int)):
        assert matthews_corrcoef(const, y) == 0.0  # a constant marginal: 0
    assert matthews_corrcoef(np.zeros(5, int), np.zeros(5, int)) == 0.0  # one class, no warning
    assert f1_binary(np.zeros(5, int), y) == 0.0  # no positive prediction
    assert f1_binary(np.zeros(5, int), np.zeros(5, int)) == 0.0  # 0/0 -> 0
    assert f1_binary([2, 2, 1], [2, 1, 1]) == hand_f1(np.array([2, 2, 1]), np.array([2, 1, 1]))
    # constant inputs: nan announced by a RuntimeWarning (0.1 is not exactly representable: the
    # centred values of the old NumPy code were tiny but nonzero and gave 0.0, silently)
    for const in (np.full(7, 2.0), np.full(7, 0.1), np.full(7, 7.7)):
        for fn in (pearson, spearman):
            for args in ((const, np.arange(7.0)), (np.arange(7.0), const)):
                with pytest.warns(RuntimeWarning, match="constant"):
                    assert math.isnan(fn(*args))
    assert pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(hand_pearson(
        np.array([1.0, 2, 3]), np.array([2.0, 4, 7])), abs=4 * EPS)  # integers accepted
    assert spearman([True, False, True], [1, 0, 1]) == pytest.approx(1.0, abs=4 * EPS)  # bools


# ------------------------------------------------------------------ bad inputs
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
