"""Issue 16 item 3: the Hugging Face Trainer polish of deep.hf (CPU, tiny random roberta).

* ``compute_metrics_for(task)`` against scikit-learn / SciPy computed directly from the same
  logits (also through ``Trainer.evaluate``, with and without ``batch_eval_metrics``);
* the alpha statistics in ``state.log_history`` and in the TensorBoard event file (read back
  with tensorboard's ``EventAccumulator``), against statistics computed with NumPy from alpha
  snapshots taken after every step;
* Trainer checkpoints of an adapted model hold the adapter only (no ``model.safetensors``),
  ``deep.load_adapter`` of such a checkpoint into a fresh base model gives the same logits, and
  a Trainer resumes from it without a missing-keys report.
"""

from __future__ import annotations

import copy
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from scipy import stats
from sklearn import metrics as skm
from transformers import EvalPrediction, Trainer, TrainerCallback

from deep import AdapterConfig, inject, load_adapter
from deep.hf import AlphaCallback, alpha_log_statistics, compute_metrics_for, split_for_alpha_dataset
from deep.io import SAFE_INDEX_NAME, WEIGHTS_NAME

from .conftest import LABELS, logits, tiny_batch, tiny_model
from .test_hf import RecordingCollator, adapted_model, synthetic_rows, training_args

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/deep/conftest.py


# ---------------------------------------------------------------------------- metrics
def _random_logits(n, k, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, k)).astype(np.float32), rng.integers(0, k, size=n)


@pytest.mark.parametrize("task", ["rte", "mrpc", "cola", "mnli", "qqp"])
def test_classification_metrics_equal_sklearn(task):
    spec_k = 3 if task == "mnli" else 2
    x, y = _random_logits(200, spec_k, seed=len(task))
    pred = x.argmax(1)
    want = {"accuracy": skm.accuracy_score(y, pred)}
    if task in ("mrpc", "qqp"):
        want["f1"] = skm.f1_score(y, pred)
    if task == "cola":
        want["matthews"] = skm.matthews_corrcoef(y, pred)
    got = compute_metrics_for(task)(EvalPrediction(predictions=x, label_ids=y))
    assert set(got) == set(want)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, abs=1e-12), k
    # a tuple of outputs (logits first, e.g. hidden states after) and torch tensors work too
    got2 = compute_metrics_for(task)(EvalPrediction(predictions=(torch.from_numpy(x), x[:, :1]),
                                                    label_ids=torch.from_numpy(y)))
    assert got2 == got


def test_regression_metrics_equal_scipy():
    rng = np.random.default_rng(3)
    y = rng.uniform(0, 5, size=150).astype(np.float32)
    out = (y + rng.normal(scale=1.0, size=150)).astype(np.float32)[:, None]  # (n, 1) outputs
    got = compute_metrics_for("stsb")(EvalPrediction(predictions=out, label_ids=y))
    assert got["pearson"] == pytest.approx(stats.pearsonr(out[:, 0], y)[0], abs=1e-6)
    assert got["spearman"] == pytest.approx(stats.spearmanr(out[:, 0], y)[0], abs=1e-6)
    assert list(got) == ["pearson", "spearman"]


