"""Adapter layers on a bare nn.Linear against hand-written dense references.

Invariants of docs/adapters.md: L1–L4 (LoRA), α1–α3, α7, α8 (alpha), D1–D3, D5 (DoRA),
O1–O4 (OLoRA). The reference below builds the dense effective weight directly
(``W = diag(m/‖W_dir‖)·W_dir`` with ``W_dir = diag(alpha) W0 + s·B·A``, norm by
``torch.linalg.norm``) and never calls the code under test.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from deep.layers import (
    REGISTRY,
    UNMERGE_MIN_ABS,
    AdapterLayer,
    AloraLayer,
    DoraLayer,
    LoraLayer,
    method_names,
    register,
    resolve_method,
)


# One row per method, derived from the registry and the class attributes: a new kind needs no
# edit here. (method, layer class, has alpha, has DoRA magnitude, OLoRA init)
def method_row(method):
    cls, use_alpha = resolve_method(method)
    return (method, cls, use_alpha, "lora_magnitude" in cls.adapter_param_names,
            cls.init_kind == "olora")


METHODS = [method_row(m) for m in method_names()]


def factors(kind):
    """The low-rank factors of a kind (frozen together in the "factors" case)."""
    return tuple(n for n in REGISTRY[kind].adapter_param_names if n != "lora_magnitude")


ALLOCATING = ("adalora", "lora2", "alora")
METHOD_IDS = [m[0] for m in METHODS]
DIMS = [(16, 12), (12, 16)]  # (in, out): both orientations catch transposition mistakes


def make_layer(row, n_in=16, n_out=12, rank=4, bias=True, seed=0, **kw):
    method, cls, use_alpha, _, _ = row
    g = torch.Generator().manual_seed(seed)
    lin = nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(n_out, n_in, generator=g) / math.sqrt(n_in))
        if bias:
            lin.bias.copy_(torch.randn(n_out, generator=g))
    kw.setdefault("lora_alpha", 2.0 * rank)  # s = 2: catches a forgotten scaling
    layer = cls(lin, rank=rank, use_alpha=use_alpha, generator=g, **kw)
    return lin, layer


@torch.no_grad()
def randomise(layer, seed=1):
    """Nonzero B (every factor), alpha away from 1, magnitude away from the norm; ALoRA: one
    of the open slots closed, one closed slot opened."""
    g = torch.Generator().manual_seed(seed)
    for name in factors(layer.kind):
        p = getattr(layer, name)
        p.copy_(torch.randn(p.shape, generator=g) * (0.3 if p.dim() > 1 or name != "lora_E"
                                                     else 1.0))
    if isinstance(layer, AloraLayer):
        layer.lora_gate[0], layer.lora_gate[-1] = 0.0, 1.0
    if layer.alpha is not None:
        layer.alpha.copy_(1.0 + 0.5 * torch.randn(layer.out_features, generator=g))
    if isinstance(layer, DoraLayer):
        layer.lora_magnitude.mul_(1.0 + 0.3 * torch.rand(layer.out_features, generator=g))


def reference(x, w0, b, A, B, s, alpha=None, m=None, scale_bias=True):
    """Dense forward of docs/adapters.md §1–§4 (independent of deep.layers)."""
    w_dir = (w0 if alpha is None else alpha[:, None] * w0) + s * (B @ A)
    if m is None:
        w = w_dir
    else:
        n = torch.linalg.norm(w_dir, dim=1).detach()
        w = (m / n)[:, None] * w_dir
    if b is not None and alpha is not None and scale_bias:
        b = alpha * b
    y = x @ w.T
    return y if b is None else y + b


def dense_factors(layer, t):
    """``(B', A', s)`` with the kind's dense ``ΔW = s · B' A'`` written from the docs
    (§1, §5, §6, §7), from the tensors ``t`` (name -> tensor, the layer's by default)."""
    if layer.kind == "adalora":  # s' = lora_alpha / (r + 1e-5), P diag(λ) Q
        return t["lora_B"] @ torch.diag(t["lora_E"]), t["lora_A"], layer.lora_alpha / (layer.r + 1e-5)
    if layer.kind == "lora2":  # B2 A2 diag(λ) B1 A1
        return (t["lora_B2"] @ t["lora_A2"] @ torch.diag(t["lora_E"]), t["lora_B1"] @ t["lora_A1"],
                layer.lora_alpha / (layer.r + 1e-5))
    if layer.kind == "alora":  # B diag(g) A, s = lora_alpha / r (initial rank)
        return t["lora_B"] @ torch.diag(layer.lora_gate), t["lora_A"], layer.lora_alpha / layer.r
    return t["lora_B"], t["lora_A"], layer.scaling


def layer_reference(layer, x, **over):
    t = {n: over.get(n, getattr(layer, n)) for n in factors(layer.kind)}
    B, A, s = dense_factors(layer, t)
    return reference(
        x, layer.base_layer.weight, layer.base_layer.bias, A, B, s,
        over.get("alpha", layer.alpha),
        over.get("m", getattr(layer, "lora_magnitude", None)), layer.scale_bias)


def x_batch(n_in, seed=2):
    return torch.randn(3, 5, n_in, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ registry and table
def test_test_table_covers_every_registered_method():
    assert sorted(METHOD_IDS) == sorted(method_names())
    assert set(REGISTRY) == {"lora", "dora", "olora", "adalora", "lora2", "alora"}
    # the class attributes the test rows are derived from, written from docs/adapters.md:
    # (factor zero at init, one plain B @ A pair for LoFT, DoRA magnitude)
    spec = {"lora": ("lora_B", True, False), "dora": ("lora_B", False, True),
            "olora": (None, True, False), "adalora": ("lora_E", False, False),
            "lora2": ("lora_E", False, False), "alora": ("lora_B", False, False)}
    for kind, (zero, loft, has_m) in spec.items():
        cls = REGISTRY[kind]
        assert (cls.zero_factor, cls.loft_compatible, "lora_magnitude" in cls.adapter_param_names) == \
            (zero, loft, has_m), kind
    for method, cls, use_alpha, _, _ in METHODS:
        assert resolve_method(method) == (cls, use_alpha)
    with pytest.raises(ValueError, match="method='alpha_nope'"):
        resolve_method("alpha_nope")


def test_register_refuses_duplicates_and_alpha_prefix():
    with pytest.raises(ValueError, match="already registered"):
        register("lora")(type("Other", (LoraLayer,), {}))
    with pytest.raises(ValueError, match="reserved"):
        register("alpha_x")(type("Other2", (LoraLayer,), {}))
    assert REGISTRY["lora"] is LoraLayer


# ------------------------------------------------------------------ init = base
@pytest.mark.parametrize("dims", DIMS)
@pytest.mark.parametrize("row", METHODS, ids=METHOD_IDS)
def test_init_output_equals_base(row, dims):  # L1, α1, D1, O1
    lin, layer = make_layer(row, *dims)
    ref_w, ref_b = lin.weight.detach().clone(), lin.bias.detach().clone()
    x = x_batch(dims[0])
    expected = x @ ref_w.T + ref_b
    # OLoRA: exact only up to the fp32 rounding of W_res + s·BA (O1: 1e-5); others exact
    assert (layer(x) - expected).abs().max() <= (1e-5 if row[4] else 1e-6)
    if row[4]:  # OLoRA: B != 0 at init, base replaced by a residual copy
        assert layer.lora_B.abs().max() > 0
    else:
        assert torch.count_nonzero(getattr(layer, type(layer).zero_factor)) == 0
    if row[2]:
        assert torch.equal(layer.alpha, torch.ones(dims[1]))


# ------------------------------------------------------------------ closed-form forward
@pytest.mark.parametrize("frozen", [None, "alpha", "factors"])
@pytest.mark.parametrize("scale_bias", [True, False])
@pytest.mark.parametrize("row", METHODS, ids=METHOD_IDS)
def test_forward_and_gradients_match_dense_reference(row, scale_bias, frozen):  # α2, α8, D3
    _, layer = make_layer(row, scale_bias=scale_bias)
    randomise(layer)
    if frozen == "alpha" and layer.alpha is not None:  # the adapter step of alpha-LoRA
        layer.alpha.requires_grad_(False)
    if frozen == "factors":  # the alpha step: only alpha (and DoRA's m) train
        for name in factors(layer.kind):
            getattr(layer, name).requires_grad_(False)
    x = x_batch(16).requires_grad_(True)
    target = torch.randn(3, 5, 12, generator=torch.Generator().manual_seed(5))
    y = layer(x)
    params = dict(layer.named_parameters())
    trainable = {n: p for n, p in params.items() if p.requires_grad}
    assert "base_layer.weight" not in trainable and "base_layer.bias" not in trainable
    grads = torch.autograd.grad(((y - target) ** 2).sum(), [x, *trainable.values()])
    clones = {n: p.detach().clone().requires_grad_(True) for n, p in trainable.items()}
    x2 = x.detach().clone().requires_grad_(True)
    y_ref = layer_reference(layer, x2, **{n: c for n, c in clones.items() if n != "alpha"},
                            alpha=clones.get("alpha", layer.alpha),
                            m=clones.get("lora_magnitude", getattr(layer, "lora_magnitude", None)))
    ref_grads = torch.autograd.grad(((y_ref - target) ** 2).sum(), [x2, *clones.values()])
    assert (y - y_ref).abs().max() <= 1e-5
    for name, g, gr in zip(["x", *trainable], grads, ref_grads, strict=True):
        assert torch.allclose(g, gr, atol=1e-5, rtol=1e-5), name


@pytest.mark.parametrize("scale_bias", [True, False])
def test_alpha_with_zero_factors_scales_the_base_exactly(scale_bias):  # α8
    lin, layer = make_layer(method_row("alpha_lora"), scale_bias=scale_bias)
    with torch.no_grad():
        layer.lora_A.zero_()
        layer.lora_B.zero_()
        layer.alpha.copy_(torch.linspace(-2, 3, 12))
    x = x_batch(16)
    h = x @ lin.weight.detach().T
    expected = layer.alpha.detach() * (h + lin.bias.detach()) if scale_bias else \
        layer.alpha.detach() * h + lin.bias.detach()
    assert torch.allclose(layer(x), expected, atol=1e-6, rtol=0)


def test_alpha_one_equals_plain_lora_with_same_factors():  # α2
    _, plain = make_layer(method_row("lora"))
    _, alpha = make_layer(method_row("alpha_lora"))
    randomise(plain)
    with torch.no_grad():
        alpha.lora_A.copy_(plain.lora_A)
        alpha.lora_B.copy_(plain.lora_B)
    x = x_batch(16)
    assert (plain(x) - alpha(x)).abs().max() <= 1e-6


@pytest.mark.parametrize("use_alpha", [False, True])
def test_dora_norm_is_the_row_norm_of_the_dense_direction(use_alpha):
    _, layer = make_layer(method_row("alpha_dora" if use_alpha else "dora"))
    randomise(layer)
    w_dir = layer.base_layer.weight.detach().clone()
    if use_alpha:
        w_dir = layer.alpha.detach()[:, None] * w_dir
    w_dir = w_dir + layer.scaling * layer.lora_B.detach() @ layer.lora_A.detach()
    expected = torch.linalg.norm(w_dir, dim=1)
    assert torch.allclose(layer.weight_norm(), expected, rtol=1e-6, atol=1e-6)
    # the cached ‖W0_i‖² follows in-place changes of W0
    with torch.no_grad():
        layer.base_layer.weight[:3].mul_(2.0)
        w_dir[:3] += w_dir[:3] - layer.scaling * (layer.lora_B @ layer.lora_A)[:3]
    assert torch.allclose(layer.weight_norm(), torch.linalg.norm(w_dir, dim=1), rtol=1e-6,
                          atol=1e-6)


# ------------------------------------------------------------------ gradients at init
@pytest.mark.parametrize("row", [r for r in METHODS if not r[4] and "lora2" not in r[0]
                                 and "adalora" not in r[0]], ids=lambda r: r[0])
def test_grad_of_A_is_exactly_zero_when_B_is_zero(row):  # L4
    _, layer = make_layer(row)
    loss = layer(x_batch(16)).square().sum()
    loss.backward()
    assert torch.count_nonzero(layer.lora_A.grad) == 0
    assert layer.lora_B.grad.abs().max() > 0
    assert layer.base_layer.weight.grad is None and layer.base_layer.bias.grad is None


@pytest.mark.parametrize("row", [r for r in METHODS if "lora2" in r[0] or "adalora" in r[0]],
                         ids=lambda r: r[0])
def test_svd_kinds_at_init_only_the_singular_values_get_gradients(row):  # Ad1, L²1
    _, layer = make_layer(row)
    layer.allocation_guard = None
    layer(x_batch(16)).square().sum().backward()
    assert layer.lora_E.grad.abs().max() > 0
    for name in factors(layer.kind):
        if name != "lora_E":
            assert torch.count_nonzero(getattr(layer, name).grad) == 0, name


@pytest.mark.parametrize("use_alpha", [False, True])
def test_alora_closed_slots_get_exactly_zero_gradients_and_contribute_nothing(use_alpha):  # AL3
    _, layer = make_layer(method_row("alpha_alora" if use_alpha else "alora"))
    randomise(layer)  # slot 0 closed, last slot opened
    x = x_batch(16)
    y = layer(x)
    y.square().sum().backward()
    closed = layer.lora_gate == 0
    assert closed.any() and (~closed).any()
    assert torch.count_nonzero(layer.lora_A.grad[closed]) == 0
    assert torch.count_nonzero(layer.lora_B.grad[:, closed]) == 0
    with torch.no_grad():
        layer.lora_A[closed] = 1e3  # whatever a closed slot holds does not matter
        layer.lora_B[:, closed] = 1e3
        assert torch.equal(layer(x), y)


# ------------------------------------------------------------------ counts and shapes
@pytest.mark.parametrize("dims", DIMS)
@pytest.mark.parametrize("row", METHODS, ids=METHOD_IDS)
def test_parameter_names_shapes_and_counts(row, dims):  # L3, α7, D5
    n_in, n_out = dims
    _, layer = make_layer(row, n_in, n_out, rank=3)
    _, _, use_alpha, has_m, _ = row
    shapes = {"lora2": {"lora_A1": (3, n_in), "lora_B1": (3, 3), "lora_A2": (3, 3),
                        "lora_B2": (n_out, 3), "lora_E": (3,)},  # inner rank k = r
              "alora": {"lora_A": (6, n_in), "lora_B": (n_out, 6), "lora_gate": (6,)},  # R = 2r
              "adalora": {"lora_A": (3, n_in), "lora_B": (n_out, 3), "lora_E": (3,)}}.get(
        layer.kind, {"lora_A": (3, n_in), "lora_B": (n_out, 3)})
    for name, shape in shapes.items():
        assert tuple(getattr(layer, name).shape) == shape, name
    expected = sum(math.prod(s) for n, s in shapes.items() if n != "lora_gate") + \
        n_out * (int(use_alpha) + int(has_m))
    assert sum(p.numel() for p in layer.trainable_parameters()) == expected
    assert sum(p.numel() for p in layer.parameters() if p.requires_grad) == expected
    if use_alpha:
        assert layer.alpha.shape == (n_out,)
    else:
        assert layer.alpha is None
    if has_m:
        assert layer.lora_magnitude.shape == (n_out,)


# ------------------------------------------------------------------ merge / unmerge
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("row", METHODS, ids=METHOD_IDS)
def test_merge_matches_reference_and_unmerge_restores(row, bias):  # L2, α3, D2
    _, layer = make_layer(row, bias=bias)
    randomise(layer)
    x = x_batch(16)
    with torch.no_grad():
        y = layer(x)
        w_before = layer.base_layer.weight.detach().clone()
        b_before = None if not bias else layer.base_layer.bias.detach().clone()
        ones = torch.ones(16)
        eye = torch.eye(16)
        dense = layer_reference(layer, eye) - (layer_reference(layer, 0 * ones) if bias else 0)
    layer.merge()
    assert layer.merged
    with torch.no_grad():
        assert (layer(x) - y).abs().max() <= 1e-5
        assert torch.allclose(layer.base_layer.weight, dense.T, atol=1e-5)
    with pytest.raises(RuntimeError, match="already merged"):
        layer.merge()
    layer.unmerge()
    assert not layer.merged
    assert (layer.base_layer.weight - w_before).abs().max() <= 1e-6
    if bias:
        assert (layer.base_layer.bias - b_before).abs().max() <= 1e-6
    with pytest.raises(RuntimeError, match="not merged"):
        layer.unmerge()
    with torch.no_grad():
        assert (layer(x) - y).abs().max() <= 1e-5


def test_merge_is_done_in_float32_and_cast_back():
    _, layer = make_layer(method_row("alpha_dora"))
    layer.to(torch.bfloat16)
    randomise(layer)
    x = x_batch(16).to(torch.bfloat16)
    with torch.no_grad():
        y = layer(x).float()
    layer.merge()
    assert layer.base_layer.weight.dtype == torch.bfloat16
    with torch.no_grad():
        assert (layer(x).float() - y).abs().max() <= 0.1  # bf16 rounding only


def test_unmerge_refuses_after_parameters_changed():
    _, layer = make_layer(method_row("alpha_lora"))
    randomise(layer)
    layer.merge()
    opt = torch.optim.SGD(layer.trainable_parameters(), lr=0.1)
    for p in layer.trainable_parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    w = layer.base_layer.weight.detach().clone()
    with pytest.raises(RuntimeError, match="changed while merged"):
        layer.unmerge()
    assert layer.merged and torch.equal(layer.base_layer.weight, w)


def test_unmerge_refuses_tiny_alpha_unless_base_kept():
    _, layer = make_layer(method_row("alpha_lora"))
    randomise(layer)
    with torch.no_grad():
        layer.alpha[3] = UNMERGE_MIN_ABS / 10
    w0 = layer.base_layer.weight.detach().clone()
    b0 = layer.base_layer.bias.detach().clone()
    layer.merge()
    with pytest.raises(RuntimeError, match="min \\|alpha\\|"):
        layer.unmerge()
    assert layer.merged
    # with keep_base the round trip is exact, whatever alpha is
    _, layer2 = make_layer(method_row("alpha_lora"))
    randomise(layer2)
    with torch.no_grad():
        layer2.alpha[3] = 0.0
    layer2.merge(keep_base=True)
    layer2.unmerge()
    assert torch.equal(layer2.base_layer.weight, w0) and torch.equal(layer2.base_layer.bias, b0)


def test_merged_forward_has_no_adapter_gradients():
    _, layer = make_layer(method_row("alpha_dora"))
    randomise(layer)
    layer.merge()
    x = x_batch(16).requires_grad_(True)
    layer(x).sum().backward()
    assert x.grad is not None
    assert all(p.grad is None for p in layer.trainable_parameters())


# ------------------------------------------------------------------ OLoRA
@pytest.mark.parametrize("dims", DIMS)
@pytest.mark.parametrize("use_alpha", [False, True])
def test_olora_init_qr_residual_and_callers_tensor(dims, use_alpha):  # O1, O2, O4
    n_in, n_out = dims
    lin, layer = make_layer(method_row("alpha_olora" if use_alpha else "olora"), n_in, n_out, rank=4)
    original = lin.weight.detach().clone()
    assert torch.equal(lin.weight, original)  # caller's tensor not mutated
    assert layer.base_layer.weight is not lin.weight  # ... and not reused
    assert layer.base_layer.bias is lin.bias
    A, B = layer.lora_A.detach(), layer.lora_B.detach()
    assert (layer.base_layer.weight + layer.scaling * B @ A - original).abs().max() <= 1e-5
    assert (B.T @ B - torch.eye(4)).abs().max() <= 1e-5
    assert torch.equal(torch.triu(A), A)  # upper triangular R rows
    # A = R[:r] has |A_ii| = norm of the component of column i orthogonal to earlier ones
    assert torch.allclose(A.abs().diagonal()[0], torch.linalg.norm(original[:, 0]), rtol=1e-5)


@pytest.mark.parametrize("rslora", [False, True])
def test_olora_two_r_conversion_rebuilds_on_the_original_base(rslora):  # O3
    lin, layer = make_layer(method_row("olora"), rank=3, use_rslora=rslora)
    original = lin.weight.detach().clone()
    randomise(layer)  # "training"
    sd = layer.to_peft_state_dict("p")
    fields = layer.peft_config_fields()
    assert fields["r"] == 6 and sd["p.lora_A.weight"].shape == (6, 16)
    s2 = fields["lora_alpha"] / (math.sqrt(6) if rslora else 6)
    assert math.isclose(s2, layer.scaling, rel_tol=1e-12)
    rebuilt = original + s2 * sd["p.lora_B.weight"] @ sd["p.lora_A.weight"]
    A, B = layer.lora_A.detach(), layer.lora_B.detach()
    trained = layer.base_layer.weight.detach() + layer.scaling * B @ A
    assert (rebuilt - trained).abs().max() <= 1e-5


def test_olora_reset_parameters_returns_to_the_original_init():
    lin, layer = make_layer(method_row("olora"))
    res0 = layer.base_layer.weight.detach().clone()
    A0 = layer.lora_A.detach().clone()
    randomise(layer)
    layer.reset_parameters()
    assert torch.allclose(layer.lora_A, A0, atol=1e-5)
    assert torch.allclose(layer.base_layer.weight, res0, atol=1e-5)


# ------------------------------------------------------------------ exports per layer
@pytest.mark.parametrize("row", METHODS, ids=METHOD_IDS)
def test_peft_tensors_or_clear_refusal(row):
    _, layer = make_layer(row)
    if row[2]:
        with pytest.raises(ValueError, match="cannot be exported in PEFT layout"):
            layer.to_peft_state_dict("x")
        return
    if layer.kind in ALLOCATING:
        with pytest.raises(ValueError, match=f"'{layer.kind}'.*PEFT"):
            layer.to_peft_state_dict("x")
        return
    sd = layer.to_peft_state_dict("x")
    names = {"x.lora_A.weight", "x.lora_B.weight"}
    if row[3]:
        names.add("x.lora_magnitude_vector")
    assert set(sd) == names


# The refusals of the kinds without a PEFT export, word for word (issue 13: lora2's copy of the
# base refusal went; alora and adalora keep their own wording).
PEFT_REFUSALS = {
    "lora2": "adapter kind 'lora2' has no PEFT on-disk equivalent; use deep.save_adapter, or "
             "merge the model",
    "alora": "adapter kind 'alora' (Allocating LoRA) has no PEFT on-disk equivalent; use "
             "deep.save_adapter, or merge the model",
    "adalora": "adapter kind 'adalora' is not exported in PEFT layout (PEFT export covers "
               "lora/dora/olora); use deep.save_adapter, or merge the model",
}


@pytest.mark.parametrize("kind", sorted(PEFT_REFUSALS))
def test_peft_refusal_messages_are_unchanged(kind):
    layer = REGISTRY[kind](nn.Linear(8, 6), rank=2)
    with pytest.raises(ValueError) as err:
        layer.to_peft_state_dict("x")
    assert str(err.value) == PEFT_REFUSALS[kind]


def test_base_refusal_for_a_kind_without_export():
    class NoExport(AdapterLayer):  # not registered: the base's _peft_tensors applies
        kind = "no_export"
        adapter_param_names = ()

        def _create_parameters(self, factory):
            pass

        def _reset_adapter(self, generator):
            pass

        def _delta(self, xd, bias, row_scale):
            return torch.zeros(xd.shape[0], self.out_features)

    layer = NoExport(nn.Linear(4, 3), rank=1)
    with pytest.raises(ValueError, match="^adapter kind 'no_export' has no PEFT on-disk "
                                         "equivalent; use deep.save_adapter, or merge the model$"):
        layer.to_peft_state_dict("x")


# ------------------------------------------------------------------ validation and RNG
@pytest.mark.parametrize("rank", [0, -1, 13, 2.0, True])
def test_bad_rank_names_the_field(rank):
    with pytest.raises(ValueError, match="rank"):
        LoraLayer(nn.Linear(16, 12), rank=rank)


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5])
def test_bad_dropout_names_the_field(dropout):
    with pytest.raises(ValueError, match="dropout"):
        LoraLayer(nn.Linear(16, 12), rank=2, dropout=dropout)


