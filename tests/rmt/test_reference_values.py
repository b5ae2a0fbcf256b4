"""The reference numbers of docs/theory.md §3-§4, computed there by an independent script.

Closed-form quantities are checked to 1e-3 (the precision the document prints them with).
"""

import numpy as np
import pytest

from rmt import arbitrary, ridge

# (norm_mu, norm_perp, beta, gamma_pre, gamma_ft, n) for R1..R4: p = 400, N = 2000
SETTINGS = {
    "R1": (1.2, 1.2, 0.8, 1.0, 1.0, 40),
    "R2": (1.2, 1.0, 0.5, 1.0, 1.0, 20),
    "R3": (1.0, 0.7, 0.9, 2.0, 0.1, 40),
    "R4": (2.0, 1.0, 0.7, 0.05, 1.0, 40),
}
# docs/theory.md §4 (1): W correct, W reference, coefficients, alpha* correct / reference, chance
EXPECTED = {
    "R1": (0.13667, 0.12305, [0.1148, 0.2617, 0.0924, 0.0646, 0.1834], 1.6237, 1.8280, -0.4388),
    "R2": (0.13667, 0.12305, [0.0501, 0.1838, 0.0475, 0.0193, 0.1618], 1.3031, 1.4517, -0.2726),
    "R3": (0.07160, 0.06895, [0.082, 0.18, 0.1063, 0.0299, 0.0929], 3.6358, 3.7857, -0.4555),
    "R4": (0.19930, 0.05311, [0.182, 0.4117, 0.1068, 0.1564, 0.3271], 1.0881, 8.8395, -0.4421),
}
# theory accuracy at alpha = -1, 0, 1, 2, 4 (docs/theory.md §4 (1), acc_theory column)
EXPECTED_ACC = {
    "R1": [0.3679, 0.6584, 0.8010, 0.8058, 0.7982],
    "R2": [0.3737, 0.5933, 0.7125, 0.7118, 0.7062],
    "R3": [0.4032, 0.6025, 0.7434, 0.7749, 0.7809],
    "R4": [0.3140, 0.7487, 0.8883, 0.8824, 0.8707],
}
EXPECTED_ACC_STAR = {"R1": 0.8065, "R2": 0.7136, "R3": 0.7810, "R4": 0.8884}


def setting(key):
    norm_mu, norm_perp, beta, gp, gf, n = SETTINGS[key]
    return ridge.Setting.from_beta(
        beta, norm_mu, norm_perp, p=400, n=n, N=2000, gamma_pre=gp, gamma_ft=gf
    )


@pytest.mark.parametrize("key", sorted(SETTINGS))
def test_ridge_source_reference_values(key):
    W_corr, W_ref, coefs, a_corr, a_ref, a_bar = EXPECTED[key]
    st = setting(key)
    assert st.source_statistics()[1] == pytest.approx(W_corr, abs=1e-5)
    assert st.source_statistics("reference")[1] == pytest.approx(W_ref, abs=1e-5)
    mo = st.moments()
    np.testing.assert_allclose(mo.as_tuple(), coefs, atol=1e-4 if key != "R3" else 1e-3)
    assert mo.alpha_star() == pytest.approx(a_corr, abs=1e-3)
    assert st.moments("reference").alpha_star() == pytest.approx(a_ref, abs=1e-3)
    assert mo.alpha_chance() == pytest.approx(a_bar, abs=1e-3)
    np.testing.assert_allclose(mo.accuracy([-1, 0, 1, 2, 4]), EXPECTED_ACC[key], atol=1e-4)
    assert mo.best_accuracy() == pytest.approx(EXPECTED_ACC_STAR[key], abs=1e-4)


