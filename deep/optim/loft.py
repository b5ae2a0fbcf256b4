"""LoFT: an optimiser that makes LoRA factors follow AdamW on the full weight (docs/adapters.md §8).

LoFT (arXiv 2505.21289, ICLR 2026) trains a pair of LoRA factors ``A (r × in)`` and
``B (out × r)`` of a layer whose effective weight is::

    W = W0 + B @ A                         (W0: out × in, frozen; scaling s = 1)

so that ``W`` moves as close to AdamW on the full ``W`` as rank ``r`` allows; on a square layer
at full rank (``r = in = out``, invertible factors, ``ρ = 0``) the trajectory of ``W`` *is*
AdamW's (the exact condition is in "When LoFT is AdamW" below). There is
no ``lora_alpha`` to tune: LoFT assumes ``s = 1``, i.e. PEFT ``lora_alpha = r`` (rsLoRA:
``lora_alpha = √r``); :func:`named_loft_pairs` refuses layers with another scaling.

Per-pair step ``t = 1, 2, …`` (the equations of docs/adapters.md §8.2, *corrected* with respect
to the official code). ``G = ∂L/∂W`` (out × in) is never formed: autograd gives
``g_A = Bᵀ G`` (r × in) and ``g_B = G Aᵀ`` (out × r). Every quantity uses the snapshot
``(A_t, B_t)`` taken before any factor of this step moves.

1. Gram (pseudo-)inverses, r × r: ``S_A = (BᵀB + ρ_A I)⁺``, ``S_B = (AAᵀ + ρ_B I)⁺``.
2. Scaled gradients: ``ĝ_A = S_A g_A`` (r × in), ``ĝ_B = g_B S_B`` (out × r); ``B ĝ_A`` and
   ``ĝ_B A`` are the projections of ``G`` onto col(B) and row(A) (for ``ρ = 0``).
3. Clipping (optional, ``max_grad_norm = c``): ``N² = Σ_pairs ‖P_t‖_F² + Σ_other ‖g‖²`` with
   ``P_t = ĝ_B A`` on a B-step and ``B ĝ_A`` on an A-step (the projected full gradient of the
   factor updated this step); every gradient is multiplied by ``min(1, c / (N + 1e-6))``. At
   full rank this is ``torch.nn.utils.clip_grad_norm_`` on ``W``.
4. Moments, **both sides every step**, with ``x_j = ĝ_A[:, j]`` (r) and ``y_i = ĝ_B[i, :]`` (r)::

       m_A ← β1 m_A + (1−β1) ĝ_A                     (r × in)
       P_A[j] ← β2 P_A[j] + (1−β2) x_j x_jᵀ          (in × r × r)
       m_B ← β1 m_B + (1−β1) ĝ_B                     (out × r)
       P_B[i] ← β2 P_B[i] + (1−β2) y_iᵀ y_i          (out × r × r)

5. ``c1 = 1 − β1ᵗ``, ``c2 = 1 − β2ᵗ``; odd ``t`` updates ``B`` (first, since LoRA starts with
   ``B = 0``), even ``t`` updates ``A``. The full-space Adam direction ``U`` (out × in) is built
   from the W-space moments and projected back onto the factor::

       B-step:  M = m_B A,   V_ij = A[:, j]ᵀ P_B[i] A[:, j]
       A-step:  M = B m_A,   V_ij = B[i, :] P_A[j] B[i, :]ᵀ
       U = (M / c1) / (√(max(V, 0) / c2) + ε)
       B ← B − η λ B − η U Aᵀ S_B        (B-step; in W-space ΔW = −η U Π_row(A) − η λ B A)
       A ← A − η λ A − η S_A Bᵀ U        (A-step; in W-space ΔW = −η Π_col(B) U − η λ B A)

   Weight decay ``λ`` is decoupled and lr-scaled exactly as in ``torch.optim.AdamW``; in
   W-space it decays the delta ``B A``, i.e. pulls ``W`` towards ``W0``.
6. Re-projection (calibration) once the factor has moved, so that the moments of the *other*
   side stay expressed in the current coordinates. After a B-step (``B_old → B_new``)::

       R_A = S_A(B_new) B_newᵀ B_old          (r × r)
       m_A ← R_A m_A,      P_A[j] ← R_A P_A[j] R_Aᵀ

   and after an A-step (``A_old → A_new``)::

       R_B = A_old A_newᵀ S_B(A_new)          (r × r)
       m_B ← m_B R_B,      P_B[i] ← R_Bᵀ P_B[i] R_B

   This is the §8.2 step 3 of the *next* step, done eagerly, so the optimiser state always
   refers to the current factors and no previous factors need storing. The side whose factor
   did not move is not re-projected (with ``ρ = 0`` that re-projection is the identity, F9;
   with ``ρ > 0`` it would shrink the moments by ``(Gram + ρI)⁻¹ Gram`` every step).

Why exact at full rank: ``B ĝ_A = ĝ_B A = G``, ``B_new R_A m_A = B_old m_A`` (momentum is
preserved in W-space), ``R_Aᵀ B_new[i, :]ᵀ = B_old[i, :]ᵀ`` (second moments are preserved) and
the projected update moves ``W`` by ``−η U − η λ (W − W0)``, AdamW's step on ``W − W0``.

When LoFT is AdamW (the exact condition). In exact arithmetic the step of ``W`` equals
AdamW's step on ``W − W0`` iff both projections above are the identity at that step: on a
B-step ``ĝ_B A = G Π_row(A)`` needs ``row(A_t) = R^in`` (``rank A_t = in``), on an A-step
``B ĝ_A = Π_col(B) G`` needs ``col(B_t) = R^out`` (``rank B_t = out``), and the moments carried
over from earlier steps keep their W-space meaning only through invertible re-projections.
Since ``r <= min(in, out)``, the trajectory of ``W`` is AdamW's **iff** ``r = in = out`` (a
square layer at full rank), ``A_t`` and ``B_t`` are nonsingular at every step ``t`` (in
particular ``B_0 ≠ 0``: LoRA's ``B = 0`` init fails it) and ``ρ_A = ρ_B = 0``. A non-square
layer at ``r = min(in, out)`` fails it by construction: one factor is square, the other is
wide (``in > out``: every B-step moves ``W`` only inside ``row(A)``) or tall (``out > in``:
every A-step moves ``W`` only inside ``col(B)``), so ``W`` leaves AdamW's path (relative gaps of
4–15 % after 50 steps in tests/deep/test_loft.py). In floating point the match degrades with
the conditioning of the factors along the trajectory, not only at the start (the Gram matrices
square it): in float64, max cond(A_t, B_t) ≈ 10³ keeps it at ~1e-11, 10⁴ at 1e-8–2e-6, 10⁵ gives
1e-5–1e-3; a factor that becomes numerically singular on the way (cond ≈ 10⁸) makes ``W``
depart entirely. In float32 the match is ~1e-4 (4e-5 to 5e-4 measured on 6 × 6 layers with
cond <= 50; the float32 test allows 1e-3).

Differences from the official implementation (github tnurbek/loft), all deliberate: the
second-moment calibration is ``R P Rᵀ`` on the A side and ``Rᵀ P R`` on the B side (the official
code transposes both); both factors are snapshotted before either moves (the official code
scales the second parameter's gradient with the already-updated first one); weight decay is
``p ← (1 − η λ) p`` like torch AdamW (official: ``1 − λ``); the default ``eps`` is AdamW's
``1e-8`` (official: ``1e-4``). The ridges keep the official defaults ``ρ_A = 1e-6`` and
``ρ_B = 1e-8``; use ``ρ = 0`` for equivalence tests. With ``B = 0`` at initialisation the
A-side moments cannot record anything until ``B`` moves, so AdamW equivalence needs a nonzero
``B``; this is expected.

Memory: per pair LoFT keeps ``m_A, m_B`` (the LoRA parameter count ``r (in + out)``) and
``P_A, P_B`` (``r² (in + out)``, i.e. **r times** the LoRA parameter count): rank 8 needs
8 + 1 = 9 LoRA-sized buffers where AdamW needs 2; rank 16 needs 17. Still tiny next to the
frozen weights (768 × 768 layer, r = 8: 110,592 state numbers vs 589,824 weights).

Non-pair parameters (classification head, biases, ...) passed in ``params`` follow exactly
``torch.optim.AdamW`` (same operations, ``amsgrad=False``) inside the same optimiser, including
clipping and the learning-rate schedule.

Usage (any model whose LoRA layers expose ``lora_A``/``lora_B``, ours or PEFT's)::

    opt = LoFT.from_model(model, lr=1e-4, weight_decay=0.01, max_grad_norm=1.0,
                          exclude=alpha_params)        # alpha has its own optimiser
    loss.backward(); opt.step(); opt.zero_grad()

Clip only through ``max_grad_norm``: ``clip_grad_norm_`` on the raw ``A``/``B`` gradients is a
different rule (with a Hugging Face ``Trainer``, set ``TrainingArguments.max_grad_norm = 0``).
Step counters are per pair, so the alternation survives ``state_dict`` round trips.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

import torch
from torch import Tensor, nn

__all__ = [
    "LoFT",
    "loft_pairs",
    "named_loft_pairs",
    "gram_pinv",
    "reprojection_a",
    "reprojection_b",
    "reproject_a",
    "reproject_b",
]

_FLOAT_DTYPES = (torch.float32, torch.float64)
# Attributes marking a layer whose delta is not W0 + B @ A (AdaLoRA's P Λ Q, DoRA's magnitude).
_NOT_BA = ("lora_E", "lora_magnitude_vector", "magnitude", "lora_magnitude")


# --------------------------------------------------------------------------------------------
# The formulas, one home each
# --------------------------------------------------------------------------------------------

def gram_pinv(gram: Tensor, rho: float) -> Tensor:
    """``S = (gram + ρ I)⁺`` for a symmetric PSD ``gram`` (r × r).

    The Moore–Penrose pseudo-inverse (eigendecomposition, tiny eigenvalues dropped) equals the
    inverse whenever ``gram + ρ I`` is invertible; for a rank-deficient factor with ``ρ = 0``
    (e.g. ``B = 0``) it makes ``B ĝ_A`` the orthogonal projection of ``G`` onto col(B) instead
    of failing.
    """
    if rho:
        gram = gram + rho * torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    return torch.linalg.pinv(gram, hermitian=True)


def reprojection_a(B_new: Tensor, B_old: Tensor, rho: float) -> Tensor:
    """``R_A = (B_newᵀ B_new + ρ_A I)⁺ B_newᵀ B_old`` (r × r), for ``B`` of shape (out × r)."""
    return gram_pinv(B_new.T @ B_new, rho) @ (B_new.T @ B_old)


def reprojection_b(A_new: Tensor, A_old: Tensor, rho: float) -> Tensor:
    """``R_B = A_old A_newᵀ (A_new A_newᵀ + ρ_B I)⁺`` (r × r), for ``A`` of shape (r × in)."""
    return (A_old @ A_new.T) @ gram_pinv(A_new @ A_new.T, rho)


def reproject_a(m_A: Tensor, P_A: Tensor, R_A: Tensor) -> tuple[Tensor, Tensor]:
    """A-side calibration: ``m_A ↦ R_A m_A`` (r × in), ``P_A[j] ↦ R_A P_A[j] R_Aᵀ`` (in × r × r)."""
    return R_A @ m_A, R_A @ P_A @ R_A.T


def reproject_b(m_B: Tensor, P_B: Tensor, R_B: Tensor) -> tuple[Tensor, Tensor]:
    """B-side calibration: ``m_B ↦ m_B R_B`` (out × r), ``P_B[i] ↦ R_Bᵀ P_B[i] R_B``
    (out × r × r)."""
    return m_B @ R_B, R_B.T @ P_B @ R_B


@functools.lru_cache(maxsize=64)
def _upper_pairs(r: int, device: torch.device, dtype: torch.dtype
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Index pairs ``a ≤ b`` of an r × r symmetric matrix, their flat index ``a·r + b`` and the
    weights (1 on the diagonal, 2 off it): ``xᵀ P x = Σ_{a≤b} w_ab P_ab x_a x_b``."""
    ia, ib = torch.triu_indices(r, r, device=device)
    weight = torch.where(ia == ib, 1.0, 2.0).to(dtype)
    return ia, ib, ia * r + ib, weight


