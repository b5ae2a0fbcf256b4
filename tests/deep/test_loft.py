"""LoFT optimiser (deep/optim/loft.py): invariants F1–F9 of docs/adapters.md §8.4.

Every reference is independent of the implementation: ``torch.optim.AdamW`` on a full delta
matrix ``D`` (``W = W0 + D``; torch decays ``D`` towards 0, i.e. ``W − W0``),
``torch.nn.utils.clip_grad_norm_``, or closed forms built from the full gradient
``G = ∂L/∂W`` with ``torch.linalg.solve`` / QR projectors. Float64, tiny dimensions.
"""

import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deep.optim import LoFT, loft_pairs, named_loft_pairs
from deep.optim.loft import reproject_a, reproject_b, reprojection_a, reprojection_b

DT = torch.float64


def problem(n_out, n_in, r, seed, n_rows=40, dtype=DT, b_scale=1.0):
    """Frozen W0, factors A0 (r × in) and B0 (out × r), regression data X, Y."""
    g = torch.Generator().manual_seed(seed)
    W0 = torch.randn(n_out, n_in, generator=g, dtype=dtype)
    A0 = torch.randn(r, n_in, generator=g, dtype=dtype)
    B0 = b_scale * torch.randn(n_out, r, generator=g, dtype=dtype)
    X = torch.randn(n_rows, n_in, generator=g, dtype=dtype)
    Y = torch.randn(n_rows, n_out, generator=g, dtype=dtype)
    return W0, A0, B0, X, Y


def tanh_loss(W, X, Y):
    return (torch.tanh(X @ W.T) - Y).pow(2).mean()


def full_grad(W, X, Y):
    """G = ∂L/∂W by autograd on a detached full matrix (the closed-form references' input)."""
    W = W.detach().clone().requires_grad_(True)
    tanh_loss(W, X, Y).backward()
    return W.grad


def lockstep(opt, ref, params, W0, X, Y):
    """One step of LoFT on W0 + B A and one of the reference (AdamW) on W0 + D, same loss."""
    A, B, D = params
    opt.zero_grad()
    tanh_loss(W0 + B @ A, X, Y).backward()
    opt.step()
    ref.zero_grad()
    tanh_loss(W0 + D, X, Y).backward()
    ref.step()


def col_projector(M):
    """Orthogonal projector onto the column space of M (via QR, not via the library)."""
    Q, _ = torch.linalg.qr(M)
    return Q @ Q.T


# ----------------------------------------------------------------------------------------------
# F1 / F2: full rank equals AdamW on W (weight decay off and on)
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("seed", [0, 1])
def test_full_rank_equals_adamw(weight_decay, seed):
    W0, A0, B0, X, Y = problem(6, 6, 6, seed)
    A, B = nn.Parameter(A0.clone()), nn.Parameter(B0.clone())
    D = nn.Parameter(B0 @ A0)
    lr = 1e-2
    opt = LoFT(pairs=[(A, B)], lr=lr, betas=(0.9, 0.999), eps=1e-8,
               weight_decay=weight_decay, rho_A=0.0, rho_B=0.0)
    ref = torch.optim.AdamW([D], lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay)
    worst = 0.0
    for _ in range(50):
        lockstep(opt, ref, (A, B, D), W0, X, Y)
        W_loft, W_ref = W0 + B @ A, W0 + D
        worst = max(worst, ((W_loft - W_ref).norm() / W_ref.norm()).item())
    moved = (D - B0 @ A0).abs().max().item()
    assert moved > 0.1, "the reference barely moved: the comparison would be vacuous"
    assert worst < 1e-6, f"max relative deviation from AdamW {worst:.3g}"


def test_full_rank_equals_adamw_float32():
    W0, A0, B0, X, Y = problem(6, 6, 6, seed=3, dtype=torch.float32)
    A, B = nn.Parameter(A0.clone()), nn.Parameter(B0.clone())
    D = nn.Parameter(B0 @ A0)
    opt = LoFT(pairs=[(A, B)], lr=1e-2, weight_decay=0.05, rho_A=0.0, rho_B=0.0)
    ref = torch.optim.AdamW([D], lr=1e-2, weight_decay=0.05)
    for _ in range(20):
        lockstep(opt, ref, (A, B, D), W0, X, Y)
    assert opt.state[A]["exp_avg_sq"].dtype == torch.float32
    rel = ((B @ A - D).norm() / (D - B0 @ A0).norm()).item()
    assert rel < 1e-3, rel


