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


# ------------------------------------------------------------------------------ GLUE TSV
@pytest.fixture()
def rte_copy(tmp_path):
    pytest.importorskip("torch")
    from deep.data import get_task

    spec = get_task("rte")
    src = SHARED / "glue" / spec.dir_name
    if not src.is_dir():
        pytest.skip(f"shared GLUE folder {src} is missing")
    shutil.copytree(src, tmp_path / spec.dir_name)
    return tmp_path, tmp_path / spec.dir_name / spec.files["dev"]


def _truncate_tsv(raw: bytes, fault: str) -> bytes:
    if fault == "mid_row":
        return raw[: len(raw) // 2]
    if fault == "mid_utf8_char":
        i = next(k for k, b in enumerate(raw) if b >= 0xC0)  # first byte of a multi-byte char
        return raw[: i + 1]
    if fault == "nul_bytes":
        return raw[:100] + b"\x00" * 50 + raw[150:]
    if fault == "header_only_cut":
        return raw[:10]
    raise AssertionError(fault)


@pytest.mark.parametrize("fault", ["mid_row", "mid_utf8_char", "nul_bytes", "header_only_cut"])
def test_truncated_or_corrupt_tsv_names_the_file(rte_copy, fault):
    from deep.data import GlueFormatError, load_glue, read_glue_tsv

    root, f = rte_copy
    f.write_bytes(_truncate_tsv(f.read_bytes(), fault))
    with pytest.raises(GlueFormatError) as info:
        load_glue("rte", "dev", root)
    assert str(f) in str(info.value)
    with pytest.raises(GlueFormatError, match=str(f).replace("\\", "\\\\")):
        read_glue_tsv(f, "rte", "dev")


# ------------------------------------------------------------------------------ Amazon .mat
@pytest.fixture()
def amazon_copy(tmp_path):
    from linear import amazon

    for dom in amazon.DOMAINS:
        shutil.copy(amazon.package_data_dir() / f"{dom}_400.mat", tmp_path)
    return tmp_path


@pytest.mark.parametrize("fault", ["flipped_byte", "truncated", "empty", "other_domain"])
def test_amazon_file_with_wrong_checksum_names_the_file(amazon_copy, fault):
    from linear import amazon

    f = amazon_copy / "dvd_400.mat"
    raw = f.read_bytes()
    if fault == "flipped_byte":
        f.write_bytes(raw[:1000] + bytes([raw[1000] ^ 0xFF]) + raw[1001:])
    elif fault == "truncated":
        f.write_bytes(raw[: len(raw) // 3])
    elif fault == "empty":
        f.write_bytes(b"")
    else:  # a valid .mat file, but not the canonical one for this name
        shutil.copy(amazon_copy / "books_400.mat", f)
    with pytest.raises(amazon.ChecksumError, match="checksum mismatch") as info:
        amazon.load("dvd", amazon_copy)
    assert str(f) in str(info.value)
    assert isinstance(info.value, OSError)
    # the untouched domains of the same folder still load
    assert amazon.load("books", amazon_copy).X.shape == (2000, 400)


def test_amazon_missing_file_names_the_file(amazon_copy):
    from linear import amazon

    (amazon_copy / "elec_400.mat").unlink()
    with pytest.raises(FileNotFoundError, match="elec_400.mat"):
        amazon.load("elec", amazon_copy)
