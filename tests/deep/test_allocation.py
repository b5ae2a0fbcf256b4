"""Rank allocation (deep.allocation) for adalora, lora2, alora (docs/adapters.md §5–§7).

Budgets within the schedule at every step (Ad2, L²3, AL1), pruned ranks contributing exactly
zero, importance ranking a planted useful direction above a planted useless one (each kind),
LoRA² plane orthogonality under its regulariser, AdaLoRA forward and regulariser equal to PEFT's
with copied tensors, the no-silent-no-op guard, option validation, and exact resumption from
``state_dict``.
"""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn

from deep import AdapterConfig, adapter_layers, alpha_parameters, inject
from deep.allocation import AloraAllocator, SVDAllocator, make_allocator

from .conftest import tiny_batch, tiny_model

KINDS = ("adalora", "lora2", "alora")
SVD_KINDS = ("adalora", "lora2")


def cfg(method, **kw):
    kw.setdefault("rank", 4)
    kw.setdefault("lora_alpha", 8)
    return AdapterConfig(method=method, **kw)


def loss_of(model, batch):
    return model(**batch).loss


def run(model, allocator, steps, start=0, opt=None, check=None, lr=1e-2):
    """AdamW steps on tiny roberta batches with the allocator in the loop."""
    opt = opt or torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for step in range(start, start + steps):
        batch = tiny_batch("roberta", seed=100 + step)
        (loss_of(model, batch) + allocator.loss()).backward()
        opt.step()
        allocator.step(step, loss_fn=lambda b=batch: loss_of(model, b))
        opt.zero_grad(set_to_none=True)
        if check is not None:
            check(step)
    return opt


# ------------------------------------------------------------------ budgets
@pytest.mark.parametrize("method", ["adalora", "alpha_lora2"])
def test_svd_budget_is_respected_at_every_step_and_reaches_the_target(method):  # Ad2, L²3
    model = inject(tiny_model("roberta"), cfg(method, target_rank=2))
    total = 30
    alloc = make_allocator(model, total, init_warmup=3, final_warmup=8, interval=2)
    assert isinstance(alloc, SVDAllocator) and alloc.b0 == 16 and alloc.bT == 8
    assert [alloc.budget(t) for t in (0, 3)] == [16, 16] and alloc.budget(23) == 8
    budgets = [alloc.budget(t) for t in range(total)]
    assert all(a >= b for a, b in zip(budgets, budgets[1:], strict=False))  # non-increasing
    changed = []

    def check(step):
        active = sum(alloc.ranks().values())
        nonzero = sum(int(torch.count_nonzero(layer.lora_E)) for _, layer in adapter_layers(model))
        assert nonzero <= active <= alloc.budget(step - step % 2), step  # last allocation's
        if step > 3 and step % 2 == 0:  # an allocation step: exactly the budget
            assert active == alloc.budget(step), step
        changed.append(alloc.changed)

    run(model, alloc, total, check=check)
    assert sum(alloc.ranks().values()) == 8
    assert any(changed) and not all(changed)


def test_alora_total_rank_is_constant_and_freed_ranks_move_to_unpruned_modules():  # AL1
    model = inject(tiny_model("roberta"), cfg("alora"))
    alloc = make_allocator(model, 20, init_warmup=4, rounds=2, round_interval=5,
                           prune_per_round=2)
    assert isinstance(alloc, AloraAllocator) and alloc.round_steps == [4, 9]
    history = []

    def check(step):
        assert sum(alloc.ranks().values()) == alloc.budget(step) == 16
        if alloc.changed:
            history.append(dict(alloc.ranks()))

    before = dict(alloc.ranks())
    run(model, alloc, 20, check=check)
    assert len(history) == 2 and alloc.rounds_done == 2
    first = history[0]
    lost = [n for n in first if first[n] < before[n]]
    gained = [n for n in first if first[n] > before[n]]
    assert lost and gained and not set(lost) & set(gained)


