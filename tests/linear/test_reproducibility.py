"""Reproducibility of the figure/table outputs.

* ONE command regenerates everything under ``figures/out/``: ``rescalora all`` (every
  ``figures/*.py`` script is a thin wrapper around one of its jobs, and every committed output
  file is written by one of them);
* two runs with the same seeds give byte-identical CSV files, whatever the number of joblib
  workers (fast check on Figure 1 and the alpha* curves at quick sizes with 2 seeds);
* the gzip'd per-split records do not embed a timestamp (they did: gzip's header mtime);
* every CSV row carries ``rescalora_version`` and the run's parameters.

The whole ``rescalora all --quick`` run twice, compared file by file, is marked slow.
"""

from __future__ import annotations

import ast
import csv
import gzip
import re
from pathlib import Path

import pytest

from linear import __version__
from linear.cli import main
from linear.tasks import TASKS, _gz_records

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "figures"
#: figures/ scripts of the deep half (torch extra), like figures/glue/*.py: they write under
#: figures/out/<their folder>/ and are run by figures/make_all.sh, not by rescalora all.
DEEP_SCRIPTS = {"features_transfer.py"}


def _run(out: Path, jobs: list[str], n_jobs: int, seeds: int = 2) -> None:
    for job in jobs:
        assert main([job, "--quick", "--seeds", str(seeds), "--batches", "1",
                     "--n-jobs", str(n_jobs), "--out", str(out), "--no-progress"]) == 0


def _data_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.name.endswith((".csv", ".csv.gz", ".md"))}


def test_every_figure_script_is_a_job_of_rescalora_all():
    jobs = set()
    for script in sorted(FIGURES.glob("*.py")):
        if script.name in DEEP_SCRIPTS:
            continue
        calls = re.findall(r'main\(\["([\w-]+)"', script.read_text())
        assert len(calls) == 1, f"{script.name} should wrap exactly one rescalora job"
        jobs.add(calls[0])
    assert jobs <= set(TASKS), jobs - set(TASKS)
    assert set(TASKS) <= jobs, f"jobs without a figures/ script: {set(TASKS) - jobs}"


def test_every_committed_output_is_written_by_a_job():
    names = set()
    for module in ("tasks.py", "figure3.py"):  # the jobs and the Figure 3 job's own module
        source = (ROOT / "linear" / module).read_text()
        names |= {n.value for n in ast.walk(ast.parse(source))
                  if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    outputs = sorted(p.name for p in (FIGURES / "out").iterdir() if p.is_file())
    assert outputs, "figures/out is empty"
    orphans = [o for o in outputs if o not in names]
    assert not orphans, f"files in figures/out that no rescalora job writes: {orphans}"


def test_same_seeds_give_byte_identical_csvs(tmp_path):
    jobs = ["figure1", "alpha-star"]
    _run(tmp_path / "a", jobs, n_jobs=1)
    _run(tmp_path / "b", jobs, n_jobs=2)  # other worker count, same seeds
    a, b = _data_files(tmp_path / "a"), _data_files(tmp_path / "b")
    assert sorted(a) == ["alpha_star_curves.csv", "figure1_accuracy_vs_alpha.csv",
                         "figure1_alpha_star.csv"]
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], f"{name} differs between two runs with the same seeds"
    # a different number of seeds must change the numbers (the check above is not vacuous)
    _run(tmp_path / "c", ["figure1"], n_jobs=1, seeds=3)
    assert (tmp_path / "c" / "figure1_alpha_star.csv").read_bytes() != a["figure1_alpha_star.csv"]
    # every row records the version and the parameters of its run
    for name in a:
        with open(tmp_path / "a" / name, newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert rows and {r["rescalora_version"] for r in rows} == {__version__}, name
        assert {r["quick"] for r in rows} == {"True"}, name
        for key in ("p", "N", "gamma_pre"):
            assert all(r[key] != "" for r in rows), (name, key)


def test_gzip_records_have_no_timestamp(tmp_path, monkeypatch):
    records = [{"pair": "books->dvd", "method": "lora", "acc": 0.75, "label": "α = 1"}]
    first = _gz_records(tmp_path / "a.csv.gz", records, seeds="1 123 404")
    monkeypatch.setattr(gzip.time, "time", lambda: 2_000_000_000.0)  # a later clock
    second = _gz_records(tmp_path / "b.csv.gz", records, seeds="1 123 404")
    assert first.read_bytes() == second.read_bytes()
    with gzip.open(second, "rt", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [{"pair": "books->dvd", "method": "lora", "acc": "0.75", "label": "α = 1",
                     "seeds": "1 123 404", "rescalora_version": __version__}]


def _tree(root: Path, read: bool = True) -> dict[str, bytes]:
    """Every file below root, keyed by its path relative to root ('/'-separated)."""
    return {p.relative_to(root).as_posix(): (p.read_bytes() if read else b"")
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_rescalora_all_quick_twice_is_byte_identical(tmp_path):
    for d in ("a", "b"):
        assert main(["all", "--quick", "--n-jobs", "1", "--out", str(tmp_path / d),
                     "--no-progress"]) == 0
    a, b = (_tree(tmp_path / d) for d in ("a", "b"))
    assert a.keys() == b.keys()
    # the committed figures/out holds exactly what `rescalora all` writes at the top level
    # and below it (figure3/), beside the deep studies' own folders
    committed = _tree(FIGURES / "out", read=False)
    assert sorted(n for n in a if "/" not in n) == sorted(n for n in committed if "/" not in n)
    assert set(a) <= set(committed), sorted(set(a) - set(committed))
    differ = [n for n in a if n.endswith((".csv", ".csv.gz", ".md")) and a[n] != b[n]]
    assert not differ, differ
