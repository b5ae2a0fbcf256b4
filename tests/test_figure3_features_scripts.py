"""The Figure 3 anisotropic extension and the frozen-feature transfer script, end to end on
small settings (quick: 3 Amazon pairs, 1 batch; tiny random encoder, 60 rows per split)."""

from __future__ import annotations

import csv
import gzip
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem + "_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("split", ["stratified", "permutation"])
def test_figure3_extension_small(tmp_path, split):
    from linear import figure3 as fig3

    fig3.extend(tmp_path, quick=True, batches=1, stratify=split == "stratified", progress=False)
    words = "stratified" if split == "stratified" else "plain permutation"
    curve = _rows(tmp_path / "figure3_amazon.csv")
    for col in ("acc_theory", "acc_theory_aniso", "acc_theory_aniso_noshrink",
                "acc_theory_aniso_target_oracle", "gaussian_given_w", "split"):
        assert col in curve[0], col
    assert {r["split"] for r in curve} == {words}
    stars = _rows(tmp_path / "figure3_alpha_star.csv")
    assert [(r["source"], r["target"]) for r in stars] == list(fig3.PAPER_PAIRS)
    for r in stars:
        assert r["argmax_interior"] == "True"  # the widened grid reaches past the argmax
        assert float(r["max_gap_aniso_points"]) >= float(r["max_gap_aniso_points_alpha_ge_0"])
        assert 0.5 < float(r["acc_at_empirical_argmax"]) < 1.0
        assert float(r["acc_at_alpha_star_aniso"]) <= float(r["acc_at_empirical_argmax"])
    md = (tmp_path / "figure3" / "figure3_theory_gap.md").read_text()
    assert f"({words} splits)" in md and "mean / worst pair" in md
    assert (tmp_path / "figure3_amazon.png").stat().st_size > 10_000


def test_features_transfer_script_tiny_encoder(tmp_path):
    tr = _script(ROOT / "figures" / "features_transfer.py")
    assert tr.main(["--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"transfer_table.md", "transfer_summary.csv", "transfer_splits.csv.gz",
            "transfer_curves.csv", "transfer_theory_gap.csv", "transfer_curves.png",
            "embedding.csv"} <= names
    with gzip.open(tmp_path / "transfer_splits.csv.gz", "rt", newline="") as fh:
        recs = list(csv.DictReader(fh))
    from linear.protocols import TABLE1_METHODS

    assert {r["method"] for r in recs} == set(TABLE1_METHODS) | {"alpha_plugin_aniso"}
    assert {(r["source"], r["target"]) for r in recs} == {("stsb", "mrpc"), ("qnli", "rte"),
                                                         ("sst2", "cola")}
    assert {r["split"] for r in recs} == {"stratified"}
    gap = _rows(tmp_path / "transfer_theory_gap.csv")
    assert all(float(g["max_gap_iso_points"]) >= 0 and float(g["max_gap_aniso_points"]) >= 0
               for g in gap)
    curves = _rows(tmp_path / "transfer_curves.csv")
    assert {"theory_iso", "theory_aniso", "acc_mean", "split"} <= set(curves[0])
    md = (tmp_path / "transfer_table.md").read_text()
    assert "stratified splits" in md and "α-LoRA, anisotropic plug-in" in md
    emb = _rows(tmp_path / "embedding.csv")
    assert {e["task"] for e in emb} == {"stsb", "mrpc", "qnli", "rte", "sst2", "cola"}
    assert all(int(e["rows"]) == 60 for e in emb)