def test_alpha_vector_of_wrong_length_names_the_field():
    _, layer = make_layer(method_row("alpha_lora"))
    with pytest.raises(ValueError, match="alpha.*out_features"):
        layer.set_alpha(torch.ones(11))
    layer.set_alpha(torch.full((12,), 2.0))
    assert torch.equal(layer.alpha, torch.full((12,), 2.0))
    _, plain = make_layer(method_row("lora"))
    with pytest.raises(ValueError, match="alpha"):
        plain.set_alpha(torch.ones(12))


def test_wraps_only_linear_layers():
    with pytest.raises(TypeError, match="nn.Linear"):
        LoraLayer(nn.Conv1d(3, 3, 1), rank=1)


@pytest.mark.parametrize("row", METHODS, ids=METHOD_IDS)
def test_initialisation_uses_only_the_given_generator(row):
    _, cls, use_alpha, _, _ = row
    lins = [nn.Linear(16, 12) for _ in range(3)]  # nn.Linear itself draws from the global RNG
    state = torch.random.get_rng_state()
    layers = [cls(lin, rank=4, use_alpha=use_alpha, generator=torch.Generator().manual_seed(seed))
              for lin, seed in zip(lins, (7, 7, 8), strict=True)]
    assert torch.equal(torch.random.get_rng_state(), state)
    if not row[4]:  # OLoRA's init is the QR of W0, no randomness
        first = [layer.adapter_parameters()[0] for layer in layers]  # lora_A / lora_A1
        assert torch.equal(first[0], first[1])
        assert not torch.equal(first[0], first[2])


