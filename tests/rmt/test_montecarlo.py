"""Theory (rmt) against Monte-Carlo simulation (tests/rmt/montecarlo.py, fixed seeds), p = 400.

Accuracy must agree within 1.5 points on the whole alpha grid, and alpha* within 10 % of the
argmax of the seed-averaged empirical accuracy.
"""

import numpy as np
import pytest

from rmt import ridge

from .montecarlo import ridge_source_curves

# name: (p, N, n, norm_mu, norm_perp, beta, gamma_pre, gamma_ft)
SETTINGS = {
    "R1 (theory.md)": (400, 2000, 40, 1.2, 1.2, 0.8, 1.0, 1.0),
    "p = N": (400, 400, 40, 1.5, 1.0, 0.7, 0.5, 0.5),
    "small gamma_pre": (400, 2000, 40, 2.0, 1.0, 0.7, 0.05, 1.0),
    "weak alignment, alpha* < 1": (400, 1000, 40, 1.5, 1.5, 0.25, 1.0, 1.0),
}
ALPHAS = np.round(np.arange(-2.0, 5.0001, 0.02), 10)
SEEDS = range(60)


#: the one Monte-Carlo setting of the default suite; the others are `slow` (keeps tests/rmt fast)
FAST = "small gamma_pre"


@pytest.fixture(scope="module", params=[
    pytest.param(name, marks=() if name == FAST else pytest.mark.slow) for name in sorted(SETTINGS)])
def simulated(request):
    p, N, n, norm_mu, norm_perp, beta, gp, gf = SETTINGS[request.param]
    mu_s, mu_t = ridge.beta_means(beta, norm_mu, norm_perp, p)
    accs, w_norms = ridge_source_curves(mu_s, mu_t, n, N, gp, gf, ALPHAS, SEEDS)
    st = ridge.Setting.from_means(mu_s, mu_t, n=n, N=N, gamma_pre=gp, gamma_ft=gf)
    return request.param, st, accs, w_norms


def test_accuracy_curve_matches_simulation(simulated):
    name, st, accs, _ = simulated
    theory = st.moments().accuracy(ALPHAS)
    gap = np.max(np.abs(theory - accs.mean(axis=0)))
    assert gap < 0.015, f"{name}: max |theory - MC| = {gap:.4f}"


def test_alpha_star_matches_empirical_argmax(simulated):
    name, st, accs, _ = simulated
    a_star = st.moments().alpha_star()
    a_emp = ALPHAS[np.argmax(accs.mean(axis=0))]
    assert abs(a_emp - a_star) <= 0.10 * abs(a_star), f"{name}: {a_star=:.3f} {a_emp=:.3f}"


def test_source_norm_matches_simulation(simulated):
    """The corrected ||w~||^2 (docs/theory.md §2.3) within 3 standard errors of the MC mean."""
    name, st, _, w_norms = simulated
    W = st.source_statistics()[1]
    se = w_norms.std(ddof=1) / np.sqrt(len(w_norms))
    assert abs(w_norms.mean() - W) < 3 * se + 2e-3 * W, name
