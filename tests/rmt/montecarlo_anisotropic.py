"""An independent Monte-Carlo sampler with a general noise covariance (does not use `rmt` or
`linear`).

Rows x = y mu + Sigma^{1/2} z, z ~ N(0, I_p), balanced labels (first floor(n/2) are -1);
matrices p x n (columns are samples). Ridge source on N rows, alpha-scaled ridge fine-tuning
w_alpha = argmin (1/n)||y - X^T w||^2 + gamma ||w - alpha w_src||^2 solved by the primal normal
equations, exact conditional accuracy Phi(<w, mu_t> / sqrt(w^T Sigma_t w)) of a fresh target
point.
"""

import numpy as np
from scipy.special import ndtr


def root(cov):
    """A square root R (R R^T = cov) of a PSD matrix, from numpy's eigh."""
    vals, vecs = np.linalg.eigh(cov)
    return vecs * np.sqrt(np.clip(vals, 0.0, None))


def sample(rng, mu, cov_root, n):
    """(X (p x n), y (n,)). ``cov_root`` is a (p, p) root or a (p,) vector (diagonal cov)."""
    p = mu.shape[0]
    y = np.where(np.arange(n) < n // 2, -1.0, 1.0)
    Z = rng.standard_normal((p, n))
    noise = cov_root[:, None] * Z if cov_root.ndim == 1 else cov_root @ Z
    return np.outer(mu, y) + noise, y


def ridge(X, y, gamma):
    p, n = X.shape
    return np.linalg.solve(X @ X.T / n + gamma * np.eye(p), X @ y / n)


def fine_tune_parts(X, y, w_src, gamma):
    """(u, v) with w_alpha = u + alpha v."""
    p, n = X.shape
    sol = np.linalg.solve(X @ X.T / n + gamma * np.eye(p), np.column_stack([X @ y / n, gamma * w_src]))
    return sol[:, 0], sol[:, 1]


def accuracy_curves(mu_t, cov_t, n, gamma_ft, alphas, seeds, *, source_coef=None, mu_s=None,
                    cov_s=None, N=None, gamma_pre=None):
    """Per-seed exact conditional accuracies, shape (len(seeds), len(alphas)).

    Either ``source_coef`` (a fixed w_src) or the ridge source ``(mu_s, cov_s, N, gamma_pre)``.
    Covariances are (p, p) matrices or (p,) vectors of variances (diagonal covariance).
    """
    alphas = np.asarray(alphas, dtype=float)

    def prepare(cov):
        cov = np.asarray(cov, dtype=float)
        return (np.sqrt(cov), cov) if cov.ndim == 1 else (root(cov), cov)

    rt, Ct = prepare(cov_t)
    if source_coef is None:
        rs, _ = prepare(cov_s)
    out = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        if source_coef is None:
            Xs, ys = sample(rng, mu_s, rs, N)
            w_src = ridge(Xs, ys, gamma_pre)
        else:
            w_src = np.asarray(source_coef, dtype=float)
        Xt, yt = sample(rng, mu_t, rt, n)
        u, v = fine_tune_parts(Xt, yt, w_src, gamma_ft)
        Su, Sv = (Ct * u, Ct * v) if Ct.ndim == 1 else (Ct @ u, Ct @ v)
        mean = mu_t @ u + alphas * (mu_t @ v)
        var = u @ Su + 2.0 * alphas * (u @ Sv) + alphas**2 * (v @ Sv)
        out.append(ndtr(mean / np.sqrt(var)))
    return np.array(out)
