"""Speed of the closed forms: accuracy curve on 10^4 alphas + alpha* at p = 1000.

Baselines, measured in the same run: a per-alpha Python loop over the same formulas, (1) with
the moments recomputed at every alpha, as a naive port of the reference code would, and (2)
the fair one, with the moments computed ONCE outside the loop and only the accuracy evaluated
one alpha at a time. Targets (issue 3): < 50 ms and >= 100x faster than loop (1).

The anisotropic curve (rmt.anisotropic, issue 15) is timed after the one eigendecomposition of
a power-law covariance at p = 1000 (target < 10 ms; the eigendecomposition is printed apart).

    python benchmarks/rmt_speed.py [--alphas 10000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

import numpy as np

from rmt import anisotropic, ridge

SETTING = dict(beta=0.5, norm_mu=0.8, norm_perp=0.8, p=1000, n=40, N=5000,
               gamma_pre=5.0, gamma_ft=0.1)


def vectorised(alphas: np.ndarray) -> tuple[np.ndarray, float]:
    st = ridge.Setting.from_beta(
        SETTING["beta"], SETTING["norm_mu"], SETTING["norm_perp"], p=SETTING["p"],
        n=SETTING["n"], N=SETTING["N"], gamma_pre=SETTING["gamma_pre"],
        gamma_ft=SETTING["gamma_ft"],
    )
    mo = st.moments()
    return mo.accuracy(alphas), mo.alpha_star()


def per_alpha_loop(alphas: np.ndarray) -> tuple[np.ndarray, float]:
    M_s, M_t, c = ridge.beta_parameters(SETTING["beta"], SETTING["norm_mu"], SETTING["norm_perp"])
    out = np.empty_like(alphas)
    for i, a in enumerate(alphas):
        mo = ridge.moments(M_s, M_t, c, SETTING["p"], SETTING["n"], SETTING["N"],
                           SETTING["gamma_pre"], SETTING["gamma_ft"])
        m = mo.m0 + mo.m1 * a
        v = mo.v0 + mo.v1 * a + mo.v2 * a * a
        out[i] = 0.5 * math.erfc(-m / math.sqrt(2.0 * (v - m * m)))
    return out, float(alphas[np.argmax(out)])


def per_alpha_loop_fair(alphas: np.ndarray) -> tuple[np.ndarray, float]:
    """The loop baseline with the moments computed once, outside the loop."""
    M_s, M_t, c = ridge.beta_parameters(SETTING["beta"], SETTING["norm_mu"], SETTING["norm_perp"])
    mo = ridge.moments(M_s, M_t, c, SETTING["p"], SETTING["n"], SETTING["N"],
                       SETTING["gamma_pre"], SETTING["gamma_ft"])
    out = np.empty_like(alphas)
    for i, a in enumerate(alphas):
        m = mo.m0 + mo.m1 * a
        v = mo.v0 + mo.v1 * a + mo.v2 * a * a
        out[i] = 0.5 * math.erfc(-m / math.sqrt(2.0 * (v - m * m)))
    return out, float(alphas[np.argmax(out)])


def anisotropic_setting() -> tuple[anisotropic.Spectrum, np.ndarray, np.ndarray]:
    """Power-law covariance (eigenvalues j^-1, mean 1) in a random basis, beta-means."""
    p = SETTING["p"]
    rng = np.random.default_rng(0)
    lam = np.arange(1, p + 1) ** -1.0
    lam *= p / lam.sum()
    basis, _ = np.linalg.qr(rng.standard_normal((p, p)))
    cov = (basis * lam) @ basis.T
    mu_s, mu_t = ridge.beta_means(SETTING["beta"], SETTING["norm_mu"], SETTING["norm_perp"], p)
    t0 = time.perf_counter()
    spec = anisotropic.spectrum(cov)
    print(f"anisotropic: eigendecomposition of the {p} x {p} covariance: "
          f"{(time.perf_counter() - t0) * 1e3:.1f} ms (once)")
    return spec, mu_s, mu_t


def anisotropic_curve(alphas: np.ndarray, spec: anisotropic.Spectrum, mu_s: np.ndarray,
                      mu_t: np.ndarray) -> tuple[np.ndarray, float]:
    mo = anisotropic.ridge_moments(mu_s, mu_t, spec, spec, SETTING["N"], SETTING["n"],
                                   SETTING["gamma_pre"], SETTING["gamma_ft"])
    return mo.accuracy(alphas), mo.alpha_star()


def median_time(fn, *args, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alphas", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    alphas = np.linspace(-10, 10, args.alphas)
    acc_vec, a_star = vectorised(alphas)
    acc_loop, _ = per_alpha_loop(alphas)
    assert np.allclose(acc_vec, acc_loop, atol=1e-12), "the two paths disagree"
    t_vec = median_time(vectorised, alphas, repeat=args.repeat)
    t_loop = median_time(per_alpha_loop, alphas, repeat=max(1, args.repeat // 3))
    t_fair = median_time(per_alpha_loop_fair, alphas, repeat=max(1, args.repeat // 3))
    spec, mu_s, mu_t = anisotropic_setting()
    t_aniso = median_time(anisotropic_curve, alphas, spec, mu_s, mu_t, repeat=args.repeat)
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    print(f"setting: {SETTING}, {args.alphas} alphas, alpha* = {a_star:.4f}")
    print(f"vectorised curve + alpha*: {t_vec * 1e3:8.3f} ms   (target < 50 ms)")
    print(f"per-alpha Python loop, moments recomputed per alpha: {t_loop * 1e3:8.3f} ms")
    print(f"per-alpha Python loop, moments computed once (fair): {t_fair * 1e3:8.3f} ms")
    print(f"speed-up: {t_loop / t_vec:,.0f}x vs the naive loop (target >= 100x), "
          f"{t_fair / t_vec:,.0f}x vs the fair loop")
    print(f"anisotropic curve + alpha* after the decomposition: {t_aniso * 1e3:8.3f} ms   "
          "(target < 10 ms)")


if __name__ == "__main__":
    main()
