"""deep.hf: AlphaCallback / AllocationCallback inside a transformers Trainer (CPU, tiny roberta).

The central check: Trainer + AlphaCallback gives the same alpha (and adapter) trajectory as a
hand-written reference loop (torch AdamW, the Trainer's linear schedule with no warmup, the
same gradient clipping, deep.alpha.AlphaOptimizer, the same batches in the same order).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from deep import AdapterConfig, alpha_parameters, inject
from deep.alpha import AlphaOptimizer, CyclingBatches
from deep.data import DynamicPaddingCollator
from deep.hf import AllocationCallback, AlphaCallback, split_for_alpha_dataset

from .conftest import VOCAB, tiny_model

PAD = 1  # roberta's pad id in the tiny config
N_ROWS, BATCH, ALPHA_BATCH, EVERY = 60, 4, 4, 4
LR, ALPHA_LR, CLIP = 1e-2, 5e-2, 1.0


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/deep/conftest.py


def synthetic_rows(n=N_ROWS, seed=0):
    """Rows ``{"row", "input_ids", "attention_mask", "labels"}`` of varying length; the label
    is a function of the first token (learnable)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        length = int(rng.integers(4, 11))
        ids = rng.integers(2, VOCAB, size=length).tolist()
        rows.append({"row": i, "input_ids": ids, "attention_mask": [1] * length,
                     "labels": ids[0] % 3})
    return rows


class RecordingCollator:
    """Pads like the project's collator, drops ``row`` and records which rows it batched."""

    def __init__(self):
        self.inner = DynamicPaddingCollator(PAD)
        self.rows: list[list[int]] = []

    def __call__(self, items):
        self.rows.append([it["row"] for it in items])
        return self.inner([{k: v for k, v in it.items() if k != "row"} for it in items])


class AlphaRecorder(TrainerCallback):
    """After each step (and after AlphaCallback, registered before it): the alpha vector;
    before each optimiser step: whether alpha has a gradient."""

    def __init__(self, model):
        self.alphas = alpha_parameters(model)
        self.trajectory: list[torch.Tensor] = []
        self.grad_seen: list[bool] = []

    def on_pre_optimizer_step(self, args, state, control, **kw):
        self.grad_seen.append(any(a.grad is not None for a in self.alphas))

    def on_step_end(self, args, state, control, **kw):
        self.trajectory.append(torch.cat([a.detach().clone() for a in self.alphas]))


def adapted_model(method="alpha_lora"):
    model = tiny_model("roberta")
    return inject(model, AdapterConfig(method=method, rank=4, seed=3))


def training_args(tmp_path, max_steps, **kw):
    base = dict(output_dir=str(tmp_path), per_device_train_batch_size=BATCH, max_steps=max_steps,
                learning_rate=LR, lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0,
                max_grad_norm=CLIP, adam_beta1=0.9, adam_beta2=0.99, adam_epsilon=1e-8,
                optim="adamw_torch", train_sampling_strategy="sequential", use_cpu=True,
                report_to="none", save_strategy="no", logging_strategy="no", disable_tqdm=True,
                seed=0, dataloader_num_workers=0, dataloader_pin_memory=False,
                remove_unused_columns=False)
    base.update(kw)
    return TrainingArguments(**base)


def run_trainer(tmp_path, max_steps, model=None, extra_callbacks=(), args_kw=None, **cb_kw):
    """Trainer + AlphaCallback on the synthetic rows; returns (trainer, callback, recorder,
    trainer collator, alpha collator, adapter subset, alpha subset)."""
    model = adapted_model() if model is None else model
    adapter_ds, alpha_ds = split_for_alpha_dataset(synthetic_rows(), 0.2, seed=42)
    train_col, alpha_col = RecordingCollator(), RecordingCollator()
    cb = AlphaCallback(model, alpha_ds, alpha_col, every=EVERY, lr=ALPHA_LR,
                       batch_size=ALPHA_BATCH, seed=7, **cb_kw)
    rec = AlphaRecorder(model)
    trainer = Trainer(model=model, args=training_args(tmp_path, max_steps, **(args_kw or {})),
                      train_dataset=adapter_ds, data_collator=train_col,
                      callbacks=[cb, rec, *extra_callbacks])
    with torch.random.fork_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        trainer.train()
    return trainer, cb, rec, train_col, alpha_col, adapter_ds, alpha_ds


