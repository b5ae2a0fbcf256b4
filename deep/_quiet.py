"""Logging filters installed when ``deep`` is imported (before torchao can be)."""

import logging


class GpuKernelNoise(logging.Filter):
    """Drop torchao's import-time lines about GPU-only kernels (``Failed to load ..._C_*.so``)
    and torch's ``<enum ...> is an Enum subclass`` notes they trigger: on a CPU they say
    nothing actionable, and ``import peft`` imports torchao whenever it is installed (the
    ``quant`` extra). Every other torchao / torch message passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not (("Failed to load" in text and "torchao" in text and ".so" in text)
                    or "is an Enum subclass and is now natively supported" in text)


for _name in ("torchao", "torch.utils._pytree"):
    logging.getLogger(_name).addFilter(GpuKernelNoise())
