"""Empirical side of rescalora: the alpha-scaled ridge estimator, samplers, experiments.

    from linear import AlphaRidge

* :class:`AlphaRidge` — scikit-learn classifier ``argmin (1/n)‖y − Xw‖² + gamma ‖w − alpha w̃‖²``
  (``alpha`` a number, ``"auto"`` = plug-in alpha*, ``"loo"`` = leave-one-out).
* :class:`AlphaRidgeCV` — the same with (alpha, gamma) chosen jointly from the training rows
  (empirical-Bayes evidence, or leave-one-out).
* :mod:`linear.solve` — the affine-in-alpha solution, accuracy paths, leave-one-out parts.
* :mod:`linear.selection` — honest alpha (and gamma) estimators from training rows only.
* :mod:`linear.covariance` — noise-covariance estimates for the anisotropic plug-in, from source
  rows or unlabeled target rows, never from test rows.
* :mod:`linear.gmm` — Gaussian-mixture source/target sampler (rng passed in).
* :mod:`linear.simulate` — Monte-Carlo theory-vs-empirical loop (joblib + tqdm).
* :mod:`linear.amazon` — the embedded Amazon Review data, preprocessing and seeded splits.
* :mod:`linear.experiments` — the protocols behind the figures and tables.
* :mod:`linear.plot` — figures (the only module importing matplotlib).

Data layout: arrays are row-major ``(n_samples, n_features)`` as in scikit-learn; the formulas
in docs/theory.md and ``rmt`` use the transpose (``p × n``). Labels are in ``{−1, +1}`` inside
the maths; :class:`AlphaRidge` accepts any two labels.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .estimator import AlphaRidge, AlphaRidgeCV

try:
    __version__ = version("rescalora")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["AlphaRidge", "AlphaRidgeCV", "__version__"]


def __getattr__(name: str) -> Any:
    """``AlphaRidge`` / ``AlphaRidgeCV`` are imported on first use (PEP 562), so that the light
    modules (:mod:`linear.files`, used by :mod:`deep.checkpoint`) do not pull in scikit-learn."""
    if name in ("AlphaRidge", "AlphaRidgeCV"):
        from . import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module 'linear' has no attribute {name!r}")
