"""An independent Monte-Carlo sampler for the rmt tests (does not use `linear`).

Follows the protocol of docs/theory.md §4: balanced labels (first floor(n/2) are -1), isotropic
Gaussian noise, matrices p x n (columns are samples), ridge source, alpha-scaled ridge
fine-tuning, exact conditional accuracy Phi(<w, mu_t> / ||w||).
"""

import numpy as np
from scipy.special import ndtr


def sample(rng, mu, n):
    p = mu.shape[0]
    y = np.where(np.arange(n) < n // 2, -1.0, 1.0)
    X = np.outer(mu, y) + rng.standard_normal((p, n))
    return X, y


def ridge(X, y, gamma):
    """argmin (1/n)||y - X^T w||^2 + gamma ||w||^2 by the primal normal equations."""
    p, n = X.shape
    return np.linalg.solve(X @ X.T / n + gamma * np.eye(p), X @ y / n)


def fine_tune_parts(X, y, w_src, gamma):
    """(u, v) with w_alpha = u + alpha v, u = Q X y / n, v = gamma Q w_src."""
    p, n = X.shape
    Q_inv = X @ X.T / n + gamma * np.eye(p)
    sol = np.linalg.solve(Q_inv, np.column_stack([X @ y / n, gamma * w_src]))
    return sol[:, 0], sol[:, 1]


def ridge_source_curves(mu_s, mu_t, n, N, gamma_pre, gamma_ft, alphas, seeds):
    """Per-seed exact conditional accuracies (seeds x alphas), and ||w_src||^2 per seed."""
    accs, w_norms = [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        Xs, ys = sample(rng, mu_s, N)
        w_src = ridge(Xs, ys, gamma_pre)
        Xt, yt = sample(rng, mu_t, n)
        u, v = fine_tune_parts(Xt, yt, w_src, gamma_ft)
        W = u[:, None] + np.asarray(alphas)[None, :] * v[:, None]
        accs.append(ndtr((mu_t @ W) / np.linalg.norm(W, axis=0)))
        w_norms.append(w_src @ w_src)
    return np.array(accs), np.array(w_norms)
