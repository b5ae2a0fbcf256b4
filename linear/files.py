"""File helpers shared by ``linear`` and ``deep`` (the lowest package of the import ladder
that reads files): the SHA-256 of a file, used for the embedded data's ``SHA256SUMS``
(:mod:`linear.amazon`), checkpoint manifests (:mod:`deep.checkpoint`) and converted models.
"""

from __future__ import annotations

import hashlib
import os

__all__ = ["sha256_file"]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the bytes of ``path``, read in 1 MiB blocks.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     f = pathlib.Path(d) / "x"
    ...     _ = f.write_bytes(b"abc")
    ...     sha256_file(f)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
