"""Atomic, verifiable training checkpoints.

A checkpoint is a directory ``<root>/step-<k>/`` holding

* ``tensors.safetensors`` — every trainable tensor (adapters, alpha, head) and the RNG state;
* ``optim.pt`` — optimiser / scheduler states (plain tensors and numbers: loaded with
  ``torch.load(weights_only=True)``, never unpickling code);
* ``state.json`` — step counters, batch-iterator positions, metrics so far;
* ``MANIFEST.json`` — the SHA-256 of each file above, written last.

It is written into ``step-<k>.tmp-<pid>/``, flushed to disk, then renamed (atomic on POSIX), and
only then is ``<root>/LATEST`` replaced (write to a temp file + ``os.replace``; a pointer for
people and tools). A process killed at any moment therefore leaves either the previous complete
checkpoint or the new complete one; :func:`latest_complete` returns the newest checkpoint whose
files all match their manifest, so a partial or corrupted one is never loaded.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from linear.files import sha256_file  # the one file hash (re-exported: deep.models.gguf)

__all__ = ["save_checkpoint", "load_checkpoint", "latest_complete", "CheckpointError"]

FILES = ("tensors.safetensors", "optim.pt", "state.json")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, partial or corrupted."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temp file beside it, fsync, ``os.replace``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=True))


def save_checkpoint(
    root: str | Path,
    step: int,
    tensors: dict[str, torch.Tensor],
    optim_state: dict[str, Any],
    state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write checkpoint ``step`` atomically under ``root`` and point ``LATEST`` at it.

    ``keep`` complete checkpoints are kept (older ones are deleted after the new one is in
    place). Returns the checkpoint directory.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:09d}"
    tmp = root / f"step-{step:09d}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()},
              str(tmp / "tensors.safetensors"))
    torch.save(optim_state, tmp / "optim.pt")
    with open(tmp / "state.json", "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)
    manifest: dict[str, Any] = {name: sha256_file(tmp / name) for name in FILES}
    manifest["step"] = step
    with open(tmp / "MANIFEST.json", "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    for name in (*FILES, "MANIFEST.json"):
        with open(tmp / name, "rb+") as f:
            os.fsync(f.fileno())
    _fsync_dir(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    _write_json_atomic(root / "LATEST", {"step": step, "dir": final.name})
    for old in sorted(root.glob("step-?????????"))[:-keep] if keep > 0 else []:
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def verify(path: str | Path) -> dict[str, Any]:
    """Check every file of checkpoint ``path`` against its manifest; return the manifest."""
    path = Path(path)
    man_path = path / "MANIFEST.json"
    if not man_path.is_file():
        raise CheckpointError(f"{path}: no MANIFEST.json (partial checkpoint)")
    try:
        manifest = json.loads(man_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{man_path}: unreadable manifest ({exc})") from exc
    for name in FILES:
        f = path / name
        if not f.is_file():
            raise CheckpointError(f"{f}: missing")
        if sha256_file(f) != manifest.get(name):
            raise CheckpointError(f"{f}: checksum mismatch (corrupted or partial)")
    return manifest


def latest_complete(root: str | Path) -> Path | None:
    """The newest checkpoint under ``root`` whose files all match their manifest, or None.

    Every ``step-*`` directory is verified from the newest down (``LATEST`` is not trusted: it
    may lag behind a complete checkpoint after a crash). Temporary ``*.tmp-*`` directories are
    never considered.
    """
    root = Path(root)
    if not root.is_dir():
        return None
    # newest first; LATEST is only a pointer for people and tools: a crash between the rename
    # of a complete checkpoint and the LATEST update must not cost that checkpoint
    candidates = sorted(root.glob("step-?????????"), reverse=True)
    for cand in candidates:
        try:
            verify(cand)
            return cand
        except CheckpointError:
            continue
    return None


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """``(tensors, optim_state, state)`` of a verified checkpoint directory."""
    path = Path(path)
    verify(path)
    tensors = load_file(str(path / "tensors.safetensors"))
    optim_state = torch.load(path / "optim.pt", weights_only=True)
    state = json.loads((path / "state.json").read_text())
    return tensors, optim_state, state
