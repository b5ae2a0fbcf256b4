"""A new adapter kind is one file: a toy kind defined in a temporary module (outside the
package, registered by its decorator alone) runs through the generic layer tests, injection,
training and adapter save/load without any other edit (issue 13, item 3)."""

from __future__ import annotations

import importlib.util
import math
import sys
import textwrap

import pytest
import torch

from deep import AdapterConfig, inject, load_adapter, save_adapter
from deep.layers import REGISTRY, method_names
from deep.train import TrainConfig, train

from . import test_layers as generic
from .conftest import logits, tiny_batch, tiny_model
from .test_train import glue  # noqa: F401  (fixture)

TOY = '''
from typing import Any, ClassVar

from deep.layers import LoraLayer, register


@register("toy_gain")
class ToyGainLayer(LoraLayer):
    """LoRA whose scaling carries an extra kind option: s = gain * lora_alpha / r."""

    options: ClassVar[tuple[str, ...]] = ("gain",)

    def _init_options(self, *, gain: float | None = None, **options: Any) -> None:
        super()._init_options(**options)
        self.gain = 0.75 if gain is None else float(gain)
        self.scaling = self.scaling * self.gain
'''


@pytest.fixture
def toy(tmp_path):
    path = tmp_path / "toy_kind.py"
    path.write_text(textwrap.dedent(TOY))
    spec = importlib.util.spec_from_file_location("toy_kind", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)  # the decorator registers the kind: nothing else
    try:
        yield module.ToyGainLayer
    finally:
        REGISTRY.pop("toy_gain", None)
        sys.modules.pop("toy_kind", None)


def test_toy_kind_runs_through_the_generic_layer_tests(toy):
    assert {"toy_gain", "alpha_toy_gain"} <= set(method_names())
    for method in ("toy_gain", "alpha_toy_gain"):
        row = generic.method_row(method)
        assert row[1] is toy and row[2] == method.startswith("alpha_")
        _, layer = generic.make_layer(row, rank=4)  # lora_alpha = 2r: s = 0.75 * 8 / 4
        assert layer.scaling == pytest.approx(0.75 * 8.0 / 4.0)
        for dims in generic.DIMS:
            generic.test_init_output_equals_base(row, dims)
            generic.test_parameter_names_shapes_and_counts(row, dims)
        for scale_bias in (True, False):
            for frozen in (None, "alpha", "factors"):
                generic.test_forward_and_gradients_match_dense_reference(row, scale_bias, frozen)
        for bias in (True, False):
            generic.test_merge_matches_reference_and_unmerge_restores(row, bias)
        generic.test_initialisation_uses_only_the_given_generator(row)


def test_toy_kind_injects_trains_and_round_trips(toy, glue, tmp_path):  # noqa: F811
    model = inject(tiny_model("roberta"), AdapterConfig(method="alpha_toy_gain", rank=2))
    layers = [m for m in model.modules() if isinstance(m, toy)]
    assert layers and all(m.scaling == pytest.approx(0.75) for m in layers)
    with torch.no_grad():
        for m in layers:
            m.lora_B.normal_()
            m.alpha.mul_(1.1)
    save_adapter(model, tmp_path / "toy_adapter")
    fresh = inject(tiny_model("roberta"), AdapterConfig(method="alpha_toy_gain", rank=2, seed=5))
    load_adapter(fresh, tmp_path / "toy_adapter")
    batch = tiny_batch("roberta")
    assert torch.equal(logits(model, batch), logits(fresh, batch))
    s = train(TrainConfig.from_flat(task="sst2", model="tiny-roberta", adapter="alpha_toy_gain", rank=2,
                                    max_steps=3, batch_size=8, data_dir=str(glue), num_threads=1,
                                    max_length=32, out=str(tmp_path / "run")), progress=False)
    assert s["status"] == "done" and math.isfinite(s["final"]["train_loss"])
    assert s["trainable_parameters"]["alpha"] > 0
