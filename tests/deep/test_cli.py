"""Issue 16 item 4 (CLI parts): ``python -m deep`` reports a bad argument in ONE line naming the
argument, the value and what is allowed, exits with code 2 and shows no traceback; ``--help``
shows each default once; transformers' "classifier MISSING" load report is replaced by one line
of ours for a new head and nothing when a saved head is restored; ``--resume`` says which
checkpoint it continues from (and which corrupted newer one it skipped).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from deep.__main__ import build_parser, main

from .test_train import _write_sst2

TINY = ["--model", "tiny-roberta", "--max-steps", "2", "--batch-size", "8", "--no-progress",
        "--num-threads", "1", "--max-length", "32"]


@pytest.fixture(scope="module")
def glue(tmp_path_factory) -> Path:
    return _write_sst2(tmp_path_factory.mktemp("glue_cli"), n_train=40, n_dev=16)


def _error_line(capsys, rc) -> str:
    captured = capsys.readouterr()
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert rc == 2, captured.err
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def _train(*extra: str) -> int:
    return main(["train", "--task", "sst2", *TINY, *extra])


# ---------------------------------------------------------------------------- one-line errors
def test_missing_data_dir(tmp_path, capsys):
    rc = _train("--data-dir", str(tmp_path / "no_glue"), "--out", str(tmp_path / "o"))
    line = _error_line(capsys, rc)
    assert line.startswith(f"error: --data-dir {tmp_path / 'no_glue'}: no such folder; allowed: ")
    assert "SST-2/train.tsv" in line
    assert not (tmp_path / "o").exists()  # nothing created before the checks passed


def test_header_only_tsv(tmp_path, capsys):
    (tmp_path / "g" / "SST-2").mkdir(parents=True)
    for name in ("train.tsv", "dev.tsv"):
        (tmp_path / "g" / "SST-2" / name).write_text("sentence\tlabel\n")
    rc = _train("--data-dir", str(tmp_path / "g"), "--out", str(tmp_path / "o"))
    line = _error_line(capsys, rc)
    assert line.startswith(f"error: --data-dir {tmp_path / 'g'}: ")
    assert "train.tsv has no data rows after the header; allowed: a TSV with at least one row" in line


def test_header_only_tsv_in_the_library_is_a_format_error(tmp_path):
    from deep.data import GlueFormatError, read_glue_tsv

    f = tmp_path / "train.tsv"
    f.write_text("sentence\tlabel\n\n")
    with pytest.raises(GlueFormatError, match="no data rows after the header; allowed"):
        read_glue_tsv(f, "sst2")


def test_empty_model_folder(glue, tmp_path, capsys):
    (tmp_path / "m").mkdir()
    rc = main(["train", "--task", "sst2", *TINY, "--model", str(tmp_path / "m"),
               "--data-dir", str(glue), "--out", str(tmp_path / "o")])
    line = _error_line(capsys, rc)
    assert line.startswith(f"error: --model {tmp_path / 'm'}: ")
    assert "no model files (needs config.json" in line and "allowed: a short name" in line


def test_unknown_extra_key(glue, tmp_path, capsys):
    rc = _train("--data-dir", str(glue), "--out", str(tmp_path / "o"), "--extra", "shared_alpha=true")
    line = _error_line(capsys, rc)
    assert line.startswith("error: --extra shared_alpha=True: unknown AdapterConfig option")
    assert "allowed: KEY=VALUE with KEY one of [" in line and "'share_alpha'" in line
    rc = _train("--data-dir", str(glue), "--out", str(tmp_path / "o"), "--extra", "rank=2")
    assert "rank has its own flag, --rank" in _error_line(capsys, rc)


def test_out_that_is_a_file(glue, tmp_path, capsys):
    f = tmp_path / "results.txt"
    f.write_text("keep me\n")
    rc = _train("--data-dir", str(glue), "--out", str(f))
    line = _error_line(capsys, rc)
    assert line == (f"error: --out {f}: is a file, not a folder; allowed: a folder you can write "
                    "to (created when missing)")
    assert f.read_text() == "keep me\n"
    rc = _train("--data-dir", str(glue), "--out", str(f / "sub"))
    assert f"{f} is a file, not a folder" in _error_line(capsys, rc)


def test_unwritable_out(glue, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes here")
        rc = _train("--data-dir", str(glue), "--out", str(locked / "run"))
        line = _error_line(capsys, rc)
        assert line.startswith(f"error: --out {locked / 'run'}: not writable (")
        assert line.endswith("allowed: a folder you can write to (created when missing)")
    finally:
        locked.chmod(0o700)


def test_unwritable_out_reported_from_the_write_probe(glue, tmp_path, capsys, monkeypatch):
    """The same path as above, reached as root too: the probe write fails with EACCES."""
    import deep.cli

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(deep.cli.tempfile, "TemporaryFile", refuse)
    rc = _train("--data-dir", str(glue), "--out", str(tmp_path / "run"))
    line = _error_line(capsys, rc)
    assert line == (f"error: --out {tmp_path / 'run'}: not writable (Permission denied); allowed: "
                    "a folder you can write to (created when missing)")


def test_unknown_hub_name_offline(glue, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rc = main(["train", "--task", "sst2", *TINY, "--model", "nobody/no-such-model",
               "--data-dir", str(glue), "--out", str(tmp_path / "o")])
    line = _error_line(capsys, rc)
    assert line.startswith("error: --model nobody/no-such-model: ")
    assert "offline" in line and "pass a short name or a local folder" in line


def test_eval_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    rc = main(["eval", "--run", str(tmp_path)])
    line = _error_line(capsys, rc)
    assert line.startswith(f"error: --run {tmp_path}: not a training run folder (no config.json)")


def test_no_traceback_from_the_real_command(tmp_path):
    (tmp_path / "SST-2").mkdir()
    for name in ("train.tsv", "dev.tsv"):
        (tmp_path / "SST-2" / name).write_text("sentence\tlabel\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "deep", "train", "--task", "sst2", *TINY,
                           "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2
    assert [ln for ln in done.stderr.splitlines() if ln.strip()] == [
        f"error: --data-dir {tmp_path}: {tmp_path / 'SST-2' / 'train.tsv'} has no data rows after "
        "the header; allowed: a TSV with at least one row"]


# ---------------------------------------------------------------------------- --help
def _option_blocks(text: str) -> dict[str, str]:
    """``--flag`` -> its help text (continuation lines joined) from argparse's output."""
    blocks: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^  (-[-\w]+(?:, --[-\w]+)?)(.*)$", line)
        if m:
            current = m.group(1).split(", ")[-1]
            blocks[current] = m.group(2)
        elif current is not None and line.startswith(" " * 4):
            blocks[current] += " " + line.strip()
        elif not line.strip() or not line.startswith(" "):
            current = None
    return blocks


