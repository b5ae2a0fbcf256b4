"""The runnable examples (examples/*.py) on the CPU, offline, for a handful of steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("accelerate")

ROOT = Path(__file__).resolve().parents[1]
GLUE = (ROOT / ".." / "shared" / "data" / "glue").resolve()
SCRIPT = ROOT / "examples" / "accelerate_alpha_lora.py"
SMALL = ["--max-steps", "9", "--alpha-every", "4", "--subsample", "120", "--dev-subsample", "32",
         "--batch-size", "8", "--alpha-batch-size", "8", "--max-length", "48",
         "--data-dir", str(GLUE)]


def run(cmd, **env):
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
                "PYTHONPATH": str(ROOT), **env}
    proc = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, proc.stdout[-2000:]  # the main process prints one summary
    return json.loads(lines[0])


def check(summary, processes):
    assert summary["processes"] == processes and summary["steps"] == 9
    assert summary["alpha_rows"] == 24 and summary["adapter_rows"] == 96  # 20 % of 120 rows
    assert summary["alpha_steps"] == [0, 4, 8]  # k % T == 0
    assert summary["alpha_min"] < 1.0 < summary["alpha_max"]  # alpha moved from its init 1
    assert summary["alpha_same_on_all_processes"] and summary["alpha_dtype"] == "torch.float32"
    assert 0.0 <= summary["dev_accuracy"] <= 1.0 and summary["dev_rows"] == 32


@pytest.mark.skipif(not GLUE.is_dir(), reason="shared GLUE folder missing")
def test_accelerate_example_one_cpu_process(tmp_path):
    out = tmp_path / "summary.json"
    summary = run([sys.executable, "-m", "accelerate.commands.launch", "--cpu",
                   "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
                   "--dynamo_backend", "no", str(SCRIPT), *SMALL, "--output", str(out)])
    check(summary, 1)
    assert json.loads(out.read_text()) == summary


@pytest.mark.slow
@pytest.mark.skipif(not GLUE.is_dir(), reason="shared GLUE folder missing")
def test_accelerate_example_two_cpu_processes_keep_identical_alphas():
    summary = run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                   "--master_port", "29531", str(SCRIPT), *SMALL, "--mixed-precision", "bf16"],
                  ACCELERATE_USE_CPU="1")
    check(summary, 2)
