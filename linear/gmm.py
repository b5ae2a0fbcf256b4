"""Source/target binary Gaussian mixtures with identity covariance (docs/theory.md §1.1).

Source rows ``x̃_i = ỹ_i mu_s + z̃_i`` and target rows ``x_i = y_i mu_t + z_i`` with
``z ~ N(0, I_p)``. Labels are exactly balanced as in the reference generator: the first
``floor(n / 2)`` rows get −1, the rest +1 (row order is irrelevant to every estimator here).
Arrays are row-major: ``X`` has shape ``(n, p)``. Randomness is always passed in as a
``numpy.random.Generator``.

The beta-parameterisation ``mu_s = ‖mu‖ e_1``, ``mu_t = beta mu_s + sqrt(1 − beta²) ‖mu_perp‖ e_2``
is built by :func:`rmt.ridge.beta_means` (one home per formula).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rmt import ridge

from .validation import finite_array

__all__ = ["sample", "Transfer"]


def sample(mu: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows of the mixture ``y mu + N(0, I)``: returns ``X`` (n, p) and ``y`` (n,) in
    {−1, +1}, the first ``floor(n/2)`` labels −1."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    mu = finite_array("mu", mu, ndim=1)
    y = np.where(np.arange(n) < n // 2, -1.0, 1.0)
    X = rng.standard_normal((n, mu.shape[0]))
    X += y[:, None] * mu[None, :]
    return X, y


@dataclass(frozen=True)
class Transfer:
    """A source mixture (mean ``mu_s``) and a target mixture (mean ``mu_t``), both shape (p,).

    Build with :meth:`from_beta` for the paper's parameterisation. :meth:`setting` gives the
    matching :class:`rmt.ridge.Setting` for theory curves.
    """

    mu_s: np.ndarray
    mu_t: np.ndarray

    def __post_init__(self) -> None:
        for name in ("mu_s", "mu_t"):
            arr = finite_array(name, getattr(self, name), ndim=1).copy()
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if self.mu_s.shape != self.mu_t.shape:
            raise ValueError(
                "mu_s and mu_t must have the same shape, "
                f"got {self.mu_s.shape} and {self.mu_t.shape}"
            )

    @classmethod
    def from_beta(cls, beta: float, norm_mu: float, norm_perp: float, p: int) -> Transfer:
        """``mu_s = norm_mu e_1``, ``mu_t = beta mu_s + sqrt(1 − beta²) norm_perp e_2``."""
        mu_s, mu_t = ridge.beta_means(beta, norm_mu, norm_perp, p)
        return cls(mu_s, mu_t)

    @property
    def p(self) -> int:
        return int(self.mu_s.shape[0])

    @property
    def beta(self) -> float:
        """``⟨mu_s, mu_t⟩ / ‖mu_s‖²`` (the ``beta`` of :meth:`from_beta`)."""
        return float(self.mu_s @ self.mu_t) / float(self.mu_s @ self.mu_s)

    def source(self, N: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``N`` source rows ``(X̃ (N, p), ỹ (N,))``."""
        return sample(self.mu_s, N, rng)

    def target(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` target rows ``(X (n, p), y (n,))``."""
        return sample(self.mu_t, n, rng)

    def setting(self, *, n: int, N: int, gamma_pre: float, gamma_ft: float) -> ridge.Setting:
        """The :class:`rmt.ridge.Setting` of these means (ridge source on N rows, n target rows)."""
        return ridge.Setting.from_means(
            self.mu_s, self.mu_t, n=n, N=N, gamma_pre=gamma_pre, gamma_ft=gamma_ft
        )
