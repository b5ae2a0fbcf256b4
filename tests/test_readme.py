"""Every standalone Python snippet of the README runs as written (offline, on the CPU).

Snippets that need the reader's own data are marked ``<!-- fragment: needs your data -->`` in
the README and are only compiled."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- fragment[^>]*-->\n)?```python\n(.*?)```", re.S)


def _blocks() -> list[tuple[bool, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [(bool(m.group(1)), m.group(2)) for m in BLOCK.finditer(text)]


def test_readme_has_standalone_snippets():
    blocks = _blocks()
    assert sum(not frag for frag, _ in blocks) >= 3 and len(blocks) >= 6


@pytest.mark.parametrize("k", range(len(_blocks())))
def test_readme_snippet(k, tmp_path):
    fragment, code = _blocks()[k]
    compile(code, f"README block {k}", "exec")
    if fragment:
        return
    if "deep" in code:
        pytest.importorskip("torch")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