def test_gaussian_and_kaiming_inits_have_their_documented_scale():
    lin = nn.Linear(400, 300)
    g = torch.Generator().manual_seed(0)
    gauss = LoraLayer(lin, rank=16, init="gaussian", generator=g).lora_A.detach()
    kaim = LoraLayer(lin, rank=16, init="kaiming", generator=g).lora_A.detach()
    assert abs(float(gauss.std()) - 1 / math.sqrt(16)) < 0.01
    # kaiming_uniform(a=√5): U(-1/√in, 1/√in), std = 1/√(3·in)
    assert float(kaim.abs().max()) <= 1 / math.sqrt(400) + 1e-7
    assert abs(float(kaim.std()) - 1 / math.sqrt(3 * 400)) < 0.002


def test_dropout_applies_to_the_adapter_branch_only():
    # A = B = I, s = 1: the low-rank branch is dropout(x) itself, entries 0 or 2x (p = 0.5)
    lin = nn.Linear(12, 12)
    layer = LoraLayer(lin, rank=12, lora_alpha=12, dropout=0.5)
    with torch.no_grad():
        layer.lora_A.copy_(torch.eye(12))
        layer.lora_B.copy_(torch.eye(12))
    x = x_batch(12) + 3.0  # no zeros
    layer.train()
    branch = layer(x) - (x @ lin.weight.detach().T + lin.bias.detach())
    dropped = branch.abs() < 1e-5
    kept = (branch - 2 * x).abs() < 1e-5
    assert bool((dropped | kept).all()) and 0 < int(dropped.sum()) < x.numel()
    layer.eval()
    assert torch.allclose(layer(x), x @ lin.weight.detach().T + lin.bias.detach() + x, atol=1e-5)


