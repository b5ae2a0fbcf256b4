"""Length-grouped batches (deep.batching) and the loop features of issue 12: steps.csv, the plot
command, joint alpha, full fine-tuning, lazy tokenisation, length-sorted evaluation."""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from deep.batching import LengthGroupedBatches, padded_tokens
from deep.data import LazyTokenizedDataset, load_glue, tokenize
from deep.models import load_tokenizer
from deep.train import train

from .test_train import _adapter_tensors, _cfg, glue  # noqa: F401  (fixture)


def _lengths(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 200, size=n)


def test_every_row_once_per_epoch_and_deterministic_per_seed():
    rows = np.arange(3, 1003)
    lengths = _lengths(1010)
    a = LengthGroupedBatches(rows, lengths, 16, seed=5, group_size=8)
    b = LengthGroupedBatches(rows, lengths, 16, seed=5, group_size=8)
    c = LengthGroupedBatches(rows, lengths, 16, seed=6, group_size=8)
    n = a.batches_per_cycle()
    for _epoch in range(3):
        ea = [next(a) for _ in range(n)]
        eb = [next(b) for _ in range(n)]
        assert all(np.array_equal(x, y) for x, y in zip(ea, eb, strict=True))
        seen = np.concatenate(ea)
        assert np.array_equal(np.sort(seen), rows)  # each row exactly once per cycle
    ec = [next(c) for _ in range(n)]
    assert not all(np.array_equal(x, y) for x, y in zip(ea, ec, strict=True))


def test_grouping_cuts_padding_against_random_batches():
    rows = np.arange(4000)
    lengths = _lengths(4000)
    grouped = LengthGroupedBatches(rows, lengths, 16, seed=0)
    plain = LengthGroupedBatches(rows, lengths, 16, seed=0, group_size=1)  # no sorting
    n = grouped.batches_per_cycle()
    pg, real = padded_tokens([next(grouped) for _ in range(n)], lengths)
    pp, real2 = padded_tokens([next(plain) for _ in range(n)], lengths)
    assert real == real2 == lengths.sum()
    assert pp / real > 1.6 and pg / real < 1.1  # uniform lengths: random batches pad ~1.9x


def test_state_dict_resumes_the_same_sequence():
    rows, lengths = np.arange(500), _lengths(500, 1)
    a = LengthGroupedBatches(rows, lengths, 7, seed=3, group_size=4)
    for _ in range(90):  # past a cycle boundary (72 batches per cycle)
        next(a)
    state = a.state_dict()
    tail = [next(a) for _ in range(40)]
    b = LengthGroupedBatches(rows, lengths, 7, seed=3, group_size=4)
    b.load_state_dict(state)
    assert all(np.array_equal(x, y) for x, y in zip(tail, [next(b) for _ in range(40)], strict=True))
    with pytest.raises(ValueError, match="not the same run"):
        LengthGroupedBatches(rows, lengths, 7, seed=4).load_state_dict(state)


@pytest.mark.parametrize("bad", [{"batch_size": 0}, {"group_size": -1}, {"lengths": np.ones(3)}])
def test_bad_arguments_name_the_argument(bad):
    kw = {"rows": np.arange(10), "lengths": np.ones(10), "batch_size": 2} | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        LengthGroupedBatches(**kw)


def test_lazy_tokenisation_equals_eager_and_touches_only_used_rows(glue):  # noqa: F811
    tok = load_tokenizer("tiny-roberta")
    rows = load_glue("sst2", "train", str(glue))
    eager = tokenize(rows, tok, 48)
    lazy = LazyTokenizedDataset(rows, tok, 48)
    lazy.prefetch([5, 1, 9])
    assert lazy.n_tokenized == 3
    for i in (1, 5, 9, 30):
        assert lazy[i] == eager[i]
    assert lazy.n_tokenized == 4


