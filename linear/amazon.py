"""Amazon Review sentiment data (4 domains × 400 features), embedded in the package.

Files ``linear/data/{books,dvd,elec,kitchen}_400.mat`` (copied from the project's shared data,
checked against ``linear/data/SHA256SUMS`` at every load). Keys: ``fts`` (rows × 400, each row a
bag-of-words frequency vector summing to 1) and ``labels`` (rows × 1, uint8, 0 = negative,
1 = positive). Rows are SORTED BY LABEL: never slice without shuffling (:func:`split`).

Preprocessing (docs/theory.md §6.1, as in the reference code):

* per domain, standardise every feature with the mean and population std (ddof = 0) of ALL rows
  of that domain; zero-std features keep scale 1 (= ``sklearn.preprocessing.StandardScaler``).
  This uses the test rows' *features* but never their labels (label-free, transductive);
* labels ``y = 1 − 2 · label`` (label 0 → +1, label 1 → −1); any fixed convention works as long
  as source and target agree;
* no intercept anywhere.

Arrays are row-major: ``X`` has shape ``(rows, 400)``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from itertools import permutations
from pathlib import Path

import numpy as np
import scipy.io

from .files import sha256_file
from .validation import finite_array

__all__ = [
    "DOMAINS",
    "PAIRS",
    "ChecksumError",
    "Domain",
    "package_data_dir",
    "expected_checksums",
    "verify",
    "load",
    "standardize",
    "split",
]

#: The four domains, in the order used by every table.
DOMAINS = ("books", "dvd", "elec", "kitchen")
#: The reference code's spelling of "books".
ALIASES = {"book": "books"}
#: All 12 ordered (source, target) pairs of distinct domains.
PAIRS = tuple(permutations(DOMAINS, 2))


class ChecksumError(OSError):
    """A data file does not match its SHA-256 checksum (corrupt or replaced)."""


@dataclass(frozen=True)
class Domain:
    """One preprocessed domain.

    Attributes
    ----------
    name : str
    X : ndarray (rows, 400)
        Standardised features (or raw frequencies with ``standardize=False``); read-only.
    y : ndarray (rows,)
        Labels in {−1, +1} (``1 − 2 · label``); read-only.
    labels : ndarray (rows,)
        The file's raw 0/1 labels; read-only.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    labels: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


def package_data_dir() -> Path:
    """Folder of the embedded ``.mat`` files and their ``SHA256SUMS``."""
    return Path(str(resources.files("linear") / "data"))


def expected_checksums() -> dict[str, str]:
    """``{file name: sha256}`` from the package's ``SHA256SUMS`` (the canonical files)."""
    path = package_data_dir() / "SHA256SUMS"
    if not path.is_file():
        raise FileNotFoundError(f"checksum list missing: {path} (reinstall rescalora)")
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            sums[name.lstrip("*")] = digest
    return sums


def _canonical(domain: str) -> str:
    if not isinstance(domain, str):
        raise TypeError(f"domain must be a string, one of {DOMAINS}, got {domain!r}")
    name = ALIASES.get(domain.lower(), domain.lower())
    if name not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; allowed: {DOMAINS} (or alias 'book')")
    return name


def verify(domain: str, data_dir: str | Path | None = None) -> Path:
    """Path of ``<domain>_400.mat`` after checking it exists and matches ``SHA256SUMS``.

    Raises ``FileNotFoundError`` (missing file) or :class:`ChecksumError` (corrupt file), both
    naming the file.
    """
    name = _canonical(domain)
    folder = package_data_dir() if data_dir is None else Path(data_dir)
    fname = f"{name}_400.mat"
    path = folder / fname
    if not path.is_file():
        raise FileNotFoundError(f"Amazon Review file missing: {path}")
    expected = expected_checksums()[fname]
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"checksum mismatch for {path}: sha256 {actual}, expected {expected} "
            "(the file is corrupt or not the canonical one)"
        )
    return path


