"""The alternating alpha optimiser (deep/alpha.py) on a toy alpha-scaled layer.

Invariants of docs/adapters.md §2.4: (α4) no alpha gradient after an adapter step, adapters
and head bitwise unchanged by an alpha step; (α5) alpha changes only at k % T == 0, ceil(N/T)
times; (α6) disjoint splits unless paper_compat.
"""

import math

import numpy as np
import pytest
import torch

from deep.alpha import AlphaOptimizer, CyclingBatches, alpha_statistics, split_for_alpha


class ToyAlphaLayer(torch.nn.Module):
    """y = alpha * (x W0^T + b) + x A^T B^T, then a linear head."""

    def __init__(self, d_in=5, d_out=4, r=2, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.W0 = torch.nn.Parameter(torch.randn(d_out, d_in, generator=g), requires_grad=False)
        self.b = torch.nn.Parameter(torch.randn(d_out, generator=g), requires_grad=False)
        self.A = torch.nn.Parameter(torch.randn(r, d_in, generator=g) * 0.3)
        self.B = torch.nn.Parameter(torch.randn(d_out, r, generator=g) * 0.3)
        self.alpha = torch.nn.Parameter(torch.ones(d_out))
        self.head = torch.nn.Linear(d_out, 2)

    def forward(self, x):
        h = self.alpha * (x @ self.W0.T + self.b) + x @ self.A.T @ self.B.T
        return self.head(torch.tanh(h))


def toy_data(n=60, seed=1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 5, generator=g)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).long()
    return X, y


def test_split_is_disjoint_seeded_and_sized():
    ad, al = split_for_alpha(1000, 0.2, seed=42)
    assert len(al) == 200 and len(ad) == 800
    assert np.intersect1d(ad, al).size == 0
    assert np.array_equal(np.union1d(ad, al), np.arange(1000))
    ad2, al2 = split_for_alpha(1000, 0.2, seed=42)
    assert np.array_equal(al, al2) and np.array_equal(ad, ad2)
    assert not np.array_equal(al, split_for_alpha(1000, 0.2, seed=43)[1])
    ad_pc, al_pc = split_for_alpha(1000, 0.2, seed=42, paper_compat=True)
    assert np.array_equal(al_pc, al) and np.array_equal(ad_pc, np.arange(1000))


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5, float("nan"), "0.2"])
def test_split_rejects_fraction_outside_unit_interval(fraction):
    with pytest.raises(ValueError, match="fraction must lie in the open interval"):
        split_for_alpha(100, fraction)


def test_cycling_batches_cover_every_row_each_cycle_and_resume():
    it = CyclingBatches(np.arange(10, 33), batch_size=5, seed=7)
    first_cycle = np.concatenate([next(it) for _ in range(it.batches_per_cycle())])
    assert sorted(first_cycle.tolist()) == list(range(10, 33))
    state = it.state_dict()
    expected = [next(it).tolist() for _ in range(9)]
    it2 = CyclingBatches(np.arange(10, 33), batch_size=5, seed=7)
    it2.load_state_dict(state)
    assert [next(it2).tolist() for _ in range(9)] == expected
    # drop_last: every batch full
    it3 = CyclingBatches(np.arange(23), batch_size=5, seed=0, drop_last=True)
    assert all(len(next(it3)) == 5 for _ in range(20))


