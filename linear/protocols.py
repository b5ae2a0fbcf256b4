"""Amazon Review transfer experiments: the honest protocol, the paper's protocol, Figure 3, study.

Everything follows docs/theory.md §6. Data: :mod:`linear.amazon` (row-major ``(rows, 400)``,
labels ``y ∈ {−1, +1}``, per-domain standardisation). Source classifier ``w̃``: ridge on the
source rows with penalty ``gamma_pre`` (all rows when ``N >= rows``; legitimate, it is
pre-training data). Fine-tuned classifier: ``w_alpha = u + alpha v`` (:mod:`linear.solve`).

Honest protocol (§6.3), :func:`honest_protocol`
    one split per (seed, batch), ``amazon.split(y, n, seed, batch)``, SHARED by every method;
    alpha (and gamma, for the joint estimators) chosen from the n target training rows only;
    HONEST test accuracy (no ``max(acc, 1 − acc)``) on all remaining rows; baselines
    target-only (alpha = 0), LoRA (alpha = 1), source-only ``w̃``; an ORACLE (best alpha on the
    test rows over a grid) reported as an upper bound, never as a method.

Paper protocol (§6.2), :func:`paper_protocol`
    reproduced exactly, flaws included, only to compare: leaky plug-in alpha from full domains
    with the wrong ``‖w̃‖²`` term, a fresh random split per (method, batch), symmetric accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from rmt import Moments, arbitrary, ridge

from . import amazon, selection
from .solve import AffinePath, accuracy_path, affine_parts
from .solve import ridge as ridge_fit

__all__ = [
    "Method",
    "METHODS",
    "TABLE1_METHODS",
    "STUDY_METHODS",
    "DEFAULT_ORACLE_ALPHAS",
    "source_classifier",
    "evaluate_split",
    "honest_pair",
    "honest_protocol",
    "summarize",
    "paired_bootstrap",
    "split_policy",
    "JOINT_VS_GAMMA_ONLY",
    "ReferencePlugin",
    "reference_plugin",
    "reference_alpha",
    "symmetric_accuracy",
    "paper_protocol_pair",
    "paper_protocol",
    "Figure3Pair",
    "figure3_pair",
]

#: Oracle grid (upper bound only): alpha in [-5, 20], step 0.05.
DEFAULT_ORACLE_ALPHAS = np.linspace(-5.0, 20.0, 501)


# ------------------------------------------------------------------------------------------
# methods
# ------------------------------------------------------------------------------------------
Chooser = Callable[[np.ndarray, np.ndarray, np.ndarray, float, np.random.Generator],
                   tuple[float, float]]


@dataclass(frozen=True)
class Method:
    """A way to pick ``(alpha, gamma_ft)`` from the target TRAINING rows only.

    ``choose(X, y, w̃, gamma_ft, rng) -> (alpha, gamma)``; ``kind`` is ``"baseline"``,
    ``"alpha"`` (alpha estimated, gamma fixed) or ``"joint"`` (both estimated).
    """

    name: str
    label: str
    kind: str
    choose: Chooser


def _fixed(alpha: float) -> Chooser:
    return lambda X, y, w, g, rng: (alpha, g)


def _gamma_tuned(criterion: str) -> Chooser:
    return lambda X, y, w, g, rng: selection.gamma_only(criterion, X, y, w, 1.0, rng=rng)


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("target_only", "target-only ridge (α=0)", "baseline", _fixed(0.0)),
    Method("lora", "LoRA-like (α=1), γ_ft=1 fixed", "baseline", _fixed(1.0)),
    Method("lora_gamma_loo", "LoRA-like (α=1), γ_ft tuned by LOO", "baseline",
           _gamma_tuned("loo")),
    Method("lora_gamma_kfold", "LoRA-like (α=1), γ_ft tuned by 5-fold", "baseline",
           _gamma_tuned("kfold")),
    Method("lora_gamma_evidence", "LoRA-like (α=1), γ_ft tuned by evidence", "baseline",
           _gamma_tuned("evidence")),
    Method("lora_gamma_margin", "LoRA-like (α=1), γ_ft tuned by LOO-margin", "baseline",
           _gamma_tuned("margin")),
    Method("alpha_plugin", "α-LoRA, plug-in α*", "alpha",
           lambda X, y, w, g, rng: (selection.plugin_alpha(X, y, w, g), g)),
    Method("alpha_loo", "α-LoRA, LOO α", "alpha",
           lambda X, y, w, g, rng: (selection.loo_alpha(X, y, w, g), g)),
    Method("alpha_kfold", "α-LoRA, 5-fold α", "alpha",
           lambda X, y, w, g, rng: (selection.kfold_alpha(X, y, w, g, 5, rng), g)),
    Method("alpha_gamma_loo", "α-LoRA, LOO (α, γ_ft)", "joint",
           lambda X, y, w, g, rng: selection.loo_alpha_gamma(X, y, w)),
    Method("alpha_gamma_kfold", "α-LoRA, 5-fold (α, γ_ft)", "joint",
           lambda X, y, w, g, rng: selection.kfold_alpha_gamma(X, y, w, None, 5, rng)),
    Method("alpha_gamma_margin", "α-LoRA, LOO-margin (α, γ_ft)", "joint",
           lambda X, y, w, g, rng: selection.margin_alpha_gamma(X, y, w)),
    Method("alpha_gamma_evidence", "α-LoRA, evidence (α, γ_ft)", "joint",
           lambda X, y, w, g, rng: selection.evidence_alpha_gamma(X, y, w)),
)}
def _cv_auto(X: np.ndarray, y: np.ndarray, w: np.ndarray, g: float,
             rng: np.random.Generator) -> tuple[float, float]:
    """The default of :class:`linear.AlphaRidgeCV` (``criterion="auto"``) on ±1 labels."""
    import warnings

    from .estimator import auto_criterion

    _, surf, _ = auto_criterion(X, y, w, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return surf.best()


METHODS["alpha_gamma_auto"] = Method(
    "alpha_gamma_auto", "α-LoRA, AlphaRidgeCV default: criterion by LOO accuracy (α, γ_ft)",
    "joint", _cv_auto)
#: Labels of the two columns that are not fine-tuned classifiers.
SPECIAL_LABELS = {
    "source_only": "source-only w̃ (no target data)",
    "oracle": "ORACLE best α on test (upper bound, not a method)",
}
TABLE1_METHODS = ("target_only", "lora", "lora_gamma_loo", "lora_gamma_evidence", "alpha_plugin",
                  "alpha_loo", "alpha_gamma_loo", "alpha_gamma_evidence", "source_only", "oracle")
STUDY_METHODS = (
    "target_only", "lora", "lora_gamma_loo", "lora_gamma_kfold", "lora_gamma_evidence",
    "lora_gamma_margin", "source_only", "alpha_plugin", "alpha_loo", "alpha_kfold",
    "alpha_gamma_loo", "alpha_gamma_kfold", "alpha_gamma_margin", "alpha_gamma_evidence",
    "alpha_gamma_auto", "oracle",
)
#: (joint method, the gamma-only baseline tuned by the same criterion): what alpha adds.
JOINT_VS_GAMMA_ONLY = (
    ("alpha_gamma_loo", "lora_gamma_loo"),
    ("alpha_gamma_kfold", "lora_gamma_kfold"),
    ("alpha_gamma_evidence", "lora_gamma_evidence"),
    ("alpha_gamma_margin", "lora_gamma_margin"),
)
#: Split policies of the honest protocol (``stratify`` True / False of :func:`linear.amazon.split`).
SPLIT_POLICIES = {True: "stratified", False: "plain permutation"}


def split_policy(stratify: bool) -> str:
    """The words written in titles and CSVs for a split policy."""
    if not isinstance(stratify, bool | np.bool_):
        raise TypeError(f"stratify must be True or False, got {stratify!r}")
    return SPLIT_POLICIES[bool(stratify)]


def method_label(name: str) -> str:
    """Human-readable column label of a method name (the name itself if unknown)."""
    if name in SPECIAL_LABELS:
        return SPECIAL_LABELS[name]
    return METHODS[name].label if name in METHODS else name


def _check_methods(methods: Iterable[str]) -> tuple[str, ...]:
    names = tuple(methods)
    allowed = tuple(METHODS) + tuple(SPECIAL_LABELS)
    for m in names:
        if m not in allowed:
            raise ValueError(f"unknown method {m!r}; allowed: {allowed}")
    return names


def source_classifier(domain: amazon.Domain, N: int, gamma_pre: float, seed: int = 0) -> np.ndarray:
    """``w̃ = argmin (1/N)‖ỹ − X̃ w‖² + gamma_pre ‖w‖²`` on N source rows, shape (p,).

    All rows when ``N >= rows`` (the Table-1 case, N = 2000); otherwise a stratified random
    subset drawn with ``default_rng(seed)`` (never the first N rows: the files are sorted by
    label, docs/theory.md §5.7).
    """
    rows = domain.n_rows
    if isinstance(N, bool) or not isinstance(N, int | np.integer) or N < 2:
        raise ValueError(f"N must be an integer >= 2, got {N!r}")
    if N >= rows:
        return ridge_fit(np.asarray(domain.X), np.asarray(domain.y), gamma_pre)
    idx, _ = amazon.split(domain.y, int(N), seed, 0)
    return ridge_fit(domain.X[idx], domain.y[idx], gamma_pre)


# ------------------------------------------------------------------------------------------
# honest protocol
# ------------------------------------------------------------------------------------------
def evaluate_split(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    source_coef: np.ndarray,
    gamma_ft: float,
    methods: Sequence[str],
    rng: np.random.Generator,
    oracle_alphas: np.ndarray = DEFAULT_ORACLE_ALPHAS,
) -> list[tuple[str, float, float, float]]:
    """Score every method on ONE split: ``[(method, alpha, gamma, honest test accuracy)]``.

    The choosers only see ``(X_train, y_train, source_coef, gamma_ft, rng)``; the test rows are
    used for scoring and, for the oracle only, for picking alpha. Source-only reports
    ``alpha = nan``.
    """
    out = []
    paths: dict[float, AffinePath] = {}

    def path(g: float) -> AffinePath:
        if g not in paths:
            paths[g] = affine_parts(X_train, y_train, source_coef, g)
        return paths[g]

    for name in methods:
        if name == "source_only":
            acc = float(np.mean(np.where(X_test @ source_coef >= 0.0, 1.0, -1.0) == y_test))
            out.append((name, float("nan"), float("nan"), acc))
        elif name == "oracle":
            accs = accuracy_path(X_test, y_test, path(gamma_ft), oracle_alphas)
            k = int(np.argmax(accs))
            out.append((name, float(oracle_alphas[k]), gamma_ft, float(accs[k])))
        else:
            alpha, g = METHODS[name].choose(X_train, y_train, source_coef, gamma_ft, rng)
            acc = float(accuracy_path(X_test, y_test, path(g), np.array([alpha]))[0])
            out.append((name, float(alpha), float(g), acc))
    return out


def honest_pair(
    source: str,
    target: str,
    *,
    n: int = 20,
    N: int = 2000,
    gamma_pre: float = 1.0,
    gamma_ft: float = 1.0,
    seeds: Sequence[int] = (1, 123, 404),
    batches: int = 10,
    methods: Sequence[str] = TABLE1_METHODS,
    oracle_alphas: np.ndarray = DEFAULT_ORACLE_ALPHAS,
    stratify: bool = True,
    data_dir: str | None = None,
) -> list[dict]:
    """Honest protocol on one ordered pair: one record per (seed, batch, method).

    Split ``(seed, batch)`` is ``amazon.split(y_target, n, seed, batch, stratify=stratify)``
    (``stratify=True``: class proportions kept; ``False``: a plain permutation); every record
    carries ``split`` (:func:`split_policy`). Randomised choosers (K-fold) get
    ``default_rng([seed, batch, 1])``.
    """
    methods = _check_methods(methods)
    policy = split_policy(stratify)
    S = amazon.load(source, data_dir)
    T = amazon.load(target, data_dir)
    w = source_classifier(S, N, gamma_pre)
    records = []
    for seed in seeds:
        for batch in range(batches):
            tr, te = amazon.split(T.y, n, seed, batch, stratify=stratify)
            rng = np.random.default_rng([seed, batch, 1])
            scored = evaluate_split(T.X[tr], T.y[tr], T.X[te], T.y[te], w, gamma_ft, methods,
                                    rng, oracle_alphas)
            for name, alpha, g, acc in scored:
                records.append({
                    "source": S.name, "target": T.name, "n": n, "N": N,
                    "gamma_pre": gamma_pre, "seed": seed, "batch": batch, "n_test": te.size,
                    "method": name, "alpha": alpha, "gamma_ft": g, "accuracy": acc,
                    "split": policy,
                })
    return records


def honest_protocol(
    pairs: Sequence[tuple[str, str]] = amazon.PAIRS,
    *,
    ns: Sequence[int] = (20,),
    n_jobs: int | None = 1,
    progress: bool = True,
    desc: str = "honest protocol",
    **kwargs: Any,
) -> list[dict]:
    """:func:`honest_pair` over ``pairs`` × ``ns`` in parallel (joblib, any backend), with a
    tqdm bar; ``kwargs`` go to :func:`honest_pair`. Returns the concatenated records."""
    tasks = [(s, t, n) for n in ns for s, t in pairs]
    gen = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(honest_pair)(s, t, n=n, **kwargs) for s, t, n in tasks
    )
    out: list[dict] = []
    for recs in tqdm(gen, total=len(tasks), disable=not progress, desc=desc, leave=False):
        out.extend(recs)
    return out


def _stats(x: np.ndarray) -> dict:
    x = np.asarray(x, dtype=float)
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return {"mean": float(x.mean()), "std": std, "sem": std / np.sqrt(x.size)}


def summarize(
    records: Sequence[dict], references: Sequence[str] = ("lora", "source_only")
) -> list[dict]:
    """Mean ± std over splits, and PAIRED differences against ``references``.

    Returns one row per (n, pair, method) plus, per (n, method), a ``pair = "average"`` row: for
    each split (seed, batch) the accuracy is averaged over the pairs, then mean / std / sem are
    taken over the splits (std ddof = 1). ``diff_<ref>_*``: the same statistics of the per-split
    difference ``acc(method) − acc(ref)`` on the same split; ``win_<ref>``: fraction of splits
    where the method is strictly better; ``alpha_mean`` / ``alpha_median`` / ``gamma_median``:
    the chosen values.
    """
    policies = {r.get("split", "") for r in records}
    if len(policies) > 1:
        raise ValueError(f"records mix split policies {sorted(policies)}; summarise them apart")
    policy = policies.pop() if policies else ""
    table: dict[tuple, dict[tuple, dict]] = {}
    for r in records:
        key = (r["n"], f"{r['source']}->{r['target']}")
        table.setdefault(key, {})[(r["seed"], r["batch"], r["method"])] = r
    rows = []
    by_n: dict[int, dict[str, dict[tuple, list]]] = {}
    for (n, pair), recs in sorted(table.items()):
        splits = sorted({(s, b) for s, b, _ in recs})
        methods = list(dict.fromkeys(m for _, _, m in recs))
        for m in methods:
            acc = np.array([recs[(s, b, m)]["accuracy"] for s, b in splits])
            alphas = np.array([recs[(s, b, m)]["alpha"] for s, b in splits])
            gammas = np.array([recs[(s, b, m)]["gamma_ft"] for s, b in splits])
            row = {"n": n, "pair": pair, "method": m, "label": method_label(m),
                   "split": policy, "n_splits": len(splits)}
            row |= {f"acc_{k}": v for k, v in _stats(acc).items()}
            for ref in references:
                if ref in methods:
                    d = acc - np.array([recs[(s, b, ref)]["accuracy"] for s, b in splits])
                    row |= {f"diff_{ref}_{k}": v for k, v in _stats(d).items()}
                    row[f"win_{ref}"] = float(np.mean(d > 0))
            row |= _alpha_stats(alphas, gammas)
            rows.append(row)
            for s, b in splits:
                per = by_n.setdefault(n, {}).setdefault(m, {})
                per.setdefault((s, b), []).append(recs[(s, b, m)])
    for n, per_method in sorted(by_n.items()):
        for m, per_split in per_method.items():
            keys = sorted(per_split)
            n_pairs = min(len(v) for v in per_split.values())
            mean_acc = np.array([np.mean([r["accuracy"] for r in per_split[k]]) for k in keys])
            row = {"n": n, "pair": "average", "method": m, "label": method_label(m),
                   "split": policy, "n_splits": len(keys), "n_pairs": n_pairs}
            row |= {f"acc_{k}": v for k, v in _stats(mean_acc).items()}
            for ref in references:
                if ref in per_method:
                    ref_acc = np.array([np.mean([r["accuracy"] for r in per_method[ref][k]])
                                        for k in keys])
                    d = mean_acc - ref_acc
                    row |= {f"diff_{ref}_{k}": v for k, v in _stats(d).items()}
                    row[f"win_{ref}"] = float(np.mean(d > 0))
            alphas = np.array([r["alpha"] for k in keys for r in per_split[k]])
            gammas = np.array([r["gamma_ft"] for k in keys for r in per_split[k]])
            row |= _alpha_stats(alphas, gammas)
            rows.append(row)
    return rows


def _grid(records: Sequence[dict], n: int, method: str) -> np.ndarray:
    """Accuracies of ``method`` at ``n`` as a (pairs, splits) array (sorted keys)."""
    acc = {(f"{r['source']}->{r['target']}", r["seed"], r["batch"]): r["accuracy"]
           for r in records if r["n"] == n and r["method"] == method}
    if not acc:
        raise ValueError(f"no records for method {method!r} at n={n}")
    pairs = sorted({k[0] for k in acc})
    splits = sorted({k[1:] for k in acc})
    return np.array([[acc[(p, *sp)] for sp in splits] for p in pairs])


def paired_bootstrap(
    records: Sequence[dict], method: str, reference: str | None, n: int, *,
    reps: int = 2000, level: float = 0.95, seed: int = 0,
) -> dict:
    """Mean of ``acc(method) − acc(reference)`` over pairs × splits at ``n`` (percentage points
    are ×100 of these fractions) with a two-way bootstrap interval.

    ``D[i, j]`` is the paired difference on pair i, split j (both methods scored on the SAME
    split). Each bootstrap replicate draws the pairs (rows) AND the splits (columns) with
    replacement, independently (pairs that share a target domain share their split indices, so
    resampling split indices as whole columns keeps that dependence), and takes the mean of the
    resampled ``D``; the interval is the percentile interval at ``level``. It therefore accounts
    for pair-to-pair variation, unlike a SEM over splits of the pair average. With
    ``reference=None`` it is the same for ``acc(method)`` itself (error bars of the study figure).
    Returns ``{"mean", "lo", "hi", "sem_splits", "n_pairs", "n_splits", "reps"}``.
    """
    D = _grid(records, n, method)
    if reference is not None:
        R = _grid(records, n, reference)
        if R.shape != D.shape:
            raise ValueError(f"{method!r} and {reference!r} were not scored on the same splits")
        D = D - R
    rng = np.random.default_rng(seed)
    P, S = D.shape
    rows = rng.integers(0, P, size=(reps, P))
    cols = rng.integers(0, S, size=(reps, S))
    # mean of D[rows][:, cols] = (1/(P S)) sum_i sum_j D[rows_i, cols_j]; via counts per index
    row_w = np.zeros((reps, P))
    col_w = np.zeros((reps, S))
    np.add.at(row_w, (np.arange(reps)[:, None], rows), 1.0)
    np.add.at(col_w, (np.arange(reps)[:, None], cols), 1.0)
    boot = np.einsum("ri,ij,rj->r", row_w, D, col_w) / (P * S)
    alpha = (1.0 - level) / 2.0
    per_split = D.mean(axis=0)
    return {"mean": float(D.mean()), "lo": float(np.quantile(boot, alpha)),
            "hi": float(np.quantile(boot, 1.0 - alpha)),
            "sem_splits": float(per_split.std(ddof=1) / np.sqrt(S)) if S > 1 else 0.0,
            "n_pairs": P, "n_splits": S, "reps": reps}


def _alpha_stats(alphas: np.ndarray, gammas: np.ndarray) -> dict:
    if np.all(np.isnan(alphas)):
        return {"alpha_mean": float("nan"), "alpha_median": float("nan"),
                "gamma_median": float("nan")}
    return {"alpha_mean": float(np.nanmean(alphas)), "alpha_median": float(np.nanmedian(alphas)),
            "gamma_median": float(np.nanmedian(gammas))}


# ------------------------------------------------------------------------------------------
# the paper's protocol (reproduction only)
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReferencePlugin:
    """The reference code's plug-in statistics (docs/theory.md §6.2 step 2), on FULL domains."""

    beta: float
    mu_s: float
    mu_perp: float
    M_s: float
    M_t: float
    c: float


