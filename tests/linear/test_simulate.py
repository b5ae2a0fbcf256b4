"""Sampler and Monte-Carlo routine: shapes, determinism, agreement with rmt (seeded)."""

import numpy as np
import pytest
from joblib import parallel_config

from linear.gmm import Transfer, sample
from linear.simulate import Setting, bootstrap_argmax, simulate
from rmt import ridge


def test_sample_shapes_balance_and_mean():
    mu = np.array([1.0, -2.0, 0.0])
    X, y = sample(mu, 20001, np.random.default_rng(0))
    assert X.shape == (20001, 3) and y.shape == (20001,)
    assert np.sum(y == -1) == 10000 and np.sum(y == 1) == 10001
    assert np.all(y[:10000] == -1)
    np.testing.assert_allclose((X * y[:, None]).mean(axis=0), mu, atol=0.03)
    np.testing.assert_allclose(np.cov((X - y[:, None] * mu).T), np.eye(3), atol=0.05)


def test_sample_needs_generator():
    with pytest.raises(TypeError, match="rng"):
        sample(np.ones(2), 4, 0)
    with pytest.raises(ValueError, match="n must"):
        sample(np.ones(2), 0, np.random.default_rng(0))


def test_transfer_beta_means():
    t = Transfer.from_beta(0.6, 1.2, 0.5, p=10)
    M_s, M_t, c = ridge.beta_parameters(0.6, 1.2, 0.5)
    assert t.mu_s @ t.mu_s == pytest.approx(M_s)
    assert t.mu_t @ t.mu_t == pytest.approx(M_t)
    assert t.mu_s @ t.mu_t == pytest.approx(c)
    with pytest.raises(ValueError, match="same shape"):
        Transfer(np.ones(3), np.ones(4))


R1 = dict(beta=0.8, norm_mu=1.2, norm_perp=1.2, p=400, N=2000, n=40, gamma_pre=1.0,
          gamma_ft=1.0)


def r1_setting():
    t = Transfer.from_beta(R1["beta"], R1["norm_mu"], R1["norm_perp"], R1["p"])
    return Setting(t, n=R1["n"], N=R1["N"], gamma_pre=R1["gamma_pre"], gamma_ft=R1["gamma_ft"])


def test_monte_carlo_matches_rmt_on_R1():
    """docs/theory.md §4 R1: mean accuracy over 40 seeds within 0.01 of the theory (the
    documented tolerance at these sizes), ||w~||^2 within 2 % of the corrected term and far
    from the reference-code term."""
    alphas = np.array([-1.0, 0.0, 1.0, 1.6237, 2.0, 4.0])
    res = simulate(r1_setting(), alphas, 40, progress=False)
    theory = ridge.Setting.from_beta(R1["beta"], R1["norm_mu"], R1["norm_perp"], p=400, n=40,
                                     N=2000, gamma_pre=1.0, gamma_ft=1.0)
    np.testing.assert_allclose(res.mean, theory.moments().accuracy(alphas), atol=0.01)
    W_corr = theory.source_statistics("corrected")[1]
    W_ref = theory.source_statistics("reference")[1]
    assert res.source_sq_norm.mean() == pytest.approx(W_corr, rel=0.02)
    assert abs(res.source_sq_norm.mean() - W_ref) > 5 * abs(res.source_sq_norm.mean() - W_corr)
    emp = res.empirical_moments()
    np.testing.assert_allclose(emp.as_tuple(), theory.moments().as_tuple(), rtol=0.05, atol=0.005)


def test_per_seed_values_by_brute_force():
    """Seed 3 recomputed with numpy only (normal equations, explicit Phi)."""
    from scipy.stats import norm

    st = Setting(Transfer.from_beta(0.5, 1.0, 1.0, 30), n=12, N=50, gamma_pre=0.5, gamma_ft=0.8)
    alphas = np.array([-1.0, 0.5, 2.0])
    res = simulate(st, alphas, [3], progress=False)
    rng = np.random.default_rng(3)
    Xs, ys = sample(st.transfer.mu_s, 50, rng)
    wt = np.linalg.solve(Xs.T @ Xs / 50 + 0.5 * np.eye(30), Xs.T @ ys / 50)
    X, y = sample(st.transfer.mu_t, 12, rng)
    for a, acc in zip(alphas, res.accuracy[0], strict=True):
        w = np.linalg.solve(X.T @ X / 12 + 0.8 * np.eye(30), X.T @ y / 12 + 0.8 * a * wt)
        assert acc == pytest.approx(norm.cdf(w @ st.transfer.mu_t / np.linalg.norm(w)), rel=1e-10)


