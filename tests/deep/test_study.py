"""deep.study on a tiny model: every (task, method, seed) run is made once, reused on a rerun,
and summarised with mean ± std that match the per-run rows."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from deep.study import METHODS, run_study
from deep.train import TrainConfig
from tests.deep.test_train import _write_sst2


def test_study_runs_reuses_and_summarises(tmp_path):
    glue = _write_sst2(tmp_path / "glue", n_train=64, n_dev=24)
    base = TrainConfig.from_flat(task="sst2", model="tiny-roberta", max_steps=3, batch_size=8, rank=2,
                                 data_dir=str(glue), num_threads=1, max_length=32)
    rows = run_study(["sst2"], ["lora", "alpha_lora"], [0, 1], base, tmp_path / "runs",
                     tmp_path / "out", progress=False)
    assert [(r["method"], r["seed"]) for r in rows] == [("lora", 0), ("lora", 1),
                                                        ("alpha_lora", 0), ("alpha_lora", 1)]
    summaries = sorted((tmp_path / "runs").rglob("summary.json"))
    assert len(summaries) == 4
    stamps = [p.stat().st_mtime_ns for p in summaries]
    again = run_study(["sst2"], ["lora", "alpha_lora"], [0, 1], base, tmp_path / "runs",
                      tmp_path / "out", progress=False)
    assert [p.stat().st_mtime_ns for p in summaries] == stamps  # reused, not retrained
    def strip(r):  # alpha_mean is NaN (never equal to itself) for methods without alpha
        return {k: v for k, v in r.items() if not (k == "alpha_mean" and np.isnan(v))}

    assert [strip(r) for r in again] == [strip(r) for r in rows]
    with open(tmp_path / "out" / "glue_study.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4 and all(r["rescalora_version"] for r in table)
    md = (tmp_path / "out" / "glue_study.md").read_text()
    acc = np.array([r["dev_accuracy"] for r in rows if r["method"] == "alpha_lora"])
    assert f"{100 * acc.mean():.2f} ± {100 * acc.std(ddof=1):.2f}" in md
    assert (tmp_path / "out" / "glue_study.png").stat().st_size > 1000
    assert rows[0]["alpha_params"] == 0 and rows[2]["alpha_params"] > 0


def test_study_rejects_unknown_methods(tmp_path):
    base = TrainConfig(task="sst2")
    with pytest.raises(ValueError, match=r"methods=\['lora3'\] are invalid; allowed"):
        run_study(["sst2"], ["lora3"], [0], base, tmp_path, tmp_path)
    assert {"lora", "alpha_lora", "loft_r1", "adalora", "lora2", "alora"} <= set(METHODS)