def reference_plugin(
    X_source: np.ndarray, y_source: np.ndarray, X_target: np.ndarray, y_target: np.ndarray
) -> ReferencePlugin:
    """Plug-in statistics exactly as the reference code computes them — LEAKY and BIASED.

    With class means ``m̂_−, m̂_+`` of each domain (ALL rows, test rows and labels included):
    ``mû = sqrt|⟨m̂_−, m̂_+⟩|``, ``v̂ = (m̂_+ − m̂_−)/2``, ``β̂ = ⟨v̂_s, v̂_t⟩ / mû_s²``,
    ``mû_⊥ = ‖v̂_t − β̂ v̂_s‖`` (the ``mu_t = beta mu_s + mu_perp`` convention), then the
    inconsistent ``M_t = β̂² mû_s² + (1 − β̂²) mû_⊥²`` (the other convention), ``M_s = mû_s²``,
    ``c = β̂ mû_s²`` (docs/theory.md §5.3–5.5). Used only by :func:`paper_protocol`.
    """
    def class_means(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return X[y == -1].mean(axis=0), X[y == 1].mean(axis=0)

    ms_neg, ms_pos = class_means(X_source, y_source)
    mt_neg, mt_pos = class_means(X_target, y_target)
    mu_s = float(np.sqrt(abs(ms_neg @ ms_pos)))
    v_s, v_t = (ms_pos - ms_neg) / 2.0, (mt_pos - mt_neg) / 2.0
    beta = float(v_s @ v_t) / mu_s**2
    mu_perp = float(np.linalg.norm(v_t - beta * v_s))
    M_s = mu_s**2
    return ReferencePlugin(beta=beta, mu_s=mu_s, mu_perp=mu_perp, M_s=M_s,
                           M_t=beta**2 * M_s + (1.0 - beta**2) * mu_perp**2, c=beta * M_s)


def reference_alpha(stats: ReferencePlugin, *, p: int, n: int, N: int, gamma_pre: float,
                    gamma_ft: float) -> float:
    """The reference code's alpha*: the stationary point of the ridge-source theory with the
    WRONG ``‖w̃‖²`` term (``rmt.ridge`` ``variant="reference"``), nominal N and n
    (docs/theory.md §6.2 step 3, §5.1). Reproduction only."""
    return ridge.moments(stats.M_s, stats.M_t, stats.c, p, n, N, gamma_pre, gamma_ft,
                         variant="reference").stationary_point()


def symmetric_accuracy(y_true: np.ndarray, scores: np.ndarray) -> float:
    """``max(acc, 1 − acc)`` — the paper's metric, NOT an honest accuracy.

    The reference experiments report it (docs/theory.md §1.4, §5.2). It silently flips any
    classifier that is worse than chance, a decision that needs the test labels; it is computed
    here only so that :func:`paper_protocol` reproduces the paper's numbers. Every other result of
    this package is the honest accuracy.
    """
    acc = float(np.mean(np.where(scores >= 0.0, 1.0, -1.0) == y_true))
    return max(acc, 1.0 - acc)


def paper_protocol_pair(
    source: str,
    target: str,
    *,
    N: int = 2000,
    n: int = 20,
    gamma_pre: float = 1.0,
    gamma_ft: float = 1.0,
    seeds: Sequence[int] = (1, 123, 404),
    batch: int = 10,
    data_dir: str | None = None,
) -> dict:
    """The paper's Table-1 protocol on one pair, flaws included (docs/theory.md §6.2).

    1. ``w̃`` = ridge on the FIRST N rows of the standardised source (all rows for N = 2000);
    2. :func:`reference_plugin` on the full source and full target domain (leaky);
    3. ``alpha_ref`` = :func:`reference_alpha` (wrong ``‖w̃‖²``);
    4. per seed, a ``numpy.random.RandomState(seed)`` plays the role of the seeded global RNG
       (same draws, no global state touched); for alpha in (alpha_ref, 0, 1), in this order,
       ``batch`` times: ``train_test_split(X_t, y_t, train_size=n / rows)`` drawing from it, fit
       ``w_alpha`` on the training rows, score :func:`symmetric_accuracy` on the rest;
    5. per method: mean × 100 and std × 100 (ddof = 0) of the per-seed means.
    """
    S = amazon.load(source, data_dir)
    T = amazon.load(target, data_dir)
    w = ridge_fit(np.asarray(S.X[:N]), np.asarray(S.y[:N]), gamma_pre)
    stats = reference_plugin(S.X, S.y, T.X, T.y)
    p = S.X.shape[1]
    a_ref = reference_alpha(stats, p=p, n=n, N=N, gamma_pre=gamma_pre, gamma_ft=gamma_ft)
    rows = T.n_rows
    per_seed: dict[str, list[float]] = {"alpha_ref": [], "target_only": [], "lora": []}
    train_sizes = set()
    for seed in seeds:
        rs = np.random.RandomState(seed)
        for name, alpha in (("alpha_ref", a_ref), ("target_only", 0.0), ("lora", 1.0)):
            accs = []
            for _ in range(batch):
                X_tr, X_te, y_tr, y_te = train_test_split(T.X, T.y, train_size=n / rows,
                                                          random_state=rs)
                train_sizes.add(y_tr.shape[0])
                wa = affine_parts(X_tr, y_tr, w, gamma_ft).coef(alpha)
                accs.append(symmetric_accuracy(y_te, X_te @ wa))
            per_seed[name].append(float(np.mean(accs)))
    out = {"source": S.name, "target": T.name, "beta_hat": stats.beta, "alpha_ref": a_ref,
           "effective_n": sorted(train_sizes)}
    for name, vals in per_seed.items():
        v = 100.0 * np.array(vals)
        out[f"{name}_mean"] = float(v.mean())
        out[f"{name}_std"] = float(v.std())
    return out


def paper_protocol(pairs: Sequence[tuple[str, str]] = amazon.PAIRS, *, progress: bool = True,
                   **kwargs: Any) -> list[dict]:
    """:func:`paper_protocol_pair` on every pair, plus an ``average`` row (means of the per-pair
    means and stds; the reference reports per-pair rows only)."""
    rows = [paper_protocol_pair(s, t, **kwargs)
            for s, t in tqdm(pairs, disable=not progress, desc="paper protocol", leave=False)]
    avg: dict[str, Any] = {"source": "average", "target": "average"}
    for key in rows[0]:
        if key.endswith(("_mean", "_std")) or key in ("beta_hat", "alpha_ref"):
            avg[key] = float(np.mean([r[key] for r in rows]))
    return rows + [avg]


# ------------------------------------------------------------------------------------------
# Figure 3
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figure3Pair:
    """Honest accuracy-vs-alpha curve on one pair, with the plug-in theory curve.

    Attributes
    ----------
    source, target : str
    alphas : ndarray (k,)
    accuracy : ndarray (splits, k)
        Honest test accuracy, one row per shared (seed, batch) split.
    theory : rmt.Moments
        Arbitrary-source moments from the unbiased U-statistics ``M̂_t``, ``ŝ`` of the FULL target
        domain and the exact ``W = ‖w̃‖²``, at the training size n (descriptive: draws the theory
        curve, never chooses a scored alpha).
    plugin_alphas : ndarray (splits,)
        Honest per-split plug-in alpha* from the n training rows only.
    """

    source: str
    target: str
    alphas: np.ndarray
    accuracy: np.ndarray
    theory: Moments
    plugin_alphas: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return self.accuracy.mean(axis=0)

    @property
    def std(self) -> np.ndarray:
        return self.accuracy.std(axis=0, ddof=1)

    def empirical_alpha_star(self) -> float:
        """Grid argmax of the mean honest test accuracy (what the paper reports as alpha*)."""
        return float(self.alphas[int(np.argmax(self.mean))])


def figure3_pair(
    source: str,
    target: str,
    *,
    N: int = 2000,
    n: int = 40,
    gamma_pre: float = 2.0,
    gamma_ft: float = 0.1,
    alphas: np.ndarray | None = None,
    seeds: Sequence[int] = (123, 404, 1337),
    batches: int = 10,
    stratify: bool = True,
    data_dir: str | None = None,
) -> Figure3Pair:
    """Figure-3 setting (docs/theory.md §6.2) under the honest protocol: the SAME split per
    (seed, batch) for every alpha, honest accuracy; default grid ``linspace(−4, 4, 81)``;
    ``stratify``: the split policy (:func:`split_policy`)."""
    split_policy(stratify)
    a = np.linspace(-4.0, 4.0, 81) if alphas is None else np.asarray(alphas, dtype=float)
    S = amazon.load(source, data_dir)
    T = amazon.load(target, data_dir)
    w = source_classifier(S, N, gamma_pre)
    accs, plug = [], []
    for seed in seeds:
        for batch in range(batches):
            tr, te = amazon.split(T.y, n, seed, batch, stratify=stratify)
            path = affine_parts(T.X[tr], T.y[tr], w, gamma_ft)
            accs.append(accuracy_path(T.X[te], T.y[te], path, a))
            plug.append(selection.plugin_alpha(T.X[tr], T.y[tr], w, gamma_ft))
    full = arbitrary.plugin_statistics(T.X, T.y, w)
    theory = full.moments(gamma_ft, n=n)
    return Figure3Pair(S.name, T.name, a, np.array(accs), theory, np.array(plug))