@pytest.mark.parametrize(
    "beta, a_corr, a_ref, a_bar, acc0, acc1, acc_star",
    [
        (0.2, 1.632, 1.645, -1.412, 0.5493, 0.5701, 0.5721),
        (0.5, 4.099, 4.132, -0.565, 0.5493, 0.6128, 0.6390),
        (0.9, 7.471, 7.530, -0.314, 0.5493, 0.6678, 0.7311),
    ],
)
def test_figure1_table(beta, a_corr, a_ref, a_bar, acc0, acc1, acc_star):
    st = ridge.Setting.from_beta(beta, 0.8, 0.8, p=1000, n=40, N=5000, gamma_pre=5, gamma_ft=0.1)
    mo = st.moments()
    assert mo.alpha_star() == pytest.approx(a_corr, abs=1e-3)
    assert st.moments("reference").alpha_star() == pytest.approx(a_ref, abs=1e-3)
    assert mo.alpha_chance() == pytest.approx(a_bar, abs=1e-3)
    np.testing.assert_allclose(mo.accuracy([0.0, 1.0]), [acc0, acc1], atol=1e-4)
    assert mo.best_accuracy() == pytest.approx(acc_star, abs=1e-4)


def test_arbitrary_reference_values():
    # docs/theory.md §4 (2): p=400 n=40 gamma_ft=0.5 M_t=1.64 s=0.7579 W=0.6002
    mo = arbitrary.moments(1.64, 0.7579, 0.6002, p=400, n=40, gamma=0.5)
    assert mo.alpha_star() == pytest.approx(0.7794, abs=1e-3)
    assert arbitrary.alpha_star(1.64, 0.7579, 0.6002, 400, 40, 0.5) == pytest.approx(0.7794, abs=1e-3)
    assert mo.alpha_chance() == pytest.approx(-0.2265, abs=1e-3)
    np.testing.assert_allclose(
        mo.accuracy([-2.0, 0.0, 1.0, 0.7794, 1.558]),
        [0.2315, 0.6767, 0.8290, 0.8301, 0.8238],
        atol=2e-4,  # inputs are printed to 4 digits
    )


# docs/theory.md §4 (5): p=400 n=20 gamma_ft=1 |mu_perp|=1 beta=0.8
# N, |mu_s|, gamma_pre, W_corr, W_ref, a*_corr, a*_ref (stationary point), ref acc(1) (None=nan)
SECTION5 = [
    (2000, 2.0, 1.0, 0.1180, 0.0933, 1.535, 2.023, 0.9464),
    (2000, 2.0, 0.1, 0.1904, 0.0632, 1.114, 4.570, 0.9851),
    (2000, 2.0, 0.01, 0.2077, 0.0429, 1.038, 9.673, 0.9940),
    (2000, 2.5, 1.0, 0.0968, 0.0671, 1.431, 2.284, 0.9834),
    (2000, 2.5, 0.1, 0.1411, 0.0044, 1.083, -7.128, 1.0000),
    (2000, 2.5, 0.01, 0.1519, -0.0222, 1.013, -2.877, 1.0000),
    (1000, 2.0, 1.0, 0.1238, 0.0802, 1.419, 2.369, 0.9529),
    (1000, 2.0, 0.1, 0.2370, -0.0156, 0.866, -4.977, 1.0000),
    (1000, 2.0, 0.01, 0.2853, -0.0713, 0.730, -2.028, None),
]


@pytest.mark.parametrize("N, norm_mu, gp, W_corr, W_ref, a_corr, a_ref, acc1_ref", SECTION5)
def test_reference_W_breakdown(N, norm_mu, gp, W_corr, W_ref, a_corr, a_ref, acc1_ref):
    st = ridge.Setting.from_beta(0.8, norm_mu, 1.0, p=400, n=20, N=N, gamma_pre=gp, gamma_ft=1.0)
    assert st.source_statistics()[1] == pytest.approx(W_corr, abs=1e-4)
    assert st.source_statistics("reference")[1] == pytest.approx(W_ref, abs=1e-4)
    assert st.moments().alpha_star() == pytest.approx(a_corr, abs=1e-3)
    ref = st.moments("reference")
    assert ref.stationary_point() == pytest.approx(a_ref, abs=1e-3)
    if acc1_ref is None:
        with pytest.warns(RuntimeWarning, match="variance"):
            assert np.isnan(ref.accuracy(1.0))
    else:
        assert ref.accuracy(1.0) == pytest.approx(acc1_ref, abs=1e-4)