def reference_loop(max_steps):
    """The same training written by hand: AdamW + linear decay (no warmup) + clipping, and
    AlphaOptimizer on the same alpha batches, over the adapter rows in order."""
    model = adapted_model().train()
    adapter_ds, alpha_ds = split_for_alpha_dataset(synthetic_rows(), 0.2, seed=42)
    collate, collate_alpha = RecordingCollator(), RecordingCollator()
    alphas = alpha_parameters(model)
    ids = {id(a) for a in alphas}
    others = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    alpha_opt = AlphaOptimizer(alphas, others, every=EVERY, lr=ALPHA_LR)
    params = [p for p in model.parameters() if p.requires_grad]  # alpha is frozen now
    opt = torch.optim.AdamW(params, lr=LR, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: max(0.0, (max_steps - k) / max_steps))
    batches = CyclingBatches(np.arange(len(alpha_ds)), ALPHA_BATCH, seed=7)
    per_epoch = math.ceil(len(adapter_ds) / BATCH)
    trajectory = []
    for k in range(max_steps):
        start = (k % per_epoch) * BATCH
        batch = collate([adapter_ds[i] for i in range(start, min(start + BATCH, len(adapter_ds)))])
        model(**batch).loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if alpha_opt.should_step(k):
            rows = next(batches)
            alpha_batch = collate_alpha([alpha_ds[int(i)] for i in rows])
            alpha_opt.step(lambda b=alpha_batch: model(**b).loss, step=k)
        trajectory.append(torch.cat([a.detach().clone() for a in alphas]))
    return model, trajectory, collate


def test_trainer_alpha_trajectory_matches_reference_loop(tmp_path):
    steps = 20  # 12 adapter batches per epoch: crosses an epoch boundary; 5 alpha steps
    trainer, cb, rec, train_col, _, _, _ = run_trainer(tmp_path, steps)
    ref_model, ref_traj, ref_col = reference_loop(steps)
    # the same adapter batches in the same order (the Trainer's loader prefetches one more)
    assert train_col.rows[:steps] == ref_col.rows
    assert len(rec.trajectory) == len(ref_traj) == steps
    got, want = torch.stack(rec.trajectory), torch.stack(ref_traj)
    assert (want[-1] - want[0]).abs().max() > 1e-2  # alpha really moved
    assert (got - want).abs().max() <= 1e-6
    # the adapters and the head followed the same path too
    ref = dict(ref_model.named_parameters())
    for name, p in trainer.model.named_parameters():
        if p.requires_grad or "alpha" in name:
            assert (p.detach() - ref[name].detach()).abs().max() <= 1e-5, name
    assert [r.step for r in cb.optimizer.history] == [0, 4, 8, 12, 16]


def test_alpha_changes_only_at_alpha_steps_and_never_has_a_gradient_at_adapter_steps(tmp_path):
    steps = 10
    _, cb, rec, _, _, _, _ = run_trainer(tmp_path, steps)
    traj = torch.stack(rec.trajectory)
    start = torch.cat([torch.ones_like(a) for a in alpha_parameters(cb.model)])
    before = torch.cat([start[None], traj[:-1]])
    changed = [k for k in range(steps) if not torch.equal(traj[k], before[k])]
    assert changed == [0, 4, 8]  # k % T == 0: ceil(10 / 4) = 3 alpha steps
    assert rec.grad_seen == [False] * steps  # alpha frozen during every adapter step
    assert all(not a.requires_grad for a in alpha_parameters(cb.model))


def test_alpha_rows_never_reach_the_trainer(tmp_path):
    _, cb, _, train_col, alpha_col, adapter_ds, alpha_ds = run_trainer(tmp_path, 16)
    seen_by_trainer = {r for b in train_col.rows for r in b}
    seen_by_alpha = {r for b in alpha_col.rows for r in b}
    alpha_rows, adapter_rows = set(alpha_ds.indices), set(adapter_ds.indices)
    assert alpha_rows.isdisjoint(adapter_rows)
    assert seen_by_trainer == adapter_rows  # 16 steps x 4 > 48 rows: every adapter row
    assert seen_by_alpha <= alpha_rows and len(alpha_col.rows) == 4
    assert seen_by_trainer.isdisjoint(alpha_rows)


