"""The training loop (deep.train) and its CLI on tiny random models and synthetic GLUE files.

What is checked, each against an independent fact rather than a stored output:
* the alternating schedule: alpha moves only at steps k with k % T == 0, on rows of the
  held-out alpha split; adapter batches never contain a held-out row (instrumented samplers);
* training lowers the training loss of a learnable synthetic task;
* an interrupted run (stopped after N steps, like a kill) resumed from its last checkpoint
  ends bitwise identical to an uninterrupted run (CPU, same seed);
* the CLI round trip: `python -m deep train` then `python -m deep eval` gives the same metrics;
* bad configurations fail with the field name, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import deep.train as dt
from deep.train import TrainConfig, train

POS = ("good", "great", "fun", "nice")
NEG = ("bad", "dull", "poor", "weak")


def _write_sst2(folder: Path, n_train: int = 160, n_dev: int = 48, seed: int = 0) -> Path:
    """A learnable single-sentence task in the SST-2 layout: class-1 sentences use words of
    POS, class-0 of NEG (disjoint letters, so even a frozen random encoder separates them)."""
    rng = random.Random(seed)
    (folder / "SST-2").mkdir(parents=True, exist_ok=True)
    for name, n in (("train.tsv", n_train), ("dev.tsv", n_dev)):
        lines = ["sentence\tlabel"]
        for _ in range(n):
            y = rng.randint(0, 1)
            words = [rng.choice(POS if y else NEG) for _ in range(rng.randint(3, 6))]
            lines.append(" ".join(words) + f"\t{y}")
        (folder / "SST-2" / name).write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def glue(tmp_path_factory) -> Path:
    return _write_sst2(tmp_path_factory.mktemp("glue"))


def _cfg(glue: Path, out: Path, **kw) -> TrainConfig:
    base = dict(task="sst2", model="tiny-roberta", adapter="alpha_lora", rank=4, epochs=2,
                batch_size=16, lr=1e-2, alpha_every=3, alpha_batch_size=8, data_dir=str(glue),
                out=str(out), checkpoint_every=1000, num_threads=1, target_modules="all-linear",
                max_length=48)
    base.update(kw)
    return TrainConfig.from_flat(**base)


def _adapter_tensors(run: Path) -> dict[str, torch.Tensor]:
    files = list((run / "adapter").glob("*.safetensors"))
    assert len(files) == 1
    return load_file(str(files[0]))


# ----------------------------------------------------------------------------------------
# the alternating schedule and the splits
# ----------------------------------------------------------------------------------------
def test_alpha_steps_only_every_T_on_held_out_rows(glue, tmp_path, monkeypatch):
    samplers: list = []
    optimizers: list = []

    class RecordingBatches(dt.CyclingBatches):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.drawn: list[np.ndarray] = []
            samplers.append(self)

        def __next__(self):
            b = super().__next__()
            self.drawn.append(b.copy())
            return b

    class RecordingAlpha(dt.AlphaOptimizer):
        """Snapshots alpha each time the loop asks whether to step (after the adapter step):
        between two snapshots alpha may change only through an alpha step."""

        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.snapshots: list[tuple[int, torch.Tensor]] = []
            optimizers.append(self)

        def should_step(self, step):
            self.snapshots.append((step, torch.cat([p.detach().clone() for p in self.alpha_params])))
            return super().should_step(step)

    monkeypatch.setattr(dt, "CyclingBatches", RecordingBatches)
    monkeypatch.setattr(dt, "AlphaOptimizer", RecordingAlpha)
    cfg = _cfg(glue, tmp_path / "run", alpha_every=4, max_steps=17, group_by_length=False)
    summary = train(cfg, progress=False)

    from deep.data import carve_splits

    rows = carve_splits(160, {"alpha": 0.2}, cfg.split_seed)
    adapter_sampler, alpha_sampler = samplers
    seen_adapter = np.concatenate(adapter_sampler.drawn)
    seen_alpha = np.concatenate(alpha_sampler.drawn)
    assert len(adapter_sampler.drawn) == 17
    assert not np.isin(seen_adapter, rows["alpha"]).any(), "an adapter batch saw a held-out row"
    assert np.isin(seen_alpha, rows["alpha"]).all()
    assert set(seen_adapter.tolist()) == set(rows["rest"].tolist())  # one epoch = every row
    (opt,) = optimizers
    assert [r.step for r in opt.history] == [0, 4, 8, 12, 16]
    for rec, drawn in zip(opt.history, alpha_sampler.drawn, strict=True):
        assert np.array_equal(rec.batch, drawn)
    # alpha changes between consecutive checks only across an alpha step
    snaps = opt.snapshots
    for (k0, a0), (k1, a1) in zip(snaps, snaps[1:], strict=False):
        changed = not torch.equal(a0, a1)
        assert changed == (k0 % 4 == 0), f"alpha changed={changed} between steps {k0} and {k1}"
    assert summary["rows"] == {"alpha": 32, "adapter": 128, "dev": 48}


def test_methods_without_alpha_train_on_every_row(glue, tmp_path):
    s = train(_cfg(glue, tmp_path / "lora", adapter="lora", max_steps=2), progress=False)
    assert s["rows"]["adapter"] == 160 and "alpha" not in s["rows"]
    assert s["trainable_parameters"]["alpha"] == 0
    assert "alpha_mean" not in s["final"]


def test_training_lowers_the_loss(glue, tmp_path):
    cfg = _cfg(glue, tmp_path / "run", epochs=4)
    s = train(cfg, progress=False)
    hist = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(hist) == 4 and [h["step"] for h in hist] == [8, 16, 24, 32]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"] - 0.05
    assert s["final"]["dev_accuracy"] > 0.8
    stats = json.loads((tmp_path / "run" / "alpha_stats.json").read_text())
    assert len(stats) == 4 and all({"mean", "std", "min", "max"} <= set(v) for v in
                                   stats[-1]["layers"].values())
    csv_rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert csv_rows[0].startswith("epoch,step,train_loss,dev_accuracy") and len(csv_rows) == 5


# ----------------------------------------------------------------------------------------
# checkpoints and resume
# ----------------------------------------------------------------------------------------
def test_resume_is_bitwise_identical(glue, tmp_path):
    cfg = _cfg(glue, tmp_path / "a", lora_dropout=0.1, model_dropout=0.1, checkpoint_every=5)
    full = train(cfg, progress=False)
    b = dataclasses.replace(cfg, out=str(tmp_path / "b"), stop_after=13)
    assert train(b, progress=False) == {"status": "stopped", "step": 13}
    ckpts = sorted(p.name for p in (tmp_path / "b" / "checkpoints").glob("step-*"))
    assert ckpts == ["step-000000005", "step-000000010"]  # step 13 was "killed", not saved
    resumed = train(dataclasses.replace(b, stop_after=None), resume=True, progress=False)
    assert resumed["final"] == full["final"]
    ta, tb = _adapter_tensors(tmp_path / "a"), _adapter_tensors(tmp_path / "b")
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    assert (tmp_path / "a" / "metrics.csv").read_bytes() == (tmp_path / "b" / "metrics.csv").read_bytes()


def test_resume_refuses_a_different_configuration(glue, tmp_path):
    cfg = _cfg(glue, tmp_path / "a", checkpoint_every=2, stop_after=3)
    train(cfg, progress=False)
    with pytest.raises(ValueError, match=r"lr: 0.01 -> 0.02"):
        train(dataclasses.replace(cfg, lr=2e-2), resume=True, progress=False)
    with pytest.raises(FileExistsError, match="resume"):
        train(cfg, progress=False)


def test_partial_checkpoint_is_never_loaded(glue, tmp_path):
    cfg = _cfg(glue, tmp_path / "a", checkpoint_every=2, stop_after=5, keep_checkpoints=3)
    train(cfg, progress=False)
    root = tmp_path / "a" / "checkpoints"
    newest = sorted(root.glob("step-*"))[-1]
    # corrupt the newest checkpoint: the one before it must be used
    (newest / "optim.pt").write_bytes(b"truncated")
    from deep.checkpoint import latest_complete

    assert latest_complete(root).name == "step-000000002"
    resumed = train(dataclasses.replace(cfg, stop_after=None), resume=True, progress=False)
    full = train(dataclasses.replace(cfg, out=str(tmp_path / "c"), stop_after=None), progress=False)
    assert resumed["final"] == full["final"]


# ----------------------------------------------------------------------------------------
# model selection on a validation split carved from train
# ----------------------------------------------------------------------------------------
def test_best_adapter_is_chosen_on_the_validation_split(glue, tmp_path):
    s = train(_cfg(glue, tmp_path / "v", val_split=0.25, epochs=3), progress=False)
    hist = json.loads((tmp_path / "v" / "metrics.json").read_text())
    scores = [h["val_accuracy"] for h in hist]
    assert s["best_on_val"]["step"] == hist[int(np.argmax(scores))]["step"]
    assert (tmp_path / "v" / "best_adapter").is_dir()
    assert s["rows"] == {"alpha": 32, "val": 40, "adapter": 88, "dev": 48}
    s2 = train(_cfg(glue, tmp_path / "nv", max_steps=2), progress=False)
    assert s2["best_on_val"] is None and not (tmp_path / "nv" / "best_adapter").exists()


# ----------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------
def test_cli_train_then_eval_round_trip(glue, tmp_path, capsys):
    from deep.__main__ import main

    out = tmp_path / "cli"
    rc = main(["train", "--task", "sst2", "--model", "tiny-bert", "--adapter", "alpha_dora",
               "--rank", "2", "--max-steps", "6", "--batch-size", "8", "--seed", "1",
               "--data-dir", str(glue), "--out", str(out), "--no-progress", "--num-threads", "1",
               "--target-modules", "query", "value", "--extra", "share_alpha=true"])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    cfg = json.loads((out / "config.json").read_text())
    # config.json holds the adapter tree (docs: TrainConfig.adapter is one AdapterConfig)
    assert cfg["adapter"]["target_modules"] == ["query", "value"] and cfg["adapter"]["share_alpha"] is True
    assert cfg["adapter"]["method"] == "alpha_dora" and cfg["adapter"]["seed"] == 1
    assert main(["eval", "--run", str(out)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["accuracy"] == pytest.approx(printed["final"]["dev_accuracy"], abs=1e-12)


@pytest.mark.parametrize(
    "kw, field",
    [({"rank": 0}, "rank"), ({"adapter": "lora3"}, "adapter"), ({"alpha_split": 1.0}, "alpha_split"),
     ({"alpha_split": 0.6, "val_split": 0.5}, "alpha_split + val_split"), ({"optimizer": "sgd"}, "optimizer"),
     ({"lr": -1.0}, "lr"), ({"epochs": 0}, "epochs"), ({"model_dropout": 1.5}, "model_dropout"),
     ({"alpha_every": 0}, "alpha_every"), ({"alpha_split": 0.0}, "alpha_split"),
     ({"val_split": -0.1}, "val_split"), ({"task": "glue-rte"}, "task"),
     ({"head_lr": 0.0}, "head_lr"), ({"head_lr": float("inf")}, "head_lr"),
     ({"head_lr": 1e-2, "optimizer": "loft"}, "head_lr")],
)
def test_bad_configuration_names_the_field(kw, field, tmp_path):
    with pytest.raises(ValueError, match=rf"{field.replace('+', '[+]')}=.*allowed"):
        TrainConfig.from_flat(**{"task": "sst2", "out": str(tmp_path), **kw})


def test_cli_reports_bad_flags(capsys, tmp_path):
    from deep.__main__ import main

    assert main(["train", "--task", "sst2", "--rank", "0", "--out", str(tmp_path)]) == 2
    assert "rank=0" in capsys.readouterr().err


def test_missing_data_names_the_file(tmp_path):
    from deep.data import GlueDataNotFound

    (tmp_path / "glue" / "SST-2").mkdir(parents=True)
    with pytest.raises((GlueDataNotFound, FileNotFoundError), match="train.tsv"):
        train(_cfg(tmp_path / "glue", tmp_path / "out"), progress=False)


def test_rank_too_large_and_missing_data_dir_are_clear(glue, tmp_path):
    with pytest.raises(ValueError, match=r"rank=64 is invalid .* allowed"):
        train(_cfg(glue, tmp_path / "r", rank=64, max_steps=1), progress=False)
    with pytest.raises(FileNotFoundError, match="no_such_dir"):
        train(_cfg(tmp_path / "no_such_dir", tmp_path / "d", max_steps=1), progress=False)


def test_loft_optimizer_trains(glue, tmp_path):
    s = train(_cfg(glue, tmp_path / "loft", adapter="lora", optimizer="loft", epochs=4, lr=1e-2),
              progress=False)
    hist = json.loads((tmp_path / "loft" / "metrics.json").read_text())
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert s["final"]["dev_accuracy"] > 0.7


# ----------------------------------------------------------------------------------------
# data parallel: torchrun with 2 CPU processes (gloo) equals one process
# ----------------------------------------------------------------------------------------
def test_torchrun_two_processes_equal_one(glue, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.fail("torchrun is not installed next to the Python interpreter")
    args = ["-m", "deep", "train", "--task", "sst2", "--model", "tiny-roberta", "--adapter",
            "alpha_lora", "--rank", "4", "--max-steps", "7", "--batch-size", "15", "--alpha-every",
            "3", "--alpha-batch-size", "9", "--lr", "1e-2", "--model-dropout", "0", "--data-dir",
            str(glue), "--no-progress", "--num-threads", "1", "--target-modules", "all-linear"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, *args, "--out", str(tmp_path / "one")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", *args, "--out",
                          str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    s1 = json.loads((tmp_path / "one" / "summary.json").read_text())
    s2 = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert s2["world_size"] == 2 and s1["world_size"] == 1
    t1, t2 = _adapter_tensors(tmp_path / "one"), _adapter_tensors(tmp_path / "two")
    assert t1.keys() == t2.keys()
    for k in t1:
        torch.testing.assert_close(t2[k], t1[k], rtol=0, atol=1e-5, msg=k)
    moved = max(float((t1[k] - 1).abs().max()) for k in t1 if k.endswith("alpha"))
    assert moved > 1e-3  # alpha did train, so the comparison is not vacuous
    assert s2["final"]["train_loss"] == pytest.approx(s1["final"]["train_loss"], abs=1e-5)


# ----------------------------------------------------------------------------------------
# rank-allocating adapters in the loop: allocator driven automatically, exact resume
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("adapter", ["adalora", "lora2", "alpha_alora"])
def test_rank_allocating_adapters_train_and_resume_exactly(glue, tmp_path, adapter):
    cfg = _cfg(glue, tmp_path / "a", adapter=adapter, max_steps=30, checkpoint_every=7,
               target_modules=("query", "value"))
    full = train(cfg, progress=False)
    from deep import adapter_layers
    from deep.allocation import make_allocator
    from deep.models import tiny_model

    probe = tiny_model("roberta", 2, 0)
    from deep import AdapterConfig, inject

    inject(probe, AdapterConfig(method=adapter, rank=4, target_modules=("query", "value")))
    budget_final = make_allocator(probe, 30).budget(30)
    assert len(adapter_layers(probe)) == 4
    assert full["final"]["active_rank"] == budget_final  # AdaLoRA/LoRA²: 16 -> 8; ALoRA: 16 kept
    b = dataclasses.replace(cfg, out=str(tmp_path / "b"), stop_after=17)
    train(b, progress=False)
    resumed = train(dataclasses.replace(b, stop_after=None), resume=True, progress=False)
    assert resumed["final"] == full["final"]
    ta, tb = _adapter_tensors(tmp_path / "a"), _adapter_tensors(tmp_path / "b")
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k


# ----------------------------------------------------------------------------------------
# head_lr: the task head in its own AdamW group
# ----------------------------------------------------------------------------------------
def _head_and_adapter(run: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    t = _adapter_tensors(run)
    head = {k: v for k, v in t.items() if k.startswith("classifier.")}
    assert head and len(head) < len(t)
    return head, {k: v for k, v in t.items() if k not in head}


def test_head_lr_equal_to_lr_is_the_single_group_run_bitwise(glue, tmp_path):
    """AdamW is per-parameter: the head in a second group at the same lr changes nothing."""
    kw = dict(adapter="lora", max_steps=6, epochs=1)
    train(_cfg(glue, tmp_path / "one", **kw), progress=False)
    train(_cfg(glue, tmp_path / "two", head_lr=1e-2, **kw), progress=False)
    a, b = _adapter_tensors(tmp_path / "one"), _adapter_tensors(tmp_path / "two")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_head_lr_steps_the_head_at_its_own_rate(glue, tmp_path):
    """One AdamW step moves every weight by about its group's lr (|m / sqrt(v)| = 1 at the first
    step, plus lr * wd * w): the head by head_lr, the adapter factors by lr (B: A gets no
    gradient at the first step, B0 = 0)."""
    from deep import adapter_layers
    from deep.evaluate import build_model

    lr, head_lr = 1e-4, 3e-2
    cfg = _cfg(glue, tmp_path / "run", adapter="lora", max_steps=1, epochs=1, lr=lr,
               head_lr=head_lr, weight_decay=0.0)
    init, _ = build_model(cfg)  # the run's model before its first step (same seed)
    head0 = {k: v.detach().clone() for k, v in init.classifier.named_parameters()}
    train(cfg, progress=False)
    head1, adapter1 = _head_and_adapter(tmp_path / "run")
    dh = max(float((head1["classifier." + k] - v).abs().max()) for k, v in head0.items())
    assert dh == pytest.approx(head_lr, rel=1e-3)
    b0 = {n + ".lora_B": layer.lora_B.detach() for n, layer in adapter_layers(init)}  # B0 = 0
    assert b0.keys() <= adapter1.keys()
    db = max(float((adapter1[k] - v).abs().max()) for k, v in b0.items())
    assert db == pytest.approx(lr, rel=1e-3)
