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


def test_study_help_documents_every_option(capsys):
    from deep.study import build_parser, main

    from .test_cli import _option_blocks

    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    blocks = _option_blocks(capsys.readouterr().out)
    options = [a for a in build_parser()._actions if a.option_strings and a.dest != "help"]
    assert len(options) >= 18
    for action in options:
        text = " ".join(blocks[action.option_strings[-1]].split())
        words = text.split("(default")[0].strip()
        assert len(words.split()) >= 2, (action.option_strings, text)  # a real description
        assert text.count("(default") == 1, (action.option_strings, text)


@pytest.mark.parametrize("argv, line", [
    (["--tasks", "sst3"], "error: --tasks sst3: unknown GLUE task; allowed: cola,"),
    (["--methods", "lora3"], "error: --methods lora3: unknown method; allowed: ablation_alora,"),
    (["--steps", "0"], "error: --steps 0: must be a positive integer"),
])
def test_study_cli_bad_values_are_one_line(argv, line, capsys, tmp_path):
    from deep.study import main

    assert main([*argv, "--out", str(tmp_path / "o"), "--runs", str(tmp_path / "r")]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith(line), err


def test_study_cli_out_that_is_a_file(capsys, tmp_path):
    from deep.study import main

    (tmp_path / "f").write_text("x")
    assert main(["--out", str(tmp_path / "f")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --out {tmp_path / 'f'}: is a file, not a folder; "
        "allowed: a folder you can write to (created when missing)")