def test_overlapping_alpha_rows_are_refused_unless_paper_compat(tmp_path):
    model = adapted_model()
    rows = synthetic_rows()
    _, alpha_ds = split_for_alpha_dataset(rows, 0.2, seed=42)
    cb = AlphaCallback(model, alpha_ds, RecordingCollator(), every=EVERY, batch_size=4)
    trainer = Trainer(model=model, args=training_args(tmp_path, 2), train_dataset=rows,
                      data_collator=RecordingCollator(), callbacks=[cb])
    with pytest.raises(ValueError, match="alpha row"):
        trainer.train()
    model = adapted_model()
    adapter_ds, alpha_ds = split_for_alpha_dataset(rows, 0.2, seed=42, paper_compat=True)
    assert len(adapter_ds) == N_ROWS
    cb = AlphaCallback(model, alpha_ds, RecordingCollator(), every=EVERY, batch_size=4,
                       paper_compat=True)
    trainer = Trainer(model=model, args=training_args(tmp_path, 2), train_dataset=adapter_ds,
                      data_collator=RecordingCollator(), callbacks=[cb])
    with torch.random.fork_rng():
        trainer.train()
    assert len(cb.optimizer.history) == 1


def test_callback_after_the_trainers_optimizer_holds_alpha_is_an_error(tmp_path):
    model = adapted_model()
    adapter_ds, alpha_ds = split_for_alpha_dataset(synthetic_rows(), 0.2, seed=42)
    trainer = Trainer(model=model, args=training_args(tmp_path, 2), train_dataset=adapter_ds,
                      data_collator=RecordingCollator())
    trainer.create_optimizer()  # alpha still trainable here: the optimiser picks it up
    trainer.add_callback(AlphaCallback(model, alpha_ds, RecordingCollator(), every=EVERY))
    with pytest.raises(RuntimeError, match="optimiser holds 4 alpha parameter"):
        trainer.train()
    # created after the Trainer but before its optimiser: fine (alpha frozen in time)
    model = adapted_model()
    trainer = Trainer(model=model, args=training_args(tmp_path, 2), train_dataset=adapter_ds,
                      data_collator=RecordingCollator())
    cb = AlphaCallback(model, alpha_ds, RecordingCollator(), every=EVERY)
    trainer.add_callback(cb)
    with torch.random.fork_rng():
        trainer.train()
    held = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert not held & {id(a) for a in alpha_parameters(model)}


def test_callback_validation():
    rows = synthetic_rows(10)
    with pytest.raises(ValueError, match="no alpha vectors"):
        AlphaCallback(adapted_model("lora"), rows, RecordingCollator())
    with pytest.raises(ValueError, match="empty"):
        AlphaCallback(adapted_model(), [], RecordingCollator())
    with pytest.raises(ValueError, match="every"):
        AlphaCallback(adapted_model(), rows, RecordingCollator(), every=0)
    with pytest.raises(TypeError, match="data_collator"):
        AlphaCallback(adapted_model(), rows, None)


def test_gradient_accumulation_counts_optimizer_steps(tmp_path):
    _, cb, rec, train_col, _, _, _ = run_trainer(
        tmp_path, 6, args_kw={"gradient_accumulation_steps": 2})
    assert len(train_col.rows) == 12  # 2 micro-batches per optimiser step
    assert [r.step for r in cb.optimizer.history] == [0, 4]
    assert len(rec.trajectory) == 6 and rec.grad_seen == [False] * 6


