"""Fault tests for training: a run killed at random moments (SIGKILL, also while a checkpoint is
being written) resumes from the last COMPLETE checkpoint and ends bitwise identical to a run
that was never interrupted; a partial checkpoint is never loaded."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import deep.checkpoint as ck
from deep.train import TrainConfig, train
from tests.deep.test_train import _adapter_tensors, _write_sst2


@pytest.fixture(scope="module")
def glue(tmp_path_factory) -> Path:
    return _write_sst2(tmp_path_factory.mktemp("glue"), n_train=96, n_dev=16)


def _cfg(glue: Path, out: Path, **kw) -> TrainConfig:
    base = dict(task="sst2", model="tiny-roberta", adapter="alpha_lora", rank=2, max_steps=24,
                batch_size=8, lr=1e-2, alpha_every=3, alpha_batch_size=8, data_dir=str(glue),
                out=str(out), checkpoint_every=1, keep_checkpoints=2, num_threads=1,
                max_length=32, lora_dropout=0.1)
    base.update(kw)
    return TrainConfig.from_flat(**base)


def _assert_same_run(a: Path, b: Path) -> None:
    ta, tb = _adapter_tensors(a), _adapter_tensors(b)
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    assert (a / "metrics.csv").read_bytes() == (b / "metrics.csv").read_bytes()


@pytest.mark.parametrize("where", ["tensors", "manifest", "rename", "latest"])
def test_crash_inside_a_checkpoint_write_resumes_from_the_previous_one(glue, tmp_path, monkeypatch, where):
    """Interrupt the 7th checkpoint write at four points of the protocol (after the tensors file,
    after the manifest, at the directory rename, at the LATEST update)."""
    ref = tmp_path / "ref"
    train(_cfg(glue, ref), progress=False)
    calls = {"n": 0}

    class Crash(BaseException):
        pass

    real_save_file, real_replace, real_write_json = ck.save_file, ck.os.replace, ck._write_json_atomic

    def arm() -> bool:
        return calls["n"] == 7

    def save_file(*a, **k):
        calls["n"] += 1
        real_save_file(*a, **k)
        if where == "tensors" and arm():
            raise Crash

    def replace(src, dst):
        if where == "rename" and arm() and Path(dst).name.startswith("step-"):
            raise Crash
        return real_replace(src, dst)

    def write_json(path, obj):
        if where == "latest" and arm():
            Path(path).with_name(".LATEST.partial").write_text('{"step": 7, "di')  # torn write
            raise Crash
        return real_write_json(path, obj)

    real_dump = ck.json.dump

    def dump(obj, f, *a, **k):
        if where == "manifest" and arm() and getattr(f, "name", "").endswith("MANIFEST.json"):
            f.write('{"tensors.safetensors": "')  # half-written manifest
            raise Crash
        return real_dump(obj, f, *a, **k)

    monkeypatch.setattr(ck, "save_file", save_file)
    monkeypatch.setattr(ck.os, "replace", replace)
    monkeypatch.setattr(ck, "_write_json_atomic", write_json)
    monkeypatch.setattr(ck.json, "dump", dump)
    out = tmp_path / "crashed"
    with pytest.raises(Crash):
        train(_cfg(glue, out), progress=False)
    monkeypatch.undo()
    newest = ck.latest_complete(out / "checkpoints")
    # the interrupted write was step 7 unless it had completed before the crash point
    expected = 7 if where == "latest" else 6
    assert newest is not None and newest.name == f"step-{expected:09d}"
    train(_cfg(glue, out), resume=True, progress=False)
    _assert_same_run(ref, out)


def test_sigkill_at_random_moments_always_resumes_exactly(glue, tmp_path):
    """SIGKILL a `python -m deep train` process 3 times at random moments while it writes a
    checkpoint every step, then let it finish with --resume: identical to an uninterrupted run."""
    ref = tmp_path / "ref"
    cfg = _cfg(glue, ref, max_steps=40)
    train(cfg, progress=False)
    out = tmp_path / "killed"
    args = [sys.executable, "-m", "deep", "train", "--no-progress", "--resume"]
    for name, v in cfg.to_flat().items():  # the CLI's flat spelling of the config tree
        if name == "out":
            v = str(out)
        if v is None or isinstance(v, dict) and not v:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(v, bool):
            args.append(flag if v else "--no-" + name.replace("_", "-"))
        elif isinstance(v, tuple):
            args += [flag, *map(str, v)]
        else:
            args += [flag, str(v)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = random.Random(1234)
    kills = 0
    steps_at_kill = []
    for _ in range(3):
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        root = out / "checkpoints"
        start_step = ck.latest_complete(root)
        start = int(start_step.name.split("-")[1]) if start_step else 0
        target = start + rng.randint(2, 6)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            latest = ck.latest_complete(root)
            if latest is not None and int(latest.name.split("-")[1]) >= target:
                time.sleep(rng.uniform(0.0, 0.15))  # land anywhere, also inside a write
                break
            time.sleep(0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            latest = ck.latest_complete(root)
            steps_at_kill.append(int(latest.name.split("-")[1]) if latest else 0)
        else:
            assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
    assert kills >= 2, f"the run finished before it could be killed ({steps_at_kill})"
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    print(f"killed {kills} times; newest complete checkpoint at each kill: {steps_at_kill}")
    _assert_same_run(ref, out)
