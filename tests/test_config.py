"""Analysis config: bad settings refused before any work, in one line; the hash stays put."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from congruence.config import AnalysisConfig
from congruence.errors import CongruenceError

KNOWN = {f for f in AnalysisConfig.__dataclass_fields__}

# A non-default config; its hash was computed before the sections became pydantic models (commit
# a721e57), so the cache keys of existing analysis folders stay valid.
SETTINGS = {
    "sample_fps": 4.0,
    "face": {"detector": "mtcnn", "min_confidence": 0.6},
    "voice": {"enabled": False},
    "incongruence": {"threshold": 0.4, "tau_e": 2.0},
    "respond": {"backend": "openai", "n_samples": 3},
}


def _error(data: dict) -> CongruenceError:
    with pytest.raises(CongruenceError) as err:
        AnalysisConfig.from_dict(data)
    assert "\n" not in str(err.value)  # one line
    return err.value


# The hash keys every cache: it may change only when a setting or a default changes on purpose.
# Pinned first (69f9a572e71c8414 / bddf681d9ed31239) on the pre-pydantic code to show that validation
# did not change it; re-pinned 2026-12-05 when num_speakers became data-driven (None) and
# max_speakers was added.
DEFAULT_DIGEST, SETTINGS_DIGEST = "b429741019bbc731", "3a197628b86d8431"


def test_hash_changes_only_with_the_settings():
    assert AnalysisConfig().digest() == DEFAULT_DIGEST
    assert AnalysisConfig.from_dict(SETTINGS).digest() == SETTINGS_DIGEST


def test_hash_is_stable_across_processes_and_key_order():
    reordered = dict(reversed(list(SETTINGS.items())))
    assert AnalysisConfig.from_dict(reordered).digest() == AnalysisConfig.from_dict(SETTINGS).digest()
    code = (
        "from congruence.config import AnalysisConfig\n"
        f"print(AnalysisConfig.from_dict({SETTINGS!r}).digest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == SETTINGS_DIGEST


def test_hash_changes_with_any_setting():
    base = AnalysisConfig.from_dict(SETTINGS).digest()
    for change in ({"sample_fps": 5.0}, {"face": {"detector": "mediapipe"}}, {"incongruence": {"lam": 0.2}}):
        assert AnalysisConfig.from_dict({**SETTINGS, **change}).digest() != base


def test_misspelt_option_is_refused_naming_the_key_and_the_known_ones():
    err = _error({"face": {"detectr": "mtcnn"}})
    assert err.problem == "Unknown key 'detectr' in [face] (face.analyzer 'default')."
    assert "detector" in err.fix and "min_confidence" in err.fix


def test_misspelt_top_level_and_section_keys_are_refused():
    assert _error({"sample_fsp": 2}).problem == "Unknown key 'sample_fsp' in the config."
    err = _error({"incongruence": {"T": 0.4}})
    assert err.problem == "Unknown key 'T' in [incongruence]."
    assert err.fix == "Known keys: lam, threshold, tau_e."
    err = _error({"respond": {"nsamples": 3}})
    assert err.problem == "Unknown setting in the [respond] config section: 'nsamples'."
    assert "n_samples" in err.fix


def test_wrong_types_and_ranges_name_the_key_the_value_and_the_range():
    err = _error({"sample_fps": "fast"})
    assert err.problem == "sample_fps = 'fast' is invalid: Input should be a valid number."
    assert err.fix == "sample_fps takes float > 0.0 and <= 120.0."
    err = _error({"num_speakers": 0})
    assert err.problem.startswith("num_speakers = 0 is invalid") and "int >= 1, or unset" in err.fix
    err = _error({"voice": {"pitch_floor": "low"}})
    assert err.problem == "voice.pitch_floor = 'low' is invalid: Input should be a valid number."
    assert err.fix == "voice.pitch_floor takes float (default 60.0)."


def test_estimator_names_and_their_nested_options_are_checked():
    err = _error({"face": {"detector": "dlib"}})
    assert err.problem == "face.detector = 'dlib' is not a face.detector." and "mediapipe" in err.fix
    err = _error({"face": {"va": "onnx", "va_options": {"modelpath": "x.onnx"}}})
    assert err.problem.startswith("Unknown key 'modelpath' in [face.va_options]") and "model_path" in err.fix
    err = _error({"respond": {"backend": "openai", "backend_options": {"url": "http://x"}}})
    assert "base_url" in err.fix
    assert _error({"text": {"name": "bert"}}).fix == "Choose one of: default."


def test_valid_options_pass_and_keep_their_values():
    cfg = AnalysisConfig.from_dict(
        {"face": {"va": "onnx", "va_options": {"input_size": 224}}, "voice": {"pitch_floor": 75}}
    )
    assert cfg.face.options == {"va": "onnx", "va_options": {"input_size": 224}}
    assert cfg.voice.options == {"pitch_floor": 75}


def test_the_readme_example_is_a_valid_config():
    import re
    import tomllib

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1]
    example = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    cfg = AnalysisConfig.from_dict(tomllib.loads(example))
    assert cfg.face.options["detector"] == "mediapipe" and cfg.respond["n_samples"] == 3


def test_assignment_is_validated_too():
    cfg = AnalysisConfig()
    cfg.face.enabled = False
    with pytest.raises(Exception, match="valid number"):
        cfg.sample_fps = "fast"  # type: ignore[assignment]


def test_cli_refuses_a_bad_config_before_any_work_without_a_traceback(tmp_path: Path):
    from congruence.cli import app

    bad = tmp_path / "bad.toml"
    bad.write_text('[face]\ndetectr = "mtcnn"\n')
    out = tmp_path / "out"
    media = Path(__file__).parents[1] / "congruence/examples/demo/speech.flac"
    res = CliRunner().invoke(app, ["analyze", str(media), "-c", str(bad), "-o", str(out)])
    assert res.exit_code != 0
    assert "Unknown key 'detectr' in [face]" in res.output and "Traceback" not in res.output
    assert not out.exists()  # nothing was started


# --- property tests of the validators ---------------------------------------------------------


@given(st.floats(min_value=1e-6, max_value=120.0))
def test_any_positive_rate_up_to_120_is_accepted(fps):
    assert AnalysisConfig.from_dict({"sample_fps": fps}).sample_fps == fps


@given(st.one_of(st.floats(max_value=0.0), st.floats(min_value=120.0, exclude_min=True)))
def test_rates_outside_the_range_are_refused_naming_the_key(fps):
    err = _error({"sample_fps": fps})
    assert err.problem.startswith("sample_fps = ") and "> 0.0 and <= 120.0" in err.fix


@given(st.text(min_size=1, max_size=12).filter(lambda k: k not in KNOWN))
def test_any_unknown_top_level_key_is_refused_and_the_known_ones_listed(key):
    err = _error({key: 1})
    assert err.problem == f"Unknown key {key!r} in the config."
    assert all(k in err.fix for k in KNOWN)


@settings(max_examples=50)
@given(
    st.sampled_from(["max_frames_per_turn", "max_frame_width", "num_speakers"]),
    st.one_of(
        st.text(max_size=5), st.floats(allow_nan=False), st.booleans(), st.lists(st.integers(), max_size=2)
    ),
)
def test_integer_fields_take_only_integers(key, value):
    # strict: no "8" -> 8, no 2.5 -> 2, no True -> 1
    err = _error({key: value})
    assert err.problem.startswith(f"{key} = {value!r} is invalid")


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "sample_fps": st.floats(min_value=0.1, max_value=60),
            "max_frames_per_turn": st.integers(1, 100),
            "key_frame_offset": st.floats(min_value=0, max_value=5),
            "merge_max_gap": st.floats(min_value=0, max_value=5),
            "num_speakers": st.integers(1, 6),
            "parallel": st.booleans(),
            "incongruence": st.fixed_dictionaries(
                {},
                optional={"lam": st.floats(0, 1), "threshold": st.floats(0, 2), "tau_e": st.floats(0.01, 5)},
            ),
        },
    )
)
def test_valid_settings_round_trip_with_the_same_hash(data):
    cfg = AnalysisConfig.from_dict(data)
    for k, v in data.items():
        got = getattr(cfg, k)
        if k == "incongruence":
            assert {f: getattr(got, f) for f in v} == v
        else:
            assert got == v
    dumped = cfg.to_dict()
    for m in ("face", "voice", "text"):  # a modality's options are written back flat
        dumped[m] = {"name": dumped[m]["name"], "enabled": dumped[m]["enabled"], **dumped[m]["options"]}
    assert AnalysisConfig.from_dict(dumped).digest() == cfg.digest()