# --------------------------------------------------------------------------------------------
# Pair discovery
# --------------------------------------------------------------------------------------------

def _scaling_value(scaling: Any) -> float:
    if isinstance(scaling, Tensor):
        if scaling.numel() != 1:
            raise ValueError(f"scaling must be a scalar, got shape {tuple(scaling.shape)}")
        return float(scaling.item())
    return float(scaling)


def _reject_non_ba(name: str, module: nn.Module) -> None:
    if getattr(module, "loft_compatible", True) is False:
        raise ValueError(f"module {name!r} declares loft_compatible=False: its delta is not B @ A")
    use_dora = getattr(module, "use_dora", False)
    if (any(use_dora.values()) if isinstance(use_dora, dict) else bool(use_dora)):
        raise ValueError(f"module {name!r} uses DoRA: LoFT needs W = W0 + B @ A, exclude it")
    for attr in _NOT_BA:
        value = getattr(module, attr, None)
        if isinstance(value, nn.ModuleDict | nn.ParameterDict | dict):
            if len(value) == 0:
                continue
        elif not isinstance(value, Tensor | nn.Module):
            continue
        raise ValueError(f"module {name!r} has {attr!r}: its delta is not W0 + B @ A "
                         "(AdaLoRA / DoRA), so LoFT does not apply to it")