def run(model, X, y, steps, T, alpha_opt_kind="adam", record=None):
    adapter_params = [model.A, model.B, *model.head.parameters()]
    opt = torch.optim.AdamW(adapter_params, lr=1e-2)
    aopt = AlphaOptimizer([model.alpha], adapter_params, every=T, lr=5e-2, kind=alpha_opt_kind)
    ad_rows, al_rows = split_for_alpha(len(y), 0.25, seed=0)
    ad_it = CyclingBatches(ad_rows, 8, seed=1)
    al_it = CyclingBatches(al_rows, 8, seed=2)
    loss_fn = torch.nn.functional.cross_entropy
    for k in range(steps):
        rows = torch.as_tensor(next(ad_it))
        opt.zero_grad()
        loss_fn(model(X[rows]), y[rows]).backward()
        assert model.alpha.grad is None  # (α4) no alpha gradient is built by an adapter step
        opt.step()
        before = [p.detach().clone() for p in adapter_params]
        alpha_before = model.alpha.detach().clone()
        if aopt.should_step(k):
            arows = torch.as_tensor(next(al_it))
            aopt.step(lambda arows=arows: loss_fn(model(X[arows]), y[arows]), step=k)
            for p, q in zip(adapter_params, before, strict=True):
                assert torch.equal(p, q)  # (α4) adapters and head untouched by the alpha step
        if record is not None:
            record.append(not torch.equal(model.alpha, alpha_before))
    return aopt


def test_alpha_changes_only_every_T_steps():
    torch.manual_seed(0)
    model = ToyAlphaLayer()
    X, y = toy_data()
    changed = []
    aopt = run(model, X, y, steps=25, T=10, record=changed)
    assert [k for k, c in enumerate(changed) if c] == [0, 10, 20]
    assert len(aopt.history) == math.ceil(25 / 10)
    assert not model.alpha.requires_grad  # frozen again after the last alpha step
    assert model.A.requires_grad and model.B.requires_grad


def test_alpha_step_equals_a_reference_adam_step():
    """The alpha update equals torch.optim.Adam applied to the gradient of the held-out loss
    w.r.t. alpha alone, computed independently with torch.autograd.grad."""
    model = ToyAlphaLayer(seed=3)
    X, y = toy_data(seed=4)
    ref_alpha = model.alpha.detach().clone().requires_grad_(True)
    ref_opt = torch.optim.Adam([ref_alpha], lr=5e-3, betas=(0.9, 0.99))
    aopt = AlphaOptimizer([model.alpha], [model.A, model.B, *model.head.parameters()], every=1)
    loss_fn = torch.nn.functional.cross_entropy

    def ref_loss(rows):
        h = ref_alpha * (X[rows] @ model.W0.T + model.b) + X[rows] @ model.A.T @ model.B.T
        return loss_fn(model.head(torch.tanh(h)), y[rows])

    for step in range(3):
        rows = slice(10 * step, 10 * step + 10)
        (g,) = torch.autograd.grad(ref_loss(rows), [ref_alpha])
        ref_alpha.grad = g
        ref_opt.step()
        aopt.step(lambda rows=rows: loss_fn(model(X[rows]), y[rows]))
        torch.testing.assert_close(model.alpha.detach(), ref_alpha.detach(), rtol=0, atol=1e-7)
    assert model.A.grad is None and model.B.grad is None


def test_training_with_alpha_lowers_loss():
    torch.manual_seed(0)
    model = ToyAlphaLayer()
    X, y = toy_data(n=200)
    with torch.no_grad():
        loss0 = float(torch.nn.functional.cross_entropy(model(X), y))
    run(model, X, y, steps=150, T=5)
    with torch.no_grad():
        assert float(torch.nn.functional.cross_entropy(model(X), y)) < 0.7 * loss0


@pytest.mark.parametrize("every", [0, -3, 2.5, True])
def test_bad_T_raises(every):
    model = ToyAlphaLayer()
    with pytest.raises(ValueError, match="every \\(T\\) must be a positive integer"):
        AlphaOptimizer([model.alpha], [model.A], every=every)


def test_bad_optimizer_inputs():
    model = ToyAlphaLayer()
    with pytest.raises(ValueError, match="alpha_params is empty"):
        AlphaOptimizer([], [model.A])
    with pytest.raises(ValueError, match="kind must be one of"):
        AlphaOptimizer([model.alpha], [model.A], kind="lion")
    with pytest.raises(ValueError, match="lr must be"):
        AlphaOptimizer([model.alpha], [model.A], lr=0.0)


