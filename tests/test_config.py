"""Config: every knob validated with a message naming the field; TOML round trip; overrides."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.config import (
    RunConfig,
    apply_overrides,
    config_to_dict,
    dumps_toml,
    load_config,
    loads_config,
)
from studio.config.schema import DataConfig
from studio.core.errors import ConfigError

GOOD = """
[model]
source = "starter:text"
[data]
paths = ["texts/"]
"""


def cfg_with(section: str, line: str) -> str:
    return GOOD + f"\n[{section}]\n{line}\n" if section not in ("model", "data") else \
        GOOD.replace(f"[{section}]", f"[{section}]\n{line}")


@pytest.mark.parametrize("section,line,field", [
    ("train", 'optimizer = "adamm"', "train.optimizer"),
    ("train", "lr = -1", "train.lr"),
    ("train", "lr = 0", "train.lr"),
    ("train", 'lr = "fast"', "train.lr"),
    ("train", "batch_size = 0", "train.batch_size"),
    ("train", "batch_size = 2.5", "train.batch_size"),
    ("train", "grad_accum = 0", "train.grad_accum"),
    ("train", 'schedule = "cosin"', "train.schedule"),
    ("train", 'device = "tpu"', "train.device"),
    ("train", "nesterov = true", "train.nesterov"),
    ("train", "dropout = 0.95", "train.dropout"),
    ("train", "warmup_steps = -3", "train.warmup_steps"),
    ("train", "learning_rate = 0.1", "train.learning_rate"),
    ("data", "block_size = 4", "data.block_size"),
    ("data", "val_fraction = 0.9", "data.val_fraction"),
    ("data", "text_field = 3", "data.text_field"),
    ("eval", "every = -1", "eval.every"),
    ("sample", "top_p = 0", "sample.top_p"),
    ("sample", "prompts = []", "sample.prompts"),
    ("checkpoint", "keep_last = 0", "checkpoint.keep_last"),
    ("optimiser", "lr = 1", "optimiser"),
])
def test_bad_values_name_the_field(section, line, field):
    with pytest.raises(ConfigError) as info:
        loads_config(cfg_with(section, line))
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_typo_suggests_the_right_name():
    with pytest.raises(ConfigError, match="did you mean 'lr'"):
        loads_config(cfg_with("train", "lrr = 0.1"))
    with pytest.raises(ConfigError, match="did you mean 'cosine'"):
        loads_config(cfg_with("train", 'schedule = "cosin"'))


def test_missing_data_paths_is_explained():
    with pytest.raises(ConfigError, match="data.paths"):
        loads_config('[model]\nsource = "starter:text"\n')


def test_invalid_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nlr = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.toml.*not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    latin = tmp_path / "latin.toml"
    latin.write_bytes("[run]\nname = \"caf\xe9\"\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(latin)


def test_round_trip_and_overrides(tmp_path):
    cfg = loads_config(GOOD)
    again = loads_config(dumps_toml(config_to_dict(cfg), comments=True))
    assert again == cfg
    changed = apply_overrides(cfg, ["train.lr=1e-4", "train.optimizer=sgd",
                                    'sample.prompts=["A", "B"]', "eval.keep_best=false"])
    assert changed.train.lr == 1e-4 and changed.train.optimizer == "sgd"
    assert changed.sample.prompts == ("A", "B") and changed.eval.keep_best is False
    with pytest.raises(ConfigError, match="train.lr"):
        apply_overrides(cfg, ["train.lr=-2"])
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides(cfg, ["lr"])
    p = tmp_path / "c.toml"
    p.write_text(GOOD, encoding="utf-8")
    assert load_config(p, ["data.block_size=64"]).data.block_size == 64
    assert load_config(p).base_dir == str(tmp_path.resolve())


def test_defaults_are_valid():
    cfg = RunConfig(data=DataConfig(paths=("x",)))
    assert loads_config(dumps_toml(config_to_dict(cfg))) == cfg


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_crashes_on_arbitrary_text(text):
    try:
        loads_config(text)
    except ConfigError:
        pass


scalars = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.booleans(),
                    st.text(max_size=20), st.lists(st.text(max_size=5), max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["run", "model", "data", "train", "eval", "sample",
                                        "checkpoint"]),
                       st.dictionaries(st.sampled_from(["lr", "paths", "batch_size", "every",
                                                        "optimizer", "prompts", "source",
                                                        "top_p", "nesterov", "name"]),
                                       scalars, max_size=4), max_size=4))
def test_validation_only_ever_raises_config_error(data):
    from studio.config import config_from_dict
    try:
        config_from_dict(data)
    except ConfigError:
        pass
