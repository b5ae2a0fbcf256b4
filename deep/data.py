"""GLUE data (former home; kept so that ``from deep.data import X`` keeps working).

The code lives in :mod:`deep.glue` (tasks, reading, tokenization, batching) and
:mod:`deep.splits` (seeded splits); this module re-exports every public name of
:mod:`deep.glue` (its ``__all__``). Patch module attributes where they are defined
(e.g. ``deep.glue.reading._default_glue_dir``).
"""

from .glue import *  # noqa: F403  (the whole public surface of deep.glue, nothing else)
from .glue import __all__ as __all__
