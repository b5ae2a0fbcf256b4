"""alpha-ridge transfer on frozen MiniLM sentence features (issue 15 item 4).

Pairs (source rows → target rows), labels as ±1 (deep.features.POSITIVE):

* STS-B train (score >= 3 positive) → MRPC train (paraphrase positive)
* QNLI dev (the only QNLI file offline) → RTE train (entailment positive)
* SST-2 train → CoLA train: an unrelated pair, the negative-transfer control (alpha* near 0)

Each split: at most --rows rows (default 4000) subsampled with seed 0 (deep.data.load_glue),
sentences truncated to 128 tokens, mean pooling, pairs as [u, v, |u-v|, u*v]
(deep.features); features cached as .npz under --cache (default
<rescalora cache>/features). Then, per pair and n in {20, 100, 400}, the honest Table-1
protocol (deep.features.transfer_protocol: the same splits linear.amazon.split, the same method
columns as figures/out/table1.md, plus the anisotropic plug-in), accuracy-vs-alpha curves with
the isotropic and anisotropic theory curves (source covariance, Ledoit-Wolf) and the gap
between each theory and the empirical mean.

Writes to figures/out/features/ (or --out): transfer_table.md, transfer_summary.csv,
transfer_splits.csv.gz, transfer_curves.csv, transfer_theory_gap.csv, transfer_curves.png,
embedding.csv (what was embedded, rows, seconds, cache key).

Usage: nice -n 19 python figures/features_transfer.py [--quick] [--model NAME] [--rows R]
           [--batches B] [--split stratified|permutation] [--cache DIR] [--out DIR]
           [--embed-only] [--no-progress]
``--quick``: tiny random encoder ("tiny-bert"), 60 rows per split, n in {20}, 2 batches, no
cache (seconds; what the tests run).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

#: (source task, source split, target task, target split, role)
PAIRS = (
    ("stsb", "train", "mrpc", "train", "natural: similarity → paraphrase"),
    ("qnli", "dev", "rte", "train", "natural: QA entailment → entailment"),
    ("sst2", "train", "cola", "train", "control: sentiment → acceptability (alpha* ≈ 0 expected)"),
)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--model", default=None, help="deep.models name (default minilm; quick: "
                                                  "tiny-bert)")
    p.add_argument("--rows", type=int, default=None, help="max rows per split (default 4000)")
    p.add_argument("--batches", type=int, default=None, help="splits per seed (default 10)")
    p.add_argument("--ns", type=int, nargs="+", default=None)
    p.add_argument("--split", choices=("stratified", "permutation"), default="stratified")
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--out", type=Path, default=HERE / "out" / "features")
    p.add_argument("--embed-only", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def _gz(path: Path, rows: list[dict]) -> Path:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                mtime=0) as gz, \
            io.TextIOWrapper(gz, encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    return path


def main(argv: list[str] | None = None) -> int:
    import torch

    torch.set_num_threads(1)
    from deep import features as F
    from deep.data import get_task
    from deep.models import cache_root
    from linear import protocols
    from linear.report import markdown_table, pm, write_csv

    args = parse(argv)
    quick = args.quick
    model = args.model or ("tiny-bert" if quick else "minilm")
    rows = args.rows or (60 if quick else 4000)
    batches = args.batches or (2 if quick else 10)
    ns = tuple(args.ns or ((20,) if quick else (20, 100, 400)))
    stratify = args.split == "stratified"
    cache = None if (args.no_cache or quick) else (args.cache or cache_root() / "features")
    progress = not args.no_progress
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    def say(msg: str) -> None:
        if progress:
            print(msg, flush=True)

    t0 = time.perf_counter()
    encoder, tokenizer = F.load_encoder(model)
    feats: dict[tuple[str, str], F.Features] = {}
    emb_rows = []
    for st, ss, tt, ts, _ in PAIRS:
        for task, split in ((st, ss), (tt, ts)):
            if (task, split) in feats:
                continue
            f = F.glue_features(task, split, model=model, subsample=rows, seed=0,
                                data_dir=args.data_dir, cache_dir=cache, encoder=encoder,
                                tokenizer=tokenizer, progress=progress)
            feats[(task, split)] = f
            secs = f.meta.get("seconds", f.seconds)
            say(f"[features] {task}/{split}: {f.n_rows} rows × {f.X.shape[1]} "
                f"({'cache hit' if f.cached else f'embedded in {f.seconds:.1f} s'}); {f.note}")
            emb_rows.append({"task": task, "split": split, "rows": f.n_rows,
                             "dim": int(f.X.shape[1]), "rows_note": f.note,
                             "embedding_seconds": secs, "cache_hit_this_run": f.cached,
                             "key": f.key[:16], "model": model, "max_length": f.max_length,
                             "pooling": "mean over non-padding tokens",
                             "pair_layout": "[u, v, |u-v|, u*v]" if get_task(task).is_pair
                             else "single sentence",
                             "torch_threads": 1})
    write_csv(out / "embedding.csv", emb_rows, quick=quick)
    if args.embed_only:
        say(f"[features] embedding done in {time.perf_counter() - t0:.1f} s")
        return 0

    methods = protocols.TABLE1_METHODS
    results = []
    for st, ss, tt, ts, role in PAIRS:
        fs, ft = feats[(st, ss)], feats[(tt, ts)]
        res = F.transfer_protocol(
            fs.X, F.signed_labels(st, fs.labels), ft.X, F.signed_labels(tt, ft.labels),
            source=st, target=tt, ns=ns, batches=batches, stratify=stratify,
            progress=progress)
        results.append((res, role, fs, ft))
        say(f"[transfer] {st}→{tt}: done ({time.perf_counter() - t0:.0f} s)")

    policy = protocols.split_policy(stratify)
    all_records = [r for res, *_ in results for r in res.records]
    summary = protocols.summarize(all_records)
    common = {"model": model, "rows_per_split_max": rows, "gamma_pre": 1.0,
              "gamma_ft": 1.0, "seeds": "1 123 404", "batches": batches, "split": policy,
              "quick": quick}
    paths = [_gz(out / "transfer_splits.csv.gz", all_records),
             write_csv(out / "transfer_summary.csv", summary, **common)]
    curve_rows, gap_rows = [], []
    for res, role, _fs, _ft in results:
        for c in res.curves:
            for k, a in enumerate(c.alphas):
                curve_rows.append({"source": res.source, "target": res.target, "n": c.n,
                                   "alpha": float(a), "acc_mean": float(c.mean[k]),
                                   "acc_std": float(c.std[k]),
                                   "theory_iso": float(c.theory["iso"][k]),
                                   "theory_aniso": float(c.theory["aniso"][k]),
                                   "theory_aniso_target_oracle_diagnostic":
                                       float(c.theory["aniso_target_oracle"][k]),
                                   "gaussian_given_w_diagnostic": float(c.gaussian[k]),
                                   "n_splits": c.accuracy.shape[0]})
            gap_rows.append({
                "source": res.source, "target": res.target, "role": role, "n": c.n,
                "p": res.settings["p"], "N": res.settings["N"],
                "target_rows": res.settings["rows_target"],
                "target_positive_share": res.settings["target_positive_share"],
                "alpha_min": float(c.alphas[0]), "alpha_max": float(c.alphas[-1]),
                "empirical_argmax": c.argmax, "argmax_interior": c.interior,
                "acc_at_empirical_argmax": float(c.mean.max()),
                "max_gap_iso_points": 100 * c.gap("iso"),
                "max_gap_aniso_points": 100 * c.gap("aniso"),
                "max_gap_iso_points_alpha_ge_0": 100 * c.gap("iso", nonnegative=True),
                "max_gap_aniso_points_alpha_ge_0": 100 * c.gap("aniso", nonnegative=True),
                "max_gap_aniso_target_oracle_points_diagnostic":
                    100 * c.gap("aniso_target_oracle"),
                "max_gap_gaussian_given_w_points": 100 * c.gap("gaussian"),
                "alpha_star_iso": c.alpha_star["iso"], "alpha_star_aniso": c.alpha_star["aniso"],
                "acc_at_alpha_star_iso": c.accuracy_at(c.alpha_star["iso"]),
                "acc_at_alpha_star_aniso": c.accuracy_at(c.alpha_star["aniso"]),
                "acc_at_alpha_0": c.accuracy_at(0.0), "acc_at_alpha_1": c.accuracy_at(1.0),
                "theory_rows": "all target rows (descriptive plug-in)",
                "covariance": res.covariance_origin})
    paths.append(write_csv(out / "transfer_curves.csv", curve_rows, **common))
    paths.append(write_csv(out / "transfer_theory_gap.csv", gap_rows, **common))

    # ---- markdown
    cols = list(methods) + [F.ANISO_METHOD]

    def label(m: str) -> str:
        return F.ANISO_LABEL if m == F.ANISO_METHOD else protocols.method_label(m)

    by = {(r["n"], r["pair"], r["method"]): r for r in summary}
    text = (f"# Transfer on frozen {model} features ({policy} splits)\n\n"
            "Features: mean-pooled last hidden states, sentence pairs as [u, v, |u−v|, u⊙v], "
            f"max 128 tokens; at most {rows} rows per split subsampled with seed 0 "
            "(embedding.csv). Each domain standardised with its own feature statistics "
            "(label-free); w̃ = ridge on all source rows (γ_pre = 1); γ_ft = 1 unless tuned; "
            f"splits linear.amazon.split, seeds 1 123 404 × {batches} batches, {policy}; "
            "honest test accuracy on every non-training target row.\n\n")
    for n in ns:
        head = ["pair"] + [label(m) for m in cols]
        body = []
        for res, *_ in results:
            key = f"{res.source}->{res.target}"
            body.append([key.replace("->", " → ")]
                        + [pm(by[(n, key, m)]["acc_mean"], by[(n, key, m)]["acc_std"])
                           for m in cols])
        text += (f"## n = {n}: honest accuracy (%), mean ± std over the shared splits "
                 f"({policy} splits)\n\n" + markdown_table(head, body) + "\n")
    ghead = ["pair", "n", "α grid", "empirical argmax", "max gap, isotropic (pts)",
             "max gap, anisotropic (pts)", "max gap, aniso with TARGET Σ̂ (diagnostic)",
             "max gap, Gaussian given w (diagnostic)",
             "α* iso → acc", "α* aniso → acc", "acc at argmax",
             "acc at α=0", "acc at α=1"]
    gbody = [[f"{g['source']} → {g['target']}", g["n"],
              f"[{g['alpha_min']:g}, {g['alpha_max']:g}]",
              f"{g['empirical_argmax']:.2f}" + ("" if g["argmax_interior"] else " (EDGE)"),
              f"{g['max_gap_iso_points']:.2f}", f"{g['max_gap_aniso_points']:.2f}",
              f"{g['max_gap_aniso_target_oracle_points_diagnostic']:.2f}",
              f"{g['max_gap_gaussian_given_w_points']:.2f}",
              f"{g['alpha_star_iso']:.2f} → {100 * g['acc_at_alpha_star_iso']:.2f}",
              f"{g['alpha_star_aniso']:.2f} → {100 * g['acc_at_alpha_star_aniso']:.2f}",
              f"{100 * g['acc_at_empirical_argmax']:.2f}", f"{100 * g['acc_at_alpha_0']:.2f}",
              f"{100 * g['acc_at_alpha_1']:.2f}"] for g in gap_rows]
    text += ("## Theory vs empirical accuracy-vs-α curves (mean over the shared splits; theory "
             "from ALL target rows, descriptive; anisotropic covariance from the SOURCE rows, "
             f"pooled within-class, Ledoit-Wolf; {policy} splits). The two diagnostic columns "
             "read test rows: the target's own within-class covariance, and Φ(mean/std) of each "
             "split's test scores (any Gaussian theory with exactly the right moments).\n\n"
             + markdown_table(ghead, gbody))
    text += ("\nTarget positive share: " + ", ".join(
        f"{res.target} {100 * res.settings['target_positive_share']:.1f} %"
        for res, *_ in results) + " (the theory's model x = y·μ + noise assumes balanced "
        "classes around the origin).\n")
    (out / "transfer_table.md").write_text(text)
    paths.append(out / "transfer_table.md")
    paths.append(_figure([r for r, *_ in results], out / "transfer_curves.png", model, policy))
    say(text)
    say(f"[transfer] done in {time.perf_counter() - t0:.1f} s -> "
        + ", ".join(str(p) for p in paths))
    return 0


def _figure(results: list, path: Path, model: str, policy: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from linear.plot import save

    ns = [c.n for c in results[0].curves]
    fig, axes = plt.subplots(len(results), len(ns), figsize=(4.2 * len(ns), 3.3 * len(results)),
                             squeeze=False)
    for i, res in enumerate(results):
        for j, c in enumerate(res.curves):
            ax = axes[i][j]
            sel = slice(None, None, max(1, c.alphas.shape[0] // 40))
            ax.errorbar(c.alphas[sel], 100 * c.mean[sel], yerr=100 * c.std[sel], fmt="o", ms=2.5,
                        color="C0", elinewidth=0.6, label=f"empirical ({c.accuracy.shape[0]} "
                                                          "splits)")
            ax.plot(c.alphas, 100 * c.theory["iso"], color="C1", lw=1.3,
                    label="theory, isotropic")
            ax.plot(c.alphas, 100 * c.theory["aniso"], color="C2", lw=1.3,
                    label="theory, anisotropic (source Σ̂)")
            ax.axvline(c.argmax, color="C0", ls="--", lw=0.9, label=f"argmax {c.argmax:.2f}")
            for a, col in ((c.alpha_star["iso"], "C1"), (c.alpha_star["aniso"], "C2")):
                if np.isfinite(a):
                    ax.axvline(a, color=col, ls=":", lw=1.0)
            ax.set_title(f"{res.source} → {res.target}, n = {c.n}", fontsize=9)
            ax.set_xlabel("α")
            ax.set_ylabel("honest test accuracy (%)")
            ax.legend(fontsize=6, loc="lower right")
    fig.suptitle(f"Frozen {model} features: accuracy vs α, theory lines, α* dotted; "
                 f"γ_pre = γ_ft = 1; {policy} splits", fontsize=10)
    fig.tight_layout()
    return save(fig, path)


if __name__ == "__main__":
    sys.exit(main())
