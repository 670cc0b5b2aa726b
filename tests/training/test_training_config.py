"""Training config: every TOML key typed and bounded, refused in one line before any work."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from congruence.errors import CongruenceError
from congruence.training.config import SECTIONS, Config, config_from_dict, load_config

CONFIGS = sorted((Path(__file__).parents[2] / "configs/training").glob("*.toml"))


def _error(data: dict) -> CongruenceError:
    with pytest.raises(CongruenceError) as err:
        config_from_dict(data)
    assert "\n" not in str(err.value)
    return err.value


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert cfg.train.epochs > 0 and cfg.lora.r >= 1


def test_the_issue_examples_are_refused_with_key_value_and_range():
    err = _error({"lora": {"r": "eight"}})
    assert err.problem == "lora.r = 'eight' is invalid: Input should be a valid integer."
    assert err.fix == "lora.r takes int >= 1."
    err = _error({"train": {"epochs": -3}})
    assert err.problem == "train.epochs = -3 is invalid: Input should be greater than 0."
    assert err.fix == "train.epochs takes float > 0.0."
    err = _error({"model": {"kindd": "vlm"}})
    assert err.problem == "Unknown key 'kindd' in [model]." and "kind" in err.fix and "path" in err.fix
    err = _error({"train": {"precision": "fp8"}})
    assert err.fix == "train.precision takes one of 'fp32', 'fp16', 'bf16'."


def test_cli_refuses_before_training(tmp_path):
    from typer.testing import CliRunner

    from congruence.cli import app

    p = tmp_path / "t.toml"
    p.write_text(f'[train]\noutput_dir = "{tmp_path / "run"}"\nepochs = -3\n')
    res = CliRunner().invoke(app, ["train", str(p)])
    assert res.exit_code != 0 and "train.epochs = -3 is invalid" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "run").exists()


def test_with_validates_the_changed_section():
    cfg = Config()
    assert cfg.with_(lora={"r": 16}).lora.r == 16
    with pytest.raises(CongruenceError, match=r"lora.r = 0 is invalid"):
        cfg.with_(lora={"r": 0})
    with pytest.raises(CongruenceError, match="Unknown config section 'lorra'"):
        cfg.with_(lorra={"r": 16})


@given(st.sampled_from(sorted(SECTIONS)), st.text(min_size=1, max_size=10))
def test_any_unknown_key_in_any_section_is_refused_listing_the_known_ones(section, key):
    known = [f.name for f in fields(SECTIONS[section])]
    if key in known or (section == "train" and key == "preset"):
        return
    err = _error({section: {key: 1}})
    assert err.problem == f"Unknown key {key!r} in [{section}]."
    assert err.fix == f"Known keys: {', '.join(known)}."


@given(st.integers(max_value=0))
def test_non_positive_epochs_and_ranks_are_refused(n):
    assert _error({"train": {"epochs": n}}).problem.startswith(f"train.epochs = {n} is invalid")
    assert _error({"lora": {"r": n}}).problem.startswith(f"lora.r = {n} is invalid")


@settings(max_examples=40)
@given(st.floats(allow_nan=False).filter(lambda p: not 0 <= p <= 1))
def test_dropout_outside_zero_one_is_refused(p):
    assert _error({"dropout": {"p": p}}).fix == "dropout.p takes float >= 0.0 and <= 1.0."


@settings(max_examples=40)
@given(
    r=st.integers(1, 64),
    epochs=st.floats(min_value=0.01, max_value=20),
    lr=st.floats(min_value=1e-7, max_value=1e-1),
    p=st.floats(0, 1),
    precision=st.sampled_from(["fp32", "fp16", "bf16"]),
    modules=st.lists(st.sampled_from(["q_proj", "k_proj", "v_proj", "o_proj"]), min_size=1, max_size=4),
)
def test_valid_configs_round_trip(r, epochs, lr, p, precision, modules):
    d = {"lora": {"r": r, "target_modules": modules}, "dropout": {"p": p},
         "train": {"epochs": epochs, "learning_rate": lr, "precision": precision}}  # fmt: skip
    cfg = config_from_dict(d)
    assert (cfg.lora.r, cfg.lora.target_modules, cfg.train.precision) == (r, tuple(modules), precision)
    again = config_from_dict({k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.as_dict().items()})
    assert again == cfg
