"""The rescalora command line and the CSV/PNG outputs of its jobs (quick settings)."""

import csv
import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from linear import __version__
from linear.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_table1_quick(tmp_path):
    assert main(["table1", "--quick", "--batches", "1", "--n-jobs", "1", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    for name in ("table1_honest.csv", "table1_paper_protocol.csv", "table1.md", "table1.png"):
        assert (tmp_path / name).is_file(), name
    rows = read(tmp_path / "table1_honest.csv")
    assert {r["rescalora_version"] for r in rows} == {__version__}
    assert {r["method"] for r in rows} >= {"lora", "source_only", "oracle", "alpha_plugin"}
    assert any(r["pair"] == "average" for r in rows)
    assert rows[0]["n"] == "20" and rows[0]["gamma_pre"] == "1"
    with gzip.open(tmp_path / "table1_honest_splits.csv.gz", "rt") as fh:
        splits = list(csv.DictReader(fh))
    assert len(splits) == 3 * 3 * 1 * 10  # pairs x seeds x batches x methods
    assert {r["split"] for r in splits} == {"stratified"}
    assert {r["split"] for r in rows} == {"stratified"}
    assert {r["method"] for r in rows} >= {"lora_gamma_loo", "lora_gamma_evidence"}
    md = (tmp_path / "table1.md").read_text()
    assert "Paper protocol reproduced" in md and "ORACLE" in md
    assert "stratified splits" in md and "No-FT" not in md
    assert "What alpha adds once gamma is tuned" in md
    boot = read(tmp_path / "table1_honest_bootstrap.csv")
    assert {r["kind"] for r in boot} == {"accuracy", "joint - gamma-only"}


def test_table1_quick_plain_permutation_is_written_in_title_and_csv(tmp_path):
    assert main(["table1", "--quick", "--batches", "1", "--n-jobs", "1", "--out", str(tmp_path),
                 "--no-progress", "--split", "permutation"]) == 0
    rows = read(tmp_path / "table1_honest.csv")
    assert {r["split"] for r in rows} == {"plain permutation"}
    assert "plain permutation splits" in (tmp_path / "table1.md").read_text()


def test_figure1_quick(tmp_path):
    assert main(["figure1", "--quick", "--seeds", "2", "--n-jobs", "1", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    rows = read(tmp_path / "figure1_alpha_star.csv")
    assert [float(r["beta"]) for r in rows] == pytest.approx([0.2, 0.5, 0.9])
    png = (tmp_path / "figure1_accuracy_vs_alpha.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv", [["--seeds", "0"], ["nonsense"], ["--n-jobs", "0"],
                                  ["--batches", "x"]])
def test_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2


def test_default_job_is_main_job():
    args = build_parser().parse_args([])
    assert args.job == "run" and args.out == Path("figures/out") and args.n_jobs == -1


@pytest.mark.slow
def test_every_job_quick_via_console_script(tmp_path):
    exe = shutil.which("rescalora")
    cmd = [exe] if exe else [sys.executable, "-m", "linear.cli"]
    subprocess.run([*cmd, "all", "--quick", "--out", str(tmp_path), "--no-progress"],
                   check=True, cwd=ROOT)
    for name in ("figure1_accuracy_vs_alpha.png", "alpha_star_curves.png", "table1.png",
                 "figure3_amazon.png", "study_alpha_estimators.png"):
        assert (tmp_path / name).is_file(), name


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "figures").glob("*.py")))
def test_figure_scripts_quick(script, tmp_path):
    subprocess.run([sys.executable, str(ROOT / "figures" / script), "--quick", "--out",
                    str(tmp_path), "--no-progress"], check=True, cwd=ROOT)
    assert any(tmp_path.glob("*.png")) and any(tmp_path.glob("*.csv"))