def test_is_an_adapter_layer_with_frozen_base_properties():
    lin, layer = make_layer(method_row("dora"))
    assert isinstance(layer, AdapterLayer)
    assert layer.weight is lin.weight and layer.bias is lin.bias
    assert not lin.weight.requires_grad and not lin.bias.requires_grad


def _saved_bytes(layer, x):
    seen = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x)
    params = {p.untyped_storage().data_ptr() for p in layer.parameters()}
    return sum(v for k, v in seen.items() if k not in params)


def test_frozen_alpha_saves_no_extra_activations():
    """Adapter steps of alpha-LoRA (alpha frozen) keep what plain LoRA keeps for backward;
    a trainable alpha adds exactly one (T, out) tensor, the frozen output x W0ᵀ + b."""
    x = x_batch(16).requires_grad_(True)
    _, plain = make_layer(method_row("lora"))
    _, alpha = make_layer(method_row("alpha_lora"))
    base = _saved_bytes(plain, x)
    assert _saved_bytes(alpha, x) == base + 3 * 5 * 12 * 4
    alpha.alpha.requires_grad_(False)
    assert _saved_bytes(alpha, x) == base


@pytest.mark.parametrize("method", ["dora", "alpha_dora"])
def test_dora_on_a_float64_base_matches_the_float64_dense_reference(method):
    _, layer = make_layer(method_row(method))
    layer.double()
    randomise(layer)
    assert layer.lora_magnitude.dtype == torch.float64
    x = x_batch(16).double()
    y = layer(x)
    assert y.dtype == torch.float64 and layer.weight_norm().dtype == torch.float64
    assert (y - layer_reference(layer, x)).abs().max() <= 1e-12  # float64 accuracy, not float32
