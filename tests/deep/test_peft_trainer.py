"""Issue 16 item 1: Trainer + deep.hf.AlphaCallback drive a PEFT AlphaLoraConfig model unchanged.

A ``peft.get_peft_model(model, AlphaLoraConfig(...))`` model (alpha = ``...lora_row_alpha.default``)
and the project's ``deep.inject(model, AdapterConfig(method="alpha_lora"))`` model, built from
the same tiny roberta with the same A, B, alpha and head, are trained by the same Trainer
arguments and AlphaCallback on the same rows. The reference is the project's model (whose
Trainer trajectory tests/deep/test_hf.py checks against a hand-written AdamW loop): alpha and
the adapters must follow the same path; the alternating schedule must be the one of the
project's models; the frozen base must not move.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from transformers import Trainer, TrainerCallback

peft = pytest.importorskip("peft")

from deep import AdapterConfig, adapter_layers, inject  # noqa: E402
from deep.hf import AlphaCallback, find_alpha_parameters, split_for_alpha_dataset  # noqa: E402
from deep.peft import AlphaLoraConfig, named_alpha_parameters  # noqa: E402

from .conftest import tiny_model  # noqa: E402
from .test_hf import (  # noqa: E402
    ALPHA_BATCH,
    ALPHA_LR,
    EVERY,
    RecordingCollator,
    synthetic_rows,
    training_args,
)

R = 4
STEPS = 14  # 12 adapter batches per epoch: crosses an epoch boundary; alpha steps 0, 4, 8, 12


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/deep/conftest.py


class Recorder(TrainerCallback):
    """After each step: every alpha (by name); before each optimiser step: any alpha grad?"""

    def __init__(self, named):
        self.named = named
        self.trajectory: list[dict[str, torch.Tensor]] = []
        self.grad_seen: list[bool] = []

    def on_pre_optimizer_step(self, args, state, control, **kw):
        self.grad_seen.append(any(p.grad is not None for _, p in self.named))

    def on_step_end(self, args, state, control, **kw):
        self.trajectory.append({n: p.detach().clone() for n, p in self.named})


def _models():
    """(ours, theirs): the same random A, alpha and head; B = 0 on both (the init)."""
    ours = inject(tiny_model("roberta"), AdapterConfig(method="alpha_lora", rank=R, seed=3))
    theirs = peft.get_peft_model(tiny_model("roberta"), AlphaLoraConfig(
        r=R, lora_alpha=R, target_modules=["query", "value"], task_type="SEQ_CLS"))
    pairs = {}
    with torch.no_grad():
        for name, layer in adapter_layers(ours):
            mod = theirs.base_model.model.get_submodule(name)
            mod.lora_A["default"].weight.copy_(layer.lora_A)
            mod.lora_B["default"].weight.copy_(layer.lora_B)
            pairs[name] = (layer, mod)
    return ours, theirs, pairs


def _train(tmp_path, model, named):
    adapter_ds, alpha_ds = split_for_alpha_dataset(synthetic_rows(), 0.2, seed=42)
    train_col, alpha_col = RecordingCollator(), RecordingCollator()
    cb = AlphaCallback(model, alpha_ds, alpha_col, every=EVERY, lr=ALPHA_LR,
                       batch_size=ALPHA_BATCH, seed=7)
    rec = Recorder(named)
    trainer = Trainer(model=model, args=training_args(tmp_path, STEPS), train_dataset=adapter_ds,
                      data_collator=train_col, callbacks=[cb, rec])
    with torch.random.fork_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        trainer.train()
    return trainer, cb, rec, train_col, alpha_col


def test_trainer_and_alpha_callback_drive_a_peft_alpha_model(tmp_path):
    ours, theirs, pairs = _models()
    peft_named = named_alpha_parameters(theirs)
    # alpha found by name: one lora_row_alpha per target, nothing else, all ones at init
    assert len(peft_named) == 4
    assert all(n.endswith(".lora_row_alpha.default") for n, _ in peft_named)
    assert [id(p) for p in find_alpha_parameters(theirs)] == [id(p) for _, p in peft_named]
    assert all(torch.equal(p, torch.ones_like(p)) for _, p in peft_named)
    base0 = {n: p.detach().clone() for n, p in theirs.named_parameters() if not p.requires_grad}
    head0 = {n: p.detach().clone() for n, p in theirs.named_parameters()
             if "modules_to_save" in n}
    lora0 = {n: p.detach().clone() for n, p in theirs.named_parameters() if "lora_" in n}

    ours_named = [(f"{n}.alpha", layer.alpha) for n, layer in adapter_layers(ours)]
    _, cb_o, rec_o, col_o, acol_o = _train(tmp_path / "ours", ours, ours_named)
    _, cb_t, rec_t, col_t, acol_t = _train(tmp_path / "peft", theirs, peft_named)

    # the same batches, the same alternating schedule as the project's model
    assert col_t.rows == col_o.rows and acol_t.rows == acol_o.rows
    assert [h.step for h in cb_t.optimizer.history] == [h.step for h in cb_o.optimizer.history]
    assert [h.step for h in cb_t.optimizer.history] == [0, 4, 8, 12]
    assert rec_t.grad_seen == [False] * STEPS  # alpha frozen during every adapter step
    traj = [torch.cat(list(step.values())) for step in rec_t.trajectory]
    before = [torch.ones_like(traj[0])] + traj[:-1]
    changed = [k for k in range(STEPS) if not torch.equal(traj[k], before[k])]
    assert changed == [0, 4, 8, 12]
    assert (traj[-1] - 1.0).abs().max() > 1e-2  # alpha really moved
    # ... along the project's model's path (alpha per layer, by name)
    for k in range(STEPS):
        for (n_o, _), (n_t, _) in zip(ours_named, peft_named, strict=True):
            want, got = rec_o.trajectory[k][n_o], rec_t.trajectory[k][n_t]
            assert (got - want).abs().max() <= 1e-6, (k, n_t)

    # adapters and head moved, as the project's; the frozen base did not move at all
    for name, (layer, mod) in pairs.items():
        for src, dst, key in ((layer.lora_A, mod.lora_A["default"].weight, "lora_A"),
                              (layer.lora_B, mod.lora_B["default"].weight, "lora_B")):
            full = next(n for n in lora0 if f"{name}.{key}." in n)
            assert (dst.detach() - lora0[full]).abs().max() > 1e-3, full
            assert (dst.detach() - src.detach()).abs().max() <= 1e-5, full
    for n, p in theirs.named_parameters():
        if n in head0:
            assert (p.detach() - head0[n]).abs().max() > 1e-3, n
            assert p.requires_grad
    now = dict(theirs.named_parameters())
    assert base0 and all(torch.equal(now[n].detach(), v) for n, v in base0.items())
    assert all(not p.requires_grad for _, p in peft_named)