# ------------------------------------------------------------------ pruned = exactly zero
@pytest.mark.parametrize("method", SVD_KINDS)
def test_pruned_singular_values_contribute_exactly_zero(method):
    model = inject(tiny_model("roberta"), cfg(method, target_rank=1))
    alloc = make_allocator(model, 12, init_warmup=1, final_warmup=4, interval=1)
    run(model, alloc, 12)
    batch = tiny_batch("roberta", seed=3)
    model.eval()
    assert sum(alloc.ranks().values()) == 4  # target 1 per layer, allocated globally
    with torch.no_grad():
        y = model(**batch).logits
        for _, layer in adapter_layers(model):
            off = layer.rank_mask == 0
            assert torch.count_nonzero(layer.lora_E[off]) == 0
            # whatever the pruned triplets hold, the output does not change
            factor = layer.lora_B if method == "adalora" else layer.lora_B1
            if method == "adalora":
                factor[:, off] = 7.0
                layer.lora_A[off] = 7.0
            else:
                factor[off] = 7.0
        assert torch.equal(model(**batch).logits, y)


# ------------------------------------------------------------------ planted importance
def _regression(method, seed=0, d=8):
    """One 8x8 linear layer with an adapter of rank 2, inputs in span(e0..e3)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(d, d))
    kw = {"max_rank": 2} if method == "alora" else {}
    inject(net, AdapterConfig(method=method, rank=2, lora_alpha=2, target_modules=["0"], **kw))
    layer = net[0]
    g = torch.Generator().manual_seed(seed)

    def batch(k):
        x = torch.zeros(32, d)
        x[:, :4] = torch.randn(32, 4, generator=torch.Generator().manual_seed(k))
        return x

    w_target = layer.base_layer.weight.detach().clone()
    w_target[0, 0] += 1.0  # the useful direction: e0 e0ᵀ
    del g
    return net, layer, batch, w_target


@torch.no_grad()
def _plant(layer, method):
    e = torch.eye(layer.in_features)
    if method == "adalora":  # triplet 0 useful but under-scaled; triplet 1 reads e7 (never excited)
        layer.lora_A.copy_(torch.stack([e[0], e[7]]))
        layer.lora_B.copy_(torch.stack([e[0], e[1]], 1))
        layer.lora_E.copy_(torch.tensor([0.5, 0.5]) / layer.scaling)
    elif method == "lora2":  # Q = A1 (B1 = I), P = B2 (A2 = I)
        layer.lora_A1.copy_(torch.stack([e[0], e[7]]))
        layer.lora_B1.copy_(torch.eye(2))
        layer.lora_A2.copy_(torch.eye(2))
        layer.lora_B2.copy_(torch.stack([e[0], e[1]], 1))
        layer.lora_E.copy_(torch.tensor([0.5, 0.5]) / layer.scaling)
    else:  # slot 0 adds the useful direction, slot 1 adds a harmful one on an excited input
        layer.lora_A.copy_(torch.stack([e[0], e[1]]))
        layer.lora_B.copy_(torch.stack([e[0], 0.5 * e[1]], 1) / layer.scaling)


@pytest.mark.parametrize("method", KINDS)
def test_importance_ranks_a_planted_useful_direction_above_a_useless_one(method):
    net, layer, batch, w_target = _regression(method)
    _plant(layer, method)
    alloc = make_allocator(net, 100, init_warmup=50, final_warmup=10) if method != "alora" else \
        make_allocator(net, 100, init_warmup=50, rounds=1)

    def loss(k):
        x = batch(k)
        return ((net(x) - x @ w_target.T - layer.base_layer.bias) ** 2).mean()

    if method == "alora":
        before = {k: v.detach().clone() for k, v in net.state_dict().items()}
        imp = alloc.importance(lambda: loss(0))["0"]
        assert imp[0] > 0 > imp[1]
        for k, v in net.state_dict().items():  # AL4: scoring changes nothing
            assert torch.equal(v, before[k]), k
        return
    opt = torch.optim.SGD(layer.adapter_parameters(), lr=0.0)  # scores only, weights fixed
    net.train()
    for k in range(8):
        loss(k).backward()
        opt.step()
        alloc.step(k)
        opt.zero_grad()
    score = alloc.scores()["0"]
    assert score[0] > 0 and score[1] == 0


def test_lora2_scores_only_the_small_factors_next_to_lambda():  # L²4
    model = inject(tiny_model("roberta"), cfg("lora2"))
    alloc = make_allocator(model, 10)
    names = {k.rsplit(".", 1)[1] for k in alloc.ema}
    assert names == {"lora_A2", "lora_B1", "lora_E"}
    n_scored = sum(v.numel() for v in alloc.ema.values())
    assert n_scored == 4 * (2 * 4 * 4 + 4)  # 4 layers x (2kr + r), k = r = 4


# ------------------------------------------------------------------ LoRA² orthogonality
def test_lora2_planes_become_and_stay_orthogonal_under_the_regulariser():
    torch.manual_seed(0)
    errors = {}
    for weight in (1.0, 0.0):
        net = nn.Sequential(nn.Linear(16, 16))
        inject(net, AdapterConfig(method="lora2", rank=4, lora_alpha=4, target_modules=["0"]))
        layer = net[0]
        alloc = make_allocator(net, 400, orth_reg_weight=weight, init_warmup=399, final_warmup=0)
        opt = torch.optim.Adam(layer.adapter_parameters(), lr=2e-2)
        w = torch.randn(16, 16, generator=torch.Generator().manual_seed(1)) * 0.1
        trace = []
        for k in range(200):
            x = torch.randn(32, 16, generator=torch.Generator().manual_seed(k))
            loss = ((net(x) - net[0].base_layer(x) - x @ w.T) ** 2).mean()
            (loss + alloc.loss()).backward()
            opt.step()
            alloc.step(k)
            opt.zero_grad()
            o = layer.plane_orthogonality()
            trace.append(max(o["P"], o["Q"]))
        errors[weight] = trace
    # with the regulariser: ‖PᵀP − I‖_F, ‖QQᵀ − I‖_F below 0.1 from step 125 on, at every step
    assert max(errors[1.0][125:]) < 0.1
    assert min(errors[0.0][125:]) > 0.5  # without it the planes are far from orthonormal


# ------------------------------------------------------------------ PEFT AdaLoRA
@pytest.mark.parametrize("arch", ["roberta", "llama"])
def test_adalora_forward_and_regulariser_equal_peft_with_copied_weights(arch):
    peft = pytest.importorskip("peft")
    base = tiny_model(arch)
    ours = inject(copy.deepcopy(base), cfg("adalora", rank=4, lora_alpha=8))
    leaves = ["query", "value"] if arch == "roberta" else ["q_proj", "v_proj"]
    theirs = peft.get_peft_model(copy.deepcopy(base), peft.AdaLoraConfig(
        init_r=4, target_r=2, lora_alpha=8, target_modules=leaves, total_step=10,
        task_type="SEQ_CLS", lora_dropout=0.0))
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, layer in adapter_layers(ours):
            layer.lora_E.copy_(torch.randn(4, generator=g))
            pm = theirs.base_model.model.get_submodule(name)
            pm.lora_A["default"].copy_(layer.lora_A)
            pm.lora_B["default"].copy_(layer.lora_B)
            pm.lora_E["default"].copy_(layer.lora_E.view(4, 1))
    batch = tiny_batch(arch, seed=5)
    ours.eval()
    theirs.eval()
    out_ours, out_theirs = ours(**batch), theirs(**batch)
    assert (out_ours.logits - out_theirs.logits).abs().max() <= 1e-6
    # PEFT adds orth_reg_weight (0.5) * mean ‖·‖_F to the loss; our allocator.loss() is that
    alloc = make_allocator(ours, 10)
    reg_theirs = out_theirs.loss - out_ours.loss
    assert torch.allclose(alloc.loss(), reg_theirs, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------ no silent no-op
@pytest.mark.parametrize("method", ["adalora", "alpha_lora2", "alora"])
def test_training_without_the_allocator_raises_with_the_fix(method):
    model = inject(tiny_model("roberta"), cfg(method))
    batch = tiny_batch("roberta")
    model.train()
    for _ in range(80):  # forwards and backwards never count: gradient accumulation is fine
        model(**batch).loss.backward()
    alphas = alpha_parameters(model)
    if alphas:  # an optimiser holding none of the adapter tensors (the alpha step) never counts
        alpha_opt = torch.optim.Adam(alphas, lr=1e-3)
        for _ in range(3):
            alpha_opt.step()
    ids = {id(p) for p in alphas}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad and id(p) not in ids])
    opt.step()  # the first optimiser step: the allocator is due after it
    with pytest.raises(RuntimeError, match="1 optimiser step.*make_allocator.*AllocationCallback"):
        opt.step()  # the first step taken without an allocator step after the previous one
    # with the allocator in the loop (which resets the count every step) training runs
    model = inject(tiny_model("roberta"), cfg(method))
    run(model, make_allocator(model, 6, **({"rounds": 0} if method == "alora" else {})), 6)
    # switched off deliberately: a fixed-rank run
    model = inject(tiny_model("roberta"), cfg(method))
    for _, layer in adapter_layers(model):
        layer.allocation_guard = None
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    for _ in range(3):
        opt.step()


# ------------------------------------------------------------------ API and validation
def test_make_allocator_none_for_fixed_rank_adapters_and_validates_options():
    assert make_allocator(inject(tiny_model("roberta"), cfg("alpha_lora")), 10) is None
    with pytest.raises(ValueError, match="options.*no rank-allocating"):
        make_allocator(inject(tiny_model("roberta"), cfg("lora")), 10, interval=3)
    model = inject(tiny_model("roberta"), cfg("adalora"))
    for kw, match in [({"interval": 0}, "interval=0"), ({"beta1": 1.0}, "beta1=1.0"),
                      ({"init_warmup": 6, "final_warmup": 4}, "init_warmup \\+ final_warmup=10"),
                      ({"rounds": 2}, "unknown option.*rounds"),
                      ({"composed_orth": True}, "composed_orth=True"),
                      ({"target_rank": 5}, "target_rank=5")]:
        with pytest.raises(ValueError, match=f"{match}.*allowed"):
            make_allocator(model, 10, **kw)
    with pytest.raises(ValueError, match="total_steps=0"):
        make_allocator(model, 0)
    alora = inject(tiny_model("roberta"), cfg("alora"))
    for kw, match in [({"ablation": "x"}, "ablation='x'"),
                      ({"rounds": 3, "round_interval": 5, "init_warmup": 2}, "rounds - 1"),
                      ({"prune_per_round": 17}, "prune_per_round=17")]:
        with pytest.raises(ValueError, match=f"{match}.*allowed"):
            make_allocator(alora, 10, **kw)


def test_alora_round_without_loss_fn_raises_and_svd_step_needs_gradients():
    model = inject(tiny_model("roberta"), cfg("alora"))
    alloc = make_allocator(model, 10, init_warmup=2, rounds=1)
    alloc.step(0)  # not a round: no loss_fn needed
    alloc.step(1)
    with pytest.raises(ValueError, match="needs loss_fn"):
        alloc.step(2)
    model = inject(tiny_model("roberta"), cfg("adalora"))
    with pytest.raises(RuntimeError, match="BEFORE optimizer.zero_grad"):
        make_allocator(model, 10).step(0)


@pytest.mark.parametrize("method", ["alpha_adalora", "lora2", "alora"])
def test_state_dict_round_trip_continues_identically(method):
    total, cut = 16, 6
    opts = {"init_warmup": 4, "rounds": 2, "round_interval": 4, "prune_per_round": 2,
            "ablation": "drop"} \
        if method == "alora" else {"init_warmup": 2, "final_warmup": 6, "interval": 2}
    model = inject(tiny_model("roberta"), cfg(method))
    alloc = make_allocator(model, total, **opts)
    opt = run(model, alloc, cut)
    # checkpoint: trainable tensors + buffers, optimiser and allocator states through torch.save
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                "alloc": alloc.state_dict()}, buf)
    run(model, alloc, total - cut, start=cut, opt=opt)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    fresh = inject(tiny_model("roberta"), cfg(method))
    fresh.load_state_dict(ckpt["model"])
    opt2 = torch.optim.AdamW([p for p in fresh.parameters() if p.requires_grad], lr=1e-2)
    opt2.load_state_dict(ckpt["opt"])
    alloc2 = make_allocator(fresh, total, **opts)
    alloc2.load_state_dict(ckpt["alloc"])
    run(fresh, alloc2, total - cut, start=cut, opt=opt2)
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, expected[k]), k
    assert alloc2.ranks() == alloc.ranks()
    with pytest.raises(ValueError, match="total_steps"):
        make_allocator(fresh, total + 1, **opts).load_state_dict(ckpt["alloc"])