def test_resume_restores_alpha_optimizer_and_batch_order(tmp_path):
    steps = 10  # stop after step 5, resume: the alpha step at k = 8 needs Adam's moments and
    full = run_trainer(tmp_path / "a", steps)[2].trajectory[-1]  # the batch position back

    class StopAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 5:
                control.should_training_stop = True

    save = {"save_strategy": "steps", "save_steps": 5, "save_only_model": False}
    run_trainer(tmp_path / "b", steps, extra_callbacks=[StopAt()], args_kw=save)
    ckpt = tmp_path / "b" / "checkpoint-5"
    assert (ckpt / "alpha_callback.pt").is_file()

    def resume(strip_state):
        if strip_state:
            (ckpt / "alpha_callback.pt").unlink()
        model = adapted_model()
        adapter_ds, alpha_ds = split_for_alpha_dataset(synthetic_rows(), 0.2, seed=42)
        cb = AlphaCallback(model, alpha_ds, RecordingCollator(), every=EVERY, lr=ALPHA_LR,
                           batch_size=ALPHA_BATCH, seed=7)
        trainer = Trainer(model=model, args=training_args(tmp_path / "b", steps, **save),
                          train_dataset=adapter_ds, data_collator=RecordingCollator(),
                          callbacks=[cb])
        with torch.random.fork_rng(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer.train(resume_from_checkpoint=str(ckpt))
        assert [r.step for r in cb.optimizer.history] == [8]
        restarted = any("alpha optimiser and alpha batch order restart" in str(w.message)
                        for w in caught)
        return torch.cat([a.detach() for a in alpha_parameters(model)]), restarted

    resumed, restarted = resume(strip_state=False)
    assert not restarted and (resumed - full).abs().max() <= 1e-6
    resumed, restarted = resume(strip_state=True)  # without the file: warned, and it differs
    assert restarted and (resumed - full).abs().max() > 1e-4


def test_bf16_trainer_alpha_step_is_finite_and_alpha_stays_float32(tmp_path):
    _, cb, rec, _, _, _, _ = run_trainer(tmp_path, 5, args_kw={"bf16": True})
    assert [r.step for r in cb.optimizer.history] == [0, 4]
    assert all(math.isfinite(r.loss) for r in cb.optimizer.history)
    assert all(a.dtype == torch.float32 for a in alpha_parameters(cb.model))
    assert torch.isfinite(rec.trajectory[-1]).all()
    assert not torch.equal(rec.trajectory[-1], torch.ones_like(rec.trajectory[-1]))


# ---------------------------------------------------------------------------- allocation
class FakeAllocator:
    """Records every call: the step, whether adapter gradients were present, the lr."""

    def __init__(self, model, total_steps, penalty=0.0, optimizer_box=None):
        self.model, self.total_steps, self.penalty = model, total_steps, penalty
        self.calls: list[tuple[int, bool]] = []
        self.loss_calls = 0

    def step(self, step, loss_fn=None):
        grads = [p.grad for n, p in self.model.named_parameters() if "lora_" in n]
        # every factor has a gradient (lora_A's is exactly 0 while B = 0 at step 0)
        present = bool(grads) and all(g is not None for g in grads) \
            and any(g.abs().sum() > 0 for g in grads)
        self.calls.append((step, present))

    def loss(self):
        self.loss_calls += 1
        return torch.tensor(self.penalty)


def run_allocation(tmp_path, steps, penalty=0.0, regularise=True, **args_kw):
    model = inject(tiny_model("roberta"), AdapterConfig(method="lora", rank=4, seed=3))
    adapter_ds, _ = split_for_alpha_dataset(synthetic_rows(), 0.2, seed=42)
    alloc = FakeAllocator(model, steps, penalty)
    trainer = Trainer(model=model, args=training_args(tmp_path, steps, **args_kw),
                      train_dataset=adapter_ds, eval_dataset=adapter_ds,
                      data_collator=RecordingCollator(),
                      callbacks=[AllocationCallback(alloc, regularise=regularise)])
    with torch.random.fork_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        out = trainer.train()
    return trainer, alloc, out


def test_allocation_callback_steps_after_each_optimizer_step_with_gradients(tmp_path):
    _, alloc, _ = run_allocation(tmp_path, 5)
    assert alloc.calls == [(k, True) for k in range(5)]
    _, alloc, _ = run_allocation(tmp_path, 3, gradient_accumulation_steps=2)
    assert alloc.calls == [(k, True) for k in range(3)]  # once per optimiser step


def test_allocation_regulariser_enters_the_training_loss_only(tmp_path):
    t0, a0, out0 = run_allocation(tmp_path, 4, penalty=0.0)
    t5, a5, out5 = run_allocation(tmp_path, 4, penalty=5.0)
    assert a5.loss_calls == 4  # one per training forward
    assert out5.training_loss == pytest.approx(out0.training_loss + 5.0, abs=1e-5)
    e0, e5 = t0.evaluate()["eval_loss"], t5.evaluate()["eval_loss"]
    assert e5 == pytest.approx(e0, abs=1e-6)  # evaluation loss without the regulariser
    assert a5.loss_calls == 4
    _, a_off, out_off = run_allocation(tmp_path, 4, penalty=5.0, regularise=False)
    assert a_off.loss_calls == 0 and out_off.training_loss == pytest.approx(out0.training_loss)


def test_allocation_callback_validation(tmp_path):
    with pytest.raises(ValueError, match="make_allocator returns None"):
        AllocationCallback(None)
    with pytest.raises(TypeError, match="step"):
        AllocationCallback(object())
    model = inject(tiny_model("roberta"), AdapterConfig(method="lora", rank=4))
    adapter_ds, _ = split_for_alpha_dataset(synthetic_rows(), 0.2, seed=42)
    trainer = Trainer(model=model, args=training_args(tmp_path, 3), train_dataset=adapter_ds,
                      data_collator=RecordingCollator(),
                      callbacks=[AllocationCallback(FakeAllocator(model, 10))])
    with pytest.raises(ValueError, match="total_steps=10"):
        trainer.train()


# ---------------------------------------------------------------------------- real allocators
ALLOC_STEPS = 16
ALLOC_CASES = {
    "adalora": ({"target_rank": 2}, {"init_warmup": 2, "final_warmup": 6, "interval": 2}),
    "alora": ({}, {"init_warmup": 3, "rounds": 2, "round_interval": 4, "prune_per_round": 2}),
}


def allocating_model(method):
    extra, _ = ALLOC_CASES[method]
    return inject(tiny_model("roberta"),
                  AdapterConfig(method=method, rank=4, lora_alpha=8, seed=3, **extra))


def allocation_reference(method):
    """Our own loop: (loss + regulariser) backward, clip, AdamW step, allocator step with the
    current batch's loss, schedule, zero_grad; the adapter rows in order."""
    from deep.allocation import make_allocator

    model = allocating_model(method).train()
    alloc = make_allocator(model, ALLOC_STEPS, **ALLOC_CASES[method][1])
    adapter_ds, _ = split_for_alpha_dataset(synthetic_rows(), 0.2, seed=42)
    collate = RecordingCollator()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.0)
    n = ALLOC_STEPS
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: max(0.0, (n - k) / n))
    for k in range(n):
        batch = collate([adapter_ds[i] for i in range(4 * k % 48, 4 * k % 48 + 4)])
        (model(**batch).loss + alloc.loss()).backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        alloc.step(k, loss_fn=lambda b=batch: model(**b).loss)
        sched.step()
        opt.zero_grad(set_to_none=True)
    return model, alloc


@pytest.mark.parametrize("method", sorted(ALLOC_CASES))
def test_allocation_callback_with_the_real_allocator_matches_our_loop(tmp_path, method):
    allocation = pytest.importorskip("deep.allocation")
    model = allocating_model(method)
    alloc = allocation.make_allocator(model, ALLOC_STEPS, **ALLOC_CASES[method][1])
    adapter_ds, _ = split_for_alpha_dataset(synthetic_rows(), 0.2, seed=42)
    trainer = Trainer(model=model, args=training_args(tmp_path, ALLOC_STEPS),
                      train_dataset=adapter_ds, data_collator=RecordingCollator(),
                      callbacks=[AllocationCallback(alloc)])
    with torch.random.fork_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        trainer.train()
    ref_model, ref_alloc = allocation_reference(method)
    initial = allocation.make_allocator(allocating_model(method), ALLOC_STEPS,
                                        **ALLOC_CASES[method][1]).ranks()
    assert alloc.ranks() == ref_alloc.ranks() != initial  # ranks really moved
    ref = dict(ref_model.named_parameters())
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert (p.detach() - ref[name].detach()).abs().max() <= 1e-6, name