def standardize(X: np.ndarray) -> np.ndarray:
    """``(X − mean) / std`` per column, population std (ddof = 0), zero-std columns scale 1
    (= ``StandardScaler().fit_transform(X)``). ``X`` has shape (rows, p), finite, rows >= 1."""
    X = finite_array("X", X, ndim=2)
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std[std == 0.0] = 1.0
    return (X - mean) / std


@functools.lru_cache(maxsize=16)
def _load_cached(name: str, folder: str, standardized: bool) -> Domain:
    path = verify(name, folder)
    mat = scipy.io.loadmat(path)
    X = np.asarray(mat["fts"], dtype=float)
    labels = np.asarray(mat["labels"]).reshape(-1).astype(np.int64)
    if X.ndim != 2 or X.shape[0] != labels.shape[0]:
        raise ValueError(f"{path}: fts {X.shape} and labels {labels.shape} do not match")
    if standardized:
        X = standardize(X)
    y = 1.0 - 2.0 * labels
    for arr in (X, y, labels):
        arr.setflags(write=False)
    return Domain(name=name, X=X, y=y, labels=labels)


def load(domain: str, data_dir: str | Path | None = None, *, standardized: bool = True) -> Domain:
    """Load one domain, checksum-verified and preprocessed (module docstring).

    Parameters
    ----------
    domain : {"books", "dvd", "elec", "kitchen"} (alias "book")
    data_dir : path, optional
        Folder holding ``<domain>_400.mat``; default: the package's embedded copy. Files are
        always checked against the package's ``SHA256SUMS``.
    standardized : bool, default True
        Per-domain standardisation of the features (docs/theory.md §6.1).

    Returns
    -------
    Domain with read-only arrays (cached per domain, folder and flag).

    Examples
    --------
    >>> d = load("books")
    >>> d.X.shape, int((d.y == 1).sum())
    ((2000, 400), 1000)
    """
    name = _canonical(domain)
    folder = package_data_dir() if data_dir is None else Path(data_dir)
    return _load_cached(name, str(folder.resolve()), bool(standardized))


def split(
    y: np.ndarray, n_train: int, seed: int, batch: int = 0, *, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Honest train/test split of one target domain (docs/theory.md §6.3).

    ``perm = numpy.random.default_rng(10000 · seed + batch).permutation(rows)``. Without
    stratification the first ``n_train`` rows of ``perm`` are the training rows. With
    ``stratify=True`` (default) the training rows are the first ``n_train // 2`` rows of ``perm``
    of the smaller label value and the first ``n_train − n_train // 2`` of the other, so both
    classes are always present. Every remaining row is a test row.

    Returns
    -------
    (train_idx, test_idx) : int arrays, disjoint, together all rows; ``test_idx`` sorted.
    """
    y = np.asarray(y).reshape(-1)
    rows = y.shape[0]
    if rows == 0:
        raise ValueError("y must not be empty (one label per row of the domain)")
    for nm, val, lo in (("seed", seed, 0), ("batch", batch, 0)):
        if isinstance(val, bool) or not isinstance(val, int | np.integer) or val < lo:
            raise ValueError(f"{nm} must be an integer >= {lo}, got {val!r}")
    if isinstance(n_train, bool) or not isinstance(n_train, int | np.integer):
        raise TypeError(f"n_train must be an integer, got {n_train!r}")
    if not 2 <= n_train <= rows - 1:
        raise ValueError(f"n_train must be in [2, {rows - 1}] for {rows} rows, got {n_train}")
    perm = np.random.default_rng(10000 * int(seed) + int(batch)).permutation(rows)
    if stratify:
        classes = np.unique(y)
        if classes.shape[0] != 2:
            raise ValueError(f"stratify needs exactly two label values, got {classes.tolist()}")
        want = (n_train // 2, n_train - n_train // 2)
        parts = []
        for cls, k in zip(classes, want, strict=True):
            members = perm[y[perm] == cls]
            if members.shape[0] < k + 1:
                raise ValueError(f"label {cls!r} has too few rows for n_train={n_train}")
            parts.append(members[:k])
        train = np.concatenate(parts)
    else:
        train = perm[:n_train]
    mask = np.ones(rows, dtype=bool)
    mask[train] = False
    return train, np.flatnonzero(mask)