# ----------------------------------------------------------------------------------------------
# F1 / F2, the exact condition (module docstring, "When LoFT is AdamW"): square layer at full rank
# (r = in = out) with factors nonsingular along the whole trajectory and rho = 0. Both sides.
# ----------------------------------------------------------------------------------------------

def with_condition(M, log10_kappa):
    """M with its singular values replaced by a geometric ramp from s_max to s_max / 10^k
    (condition number 10^k), same singular vectors (torch.linalg.svd, not the library)."""
    U, S, Vh = torch.linalg.svd(M, full_matrices=False)
    ramp = torch.logspace(0, -log10_kappa, S.numel(), dtype=M.dtype) * S[0]
    return U @ torch.diag(ramp) @ Vh


def adamw_gap(n_out, n_in, r, seed, log10_kappa_A=None, b_scale=1.0, steps=50):
    """Largest ‖B A − D‖ / ‖W0 + D‖ over ``steps`` steps of LoFT (rho = 0) against torch AdamW on
    the delta D, and the largest condition number of A_t, B_t met on the way."""
    W0, A0, B0, X, Y = problem(n_out, n_in, r, seed, b_scale=b_scale)
    if log10_kappa_A is not None:
        A0 = with_condition(A0, log10_kappa_A)
    A, B = nn.Parameter(A0.clone()), nn.Parameter(B0.clone())
    D = nn.Parameter(B0 @ A0)
    opt = LoFT(pairs=[(A, B)], lr=1e-2, rho_A=0.0, rho_B=0.0)
    ref = torch.optim.AdamW([D], lr=1e-2, weight_decay=0.0)
    worst, kappa = 0.0, 0.0
    for _ in range(steps):
        lockstep(opt, ref, (A, B, D), W0, X, Y)
        worst = max(worst, ((B @ A - D).norm() / (W0 + D).norm()).item())
        kappa = max(kappa, torch.linalg.cond(A.detach()).item(), torch.linalg.cond(B.detach()).item())
    assert (D - B0 @ A0).abs().max() > 0.1, "the reference barely moved: vacuous comparison"
    return worst, kappa


