"""Fault injection on files: truncated / corrupted inputs fail with an error naming the file.

* a safetensors adapter file cut short or overwritten with garbage (``deep.load_adapter``);
* a GLUE TSV cut in the middle of a row or of a UTF-8 character (``deep.data.load_glue`` and
  ``read_glue_tsv`` on a tmp copy of the shared data);
* an Amazon Review ``.mat`` file whose bytes changed (``linear.amazon.load`` with ``data_dir`` at
  a tmp copy): the SHA-256 check rejects it before ``scipy.io.loadmat`` sees it.

Every error must be a ValueError / OSError subclass whose message contains the file's path, and
a failed adapter load must leave the model untouched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared" / "data").resolve()


# ------------------------------------------------------------------------------ adapters
@pytest.fixture(scope="module")
def saved_adapter(tmp_path_factory):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from deep import AdapterConfig, inject, save_adapter

    from .deep.conftest import tiny_model

    model = inject(tiny_model("roberta"), AdapterConfig(method="alpha_lora", rank=2, lora_alpha=4))
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.01)
    d = tmp_path_factory.mktemp("adapter")
    save_adapter(model, d)
    return d


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("fault", ["truncated_header", "truncated_data", "garbage", "empty"])
def test_corrupt_safetensors_names_the_file_and_leaves_model_alone(saved_adapter, tmp_path, fault):
    import torch

    from deep import AdapterConfig, inject, load_adapter
    from deep.io import WEIGHTS_NAME

    from .deep.conftest import tiny_model

    d = _copy(saved_adapter, tmp_path / "a")
    f = d / WEIGHTS_NAME
    raw = f.read_bytes()
    if fault == "truncated_header":
        f.write_bytes(raw[:5])
    elif fault == "truncated_data":
        f.write_bytes(raw[: len(raw) - 17])
    elif fault == "garbage":
        f.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, len(raw), dtype=np.uint8)))
    else:
        f.write_bytes(b"")
    model = inject(tiny_model("roberta"), AdapterConfig(method="alpha_lora", rank=2, lora_alpha=4))
    before = _state(model)
    with pytest.raises(ValueError, match="safetensors") as info:
        load_adapter(model, d)
    assert str(f) in str(info.value)
    after = _state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_corrupt_adapter_json_names_the_file(saved_adapter, tmp_path):
    from deep import load_adapter
    from deep.io import CONFIG_NAME

    from .deep.conftest import tiny_model

    d = _copy(saved_adapter, tmp_path / "a")
    cfg = d / CONFIG_NAME
    for bad in (cfg.read_bytes()[:40], b"\xff\xfe\x00garbage"):
        cfg.write_bytes(bad)
        with pytest.raises(ValueError) as info:
            load_adapter(tiny_model("roberta"), d)
        assert str(cfg) in str(info.value)