def test_parallel_equals_serial_and_is_deterministic():
    st = Setting(Transfer.from_beta(0.5, 1.0, 1.0, 20), n=10, N=40, gamma_pre=1.0, gamma_ft=1.0)
    a = np.linspace(-1, 3, 5)
    serial = simulate(st, a, 4, progress=False)
    with parallel_config(backend="threading"):
        par = simulate(st, a, 4, n_jobs=2, progress=False)
    np.testing.assert_array_equal(serial.accuracy, par.accuracy)
    np.testing.assert_array_equal(serial.accuracy, simulate(st, a, 4, progress=False).accuracy)


def test_shared_source_and_test_sample_mode():
    t1 = Transfer.from_beta(0.3, 1.0, 1.0, 20)
    t2 = Transfer.from_beta(0.9, 1.0, 1.0, 20)
    sts = [Setting(t1, n=10, N=40, gamma_pre=1.0, gamma_ft=1.0),
           Setting(t2, n=10, N=40, gamma_pre=1.0, gamma_ft=1.0)]
    r = simulate(sts, [0.0, 1.0], 3, progress=False)
    np.testing.assert_array_equal(r[0].source_sq_norm, r[1].source_sq_norm)
    rt = simulate(sts[0], [0.0, 1.0], 3, n_test=5000, progress=False)
    assert np.all(np.abs(rt.accuracy - r[0].accuracy) < 0.05)
    with pytest.raises(ValueError, match="share"):
        simulate([sts[0], Setting(t1, n=10, N=41, gamma_pre=1.0, gamma_ft=1.0)], [0.0], 1,
                 progress=False)


def test_fixed_source_theory_is_arbitrary_formula():
    t = Transfer.from_beta(0.5, 1.0, 1.0, 200)
    w = t.mu_t / np.linalg.norm(t.mu_t) * 0.6 + 0.02 * np.random.default_rng(1).standard_normal(200)
    st = Setting(t, n=40, N=1, gamma_pre=1.0, gamma_ft=0.5, source_coef=w)
    res = simulate(st, [0.0, 1.0, 2.0], 30, progress=False)
    np.testing.assert_allclose(res.mean, res.theory_accuracy(), atol=0.015)


def test_bootstrap_argmax_shape():
    acc = np.tile(np.array([0.1, 0.9, 0.2]), (5, 1))
    out = bootstrap_argmax(acc, np.array([0.0, 1.0, 2.0]), np.random.default_rng(0), 7)
    np.testing.assert_array_equal(out, np.ones(7))


@pytest.mark.parametrize("kw,match", [({"n": 0}, "n must"), ({"gamma_ft": -1.0}, "gamma_ft"),
                                      ({"source_coef": np.ones(3)}, "source_coef")])
def test_setting_validation(kw, match):
    args = dict(transfer=Transfer.from_beta(0.5, 1.0, 1.0, 5), n=4, N=8, gamma_pre=1.0,
                gamma_ft=1.0) | kw
    with pytest.raises(ValueError, match=match):
        Setting(**args)


@pytest.mark.parametrize("beta", [0.0, 0.2, 0.9, 1.0])
def test_transfer_beta_recovers_the_beta_it_was_built_from(beta):
    t = Transfer.from_beta(beta, 2.0, 1.5, 12)
    assert t.beta == pytest.approx(beta, abs=1e-15)
    # by definition on arbitrary means: <mu_s, mu_t> / |mu_s|^2
    rng = np.random.default_rng(0)
    mu_s, mu_t = rng.standard_normal(7), rng.standard_normal(7)
    assert Transfer(mu_s, mu_t).beta == pytest.approx(sum(mu_s * mu_t) / sum(mu_s**2), rel=1e-12)