def _check_scaling(name: str, scaling: Any) -> None:
    s = _scaling_value(scaling)
    if abs(s - 1.0) > 1e-12:
        raise ValueError(
            f"module {name!r} has LoRA scaling {s:g} (= lora_alpha / r): LoFT assumes "
            "W = W0 + B @ A with scaling 1; build the adapter with lora_alpha = r "
            "(rsLoRA: lora_alpha = sqrt(r))")


def named_loft_pairs(model: nn.Module) -> Iterator[tuple[str, tuple[nn.Parameter, nn.Parameter]]]:
    """Yield ``(name, (A, B))`` for every trainable LoRA pair of ``model``, in module order.

    Two layouts are recognised on any submodule:

    * ours: ``lora_A`` (r × in) and ``lora_B`` (out × r) are ``nn.Parameter`` attributes and an
      optional ``scaling`` attribute (float or scalar tensor) must be 1;
    * PEFT: ``lora_A[key].weight`` / ``lora_B[key].weight`` in ``nn.ModuleDict`` s, one pair per
      adapter ``key`` (name ``"<module>.<key>"``), with ``scaling[key] == 1``
      (``lora_alpha = r``).

    A pair is yielded when both factors require gradients and skipped when neither does.
    ``ValueError`` for: only one factor trainable, scaling ≠ 1, factors that are not 2-D or
    whose ranks differ, and layers whose delta is not ``B @ A`` (DoRA, AdaLoRA's ``lora_E``,
    or a module attribute ``loft_compatible = False``).
    """
    for name, module in model.named_modules():
        la, lb = getattr(module, "lora_A", None), getattr(module, "lora_B", None)
        if la is None and lb is None:
            continue
        _reject_non_ba(name, module)
        found: list[tuple[str, Tensor, Tensor, Any]] = []
        if isinstance(la, nn.Parameter) and isinstance(lb, nn.Parameter):
            found.append((name, la, lb, getattr(module, "scaling", 1.0)))
        elif isinstance(la, nn.ModuleDict) and isinstance(lb, nn.ModuleDict):
            scaling = getattr(module, "scaling", {})
            for key in la:
                if key not in lb:
                    raise ValueError(f"module {name!r}: adapter {key!r} has lora_A but no lora_B")
                s = scaling.get(key, 1.0) if isinstance(scaling, dict) else scaling
                found.append((f"{name}.{key}", cast(Tensor, la[key].weight),
                              cast(Tensor, lb[key].weight), s))
        else:
            raise ValueError(
                f"module {name!r}: lora_A/lora_B of types {type(la).__name__}/{type(lb).__name__} "
                "are not understood (expected two nn.Parameter or two PEFT nn.ModuleDict)")
        for pname, A, B, s in found:
            if not (A.requires_grad or B.requires_grad):
                continue
            if A.requires_grad != B.requires_grad:
                raise ValueError(f"LoRA pair {pname!r}: only one of lora_A/lora_B requires grad; "
                                 "LoFT trains both factors")
            if A.ndim != 2 or B.ndim != 2 or A.shape[0] != B.shape[1]:
                raise ValueError(f"LoRA pair {pname!r}: expected lora_A (r x in) and lora_B "
                                 f"(out x r), got {tuple(A.shape)} and {tuple(B.shape)}")
            _check_scaling(pname, s)
            yield pname, (A, B)  # type: ignore[misc]


