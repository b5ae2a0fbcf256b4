"""Benchmark: a 200-alpha path of AlphaRidge vs a loop of scikit-learn Ridge fits.

``AlphaRidge.alpha_path`` factorises once (``w_alpha = u + alpha v`` is affine in alpha) and
returns all 200 coefficient vectors. The baseline fits, for every alpha, the residual form
``w_alpha = alpha w̃ + Ridge(alpha=n*gamma, fit_intercept=False).fit(X, y − alpha X w̃).coef_``
(docs/theory.md §1.3). "1 fit" is the median time of one such sklearn fit (over the loop's
fits); the path is timed ``--repeats`` times spread over the loop, median reported, so both see
the same load on a shared machine. For information: one multi-target sklearn fit of the 200
residual targets at once.

Targets (issue 4): path >= 50x faster than the loop, and path <= 2x one fit.

Usage: python benchmarks/alpha_path.py [--quick] [--repeats R] [--threads T]
  --quick   time 20 loop fits and scale to 200 (the loop at p=2000 takes about a minute)
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.linear_model import Ridge
from threadpoolctl import threadpool_limits

from linear import AlphaRidge

CASES = ((400, 2000), (2000, 4000))  # (p, n)
N_ALPHAS = 200
GAMMA = 1.0


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def sk_fit(X, y, w, alpha, n):
    r = Ridge(alpha=n * GAMMA, fit_intercept=False).fit(X, y - alpha * (X @ w))
    return alpha * w + r.coef_


def run_case(p: int, n: int, repeats: int, loop_fits: int) -> dict:
    rng = np.random.default_rng(p + n)
    y = np.where(np.arange(n) < n // 2, -1.0, 1.0)
    mu = np.zeros(p)
    mu[0] = 1.0
    X = rng.standard_normal((n, p)) + y[:, None] * mu
    w = 0.8 * mu + 0.1 * rng.standard_normal(p) / np.sqrt(p)
    alphas = np.linspace(-5.0, 15.0, N_ALPHAS)
    est = AlphaRidge(w, gamma=GAMMA)

    # Interleave: time every loop fit, and a path computation after every 1/R of the loop, so
    # both see the same machine load (the 2-core machine is shared); report medians.
    idx = np.linspace(0, N_ALPHAS - 1, loop_fits).astype(int)
    fit_times, path_times, loop = [], [], []
    marks = set(np.linspace(0, loop_fits - 1, repeats).astype(int))
    for j, k in enumerate(idx):
        t0 = time.perf_counter()
        loop.append(sk_fit(X, y, w, alphas[k], n))
        fit_times.append(time.perf_counter() - t0)
        if j in marks:
            t0 = time.perf_counter()
            est.alpha_path(X, y, alphas)
            path_times.append(time.perf_counter() - t0)
    t_one = float(np.median(fit_times))
    t_path = float(np.median(path_times))
    min_ratio = float(np.min(path_times) / np.min(fit_times))
    t_loop = float(np.sum(fit_times)) * N_ALPHAS / loop_fits
    loop = np.array(loop)

    def multi():
        R = y[:, None] - (X @ w)[:, None] * alphas[None, :]
        return Ridge(alpha=n * GAMMA, fit_intercept=False).fit(X, R).coef_

    t_multi = timed(multi)
    path = est.alpha_path(X, y, alphas)
    err = float(np.max(np.abs(path[idx] - loop)))
    return {"p": p, "n": n, "path_s": t_path, "one_fit_s": t_one, "loop_s": t_loop,
            "multi_s": t_multi, "speedup_vs_loop": t_loop / t_path,
            "path_over_one_fit": t_path / t_one, "path_over_one_fit_min": min_ratio,
            "max_abs_diff": err,
            "loop_fits_timed": loop_fits}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="time 20 loop fits and scale to 200")
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS threads for both sides (threadpoolctl); default: library default. "
                         "1 is the most stable on a shared machine")
    ap.add_argument("--repeats", type=int, default=25,
                    help="path timings, spread over the loop (median reported)")
    args = ap.parse_args()
    loop_fits = 20 if args.quick else N_ALPHAS
    if args.threads is not None:
        threadpool_limits(args.threads)
    print(f"alpha path benchmark: {N_ALPHAS} alphas, gamma={GAMMA}, cpu_count={os.cpu_count()}, "
          f"BLAS threads={args.threads or 'default'}, loop fits timed={loop_fits}")
    header = (f"{'p':>5} {'n':>5} | {'path [s]':>9} {'1 fit [s]':>9} {'loop [s]':>9} "
              f"{'multi [s]':>9} | {'loop/path':>9} {'path/1fit':>9} {'(min/min)':>9} "
              f"| {'max|diff|':>9}")
    print(header)
    print("-" * len(header))
    ok = True
    for p, n in CASES:
        r = run_case(p, n, args.repeats, loop_fits)
        print(f"{p:5d} {n:5d} | {r['path_s']:9.4f} {r['one_fit_s']:9.4f} {r['loop_s']:9.3f} "
              f"{r['multi_s']:9.4f} | {r['speedup_vs_loop']:8.0f}x {r['path_over_one_fit']:8.2f}x "
              f"{r['path_over_one_fit_min']:8.2f}x | {r['max_abs_diff']:9.1e}")
        ok &= r["speedup_vs_loop"] >= 50 and r["path_over_one_fit"] <= 2.0
    print("targets (>= 50x faster than the loop, <= 2x one fit):", "met" if ok else "NOT met")
    print("times are medians (path: --repeats runs spread over the loop; 1 fit: over the loop's "
          "fits); (min/min) compares the fastest runs; multi = one multi-target sklearn Ridge "
          "fit of the 200 residual targets (information)")


if __name__ == "__main__":
    main()