def test_steps_csv_has_a_row_per_step_and_resume_keeps_it_identical(glue, tmp_path):  # noqa: F811
    cfg = _cfg(glue, tmp_path / "a", checkpoint_every=4, max_steps=11, eval_every=5)
    full = train(cfg, progress=False)
    with (tmp_path / "a" / "steps.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, 12))
    assert {"loss", "lr", "alpha_mean", "alpha_std", "alpha_min", "alpha_max", "dev_accuracy"} <= set(rows[0])
    evaluated = [int(r["step"]) for r in rows if r["dev_accuracy"]]
    assert evaluated == [5, 10, 11]
    assert float(rows[0]["lr"]) == pytest.approx(cfg.lr)  # linear decay from lr
    assert full["train_tokens"]["padded"] >= full["train_tokens"]["real"] > 0
    assert 0 < full["alpha_share"] < 1
    b = dataclasses.replace(cfg, out=str(tmp_path / "b"), stop_after=6)
    train(b, progress=False)
    train(dataclasses.replace(b, stop_after=None), resume=True, progress=False)

    assert (tmp_path / "a" / "steps.csv").read_bytes() == (tmp_path / "b" / "steps.csv").read_bytes()
    ta, tb = _adapter_tensors(tmp_path / "a"), _adapter_tensors(tmp_path / "b")
    assert all(torch.equal(ta[k], tb[k]) for k in ta)


def test_plot_command_writes_pngs(glue, tmp_path):  # noqa: F811
    train(_cfg(glue, tmp_path / "r", max_steps=6, eval_every=3), progress=False)
    out = subprocess.run([sys.executable, "-m", "deep", "plot", "--run", str(tmp_path / "r")],
                         capture_output=True, text=True, check=True)
    for name in ("learning_curve.png", "alpha_trajectory.png"):
        png = tmp_path / "r" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert str(png) in out.stdout
    bad = subprocess.run([sys.executable, "-m", "deep", "plot", "--run", str(tmp_path / "nope")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "steps.csv" in bad.stderr and "Traceback" not in bad.stderr


def test_joint_alpha_moves_every_step_and_holds_out_nothing(glue, tmp_path):  # noqa: F811
    s = train(_cfg(glue, tmp_path / "j", alpha_mode="joint", max_steps=4, alpha_lr=0.05), progress=False)
    assert "alpha" not in s["rows"] and s["rows"]["adapter"] == 160
    with (tmp_path / "j" / "steps.csv").open() as f:
        means = [float(r["alpha_std"]) for r in csv.DictReader(f)]
    assert all(b != a for a, b in zip(means, means[1:], strict=False))  # alpha changes each step


def test_full_fine_tuning_trains_every_parameter(glue, tmp_path):  # noqa: F811
    s = train(_cfg(glue, tmp_path / "f", adapter="full", max_steps=2, target_modules=None, lr=1e-3),
              progress=False)
    n_all = sum(p.numel() for p in __import__("deep.models", fromlist=["x"]).load_model(
        "tiny-roberta", "sst2", seed=0).parameters())
    assert s["trainable_parameters"]["total_trainable"] == n_all
    assert json.loads((tmp_path / "f" / "summary.json").read_text())["status"] == "done"


def test_length_sorted_evaluation_gives_the_same_metrics(glue, tmp_path):  # noqa: F811
    from deep.data import make_collator
    from deep.models import load_model
    from deep.train import evaluate

    tok = load_tokenizer("tiny-roberta")
    model = load_model("tiny-roberta", "sst2", seed=0)
    dev = LazyTokenizedDataset(load_glue("sst2", "dev", str(glue)), tok, 48)
    coll = make_collator(tok, "sst2")
    a = evaluate(model, dev, coll, "sst2", batch_size=5, sort_by_length=True)
    b = evaluate(model, dev, coll, "sst2", batch_size=48, sort_by_length=False)
    assert a == pytest.approx(b, abs=1e-12)
