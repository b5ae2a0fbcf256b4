"""Speed of the closed forms: accuracy curve on 10^4 alphas + alpha* at p = 1000.

Baseline, measured in the same run: a per-alpha Python loop over the same formulas (the
moments are recomputed and the accuracy evaluated one alpha at a time, as a naive port of
the reference code would). Targets (issue 3): < 50 ms and >= 100x faster than the loop.

    python benchmarks/rmt_speed.py [--alphas 10000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

import numpy as np

from rmt import ridge

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
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    print(f"setting: {SETTING}, {args.alphas} alphas, alpha* = {a_star:.4f}")
    print(f"vectorised curve + alpha*: {t_vec * 1e3:8.3f} ms   (target < 50 ms)")
    print(f"per-alpha Python loop:     {t_loop * 1e3:8.3f} ms")
    print(f"speed-up: {t_loop / t_vec:,.0f}x   (target >= 100x)")


if __name__ == "__main__":
    main()
