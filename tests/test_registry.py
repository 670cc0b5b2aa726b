"""The static registry: every entry resolves, no import order matters, unknown names list the valid ones."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

from congruence import registry
from congruence.errors import CongruenceError

# the names configs and CLI options accept today: renaming one breaks users' configs
EXPECTED = {
    "face.analyzer": ["default"],
    "face.detector": ["mediapipe", "mtcnn"],
    "face.va": ["emonet", "onnx", "proxy", "torch"],
    "voice.analyzer": ["default"],
    "voice.ser": ["proxy", "wav2vec2"],
    "text.analyzer": ["default"],
    "text.classifier": ["hf"],
    "incongruence.detector": ["gated", "hgb", "logreg"],
    "generation.backend": ["llamacpp", "onnx", "openai", "qwen", "smollm2", "transformers"],
}


def test_names_are_the_documented_ones():
    # the static table only: other tests may add run-time entries (register) to the same process
    assert {f: sorted(e) for f, e in registry.ENTRIES.items()} == EXPECTED
    assert all(set(EXPECTED[f]) <= set(registry.names(f)) for f in EXPECTED)


@pytest.mark.parametrize(
    ("family", "name"), [(f, n) for f, entries in registry.ENTRIES.items() for n in entries]
)
def test_every_entry_resolves_to_an_importable_class(family, name):
    module, _, attr = registry.target(family, name).partition(":")
    cls = getattr(importlib.import_module(module), attr)
    assert inspect.isclass(cls) and registry.resolve(family, name) is cls
    # presets name real constructor arguments
    assert set(registry.PRESETS.get((family, name), {})) <= set(inspect.signature(cls).parameters)


def test_a_fresh_interpreter_creates_a_backend_without_importing_its_module_first():
    # the call evaluation/judge.py recommends; it failed with "none registered" when entries
    # registered themselves on import
    code = (
        "import sys\n"
        "from congruence import registry\n"
        "assert 'congruence.generation.backends' not in sys.modules\n"
        "b = registry.create('generation.backend', 'openai', base_url='http://127.0.0.1:9/v1', model='m')\n"
        "print(type(b).__name__, b.name)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["OpenAIBackend", "openai:m"]


def test_importing_the_package_imports_no_entry_module():
    code = (
        "import sys, congruence, congruence.perception, congruence.generation, congruence.registry\n"
        "from congruence.registry import ENTRIES\n"
        "mods = {t.partition(':')[0] for e in ENTRIES.values() for t in e.values()}\n"
        "print(sorted(m for m in mods if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # congruence.generation imports respond -> backends for its types; perception imports nothing heavy
    loaded = eval(out.stdout)
    assert not [m for m in loaded if m.startswith("congruence.perception")]


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(CongruenceError) as err:
        registry.create("incongruence.detector", "svm")
    assert err.value.problem == "Unknown incongruence.detector 'svm'."
    assert err.value.fix == "Choose one of: gated, hgb, logreg."


def test_unknown_family_lists_the_families():
    with pytest.raises(CongruenceError) as err:
        registry.names("face.detectors")
    assert "face.detector" in err.value.fix and "generation.backend" in err.value.fix


def test_presets_choose_the_calibrated_model():
    hgb = registry.create("incongruence.detector", "hgb", random_state=3)
    assert (type(hgb).__name__, hgb.model) == ("IncongruenceDetector", "hgb")
    assert "model" not in registry.keywords("incongruence.detector", "hgb")
    assert {"seed", "epochs"} <= registry.keywords("incongruence.detector", "gated")


def test_run_time_registration_adds_but_never_replaces():
    class Double:
        def __init__(self, x: int = 1) -> None:
            self.x = x

    registry.register("voice.ser", "test-double")(Double)
    try:
        assert "test-double" in registry.names("voice.ser")
        assert registry.create("voice.ser", "test-double", x=5).x == 5
        with pytest.raises(CongruenceError, match="built in"):
            registry.register("voice.ser", "proxy")(Double)
    finally:
        registry._EXTRA["voice.ser"].pop("test-double")