def test_alpha_statistics():
    stats = alpha_statistics([("q", torch.tensor([1.0, 3.0])), ("v", torch.tensor([2.0]))])
    assert stats["q"] == {"mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0}
    assert stats["v"]["std"] == 0.0


# ---------------------------------------------------------------------------- theory_init
def _mixture(n, p, mu, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = (2 * y - 1)[:, None] * mu[None, :] + rng.standard_normal((n, p))
    return X, y


def _head(direction, bias=(0.3, -0.1)):
    head = torch.nn.Linear(direction.shape[0], 2)
    with torch.no_grad():
        head.weight.copy_(torch.tensor(np.stack([-direction / 2, direction / 2])))
        head.bias.copy_(torch.tensor(bias))
    return head


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_theory_init_matches_the_closed_form_alpha_star_of_the_true_moments(sign):
    from deep.alpha import theory_init
    from rmt import arbitrary

    p, n, gamma = 40, 4000, 0.5
    rng = np.random.default_rng(3)
    mu = rng.standard_normal(p) * 0.25
    w_src = sign * (mu + 0.2 * rng.standard_normal(p))  # a source head, partly aligned
    X, y = _mixture(n, p, mu, seed=4)
    head = _head(w_src)
    x = torch.randn(5, p)
    before = head(x).detach()
    alpha = theory_init(None, X, y, head=head, gamma=gamma)
    # reference: rmt.arbitrary with the population moments (not the plug-in estimates)
    want = arbitrary.alpha_star(float(mu @ mu), float(w_src @ mu), float(w_src @ w_src), p, n, gamma)
    assert np.sign(alpha) == sign == np.sign(want)
    assert alpha == pytest.approx(want, rel=0.15)
    after = head(x).detach()  # the head is rescaled in place: logits (and bias) times alpha
    torch.testing.assert_close(after, alpha * before, rtol=1e-5, atol=1e-6)


def test_theory_init_an_unrelated_head_gets_alpha_near_zero():
    from deep.alpha import theory_init

    p = 30
    mu = np.zeros(p)
    mu[0] = 1.0
    w_src = np.zeros(p)
    w_src[1] = 1.0  # orthogonal to the target's mean difference
    X, y = _mixture(3000, p, mu, seed=6)
    alpha = theory_init(None, X, y, head=_head(w_src), gamma=1.0)
    aligned = theory_init(None, X, y, head=_head(mu), gamma=1.0)
    assert abs(alpha) < 0.1 * abs(aligned)


def test_theory_init_finds_the_head_of_a_tiny_model():
    from transformers import BertForSequenceClassification

    from deep.alpha import theory_init

    from .conftest import tiny_config

    cfg = tiny_config("bert")
    cfg.num_labels = 2
    torch.manual_seed(0)
    model = BertForSequenceClassification(cfg).eval()
    head = model.classifier
    w = head.weight.detach().clone()
    d = (w[1] - w[0]).double().numpy()
    X, y = _mixture(200, head.in_features, 0.5 * d / np.linalg.norm(d), seed=8)
    alpha = theory_init(model, torch.tensor(X, dtype=torch.float32), torch.tensor(y))
    assert alpha > 0
    torch.testing.assert_close(head.weight.detach(), alpha * w)


@pytest.mark.parametrize("kwargs, match", [
    ({"features": np.zeros((4, 3)), "labels": [0, 1, 0, 1]}, r"features have shape \(4, 3\)"),
    ({"features": np.zeros((4, 8)), "labels": [0, 1, 2, 1]}, r"labels must be 4 values in \{0, 1\}"),
])
def test_theory_init_bad_inputs_name_the_argument(kwargs, match):
    from deep.alpha import theory_init

    with pytest.raises(ValueError, match=match):
        theory_init(None, head=torch.nn.Linear(8, 2), **kwargs)
    with pytest.raises(ValueError, match="not a 2-output nn.Linear"):
        theory_init(None, np.zeros((4, 8)), [0, 1, 0, 1], head=torch.nn.Linear(8, 3))