def test_batched_calls_equal_one_call():
    x, y = _random_logits(101, 2, seed=9)
    fn = compute_metrics_for("mrpc")
    cuts = [0, 30, 64, 90, 101]
    parts = [fn(EvalPrediction(predictions=torch.from_numpy(x[a:b]),
                               label_ids=torch.from_numpy(y[a:b])), compute_result=b == 101)
             for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    assert parts[:-1] == [{}, {}, {}]
    assert parts[-1]["accuracy"] == pytest.approx(skm.accuracy_score(y, x.argmax(1)), abs=1e-12)
    assert parts[-1]["f1"] == pytest.approx(skm.f1_score(y, x.argmax(1)), abs=1e-12)
    # the state was reset: a second pass gives the same numbers
    again = [fn(EvalPrediction(predictions=x[a:b], label_ids=y[a:b]), compute_result=b == 101)
             for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    assert again[-1] == parts[-1]


def test_unknown_task_fails_at_construction():
    with pytest.raises(ValueError, match="task='glue'"):
        compute_metrics_for("glue")


@pytest.mark.parametrize("batched", [False, True])
def test_trainer_evaluate_reports_the_task_metrics(tmp_path, batched):
    model = tiny_model("roberta")  # 3 labels: MNLI's label space
    rows = synthetic_rows(37, seed=4)
    collate = RecordingCollator()
    trainer = Trainer(model=model, args=training_args(tmp_path, 1, per_device_eval_batch_size=8,
                                                      batch_eval_metrics=batched),
                      eval_dataset=rows, data_collator=collate,
                      compute_metrics=compute_metrics_for("mnli"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        got = trainer.evaluate()
    batch = RecordingCollator()(rows)
    want = skm.accuracy_score(batch["labels"].numpy(), logits(model, batch).argmax(1).numpy())
    assert LABELS == 3 and got["eval_accuracy"] == pytest.approx(want, abs=1e-12)


# ---------------------------------------------------------------------------- alpha logs
class AlphaSnapshots(TrainerCallback):
    """Per-layer alpha after each step (runs after AlphaCallback's alpha step)."""

    def __init__(self, model):
        self.named = [(n, p) for n, p in model.named_parameters() if n.endswith(".alpha")]
        self.by_step: dict[int, dict[str, np.ndarray]] = {}

    def on_step_end(self, args, state, control, **kw):
        self.by_step[state.global_step] = {n: p.detach().numpy().copy() for n, p in self.named}


def _numpy_stats(snap: dict[str, np.ndarray]) -> dict[str, float]:
    out = {}
    for key, pick in (("", lambda n: True), ("_query", lambda n: n.endswith("query.alpha")),
                      ("_value", lambda n: n.endswith("value.alpha"))):
        a = np.concatenate([v.astype(np.float64) for n, v in snap.items() if pick(n)])
        out[f"alpha_mean{key}"], out[f"alpha_std{key}"] = a.mean(), a.std()
    return out


def _train_with_logs(tmp_path, steps):
    model = adapted_model()
    adapter_ds, alpha_ds = split_for_alpha_dataset(synthetic_rows(), 0.2, seed=42)
    cb = AlphaCallback(model, alpha_ds, RecordingCollator(), every=2, lr=5e-2, batch_size=4, seed=7)
    snaps = AlphaSnapshots(model)
    args = training_args(tmp_path, steps, logging_strategy="steps", logging_steps=1,
                         report_to="tensorboard")
    trainer = Trainer(model=model, args=args, train_dataset=adapter_ds,
                      data_collator=RecordingCollator(), callbacks=[snaps, cb])  # cb listed last
    with torch.random.fork_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        trainer.train()
    return trainer, snaps


def test_alpha_statistics_in_log_history_and_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    steps = 6
    trainer, snaps = _train_with_logs(tmp_path, steps)
    train_logs = [h for h in trainer.state.log_history if "loss" in h]
    assert [h["step"] for h in train_logs] == list(range(1, steps + 1))
    for h in train_logs:
        want = _numpy_stats(snaps.by_step[h["step"]])
        for k, v in want.items():
            assert h[k] == pytest.approx(v, rel=1e-6, abs=1e-9), (h["step"], k)
    moved = _numpy_stats(snaps.by_step[steps])
    assert moved["alpha_std"] > 1e-4  # alpha really moved, so the statistics are not trivial
    assert not any("alpha_mean" in h for h in trainer.state.log_history if "loss" not in h)

    files = list(Path(tmp_path).rglob("events.out.tfevents.*"))
    assert files, "no TensorBoard event file written"
    acc = EventAccumulator(str(files[0].parent))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for key in ("alpha_mean", "alpha_std", "alpha_mean_query", "alpha_mean_value",
                "alpha_std_query", "alpha_std_value"):
        assert f"train/{key}" in tags, (key, sorted(tags))
        events = acc.Scalars(f"train/{key}")
        assert [e.step for e in events] == list(range(1, steps + 1))
        for e in events:
            want = _numpy_stats(snaps.by_step[e.step])[key]
            assert e.value == pytest.approx(want, rel=1e-6, abs=1e-7), (key, e.step)


def test_alpha_log_statistics_of_a_model_without_alpha_is_empty():
    assert alpha_log_statistics(inject(tiny_model("roberta"), AdapterConfig(method="lora"))) == {}
    one = inject(tiny_model("roberta"), AdapterConfig(method="alpha_lora", target_modules=["query"]))
    assert set(alpha_log_statistics(one)) == {"alpha_mean", "alpha_std"}  # one group: no split


# ---------------------------------------------------------------------------- checkpoints
def _adapter_param_names(model):
    """Every tensor training changes, named as in state_dict: adapter factors, alpha, head."""
    return {n for n, p in model.named_parameters()
            if p.requires_grad or n.endswith(".alpha")}


@pytest.mark.parametrize("method", ["alpha_lora", "lora"])
def test_trainer_checkpoint_holds_the_adapter_only(tmp_path, method, capfd):
    steps = 4
    model = adapted_model(method)
    base_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    adapter_ds, alpha_ds = split_for_alpha_dataset(synthetic_rows(), 0.2, seed=42)
    callbacks = ([AlphaCallback(model, alpha_ds, RecordingCollator(), every=2, lr=5e-2,
                                batch_size=4)] if method.startswith("alpha_") else [])
    expected = _adapter_param_names(model) | {n for n in model.state_dict() if n.endswith("alpha")}
    args = training_args(tmp_path, steps, save_strategy="steps", save_steps=steps)
    trainer = Trainer(model=model, args=args, train_dataset=adapter_ds,
                      data_collator=RecordingCollator(), callbacks=callbacks)
    with torch.random.fork_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        trainer.train()
    ckpt = tmp_path / f"checkpoint-{steps}"
    names = {p.name for p in ckpt.iterdir()}
    assert "model.safetensors" not in names and "pytorch_model.bin" not in names
    assert {WEIGHTS_NAME, "rescalora_adapter.json", SAFE_INDEX_NAME, "config.json"} <= names
    saved = load_file(str(ckpt / WEIGHTS_NAME))
    assert set(saved) == expected
    assert any(k.startswith("classifier.") for k in saved)  # the head is there
    assert not any(k.endswith("base_layer.weight") or "embeddings" in k for k in saved)
    ckpt_bytes = sum(f.stat().st_size for f in ckpt.glob("*.safetensors"))
    assert ckpt_bytes < base_bytes / 3

    fresh = tiny_model("roberta")  # the same base weights (seeded), adapters from the folder
    load_adapter(fresh, ckpt)
    batch = tiny_batch("roberta")
    trainer.model.eval()
    assert torch.equal(logits(fresh, batch), logits(trainer.model, batch))

    # the Trainer resumes from the adapter-only checkpoint: no missing-keys report
    model2 = adapted_model(method)
    cbs2 = ([AlphaCallback(model2, alpha_ds, RecordingCollator(), every=2, lr=5e-2,
                           batch_size=4)] if method.startswith("alpha_") else [])
    trainer2 = Trainer(model=model2, args=training_args(tmp_path, steps + 2), train_dataset=adapter_ds,
                       data_collator=RecordingCollator(), callbacks=cbs2)
    capfd.readouterr()
    with torch.random.fork_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        trainer2.train(resume_from_checkpoint=str(ckpt))
    err = capfd.readouterr().err
    assert "missing keys" not in err and "Can't find" not in err
    assert trainer2.state.global_step == steps + 2


def test_adapted_model_still_copies_and_pickles(tmp_path):
    model = inject(tiny_model("roberta"), AdapterConfig(method="alpha_lora", rank=2))
    twin = copy.deepcopy(model)
    with torch.no_grad():
        for n, p in twin.named_parameters():
            if n.endswith("lora_B"):
                p.fill_(0.5)
    twin.save_pretrained(tmp_path / "twin")  # saves the COPY's tensors, not the original's
    saved = load_file(str(tmp_path / "twin" / WEIGHTS_NAME))
    assert all(torch.all(v == 0.5) for k, v in saved.items() if k.endswith("lora_B"))
    back = pickle.loads(pickle.dumps(model))
    back.save_pretrained(tmp_path / "back")
    again = load_file(str(tmp_path / "back" / WEIGHTS_NAME))
    assert all(torch.all(v == 0) for k, v in again.items() if k.endswith("lora_B"))


@pytest.mark.parametrize("arch", ["roberta", "llama"])
def test_alpha_log_statistics_equal_on_the_peft_route(arch):
    """The same alpha values through deep.inject and through PEFT (AlphaLoraConfig) give the
    same statistics, and they equal NumPy's over the values grouped by target module."""
    from .test_peft import _pair

    ours, theirs = _pair(arch)
    a, b = alpha_log_statistics(ours), alpha_log_statistics(theirs)
    q, v = ("query", "value") if arch == "roberta" else ("q_proj", "v_proj")
    assert set(a) == set(b) == {"alpha_mean", "alpha_std", f"alpha_mean_{q}", f"alpha_std_{q}",
                                f"alpha_mean_{v}", f"alpha_std_{v}"}
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=1e-7), k
    named = {n: p.detach().numpy().astype(np.float64) for n, p in ours.named_parameters()
             if n.endswith(".alpha")}
    qs = np.concatenate([x for n, x in named.items() if n.endswith(f"{q}.alpha")])
    allv = np.concatenate(list(named.values()))
    assert a[f"alpha_mean_{q}"] == pytest.approx(qs.mean(), abs=1e-7)
    assert a[f"alpha_std_{q}"] == pytest.approx(qs.std(), abs=1e-7)
    assert a["alpha_std"] == pytest.approx(allv.std(), abs=1e-7) and allv.std() > 0.1
