"""Shared fixtures for the linear tests: small seeded binary problems in both regimes."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """One BLAS thread: the matrices here are small, and on a shared 2-core machine
    multi-threaded BLAS under contention is up to 10x slower than single-threaded."""
    with threadpool_limits(1):
        yield


def make_problem(n, p, seed, signal=1.0):
    """Row-major (n, p) two-class Gaussian mixture with labels in {-1, +1} (both classes
    present) and an arbitrary source vector; built with numpy only."""
    rng = np.random.default_rng(seed)
    mu = np.zeros(p)
    mu[0] = signal
    y = np.where(np.arange(n) < n // 2, -1.0, 1.0)
    rng.shuffle(y)
    X = rng.standard_normal((n, p)) + y[:, None] * mu
    w = 0.7 * mu + 0.3 * rng.standard_normal(p) / np.sqrt(p)
    return X, y, w


@pytest.fixture(params=[(15, 40), (60, 12)], ids=["n<p", "n>p"])
def problem(request):
    n, p = request.param
    return make_problem(n, p, seed=n * 1000 + p)