@pytest.mark.parametrize("command", ["train", "eval"])
def test_help_shows_each_default_once(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    blocks = _option_blocks(capsys.readouterr().out)
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    checked = 0
    for action in sub._actions:
        if action.dest == "help" or not action.option_strings:
            continue
        flag = next(s for s in action.option_strings if s.startswith("--"))
        flag = action.option_strings[-1] if flag not in blocks else flag
        text = " ".join(blocks[flag].split())
        n = text.count("(default")
        if action.required or action.default is None:
            assert n <= 1, (flag, text)
        else:
            assert n == 1, (flag, text)
            shown = re.search(r"\(default: (.*)\)$", text)
            assert shown is not None, (flag, text)
            want = str(action.default)
            assert " ".join(shown.group(1).split()) == " ".join(want.split()), (flag, text)
            checked += 1
    assert checked >= (20 if command == "train" else 3)


# ---------------------------------------------------------------------------- head messages
class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def hf_report():
    """transformers' load-report warnings (its logger does not propagate to caplog's root)."""
    rec = _Records()
    logger = logging.getLogger("transformers.modeling_utils")
    logger.addHandler(rec)
    yield rec
    logger.removeHandler(rec)


def test_new_head_is_one_line_of_ours_and_a_restored_head_is_silent(glue, tmp_path, capsys,
                                                                      hf_report):
    out = tmp_path / "run"
    rc = main(["train", "--task", "sst2", *TINY, "--model", "minilm", "--data-dir", str(glue),
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0
    assert "MISSING" not in err and "LOAD REPORT" not in err and "Consider training" not in err
    heads = [ln for ln in err.splitlines() if "new task head" in ln]
    assert heads == [ln for ln in err.splitlines() if ln.strip()]  # nothing else on stderr
    assert len(heads) == 1 and heads[0].startswith("new task head classifier (2 outputs, seed 0)")
    rc = main(["eval", "--run", str(out)])
    captured = capsys.readouterr()
    assert rc == 0 and captured.err.strip() == ""
    assert hf_report.messages == []  # transformers' report held back on both loads


def test_library_load_report(tmp_path, caplog, hf_report):
    """load_model: our INFO line for a new head; silence for a folder whose head is saved;
    transformers' report still shown when base weights are missing."""
    from safetensors.torch import load_file, save_file

    from deep.models import load_model, tiny_model

    tiny_model("roberta", 2, 0).save_pretrained(tmp_path / "with_head")
    config = (tmp_path / "with_head" / "config.json").read_text()
    with caplog.at_level(logging.INFO, logger="deep.models"):
        load_model(tmp_path / "with_head", 2)
    assert not [r for r in caplog.records if "new task head" in r.getMessage()]
    assert not [m for m in hf_report.messages if "LOAD REPORT" in m]

    # the same weights without the head: one INFO line, no report
    weights = load_file(str(tmp_path / "with_head" / "model.safetensors"))
    (tmp_path / "no_head").mkdir()
    (tmp_path / "no_head" / "config.json").write_text(config)
    save_file({k: v for k, v in weights.items() if not k.startswith("classifier.")},
              str(tmp_path / "no_head" / "model.safetensors"), metadata={"format": "pt"})
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="deep.models"):
        load_model(tmp_path / "no_head", 2, seed=3)
    lines = [r.getMessage() for r in caplog.records if r.name == "deep.models"]
    assert len(lines) == 1 and lines[0].startswith("new task head classifier (2 outputs, seed 3)")
    assert not [m for m in hf_report.messages if "LOAD REPORT" in m]

    # a base weight missing too: transformers' own report is not hidden
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text(config)
    drop = next(k for k in weights if k.endswith("query.weight"))
    save_file({k: v for k, v in weights.items() if k != drop and not k.startswith("classifier.")},
              str(tmp_path / "broken" / "model.safetensors"), metadata={"format": "pt"})
    load_model(tmp_path / "broken", 2)
    reports = [m for m in hf_report.messages if "LOAD REPORT" in m]
    assert len(reports) == 1 and drop in reports[0]


# ---------------------------------------------------------------------------- --resume
def test_resume_names_the_checkpoint_and_a_skipped_corrupted_one(glue, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "--task", "sst2", *TINY[:2], "--max-steps", "4", "--batch-size", "8",
            "--no-progress", "--num-threads", "1", "--max-length", "32", "--data-dir", str(glue),
            "--out", str(out), "--checkpoint-every", "1", "--keep-checkpoints", "3"]
    assert main([*base, "--stop-after", "3"]) == 0
    capsys.readouterr()
    ckpts = out / "checkpoints"
    newest = ckpts / "step-000000003"
    (newest / "optim.pt").write_bytes(b"not a checkpoint")
    assert main([*base, "--resume"]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert err[0].startswith(f"warning: --resume: skipped {newest} (") and "checksum" in err[0]
    assert err[1] == f"--resume: continuing from {ckpts / 'step-000000002'} (step 2)"
    assert len(err) == 2
    fresh = tmp_path / "fresh"
    assert main([*base[:-6], "--out", str(fresh), "--resume"]) == 0
    err = capsys.readouterr().err
    assert f"--resume: no complete checkpoint under {fresh / 'checkpoints'}; starting a new run" in err
