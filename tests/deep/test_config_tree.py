"""TrainConfig holds the adapter tree (issue 13 item 1): validated at construction, the flat CLI
spelling converts both ways, and combinations that used to be silently wrong are refused."""

from __future__ import annotations

import json

import pytest

from deep.config import FULL, AdapterConfig, AllocatorOptions, TrainConfig


def test_the_issue_example_fails_at_construction_naming_the_key():
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['bogus'\]; allowed: \[.*'rank'"):
        TrainConfig.from_flat(task="sst2", extra={"bogus": 1}, allocator_options={"nope": 3},
                              adapter="alora", optimizer="loft")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['nope'\] for adapter 'alora'; allowed: .*"
                                         r"'prune_per_round'"):
        TrainConfig.from_flat(task="sst2", allocator_options={"nope": 3}, adapter="alora")
    with pytest.raises(ValueError, match="allocates no ranks"):
        TrainConfig.from_flat(task="sst2", allocator_options={"rounds": 3}, adapter="lora")


@pytest.mark.parametrize("method", ["lora2", "alpha_lora2", "alora", "alpha_alora", "dora", "adalora"])
def test_loft_is_refused_for_updates_that_are_not_one_plain_ba_pair(method):
    with pytest.raises(ValueError, match=r"optimizer='loft' is invalid.*one plain B @ A pair"):
        TrainConfig.from_flat(task="sst2", adapter=method, optimizer="loft")


def test_loft_accepted_for_lora_olora_and_refused_for_scaling_not_one():
    for method in ("lora", "alpha_lora", "olora"):
        assert TrainConfig.from_flat(task="sst2", adapter=method, optimizer="loft").optimizer == "loft"
    with pytest.raises(ValueError, match="scaling lora_alpha / r = 1"):
        TrainConfig.from_flat(task="sst2", adapter="lora", rank=8, lora_alpha=16.0, optimizer="loft")


def test_kind_options_belong_to_their_kind():
    with pytest.raises(ValueError, match=r"max_rank=5 is invalid; allowed: None for method 'lora' "
                                         r"\(used only by \['alora'\]\)"):
        AdapterConfig(method="lora", max_rank=5)
    assert AdapterConfig(method="alpha_lora2", rank=4, inner_rank=2, target_rank=3).inner_rank == 2


def test_flat_spelling_round_trips_and_ties_the_adapter_seed_to_the_run():
    flat = dict(task="mrpc", adapter="alpha_dora", rank=4, lora_alpha=8.0, lora_dropout=0.1,
                target_modules=("query", "value"), extra={"share_alpha": True, "scale_bias": False},
                seed=3, lr=1e-3)
    cfg = TrainConfig.from_flat(**flat)
    assert cfg.adapter == AdapterConfig(method="alpha_dora", rank=4, lora_alpha=8.0, dropout=0.1,
                                        target_modules=("query", "value"), share_alpha=True,
                                        scale_bias=False, seed=3)
    back = cfg.to_flat()
    assert {k: back[k] for k in flat} == flat
    assert TrainConfig.from_flat(**back) == cfg
    assert cfg.with_flat(seed=7).adapter.seed == 7 and cfg.with_flat(rank=2).adapter.rank == 2
    assert TrainConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg


def test_full_fine_tuning_is_adapter_none_and_old_flat_config_json_still_reads():
    full = TrainConfig.from_flat(task="sst2", adapter=FULL)
    assert full.adapter is None and full.method == FULL and not full.uses_alpha
    assert full.to_flat()["adapter"] == FULL
    with pytest.raises(ValueError, match="full fine-tuning only with optimizer='adamw'"):
        TrainConfig(task="sst2", adapter=None, optimizer="loft")
    legacy = {"task": "rte", "adapter": "alpha_lora", "rank": 4, "lora_alpha": None, "lora_dropout": 0.0,
              "target_modules": None, "extra": {"init": "kaiming"}, "allocator_options": {}, "seed": 2}
    cfg = TrainConfig.from_json(legacy)
    assert cfg.adapter == AdapterConfig(method="alpha_lora", rank=4, init="kaiming", seed=2)


def test_tree_types_are_checked():
    with pytest.raises(TypeError, match="from_flat"):
        TrainConfig(task="sst2", adapter="lora")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="AllocatorOptions.values"):
        AllocatorOptions({1: 2})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['bogus_flag'\]"):
        TrainConfig.from_flat(task="sst2", bogus_flag=1)
