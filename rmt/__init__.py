"""Deterministic equivalents for alpha-scaled fine-tuning of linear classifiers.

``rmt`` computes, in closed form, the test accuracy of the classifier fine-tuned as
``w_alpha = alpha w̃ + Δ`` from a source classifier ``w̃`` on a target Gaussian mixture, and
the optimal scale alpha*. numpy + scipy only; no sampling, no plotting.

    from rmt import Moments, ridge, arbitrary, anisotropic, regression

* :class:`Moments` — score mean ``m0 + m1 α`` and second moment ``v0 + v1 α + v2 α²``;
  accuracy(α), alpha_star, alpha_chance, best_accuracy.
* :mod:`rmt.ridge` — source classifier trained by ridge on N source samples.
* :mod:`rmt.arbitrary` — any given source classifier, plus plug-in estimators from target
  training data.
* :mod:`rmt.anisotropic` — the same two settings with a general noise covariance ``Sigma``
  (features ``x = y mu + Sigma^{1/2} z``).
* :mod:`rmt.regression` — the multi-output regression variant.
* :mod:`rmt.validation` — the argument checks (also used by :mod:`linear`).

Conventions (docs/theory.md §1): labels in {−1, +1}, matrices p × n inside formulas,
``1/n``-scaled ridge losses, ``eta = p / n``.
"""

from . import anisotropic, arbitrary, equivalents, regression, ridge, validation
from .core import Moments
from .equivalents import RidgeConstants, delta, ridge_constants

__all__ = [
    "Moments",
    "ridge",
    "arbitrary",
    "anisotropic",
    "regression",
    "equivalents",
    "validation",
    "delta",
    "ridge_constants",
    "RidgeConstants",
]
__version__ = "0.1.0"