@pytest.mark.parametrize("log10_kappa_A", [None, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_square_full_rank_with_nonsingular_factors_equals_adamw(seed, log10_kappa_A):
    worst, kappa = adamw_gap(6, 6, 6, seed, log10_kappa_A)
    assert kappa < 1e4, f"the factors stayed well conditioned (max cond {kappa:.3g})"
    assert worst < 1e-6, f"max relative deviation from AdamW {worst:.3g}"


@pytest.mark.parametrize("shape", [(6, 8, 6), (8, 6, 6), (4, 10, 4)], ids=str)
def test_non_square_layer_at_rank_min_is_not_adamw(shape):
    n_out, n_in, r = shape
    worst, _ = adamw_gap(n_out, n_in, r, seed=0)
    assert worst > 1e-2, f"{shape}: LoFT should be off AdamW at r = min(in, out) ({worst:.3g})"


@pytest.mark.parametrize("shape", [(6, 8, 6), (8, 6, 6)], ids=str)
def test_non_square_mechanism_one_side_is_a_proper_projection(shape):
    """r = min(in, out) < max(in, out): one factor is square (its steps are exact), the other is
    wide (A: row(A) ⊊ R^in) or tall (B: col(B) ⊊ R^out), and the step that updates the square
    factor is confined to that subspace while AdamW's step from the same point is not."""
    n_out, n_in, r = shape
    W0, A0, B0, X, Y = problem(n_out, n_in, r, seed=0)
    A, B = nn.Parameter(A0.clone()), nn.Parameter(B0.clone())
    D = nn.Parameter(B0 @ A0)
    opt = LoFT(pairs=[(A, B)], lr=1e-2, rho_A=0.0, rho_B=0.0)
    ref = torch.optim.AdamW([D], lr=1e-2, weight_decay=0.0)
    steps = []
    for _ in range(2):  # t = 1 is a B-step, t = 2 an A-step
        A_t, B_t, D_t = A.detach().clone(), B.detach().clone(), D.detach().clone()
        lockstep(opt, ref, (A, B, D), W0, X, Y)
        steps.append((A_t, B_t, (B @ A - B_t @ A_t).detach(), (D - D_t).detach()))
    if n_in > n_out:   # B-step (t = 1): rows of ΔW stay in row(A), AdamW's leave it
        A_t, _, dW, dD = steps[0]
        off = lambda M: M @ (torch.eye(n_in, dtype=DT) - col_projector(A_t.T))  # noqa: E731
    else:              # A-step (t = 2): columns of ΔW stay in col(B), AdamW's leave it
        _, B_t, dW, dD = steps[1]
        off = lambda M: (torch.eye(n_out, dtype=DT) - col_projector(B_t)) @ M  # noqa: E731
        _, _, dW1, dD1 = steps[0]  # the B-step with a square, invertible A was exact
        assert (dW1 - dD1).norm() < 1e-10 * dD1.norm()
    assert off(dW).norm() < 1e-10 * dW.norm()
    assert off(dD).norm() > 0.1 * dD.norm()


@pytest.mark.parametrize("seed", [0, 2])
def test_singular_factor_at_start_is_not_adamw(seed):
    # LoRA's init B = 0: the A side cannot record the first gradient, W leaves AdamW's path
    worst, _ = adamw_gap(6, 6, 6, seed, b_scale=0.0)
    assert worst > 1e-3, f"B0 = 0 should break the equivalence ({worst:.3g})"


@pytest.mark.parametrize("seed", [0, 1])
def test_ill_conditioned_factors_drift_from_adamw(seed):
    # same problems as the equivalence test above, only cond(A0) = 1e5: rounding in the Gram
    # (pseudo-)inverses grows with the conditioning, the 1e-6 match is lost
    worst, kappa = adamw_gap(6, 6, 6, seed, log10_kappa_A=5)
    assert kappa >= 1e5
    assert worst > 1e-6, f"cond {kappa:.3g}: expected a measurable drift, got {worst:.3g}"


# ----------------------------------------------------------------------------------------------
# F3: clipping on projected full gradients equals AdamW + clip_grad_norm_
# ----------------------------------------------------------------------------------------------

def test_clipping_equals_adamw_with_clip_grad_norm():
    W0, A0, B0, X, Y = problem(6, 6, 6, seed=4)
    g = torch.Generator().manual_seed(40)
    h0 = torch.randn(6, generator=g, dtype=DT)
    y = torch.randn(40, generator=g, dtype=DT)

    def loss(W, h):
        return (torch.tanh(X @ W.T) @ h - y).pow(2).mean()

    A, B, h = nn.Parameter(A0.clone()), nn.Parameter(B0.clone()), nn.Parameter(h0.clone())
    D, h_ref = nn.Parameter(B0 @ A0), nn.Parameter(h0.clone())
    c = 2.0
    opt = LoFT(pairs=[(A, B)], params=[h], lr=1e-2, weight_decay=0.02, rho_A=0.0, rho_B=0.0,
               max_grad_norm=c)
    ref = torch.optim.AdamW([D, h_ref], lr=1e-2, weight_decay=0.02)
    clipped = 0
    for _ in range(30):
        opt.zero_grad()
        loss(W0 + B @ A, h).backward()
        opt.step()
        ref.zero_grad()
        loss(W0 + D, h_ref).backward()
        norm = torch.nn.utils.clip_grad_norm_([D, h_ref], c)
        ref.step()
        clipped += int(norm > c)
        assert torch.allclose(opt.grad_norm, norm, rtol=1e-9, atol=0)
        assert torch.allclose(B @ A, D, rtol=0, atol=1e-9 * D.abs().max().item())
        assert torch.allclose(h, h_ref, rtol=0, atol=1e-10)
    assert clipped >= 5, "clipping was not active: the test would not check it"
    assert clipped <= 25, "every step clipped: the min(1, ·) branch would go unchecked"


def test_clipping_norm_is_the_projected_gradient_at_low_rank():
    # Low rank: the clipping norm is ‖G Π_row(A)‖ on a B-step and ‖Π_col(B) G‖ on an A-step
    # (plus the other parameters' gradients), not ‖G‖.
    W0, A0, B0, X, Y = problem(7, 6, 2, seed=18)
    A, B = nn.Parameter(A0.clone()), nn.Parameter(B0.clone())
    bias = nn.Parameter(torch.zeros(7, dtype=DT))
    c = 1e-3
    opt = LoFT(pairs=[(A, B)], params=[bias], lr=1e-2, rho_A=0.0, rho_B=0.0, max_grad_norm=c)
    for t in (1, 2, 3):
        A_t, B_t = A.detach().clone(), B.detach().clone()
        W = W0 + B_t @ A_t
        G = full_grad(W, X, Y)
        g_bias = torch.ones(7, dtype=DT) * 0.1
        norms = {side: (proj.pow(2).sum() + g_bias.pow(2).sum()).sqrt()
                 for side, proj in (("B", G @ col_projector(A_t.T)),
                                    ("A", col_projector(B_t) @ G), ("full", G))}
        assert min(abs(norms["A"] - norms["B"]), abs(norms["A"] - norms["full"]),
                   abs(norms["B"] - norms["full"])) > 1e-3 * norms["full"]
        opt.zero_grad()
        (tanh_loss(W0 + B @ A, X, Y) + 0.1 * bias.sum()).backward()
        opt.step()
        torch.testing.assert_close(opt.grad_norm, norms["B" if t % 2 else "A"], rtol=1e-10,
                                   atol=0)


# ----------------------------------------------------------------------------------------------
# F4: alternation, B first; both sides' moments accumulate every step
# ----------------------------------------------------------------------------------------------

def test_alternation_b_first_and_moments_every_step():
    W0, A0, B0, X, Y = problem(7, 5, 3, seed=5)
    A, B = nn.Parameter(A0.clone()), nn.Parameter(B0.clone())
    opt = LoFT(pairs=[(A, B)], lr=1e-2, rho_A=0.0, rho_B=0.0)
    prev_m = None
    for t in range(1, 9):
        A_before, B_before = A.detach().clone(), B.detach().clone()
        opt.zero_grad()
        tanh_loss(W0 + B @ A, X, Y).backward()
        opt.step()
        if t % 2:
            assert torch.equal(A, A_before) and not torch.equal(B, B_before), f"step {t}"
        else:
            assert torch.equal(B, B_before) and not torch.equal(A, A_before), f"step {t}"
        m = (opt.state[A]["exp_avg"].clone(), opt.state[B]["exp_avg"].clone())
        if prev_m is not None:
            assert not torch.equal(m[0], prev_m[0]) and not torch.equal(m[1], prev_m[1])
        prev_m = m
        assert opt.state[A]["step"] == opt.state[B]["step"] == t


# ----------------------------------------------------------------------------------------------
# F5: beta1 = beta2 = 0 is a sign-like step (full rank: ΔW = −η G / (|G| + ε), |ΔW| ≤ η)
# ----------------------------------------------------------------------------------------------

def test_zero_betas_sign_like_step():
    W0, A0, B0, X, Y = problem(6, 6, 6, seed=6)
    A, B = nn.Parameter(A0.clone()), nn.Parameter(B0.clone())
    lr, eps = 1e-2, 1e-8
    opt = LoFT(pairs=[(A, B)], lr=lr, betas=(0.0, 0.0), eps=eps, rho_A=0.0, rho_B=0.0)
    for _ in range(10):
        W = (W0 + B @ A).detach()
        G = full_grad(W, X, Y)
        opt.zero_grad()
        tanh_loss(W0 + B @ A, X, Y).backward()
        opt.step()
        dW = (W0 + B @ A).detach() - W
        assert dW.abs().max() <= lr * (1 + 1e-9)
        # float64: |G| near eps makes the ratio ill-conditioned; 1e-9 is still 1e-7 of lr
        torch.testing.assert_close(dW, -lr * G / (G.abs() + eps), rtol=0, atol=1e-9)


# ----------------------------------------------------------------------------------------------
# F6: low rank — the step lies in row(A_t) / col(B_t); closed form of step 1; not AdamW; learns
# ----------------------------------------------------------------------------------------------

def test_first_step_closed_form_low_rank():
    W0, A0, B0, X, Y = problem(6, 8, 2, seed=7)
    A, B = nn.Parameter(A0.clone()), nn.Parameter(B0.clone())
    lr, eps, (b1, b2) = 1e-2, 1e-8, (0.9, 0.999)
    opt = LoFT(pairs=[(A, B)], lr=lr, betas=(b1, b2), eps=eps, rho_A=0.0, rho_B=0.0)
    G = full_grad(W0 + B0 @ A0, X, Y)
    opt.zero_grad()
    tanh_loss(W0 + B @ A, X, Y).backward()
    opt.step()
    # B-step at t = 1: ΔW = −η U Π with Π = row-space projector of A0, U = GΠ / (|GΠ| + ε).
    Pi = col_projector(A0.T)
    GPi = G @ Pi
    expected = -lr * (GPi / (GPi.abs() + eps)) @ Pi
    torch.testing.assert_close(B @ A0 - B0 @ A0, expected, rtol=0, atol=1e-12)
    # m_B = (1−β1) g_B (A Aᵀ)⁻¹ ; m_A = R_A (1−β1)(B0ᵀB0)⁻¹ g_A with R_A = (B1ᵀB1)⁻¹ B1ᵀ B0.
    B1 = B.detach()
    m_B = (1 - b1) * torch.linalg.solve(A0 @ A0.T, (G @ A0.T).T).T
    R_A = torch.linalg.solve(B1.T @ B1, B1.T @ B0)
    m_A = R_A @ ((1 - b1) * torch.linalg.solve(B0.T @ B0, B0.T @ G))
    torch.testing.assert_close(opt.state[B]["exp_avg"], m_B, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(opt.state[A]["exp_avg"], m_A, rtol=1e-10, atol=1e-14)


def test_low_rank_step_lies_in_factor_spaces():
    W0, A0, B0, X, Y = problem(8, 8, 2, seed=8)
    A, B = nn.Parameter(A0.clone()), nn.Parameter(B0.clone())
    opt = LoFT(pairs=[(A, B)], lr=1e-2, weight_decay=0.1, rho_A=1e-6, rho_B=1e-8)
    I8 = torch.eye(8, dtype=DT)
    for t in range(1, 11):
        A_t, B_t = A.detach().clone(), B.detach().clone()
        opt.zero_grad()
        tanh_loss(W0 + B @ A, X, Y).backward()
        opt.step()
        dW = (B @ A - B_t @ A_t).detach()
        assert dW.abs().max() > 1e-6
        if t % 2:   # B-step: rows of ΔW in row(A_t)
            off = dW @ (I8 - col_projector(A_t.T))
        else:       # A-step: columns of ΔW in col(B_t)
            off = (I8 - col_projector(B_t)) @ dW
        assert off.abs().max() < 1e-10, (t, off.abs().max().item())


def test_low_rank_is_not_adamw_and_lowers_the_loss():
    # Linear regression whose target is W0 plus a rank-2 update; LoRA-style init (B = 0),
    # official ridges.
    n, r = 8, 2
    W0, A0, _, X, _ = problem(n, n, r, seed=9, n_rows=64)
    g = torch.Generator().manual_seed(90)
    W_star = W0 + torch.randn(n, r, generator=g, dtype=DT) @ torch.randn(r, n, generator=g,
                                                                            dtype=DT)
    Y = X @ W_star.T

    def mse(W):
        return (X @ W.T - Y).pow(2).mean()

    A, B = nn.Parameter(A0.clone() / n**0.5), nn.Parameter(torch.zeros(n, r, dtype=DT))
    D = nn.Parameter(torch.zeros(n, n, dtype=DT))
    opt = LoFT(pairs=[(A, B)], lr=3e-2)
    ref = torch.optim.AdamW([D], lr=3e-2, weight_decay=0.0)
    start, gap = mse(W0).item(), 0.0
    for _ in range(200):
        opt.zero_grad()
        mse(W0 + B @ A).backward()
        opt.step()
        ref.zero_grad()
        mse(W0 + D).backward()
        ref.step()
        gap = max(gap, ((B @ A - D).norm() / D.norm()).item())
    end = mse(W0 + B @ A).item()
    assert end < 0.05 * start, (start, end)
    # Both reach the reachable target in the end; on the way the trajectories differ.
    assert gap > 0.1, f"rank-2 LoFT should not follow full AdamW (max relative gap {gap:.3g})"
    assert torch.linalg.matrix_rank((B @ A).detach()) <= r


# ----------------------------------------------------------------------------------------------
# F7: non-pair parameters follow torch.optim.AdamW
# ----------------------------------------------------------------------------------------------

def test_head_parameters_follow_adamw():
    W0, A0, B0, X, _ = problem(5, 4, 2, seed=10)
    g = torch.Generator().manual_seed(100)
    head = nn.Linear(5, 3).to(DT)
    labels = torch.randint(0, 3, (40,), generator=g)
    A, B = nn.Parameter(A0.clone()), nn.Parameter(B0.clone())
    mirror = [nn.Parameter(p.detach().clone()) for p in head.parameters()]
    start = head.weight.detach().clone()
    opt = LoFT(pairs=[(A, B)], params=[{"params": list(head.parameters()), "lr": 3e-2,
                                        "weight_decay": 0.05}],
               lr=1e-2, betas=(0.8, 0.99), max_grad_norm=None)
    ref = torch.optim.AdamW(mirror, lr=3e-2, betas=(0.8, 0.99), weight_decay=0.05)
    for _ in range(15):
        opt.zero_grad()
        F.cross_entropy(head(torch.tanh(X @ (W0 + B @ A).T)), labels).backward()
        for p, q in zip(head.parameters(), mirror, strict=True):
            q.grad = p.grad.clone()
        opt.step()
        ref.step()
        for p, q in zip(head.parameters(), mirror, strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-12)
    assert (head.weight - start).abs().max() > 1e-2, "head did not move"


def test_pair_without_gradients_is_skipped():
    W0, A0, B0, X, Y = problem(4, 3, 2, seed=19)
    used = nn.Parameter(A0.clone()), nn.Parameter(B0.clone())
    unused = nn.Parameter(A0.clone()), nn.Parameter(B0.clone())
    opt = LoFT(pairs=[used, unused], lr=1e-2, max_grad_norm=1.0)
    for _ in range(3):
        opt.zero_grad()
        tanh_loss(W0 + used[1] @ used[0], X, Y).backward()
        opt.step()
    assert torch.equal(unused[0], A0) and torch.equal(unused[1], B0)
    assert not opt.state[unused[0]] and opt.state[used[0]]["step"] == 3


# ----------------------------------------------------------------------------------------------
# F8: state shapes and memory
# ----------------------------------------------------------------------------------------------

def test_state_shapes():
    n_out, n_in, r = 7, 5, 3
    W0, A0, B0, X, Y = problem(n_out, n_in, r, seed=11)
    A, B = nn.Parameter(A0.clone()), nn.Parameter(B0.clone())
    bias = nn.Parameter(torch.zeros(n_out, dtype=DT))
    opt = LoFT(pairs=[(A, B)], params=[bias])
    opt.zero_grad()
    (tanh_loss(W0 + B @ A, X, Y) + bias.sum()).backward()
    opt.step()
    sa, sb = opt.state[A], opt.state[B]
    assert sa["exp_avg"].shape == (r, n_in) and sa["exp_avg_sq"].shape == (n_in, r, r)
    assert sb["exp_avg"].shape == (n_out, r) and sb["exp_avg_sq"].shape == (n_out, r, r)
    assert opt.state_numel() == {"pairs": (r + r * r) * (n_in + n_out), "adamw": 2 * n_out}


# ----------------------------------------------------------------------------------------------
# F9: re-projection with unchanged factors is the identity; unmoved side is not re-projected
# ----------------------------------------------------------------------------------------------

def test_reprojection_with_unchanged_factors_is_identity():
    g = torch.Generator().manual_seed(12)
    r, n_in, n_out = 3, 5, 4
    A = torch.randn(r, n_in, generator=g, dtype=DT)
    B = torch.randn(n_out, r, generator=g, dtype=DT)
    m_A, m_B = torch.randn(r, n_in, generator=g, dtype=DT), torch.randn(n_out, r, generator=g,
                                                                          dtype=DT)
    L_A = torch.randn(n_in, r, r, generator=g, dtype=DT)
    L_B = torch.randn(n_out, r, r, generator=g, dtype=DT)
    P_A, P_B = L_A @ L_A.mT, L_B @ L_B.mT
    eye = torch.eye(r, dtype=DT)
    R_A, R_B = reprojection_a(B, B, 0.0), reprojection_b(A, A, 0.0)
    torch.testing.assert_close(R_A, eye, rtol=0, atol=1e-12)
    torch.testing.assert_close(R_B, eye, rtol=0, atol=1e-12)
    for got, want in zip(reproject_a(m_A, P_A, R_A) + reproject_b(m_B, P_B, R_B),
                         (m_A, P_A, m_B, P_B), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # A moved factor gives a non-trivial map (so the identity above is not a tautology).
    assert (reprojection_a(1.1 * B + 0.1, B, 0.0) - eye).abs().max() > 1e-3


def test_unmoved_side_is_not_reprojected_with_ridge():
    # rho_A large: re-projecting the A side with an unchanged B would shrink m_A by
    # (BᵀB + ρI)⁻¹BᵀB. After the A-step (t = 2, B unchanged) m_A must be exactly
    # β1·m_A(1) + (1−β1)(BᵀB + ρI)⁻¹ Bᵀ G(2).
    W0, A0, B0, X, Y = problem(6, 5, 2, seed=13)
    A, B = nn.Parameter(A0.clone()), nn.Parameter(B0.clone())
    rho, b1 = 0.5, 0.9
    opt = LoFT(pairs=[(A, B)], lr=1e-2, betas=(b1, 0.999), rho_A=rho, rho_B=0.0)
    opt.zero_grad()
    tanh_loss(W0 + B @ A, X, Y).backward()
    opt.step()
    m1 = opt.state[A]["exp_avg"].clone()
    B1 = B.detach().clone()
    G2 = full_grad(W0 + B1 @ A.detach(), X, Y)
    opt.zero_grad()
    tanh_loss(W0 + B @ A, X, Y).backward()
    opt.step()
    assert torch.equal(B, B1)
    g_hat = torch.linalg.solve(B1.T @ B1 + rho * torch.eye(2, dtype=DT), B1.T @ G2)
    torch.testing.assert_close(opt.state[A]["exp_avg"], b1 * m1 + (1 - b1) * g_hat,
                               rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------------------------
# Driving a PEFT LoRA model equals driving the same tensors as plain Parameter pairs (bitwise)
# ----------------------------------------------------------------------------------------------

class PlainLoRALinear(nn.Module):
    """W0 frozen, lora_A (r × in), lora_B (out × r) parameters, scaling 1 (our layer layout)."""

    def __init__(self, W0, b0, A, B, scaling=1.0):
        super().__init__()
        self.register_buffer("weight", W0.clone())
        self.register_buffer("bias", b0.clone())
        self.lora_A = nn.Parameter(A.clone())
        self.lora_B = nn.Parameter(B.clone())
        self.scaling = scaling

    def forward(self, x):
        return F.linear(x, self.weight, self.bias) + F.linear(F.linear(x, self.lora_A),
                                                              self.lora_B) * self.scaling


def tiny_peft_model(r=2, lora_alpha=2, use_dora=False):
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)  # PEFT draws its init from the global generator (test-only seeding)
    base = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 4), nn.Tanh(),
                         nn.Linear(4, 3)).to(DT)
    config = peft.LoraConfig(r=r, lora_alpha=lora_alpha, target_modules=["0", "2"],
                             lora_dropout=0.0, init_lora_weights=False, use_dora=use_dora)
    model = peft.get_peft_model(base, config)
    for p in model.base_model.model[4].parameters():
        p.requires_grad_(True)   # the head: trainable, not adapted
    return model


def test_peft_model_equals_plain_pairs_bitwise():
    pm = tiny_peft_model()
    seq = pm.base_model.model
    layers = []
    for i in (0, 2):
        lin = seq[i]
        layers.append(PlainLoRALinear(lin.base_layer.weight.detach(), lin.base_layer.bias.detach(),
                                      lin.lora_A["default"].weight.detach(),
                                      lin.lora_B["default"].weight.detach()))
    head = nn.Linear(4, 3).to(DT)
    head.load_state_dict(seq[4].state_dict())
    plain = nn.Sequential(layers[0], nn.Tanh(), layers[1], nn.Tanh(), head)

    names = [name for name, _ in named_loft_pairs(pm)]
    assert names == ["base_model.model.0.default", "base_model.model.2.default"]
    assert [n for n, _ in named_loft_pairs(plain)] == ["0", "2"]

    g = torch.Generator().manual_seed(14)
    X = torch.randn(16, 5, generator=g, dtype=DT)
    labels = torch.randint(0, 3, (16,), generator=g)
    kw = dict(lr=2e-2, weight_decay=0.01, max_grad_norm=1.0)
    opts = [LoFT.from_model(pm, **kw), LoFT.from_model(plain, **kw)]
    for opt in opts:
        assert len(opt.param_groups) == 2 and len(opt.param_groups[1]["params"]) == 2
    for _ in range(8):
        for model, opt in zip((pm, plain), opts, strict=True):
            opt.zero_grad()
            F.cross_entropy(model(X), labels).backward()
            opt.step()
    pairs_p, pairs_q = loft_pairs(pm), loft_pairs(plain)
    for (A, B), (A2, B2) in zip(pairs_p, pairs_q, strict=True):
        assert torch.equal(A, A2) and torch.equal(B, B2)
    assert torch.equal(seq[4].weight, head.weight) and torch.equal(seq[4].bias, head.bias)
    assert not torch.equal(head.weight, nn.Linear(4, 3).to(DT).weight)


def test_from_model_refuses_scaling_other_than_one():
    W0, A0, B0, _, _ = problem(4, 3, 2, seed=15)
    layer = PlainLoRALinear(W0, torch.zeros(4, dtype=DT), A0, B0, scaling=2.0)
    with pytest.raises(ValueError, match="lora_alpha"):
        LoFT.from_model(layer)
    with pytest.raises(ValueError, match="scaling 2"):
        loft_pairs(tiny_peft_model(r=2, lora_alpha=4))
    with pytest.raises(ValueError, match="DoRA"):
        loft_pairs(tiny_peft_model(use_dora=True))


def test_from_model_exclude_and_frozen_pairs():
    W0, A0, B0, _, _ = problem(4, 3, 2, seed=16)
    layer = PlainLoRALinear(W0, torch.zeros(4, dtype=DT), A0, B0)
    layer.alpha = nn.Parameter(torch.ones(4, dtype=DT))
    opt = LoFT.from_model(layer, exclude=[layer.alpha])
    assert [len(g["params"]) for g in opt.param_groups] == [2]
    opt = LoFT.from_model(layer)
    assert opt.param_groups[1]["params"][0] is layer.alpha
    layer.lora_A.requires_grad_(False)
    with pytest.raises(ValueError, match="only one"):
        loft_pairs(layer)
    layer.lora_B.requires_grad_(False)
    assert loft_pairs(layer) == []


# ----------------------------------------------------------------------------------------------
# state_dict round trip: save after k steps, restore into fresh objects, identical trajectory
# ----------------------------------------------------------------------------------------------

def _model_and_opt(seed=17):
    W0, A0, B0, X, _ = problem(5, 4, 2, seed=seed)
    layer = PlainLoRALinear(W0, torch.zeros(5, dtype=DT), A0, B0)
    torch.manual_seed(seed)  # test-only: the head's init
    model = nn.Sequential(layer, nn.Tanh(), nn.Linear(5, 3).to(DT))
    opt = LoFT.from_model(model, lr=2e-2, weight_decay=0.01, max_grad_norm=0.5)
    labels = torch.arange(40) % 3
    return model, opt, X, labels


def _train(model, opt, X, labels, steps):
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(X), labels).backward()
        opt.step()


def test_state_dict_round_trip():
    model, opt, X, labels = _model_and_opt()
    _train(model, opt, X, labels, 5)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buf)
    _train(model, opt, X, labels, 6)

    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    model2, opt2, _, _ = _model_and_opt()
    model2.load_state_dict(saved["model"])
    opt2.load_state_dict(saved["opt"])
    assert opt2.state[model2[0].lora_A]["step"] == 5
    _train(model2, opt2, X, labels, 6)
    for (n, p), (_, q) in zip(model.named_parameters(), model2.named_parameters(), strict=True):
        assert torch.equal(p, q), n


