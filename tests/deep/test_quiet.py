"""``import deep`` drops torchao's GPU-kernel import noise and nothing else."""

import importlib.util
import logging
import subprocess
import sys

import pytest

from deep._quiet import GpuKernelNoise


def _record(name, msg):
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, None, None)


def test_filter_drops_only_the_gpu_kernel_lines():
    f = GpuKernelNoise()
    assert not f.filter(_record("torchao", "Failed to load /x/torchao/_C_mxfp8.so: Could not load"))
    assert not f.filter(_record("torch.utils._pytree", "<enum 'K'> is an Enum subclass and is now "
                                "natively supported by torch.compile as an opaque value type."))
    assert f.filter(_record("torchao", "Int8WeightOnlyConfig is deprecated"))
    assert f.filter(_record("torchao", "Failed to quantize layer 3"))


@pytest.mark.skipif(importlib.util.find_spec("torchao") is None, reason="the quant extra is not installed")
def test_import_deep_then_peft_is_quiet():
    done = subprocess.run([sys.executable, "-c", "import deep, peft, torchao"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Failed to load" not in done.stderr and "Enum subclass" not in done.stderr, done.stderr
