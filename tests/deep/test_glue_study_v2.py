"""figures/glue/glue_study_v2.py end to end on a tiny random model, and its confidence interval
against scipy."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from .test_train import glue  # noqa: F401  (fixture)

SCRIPT = Path(__file__).resolve().parents[2] / "figures" / "glue" / "glue_study_v2.py"


def _module():
    spec = importlib.util.spec_from_file_location("glue_study_v2", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def test_paired_ci_matches_scipy():
    d = np.array([0.8, -0.3, 1.1, 0.4, 0.2])
    m, lo, hi = _module().paired_ci(d)
    ref = stats.ttest_1samp(d, 0.0).confidence_interval(0.95)
    assert m == pytest.approx(d.mean()) and lo == pytest.approx(ref.low) and hi == pytest.approx(ref.high)
    a, b = np.array([0.81, 0.79, 0.84]), np.array([0.80, 0.80, 0.82])
    ref2 = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert _module().paired_ci(a - b)[1:] == pytest.approx((ref2.low, ref2.high))


def test_head_lr_reaches_every_run_of_the_study(glue, tmp_path):  # noqa: F811
    """--head-lr is one recipe for all methods and trials: in every run's config.json, in the
    head_lr column of runs.csv and stated in summary.md."""
    import json

    rc = _module().main(["--model", "tiny-roberta", "--tasks", "sst2", "--methods", "lora_gauss",
                         "full", "--seeds", "1", "--steps", "2", "--rank", "2", "--batch-size", "8",
                         "--head-lr", "0.03", "--data-dir", str(glue), "--runs", str(tmp_path / "runs"),
                         "--out", str(tmp_path / "out"), "--no-progress"])
    assert rc == 0
    configs = sorted((tmp_path / "runs").rglob("config.json"))
    assert len(configs) == 2 * 3 + 2  # 3 tuning trials + 1 seed per method
    assert {json.loads(c.read_text())["head_lr"] for c in configs} == {0.03}
    with (tmp_path / "out" / "runs.csv").open() as f:
        assert {r["head_lr"] for r in csv.DictReader(f)} == {"0.03"}
    assert "sst2: task head at its own AdamW lr 0.03" in (tmp_path / "out" / "summary.md").read_text()
    assert _module().main(["--combine", str(tmp_path / "out"), "--out", str(tmp_path / "merged")]) == 0
    assert "sst2: task head at its own AdamW lr 0.03" in (tmp_path / "merged" / "summary.md").read_text()


def test_study_runs_end_to_end_on_a_tiny_model(glue, tmp_path):  # noqa: F811
    rc = _module().main(["--model", "tiny-roberta", "--tasks", "sst2", "--methods", "lora_gauss",
                         "alpha_lora", "--seeds", "2", "--steps", "3", "--rank", "2", "--batch-size", "8",
                         "--data-dir", str(glue), "--runs", str(tmp_path / "runs"),
                         "--out", str(tmp_path / "out"), "--no-progress"])
    assert rc == 0
    with (tmp_path / "out" / "runs.csv").open() as f:
        runs = list(csv.DictReader(f))
    assert list(runs[0])[:8] == ["task", "method", "seed", "protocol", "metric", "value", "steps",
                                 "alpha_moved"]
    assert len(runs) == 2 * 2 * 2  # methods x seeds x protocols
    assert {r["model"] for r in runs} == {"tiny-roberta"}
    # a second model has its own run tree under --runs (never reuses the first model's runs)
    assert (tmp_path / "runs" / "cpu" / "tiny-roberta" / "final").is_dir()
    for r in runs:  # the paper protocol picks the best periodic dev score: never below honest
        if r["protocol"] == "paper":
            honest = next(h for h in runs if h["protocol"] == "honest" and h["method"] == r["method"]
                          and h["seed"] == r["seed"])
            assert float(r["value"]) >= float(honest["value"])
    with (tmp_path / "out" / "summary.csv").open() as f:
        summary = list(csv.DictReader(f))
    assert {"task", "method", "n_seeds", "mean", "std", "majority_baseline", "diff_vs_lora", "ci_low",
            "ci_high"} <= set(summary[0])
    with (tmp_path / "out" / "tuning.csv").open() as f:
        tuning = list(csv.DictReader(f))
    # the same number of trials for every method, chosen on the validation split
    counts = {m: sum(r["method"] == m for r in tuning) for m in ("lora_gauss", "alpha_lora")}
    assert counts["lora_gauss"] == counts["alpha_lora"] == 3
    assert all(r["val_metric"].startswith("val_") for r in tuning)
    assert (tmp_path / "out" / "glue_v2.png").read_bytes()[:4] == b"\x89PNG"
    # --combine rebuilds the same tables from the output folder alone (no run is started)
    assert _module().main(["--combine", str(tmp_path / "out"), "--out", str(tmp_path / "merged"),
                           "--runs", str(tmp_path / "no-runs-here")]) == 0
    assert not (tmp_path / "no-runs-here").exists()
    with (tmp_path / "merged" / "summary.csv").open() as f:
        merged = list(csv.DictReader(f))
    assert [(r["method"], r["protocol"], r["n_seeds"]) for r in merged] == [
        (r["method"], r["protocol"], r["n_seeds"]) for r in summary]
    for a, b in zip(merged, summary, strict=True):
        for k in ("mean", "std", "diff_vs_lora", "ci_low", "ci_high", "majority_baseline"):
            assert float(a[k]) == pytest.approx(float(b[k]), nan_ok=True), k
    with pytest.raises(SystemExit, match="no runs.csv"):
        _module().main(["--combine", str(tmp_path), "--out", str(tmp_path / "m2")])
    other = tmp_path / "other"  # the same tables relabelled as another model: refuse to pool them
    other.mkdir()
    for name in ("runs.csv", "summary.csv"):
        text = (tmp_path / "out" / name).read_text()
        (other / name).write_text(text.replace("tiny-roberta", "tiny-llama"))
    with pytest.raises(SystemExit, match="several models"):
        _module().main(["--combine", str(tmp_path / "out"), str(other), "--out", str(tmp_path / "m3")])


def test_reach_curves_tabulates_pilots_against_the_majority_baseline(glue, tmp_path):  # noqa: F811
    spec = importlib.util.spec_from_file_location("reach_curves", SCRIPT.parent / "reach_curves.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    from deep.data import load_glue

    train_y, dev_y = load_glue("sst2", "train", str(glue)).labels, load_glue("sst2", "dev", str(glue)).labels
    major = max(set(train_y), key=list(train_y).count)
    base = float(np.mean([y == major for y in dev_y]))  # the constant predictor, by hand
    run = tmp_path / "runs" / "sst2"
    run.mkdir(parents=True)
    history = [{"step": 150, "dev_accuracy": base + 0.01, "val_accuracy": 0.5},
               {"step": 300, "dev_accuracy": base + 0.06, "val_accuracy": 0.6}]
    (run / "metrics.json").write_text(__import__("json").dumps(history))
    assert mod.main(["--tasks", "sst2", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "o"),
                     "--data-dir", str(glue), "--no-run"]) == 0
    with (tmp_path / "o" / "reach.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["clears"] for r in rows] == ["False", "True"]
    assert float(rows[0]["majority"]) == pytest.approx(base)
    assert (tmp_path / "o" / "reach.png").read_bytes()[:4] == b"\x89PNG"
    assert "300: " + f"{100 * (base + 0.06):.1f} (60.0)" in (tmp_path / "o" / "reach.md").read_text()
    assert mod.main(["--tasks", "sst2", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "h"),
                     "--data-dir", str(glue), "--no-run", "--head-lr", "0.05"]) == 0
    assert "task head at lr 0.05" in (tmp_path / "h" / "reach.md").read_text()
    assert mod.pilot_config("mrpc", 300, tmp_path, None, 0.05)["head_lr"] == 0.05