# ----------------------------------------------------------------------------------------------
# Bad inputs
# ----------------------------------------------------------------------------------------------

def _pair(r=2, n_in=3, n_out=4, dtype=DT):
    return (nn.Parameter(torch.zeros(r, n_in, dtype=dtype)),
            nn.Parameter(torch.zeros(n_out, r, dtype=dtype)))


@pytest.mark.parametrize("kwargs, name", [
    (dict(lr=-1e-3), "lr"),
    (dict(betas=(1.0, 0.9)), "betas"),
    (dict(betas=(0.9, -0.1)), "betas"),
    (dict(eps=-1.0), "eps"),
    (dict(weight_decay=-0.1), "weight_decay"),
    (dict(rho_A=-1.0), "rho_A"),
    (dict(rho_B=float("nan")), "rho_B"),
    (dict(max_grad_norm=0.0), "max_grad_norm"),
])
def test_bad_hyperparameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        LoFT(pairs=[_pair()], **kwargs)


def test_bad_pairs_and_params():
    A, B = _pair()
    with pytest.raises(ValueError, match="pairs"):
        LoFT(pairs=[(A, nn.Parameter(torch.zeros(4, 3, dtype=DT)))])     # ranks 2 vs 3
    with pytest.raises(ValueError, match="pairs"):
        LoFT(pairs=[(A, A)])
    with pytest.raises(ValueError, match="pairs"):
        LoFT(pairs=[_pair(dtype=torch.float16)])
    with pytest.raises(ValueError, match="pairs"):
        LoFT(pairs=[A])
    with pytest.raises(ValueError, match="params"):
        LoFT(pairs=[(A, B)], params=[B])
    with pytest.raises(ValueError, match="pairs"):
        LoFT(pairs=[(A, B), (B, A)])
    other = nn.Parameter(torch.zeros(3, dtype=DT))
    with pytest.raises(ValueError, match="params"):
        LoFT(pairs=[(A, B)], params=[other, other])
    with pytest.raises(ValueError, match="params group: lr"):
        LoFT(pairs=[(A, B)], params=[{"params": [other], "lr": -1.0}])
    with pytest.raises(ValueError, match="empty"):
        LoFT()