def loft_pairs(model: nn.Module) -> list[tuple[nn.Parameter, nn.Parameter]]:
    """The ``(A, B)`` pairs of :func:`named_loft_pairs`, as a list."""
    return [pair for _, pair in named_loft_pairs(model)]


# --------------------------------------------------------------------------------------------
# The optimiser
# --------------------------------------------------------------------------------------------

def _check_number(name: str, value: Any, low: float, *, strict: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (strict and value == low):
        rel = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {rel} {low}, got {value!r}")


def _check_group_hyper(group: dict[str, Any], where: str) -> None:
    _check_number(f"{where}lr", group["lr"], 0.0)
    _check_number(f"{where}eps", group["eps"], 0.0)
    _check_number(f"{where}weight_decay", group["weight_decay"], 0.0)
    _check_number(f"{where}rho_A", group["rho_A"], 0.0)
    _check_number(f"{where}rho_B", group["rho_B"], 0.0)
    betas = group["betas"]
    if (not isinstance(betas, tuple | list) or len(betas) != 2
            or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in betas)
            or not all(0.0 <= b < 1.0 for b in betas)):
        raise ValueError(f"{where}betas must be two numbers in [0, 1), got {betas!r}")


def _as_pair_group(entry: Any, index: int) -> dict[str, Any]:
    if isinstance(entry, dict):
        if "pairs" not in entry:
            raise ValueError(f"pairs[{index}] is a dict without a 'pairs' key")
        group = {k: v for k, v in entry.items() if k != "pairs"}
        pairs = _pair_list(entry["pairs"], f"pairs[{index}]")
    else:
        group, pairs = {}, _pair_list([entry], f"pairs[{index}]")
    group["params"] = [p for pair in pairs for p in pair]
    group["kind"] = "pairs"
    return group


