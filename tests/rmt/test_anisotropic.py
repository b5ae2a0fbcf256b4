"""rmt.anisotropic: general-covariance moments.

References: the isotropic closed forms of rmt.arbitrary / rmt.ridge (Sigma = I, and Sigma = c I
by the exact rescaling x -> x / sqrt(c)); the rotation invariance of ridge; and an independent
seeded Monte-Carlo sampler (tests/rmt/montecarlo_anisotropic.py) in six anisotropic settings at
p = 400 (slow) and one small one at p = 100 (default suite).
"""

from __future__ import annotations

import numpy as np
import pytest

from rmt import Moments, anisotropic, arbitrary, delta, ridge

from .montecarlo_anisotropic import accuracy_curves, fine_tune_parts, root, sample


def _unit(v):
    return v / np.linalg.norm(v)


def _orthogonal(p, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((p, p)))
    return q * np.sign(np.diag(r))


def _close(a: Moments, b: Moments, rtol=1e-10):
    np.testing.assert_allclose(a.as_tuple(), b.as_tuple(), rtol=rtol, atol=1e-13)


# --------------------------------------------------------------------------------------------
# Sigma = I: the isotropic theory, to 1e-10
# --------------------------------------------------------------------------------------------
ISO = [  # p, n, N, gamma_pre, gamma_ft, beta
    pytest.param(400, 40, 2000, 1.0, 1.0, 0.8, marks=pytest.mark.slow),  # 3 s; the others cover it
    (50, 200, 50, 0.05, 3.0, 0.3),
    (10, 3, 7, 2.0, 0.1, 0.95),
    pytest.param(500, 20, 2500, 5.0, 0.1, 0.5, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("p, n, N, gamma_pre, gamma_ft, beta", ISO)
def test_identity_covariance_equals_isotropic_theory(p, n, N, gamma_pre, gamma_ft, beta):
    rng = np.random.default_rng(p + n)
    mu_s = 1.2 * _unit(rng.standard_normal(p))
    perp = rng.standard_normal(p)
    perp = _unit(perp - (perp @ mu_s) / (mu_s @ mu_s) * mu_s)
    mu_t = beta * mu_s + np.sqrt(1 - beta**2) * 0.9 * perp
    w = 0.7 * _unit(mu_t) + 0.4 * _unit(rng.standard_normal(p))
    eye = np.eye(p)
    rotated = (np.ones(p), _orthogonal(p, 1))  # Sigma = I written in another orthonormal basis
    iso_a = arbitrary.moments(mu_t @ mu_t, w @ mu_t, w @ w, p, n, gamma_ft)
    iso_b = ridge.moments_from_means(mu_s, mu_t, n, N, gamma_pre, gamma_ft)
    for cov in (eye, rotated, anisotropic.spectrum(eye)):
        _close(anisotropic.moments(w, mu_t, cov, n, gamma_ft), iso_a)
        _close(anisotropic.ridge_moments(mu_s, mu_t, cov, eye, N, n, gamma_pre, gamma_ft), iso_b)
        _close(anisotropic.ridge_moments(mu_s, mu_t, eye, cov, N, n, gamma_pre, gamma_ft), iso_b)
    assert anisotropic.resolvent(eye, n, gamma_ft).delta == pytest.approx(
        delta(p / n, gamma_ft), rel=1e-12)


@pytest.mark.parametrize("c", [0.25, 3.0])
def test_scaled_identity_equals_rescaled_isotropic_theory(c):
    """x = y mu + sqrt(c) z is, after x -> x / sqrt(c), the isotropic model with mean mu/sqrt(c),
    penalties gamma/c and source w~ sqrt(c); m and v are unchanged by that change of variables."""
    p, n, N, gp, gf = 120, 30, 300, 0.7, 0.4
    rng = np.random.default_rng(7)
    mu_s, mu_t = rng.standard_normal(p) / 8, rng.standard_normal(p) / 8
    w = rng.standard_normal(p) / 10
    r = np.sqrt(c)
    cov = c * np.eye(p)
    _close(anisotropic.ridge_moments(mu_s, mu_t, cov, cov, N, n, gp, gf),
           ridge.moments_from_means(mu_s / r, mu_t / r, n, N, gp / c, gf / c))
    _close(anisotropic.moments(w, mu_t, cov, n, gf),
           arbitrary.moments(mu_t @ mu_t / c, w @ mu_t, c * (w @ w), p, n, gf / c))


def test_rotation_invariance_and_input_forms():
    """Ridge is rotation-equivariant: (O Sigma Oᵀ, O mu, O w~) gives the same moments; the matrix,
    the (eigenvalues, eigenvectors) pair and a Spectrum give the same result."""
    p, n, N = 60, 25, 90
    rng = np.random.default_rng(3)
    lam = np.exp(rng.standard_normal(p))
    O1, O2 = _orthogonal(p, 4), _orthogonal(p, 5)
    mu_s, mu_t, w = (rng.standard_normal(p) / 5 for _ in range(3))
    base_a = anisotropic.moments(w, mu_t, np.diag(lam), n, 0.3)
    base_b = anisotropic.ridge_moments(mu_s, mu_t, np.diag(lam[::-1]), np.diag(lam), N, n, 1.5, 0.3)
    cov1 = (O1 * lam) @ O1.T
    _close(anisotropic.moments(O1 @ w, O1 @ mu_t, cov1, n, 0.3), base_a, rtol=1e-9)
    _close(anisotropic.moments(O1 @ w, O1 @ mu_t, (lam, O1), n, 0.3), base_a, rtol=1e-9)
    # source and target covariances in different bases (the O(p^3) path)
    cov_s = (O2 * lam[::-1]) @ O2.T
    moved = anisotropic.ridge_moments(O2 @ mu_s, O2 @ mu_t, cov_s, (O2 * lam) @ O2.T, N, n, 1.5, 0.3)
    _close(moved, base_b, rtol=1e-9)
    spec = anisotropic.spectrum(cov_s)
    _close(anisotropic.ridge_moments(O2 @ mu_s, O2 @ mu_t, spec, (lam, O2), N, n, 1.5, 0.3),
           base_b, rtol=1e-9)


@pytest.mark.slow  # the default Monte-Carlo check of rmt.anisotropic: test_against_monte_carlo_small
def test_fixed_point_against_simulated_trace():
    """delta is the deterministic equivalent of tr(Sigma Q) / n (Monte-Carlo, 40 draws)."""
    p, n, gamma = 200, 100, 0.5
    lam = np.linspace(0.1, 3.0, p)
    mu = np.zeros(p)
    mu[0] = 1.0
    res = anisotropic.resolvent(np.diag(lam), n, gamma)
    vals = []
    for seed in range(40):
        X, _ = sample(np.random.default_rng(seed), mu, np.sqrt(lam), n)
        Q = np.linalg.inv(X @ X.T / n + gamma * np.eye(p))
        vals.append(np.sum(lam * np.diag(Q)) / n)
    assert abs(np.mean(vals) - res.delta) < 0.01 * res.delta
    assert 0 < res.h <= 1


# --------------------------------------------------------------------------------------------
# against Monte-Carlo
# --------------------------------------------------------------------------------------------
P = 400
_j = np.arange(1, P + 1)
POWER = _j**-1.0 * P / np.sum(_j**-1.0)          # power law, mean eigenvalue 1
SPIKE = np.where(_j <= 20, 8.0, 0.6)             # 20 spikes at 8, bulk at 0.6
_rng = np.random.default_rng(12345)
G1, G2, G3 = (_unit(_rng.standard_normal(P)) for _ in range(3))
_E = np.eye(P)
ROT = _orthogonal(P, 99)

# name: dict(cov_s, cov_t (vectors = diagonal, or matrices), means, sizes, penalties, grid)
SETTINGS = {
    "power-law spectrum": dict(
        cov_s=POWER, cov_t=POWER, mu_s=1.0 * G1, mu_t=1.0 * (0.8 * G1 + 0.6 * G2),
        N=2000, n=100, gamma_pre=1.0, gamma_ft=1.0, alphas=(-1.0, 6.0)),
    "two-level spiked spectrum": dict(
        cov_s=SPIKE, cov_t=SPIKE, mu_s=1.5 * G1, mu_t=1.5 * (0.7 * G1 + 0.714 * G2),
        N=2000, n=100, gamma_pre=0.5, gamma_ft=0.5, alphas=(-1.0, 3.0)),
    "mu along large eigenvectors": dict(
        cov_s=SPIKE, cov_t=SPIKE, mu_s=3.0 * _unit(_E[0] + 0.3 * _E[1]),
        mu_t=3.0 * _unit(0.9 * _E[0] + 0.5 * _E[2]),
        N=2000, n=100, gamma_pre=1.0, gamma_ft=1.0, alphas=(-1.0, 3.0)),
    "mu along small eigenvectors": dict(
        cov_s=POWER, cov_t=POWER, mu_s=0.5 * _unit(_E[-1] + 0.3 * _E[-2]),
        mu_t=0.5 * _unit(0.9 * _E[-1] + 0.5 * _E[-3]),
        N=2000, n=100, gamma_pre=1.0, gamma_ft=1.0, alphas=(-1.0, 12.0)),
    "p = N": dict(
        cov_s=POWER, cov_t=POWER, mu_s=1.5 * G1, mu_t=1.5 * (0.8 * G1 + 0.6 * G2),
        N=400, n=100, gamma_pre=0.5, gamma_ft=1.0, alphas=(-1.0, 4.0)),
    "rotated spiked target, power-law source": dict(
        cov_s=np.diag(POWER), cov_t=(ROT * SPIKE) @ ROT.T, mu_s=1.2 * G1,
        mu_t=1.2 * (0.8 * G1 + 0.6 * G3), N=1000, n=80, gamma_pre=1.0, gamma_ft=0.5,
        alphas=(-1.0, 4.0)),
    "fixed source, power-law spectrum": dict(
        cov_t=POWER, source_coef=0.6 * G1 + 0.3 * G3, mu_t=1.0 * (0.8 * G1 + 0.6 * G2),
        n=100, gamma_ft=1.0, alphas=(-1.0, 4.0)),
}
SEEDS = range(200)
STEP = 0.01


def _as_matrix(c):
    return np.diag(c) if np.ndim(c) == 1 else c


def _theory(s):
    if "source_coef" in s:
        return anisotropic.moments(s["source_coef"], s["mu_t"], _as_matrix(s["cov_t"]), s["n"],
                                   s["gamma_ft"])
    return anisotropic.ridge_moments(s["mu_s"], s["mu_t"], _as_matrix(s["cov_s"]),
                                     _as_matrix(s["cov_t"]), s["N"], s["n"], s["gamma_pre"],
                                     s["gamma_ft"])


def _simulate(s, alphas, seeds):
    if "source_coef" in s:
        return accuracy_curves(s["mu_t"], s["cov_t"], s["n"], s["gamma_ft"], alphas, seeds,
                               source_coef=s["source_coef"])
    return accuracy_curves(s["mu_t"], s["cov_t"], s["n"], s["gamma_ft"], alphas, seeds,
                           mu_s=s["mu_s"], cov_s=s["cov_s"], N=s["N"], gamma_pre=s["gamma_pre"])


def _grid(lo, hi):
    return np.round(np.arange(lo, hi + STEP / 2, STEP), 10)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_against_monte_carlo(name):
    """p = 400, 200 seeds: accuracy within 1 point over the whole grid, alpha* within 5 % of
    the argmax of the seed-averaged empirical accuracy."""
    s = SETTINGS[name]
    alphas = _grid(*s["alphas"])
    emp = _simulate(s, alphas, SEEDS).mean(axis=0)
    mo = _theory(s)
    gap = np.max(np.abs(mo.accuracy(alphas) - emp))
    a_star, a_emp = mo.alpha_star(), alphas[np.argmax(emp)]
    print(f"{name}: max gap {100 * gap:.3f} points, alpha* {a_star:.4f}, empirical {a_emp:.2f}")
    assert gap < 0.01, f"{name}: max |theory - MC| = {gap:.4f}"
    assert abs(a_emp - a_star) <= 0.05 * abs(a_star), f"{name}: {a_star=:.4f} {a_emp=:.3f}"


def test_against_monte_carlo_small():
    """Default suite (a few seconds): p = 100, rotated spiked target and power-law source."""
    p, N, n = 100, 300, 50
    j = np.arange(1, p + 1)
    power = j**-1.0 * p / np.sum(j**-1.0)
    O = _orthogonal(p, 11)
    cov_t = (O * np.where(j <= 5, 6.0, 0.7)) @ O.T
    rng = np.random.default_rng(5)
    g1, g2 = _unit(rng.standard_normal(p)), _unit(rng.standard_normal(p))
    mu_s, mu_t = 1.5 * g1, 1.5 * (0.8 * g1 + 0.6 * g2)
    alphas = _grid(-1.0, 4.0)
    emp = accuracy_curves(mu_t, cov_t, n, 0.5, alphas, range(60), mu_s=mu_s, cov_s=power, N=N,
                          gamma_pre=1.0).mean(axis=0)
    mo = anisotropic.ridge_moments(mu_s, mu_t, np.diag(power), cov_t, N, n, 1.0, 0.5)
    assert np.max(np.abs(mo.accuracy(alphas) - emp)) < 0.015
    a_star = mo.alpha_star()
    assert abs(alphas[np.argmax(emp)] - a_star) <= 0.10 * a_star


@pytest.mark.slow  # the default Monte-Carlo check of rmt.anisotropic: test_against_monte_carlo_small
def test_source_moments_against_monte_carlo():
    """E[w~] and E[w~ᵀ K w~] of the ridge source (first- and second-order equivalents) against
    300 simulated sources, for K = I and a K that does not commute with Sigma_s."""
    p, N, gp = 80, 160, 0.8
    rng = np.random.default_rng(8)
    lam = np.exp(0.8 * rng.standard_normal(p))
    mu_s, probe = 1.2 * _unit(rng.standard_normal(p)), _unit(rng.standard_normal(p))
    O = _orthogonal(p, 9)
    K = (O * np.linspace(0.2, 3.0, p)) @ O.T
    lin, quad = [], []
    for seed in range(300):
        X, y = sample(np.random.default_rng(seed), mu_s, np.sqrt(lam), N)
        w = np.linalg.solve(X @ X.T / N + gp * np.eye(p), X @ y / N)
        lin.append([w @ mu_s, w @ probe])
        quad.append([w @ w, w @ K @ w])
    sm = anisotropic.source_moments(mu_s, np.diag(lam), N, gp)
    theory = [sm.mean @ mu_s, sm.mean @ probe, sm.second_moment(np.eye(p)), sm.second_moment(K)]
    sims = np.column_stack([lin, quad])
    avg = sims.mean(axis=0)
    se = sims.std(axis=0, ddof=1) / np.sqrt(sims.shape[0])
    # 4 standard errors plus the O(1/N) finite-size bias of the equivalents
    assert np.all(np.abs(avg - theory) < 4 * se + 0.01 * np.abs(theory)), (avg, theory, se)


# --------------------------------------------------------------------------------------------
# bad inputs: ValueError naming the argument, the value and what is allowed
# --------------------------------------------------------------------------------------------
_MU = np.array([1.0, 0.0, 0.5])
_W = np.array([0.5, 0.5, 0.0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(cov=np.diag([1.0, -0.5, 1.0])), r"cov is not positive semi-definite: smallest "
                                               r"eigenvalue -0\.5.*allowed"),
        (dict(cov=np.array([[1.0, 0.3, 0], [0, 1, 0], [0, 0, 1]])), r"cov is not symmetric.*allowed"),
        (dict(cov=np.eye(4)), r"cov has dimension 4 but the mean vectors have length p=3.*\(3, 3\)"),
        (dict(cov=np.ones((3, 2))), r"cov must be a square \(p, p\) matrix, got shape \(3, 2\)"),
        (dict(cov=np.zeros((3, 3))), r"cov is the zero matrix.*allowed"),
        (dict(cov=(np.ones(3), np.ones((3, 3)))), r"cov: the eigenvectors are not orthonormal"),
        (dict(cov=(np.ones(3), np.eye(4))), r"cov: eigenvectors have shape \(4, 4\) but there are 3"),
        (dict(cov=(np.array([1.0, -1.0, 1.0]), np.eye(3))), r"smallest eigenvalue -1"),
        (dict(source_coef=np.ones(4)), r"source_coef has length 4 but mu_t has length 3"),
        (dict(n=0), r"n must be a positive integer \(>= 1\), got 0"),
        (dict(n=-3), r"n must be a positive integer \(>= 1\), got -3"),
        (dict(gamma=0.0), r"gamma must be > 0, got 0\.0"),
        (dict(gamma=-1.0), r"gamma must be > 0, got -1\.0"),
        (dict(mu_t=np.array([1.0, np.nan, 0.0])), r"mu_t must contain only finite values"),
    ],
)
def test_moments_bad_inputs(kwargs, match):
    args = dict(source_coef=_W, mu_t=_MU, cov=np.eye(3), n=5, gamma=1.0) | kwargs
    with pytest.raises(ValueError, match=match):
        anisotropic.moments(**args)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(cov_s=np.diag([1.0, 1.0, -2.0])), r"cov_s is not positive semi-definite.*-2"),
        (dict(cov_t=np.diag([1.0, 1.0, -2.0])), r"cov_t is not positive semi-definite.*-2"),
        (dict(cov_t=np.eye(2)), r"cov_t has dimension 2 but the mean vectors have length p=3"),
        (dict(mu_s=np.ones(2)), r"mu_s has length 2 but mu_t has length 3"),
        (dict(N=0), r"N must be a positive integer \(>= 1\), got 0"),
        (dict(n=0), r"n must be a positive integer \(>= 1\), got 0"),
        (dict(gamma_pre=0.0), r"gamma_pre must be > 0, got 0\.0"),
        (dict(gamma_ft=-2.0), r"gamma_ft must be > 0, got -2\.0"),
    ],
)
def test_ridge_moments_bad_inputs(kwargs, match):
    args = dict(mu_s=_W, mu_t=_MU, cov_s=np.eye(3), cov_t=np.eye(3), N=10, n=5, gamma_pre=1.0,
                gamma_ft=1.0) | kwargs
    with pytest.raises(ValueError, match=match):
        anisotropic.ridge_moments(**args)


def test_psd_round_off_is_accepted_and_sampler_root_is_a_root():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 5))
    cov = A @ A.T  # rank 5: 25 eigenvalues are round-off around 0
    spec = anisotropic.spectrum(cov)
    assert np.all(spec.eigenvalues >= 0) and np.allclose(spec.matrix(), cov)
    R = root(cov)
    assert np.allclose(R @ R.T, cov)
    mo = anisotropic.moments(rng.standard_normal(30), rng.standard_normal(30), spec, 10, 0.5)
    assert 0.0 < mo.accuracy(1.0) < 1.0
    u, v = fine_tune_parts(*sample(rng, np.ones(30), R, 10), np.ones(30), 0.5)
    assert u.shape == v.shape == (30,)