def _pair_list(pairs: Iterable[Any], where: str) -> list[tuple[Tensor, Tensor]]:
    out = []
    for k, pair in enumerate(pairs):
        if isinstance(pair, Tensor) or not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ValueError(f"{where}: every pair must be a tuple (A, B), got "
                             f"{type(pair).__name__} at position {k}")
        out.append((pair[0], pair[1]))
    return out


class LoFT(torch.optim.Optimizer):
    """LoFT for LoRA pairs ``W = W0 + B @ A`` plus torch AdamW for every other parameter.

    Parameters
    ----------
    pairs : iterable of ``(A, B)``, or of dicts ``{"pairs": [(A, B), ...], "lr": ...}``
        LoRA factors: ``A`` of shape (r × in), ``B`` of shape (out × r), float32 or float64,
        scaling 1 (``lora_alpha = r``). Plain tuples share one parameter group.
    params : iterable of tensors or of param-group dicts
        Other trainable parameters (head, biases); plain ``torch.optim.AdamW`` semantics.
    lr, betas, eps, weight_decay
        As ``torch.optim.AdamW`` (``weight_decay`` defaults to 0 here); decoupled, lr-scaled
        decay ``p ← (1 − lr·λ) p`` — on a pair this decays ``B A`` towards 0 (``W`` → ``W0``).
    rho_A, rho_B : float
        Ridges of the Gram inverses ``(BᵀB + ρ_A I)⁺`` and ``(AAᵀ + ρ_B I)⁺``; the official
        defaults 1e-6 / 1e-8 damp the first steps after ``B = 0``; 0 gives exact AdamW on a
        square layer at full rank with nonsingular factors (module docstring, "When LoFT is
        AdamW").
    max_grad_norm : float or None
        Clip the projected full gradients (module docstring, item 3); ``self.grad_norm`` holds
        the pre-clip norm after each step. ``None`` disables clipping.

    Notes
    -----
    ``step()`` alternates per pair: odd steps update ``B``, even steps ``A`` (see the module
    docstring for the equations). State: ``state[A] = {"step", "exp_avg": m_A (r × in),
    "exp_avg_sq": P_A (in × r × r)}``, ``state[B] = {"step", "exp_avg": m_B (out × r),
    "exp_avg_sq": P_B (out × r × r)}``; ``state_dict`` / ``load_state_dict`` are torch's.
    """

    def __init__(
        self,
        pairs: Iterable[Any] = (),
        params: Iterable[Any] = (),
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        rho_A: float = 1e-6,
        rho_B: float = 1e-8,
        max_grad_norm: float | None = None,
    ) -> None:
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas,
                        eps=eps, weight_decay=weight_decay, rho_A=rho_A, rho_B=rho_B)
        _check_group_hyper(defaults, "")
        if max_grad_norm is not None:
            _check_number("max_grad_norm", max_grad_norm, 0.0, strict=True)
        if isinstance(pairs, Tensor) or isinstance(params, Tensor):
            raise ValueError("pairs and params must be iterables, not a single tensor")
        groups: list[dict[str, Any]] = []
        tuples: list[Tensor] = []
        for i, entry in enumerate(list(pairs)):
            group = _as_pair_group(entry, i)
            if isinstance(entry, dict):
                groups.append(group)
            else:
                tuples.extend(group["params"])
        if tuples:
            groups.insert(0, {"params": tuples, "kind": "pairs"})
        plain = list(params)
        if plain and all(isinstance(p, dict) for p in plain):
            groups.extend({**g, "kind": "adamw"} for g in plain)
        elif any(isinstance(p, dict) for p in plain):
            raise ValueError("params must be all tensors or all param-group dicts")
        elif plain:
            groups.append({"params": plain, "kind": "adamw"})
        if not groups:
            raise ValueError("pairs and params are both empty: nothing to optimise")
        self.max_grad_norm = max_grad_norm
        self.grad_norm: Tensor | None = None
        super().__init__(groups, defaults)

    @classmethod
    def from_model(cls, model: nn.Module, *, exclude: Iterable[Tensor] = (), **kwargs: Any) -> LoFT:
        """LoFT over every LoRA pair of ``model`` (:func:`named_loft_pairs`) and AdamW over every
        other parameter with ``requires_grad`` that is not in ``exclude`` (e.g. alpha vectors
        trained by their own optimiser). ``kwargs`` go to the constructor."""
        pairs = loft_pairs(model)
        taken = {id(p) for pair in pairs for p in pair} | {id(p) for p in exclude}
        others = [p for p in model.parameters() if p.requires_grad and id(p) not in taken]
        return cls(pairs=pairs, params=others, **kwargs)

    # ---------------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's ``add_param_group`` plus validation: hyperparameters, pair shapes and dtypes,
        and no parameter twice (``ValueError`` naming ``pairs`` / ``params``)."""
        group = dict(param_group)
        kind = group.setdefault("kind", "adamw")
        if kind not in ("pairs", "adamw"):
            raise ValueError(f"param group kind must be 'pairs' or 'adamw', got {kind!r}")
        arg = "pairs" if kind == "pairs" else "params"
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        if isinstance(group["betas"], list):
            group["betas"] = tuple(group["betas"])
        _check_group_hyper(group, f"{arg} group: ")
        if kind == "pairs":
            if len(params) % 2:
                raise ValueError("pairs: a pair group needs an even number of tensors (A, B, ...)")
            for k in range(0, len(params), 2):
                A, B = params[k], params[k + 1]
                where = f"pairs[{k // 2}]"
                if not isinstance(A, Tensor) or not isinstance(B, Tensor):
                    raise ValueError(f"{where}: A and B must be tensors")
                if A is B:
                    raise ValueError(f"{where}: A and B are the same tensor")
                if A.ndim != 2 or B.ndim != 2 or A.shape[0] != B.shape[1]:
                    raise ValueError(f"{where}: expected A (r x in) and B (out x r) with the same "
                                     f"r, got A {tuple(A.shape)} and B {tuple(B.shape)}")
                if A.dtype not in _FLOAT_DTYPES or B.dtype != A.dtype:
                    raise ValueError(f"{where}: A and B must both be float32 or both float64, got "
                                     f"{A.dtype} and {B.dtype} (keep LoRA factors in float32; "
                                     "autocast is fine)")
                if A.device != B.device:
                    raise ValueError(f"{where}: A and B are on different devices")
        seen: dict[int, str] = {}
        for g in self.param_groups:
            for p in g["params"]:
                seen[id(p)] = "pairs" if g["kind"] == "pairs" else "params"
        for p in params:
            if id(p) in seen:
                raise ValueError(f"{arg}: a parameter of shape {tuple(p.shape)} is already in "
                                 f"{seen[id(p)]} (each parameter may appear once)")
            seen[id(p)] = arg
        super().add_param_group(group)

    # ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One LoFT/AdamW step; ``closure`` (optional) re-evaluates and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        # Phase 1: snapshot quantities of every pair (nothing moves yet).
        work: list[tuple[dict[str, Any], Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]] = []
        squares: list[Tensor] = []
        clip = self.max_grad_norm is not None
        for group in self.param_groups:
            if group["kind"] == "pairs":
                ps = group["params"]
                for A, B in zip(ps[0::2], ps[1::2], strict=True):
                    if A.grad is None and B.grad is None:
                        continue
                    gA = A.grad if A.grad is not None else torch.zeros_like(A)
                    gB = B.grad if B.grad is not None else torch.zeros_like(B)
                    if gA.is_sparse or gB.is_sparse:
                        raise RuntimeError("LoFT does not support sparse gradients")
                    gram_A, gram_B = A @ A.T, B.T @ B                       # r × r each
                    S_A = gram_pinv(gram_B, group["rho_A"])                 # (BᵀB + ρ_A I)⁺
                    S_B = gram_pinv(gram_A, group["rho_B"])                 # (AAᵀ + ρ_B I)⁺
                    gA_hat, gB_hat = S_A @ gA, gB @ S_B                     # r × in, out × r
                    if clip:
                        t = self.state[A].get("step", 0) + 1
                        if t % 2:   # B-step: ‖ĝ_B A‖² = Σ (ĝ_B A Aᵀ) ∘ ĝ_B
                            squares.append(((gB_hat @ gram_A) * gB_hat).sum())
                        else:       # A-step: ‖B ĝ_A‖² = Σ (BᵀB ĝ_A) ∘ ĝ_A
                            squares.append(((gram_B @ gA_hat) * gA_hat).sum())
                    work.append((group, A, B, gA_hat, gB_hat, S_A, S_B))
            elif clip:
                squares.extend(p.grad.pow(2).sum() for p in group["params"] if p.grad is not None)

        coef: Tensor | None = None
        if clip:
            if squares:
                total = torch.stack([s.to(squares[0].dtype) for s in squares]).sum().sqrt()
                max_norm = cast(float, self.max_grad_norm)  # not None: clip
                coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
                self.grad_norm = total
            else:
                self.grad_norm = None

        # Phase 2: moments and updates.
        for group, A, B, gA_hat, gB_hat, S_A, S_B in work:
            self._pair_update(group, A, B, gA_hat, gB_hat, S_A, S_B, coef)
        for group in self.param_groups:
            if group["kind"] != "pairs":
                self._adamw_update(group, coef)
        return loss

    def _pair_update(self, group: dict[str, Any], A: Tensor, B: Tensor, gA_hat: Tensor,
                     gB_hat: Tensor, S_A: Tensor, S_B: Tensor, coef: Tensor | None) -> None:
        r, n_in = A.shape
        n_out = B.shape[0]
        stA, stB = self.state[A], self.state[B]
        if not stA:
            for st, p, sq_shape in ((stA, A, (n_in, r, r)), (stB, B, (n_out, r, r))):
                st["step"] = 0
                st["exp_avg"] = torch.zeros_like(p, memory_format=torch.contiguous_format)
                st["exp_avg_sq"] = torch.zeros(sq_shape, dtype=p.dtype, device=p.device)
        if coef is not None:
            c = coef.to(gA_hat.dtype)
            gA_hat, gB_hat = gA_hat * c, gB_hat * c
        beta1, beta2 = group["betas"]
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        t = stA["step"] + 1
        stA["step"] = stB["step"] = t
        m_A, P_A, m_B, P_B = stA["exp_avg"], stA["exp_avg_sq"], stB["exp_avg"], stB["exp_avg_sq"]

        # Moments of both sides, every step.
        m_A.lerp_(gA_hat, 1 - beta1)
        m_B.lerp_(gB_hat, 1 - beta1)
        x = gA_hat.T.unsqueeze(2)                                       # in × r × 1: x_j
        P_A.mul_(beta2).addcmul_(x, x.mT, value=1 - beta2)
        y = gB_hat.unsqueeze(2)                                         # out × r × 1: y_iᵀ
        P_B.mul_(beta2).addcmul_(y, y.mT, value=1 - beta2)

        # U = (M/c1) / (√(V/c2) + ε) = (√c2/c1) · M / (√V + ε√c2); V sums over a ≤ b only
        # (P symmetric: weight 2 off the diagonal), halving the r² contraction.
        c1, c2 = 1 - beta1**t, 1 - beta2**t
        step_size, eps_hat = lr * math.sqrt(c2) / c1, eps * math.sqrt(c2)
        ia, ib, flat, weight = _upper_pairs(r, A.device, A.dtype)
        if t % 2:   # B-step
            M = m_B @ A                                                 # out × in
            V = (P_B.reshape(n_out, r * r)[:, flat] * weight) @ (A[ia] * A[ib])
            U = M.div_(V.clamp_min_(0).sqrt_().add_(eps_hat))           # V_ij = a_jᵀ P_B[i] a_j
            B_old = B.clone()
            if wd:
                B.mul_(1 - lr * wd)
            B.sub_((U @ A.T) @ S_B, alpha=step_size)
            m_new, P_new = reproject_a(m_A, P_A, reprojection_a(B, B_old, group["rho_A"]))
            m_A.copy_(m_new)
            P_A.copy_(P_new)
        else:       # A-step
            M = B @ m_A                                                 # out × in
            V = (B[:, ia] * B[:, ib]) @ (P_A.reshape(n_in, r * r)[:, flat] * weight).T
            U = M.div_(V.clamp_min_(0).sqrt_().add_(eps_hat))           # V_ij = b_i P_A[j] b_iᵀ
            A_old = A.clone()
            if wd:
                A.mul_(1 - lr * wd)
            A.sub_(S_A @ (B.T @ U), alpha=step_size)
            m_new, P_new = reproject_b(m_B, P_B, reprojection_b(A, A_old, group["rho_B"]))
            m_B.copy_(m_new)
            P_B.copy_(P_new)

    def _adamw_update(self, group: dict[str, Any], coef: Tensor | None) -> None:
        """torch.optim.AdamW (single-tensor path, amsgrad=False), operation for operation."""
        beta1, beta2 = group["betas"]
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("LoFT does not support sparse gradients")
            grad = p.grad if coef is None else p.grad * coef.to(p.grad.dtype)
            st = self.state[p]
            if not st:
                st["step"] = 0
                st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            st["step"] += 1
            t = st["step"]
            if wd:
                p.mul_(1 - lr * wd)
            st["exp_avg"].lerp_(grad, 1 - beta1)
            st["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            c1, c2 = 1 - beta1**t, 1 - beta2**t
            denom = (st["exp_avg_sq"].sqrt() / c2**0.5).add_(eps)
            p.addcdiv_(st["exp_avg"], denom, value=-lr / c1)

    def state_numel(self) -> dict[str, int]:
        """Numbers held in optimiser state: ``{"pairs": m + P of all pairs, "adamw": others}``."""
        out = {"pairs": 0, "adamw": 0}
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state.get(p, {})
                out[group["kind"]] += sum(v.numel() for v in st.values() if isinstance(v, Tensor))
        return out
