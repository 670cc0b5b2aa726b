"""FaceAnalyzer end to end on real media: a smiling photo, a video going from crying to laughing,
images and a video without faces, two-person and group scenes."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from congruence.errors import CongruenceError, MediaError
from congruence.ingest.media import Frame
from congruence.provenance import Kind
from congruence.registry import create, names

pytestmark = pytest.mark.slow


def _decode(path: Path, start: float, end: float, fps: float, scale: float = 0.5) -> Iterator[Frame]:
    """Frames of [start, end) sampled at ``fps``, downscaled (streamed, as the pipeline does)."""
    import av
    import cv2

    nxt = start
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            if f.time >= end:
                break
            if f.time >= nxt:
                img = f.to_ndarray(format="rgb24")
                if scale != 1.0:
                    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                yield Frame(float(f.time), img)
                nxt += 1.0 / fps


@pytest.fixture(scope="module")
def analyzer():
    fa = create("face.analyzer", "default")
    yield fa
    fa.close()


@pytest.fixture(scope="module")
def astro_result(analyzer, astronaut):
    return analyzer.analyze_turn([Frame(0.0, astronaut)], key_time=None)


@pytest.fixture(scope="module")
def wolfgang_turns(analyzer, wolfgang_video):
    # Checked by eye on frames every second: 0-6 s crying (eyes shut, mouth down), 7-9 s a hand
    # over the face, 10-19.7 s smiling and laughing.
    start = analyzer.analyze_turn(_decode(wolfgang_video, 0.0, 3.0, fps=4), key_time=0.0)
    end = analyzer.analyze_turn(_decode(wolfgang_video, 13.0, 16.0, fps=4), key_time=13.0)
    return start, end


def test_smiling_photo_reads_happy_with_positive_valence(astro_result) -> None:
    v = astro_result.values
    assert v["face_status"] == "ok"
    assert v["face_expression"] == "happy" and v["face_expression_key"] == "happy"
    probs = {
        e: v[f"face_expr_{e}"] for e in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    }
    assert max(probs, key=probs.get) == "happy" and probs["happy"] > 0.5
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-3)
    assert v["face_valence"] > 0.3 and v["face_valence_key"] == pytest.approx(v["face_valence"])
    assert -1.0 <= v["face_arousal"] <= 1.0
    assert v["face_n_frames"] == 1 and v["face_detected_frac"] == 1.0 and v["face_key_time"] == 0.0
    assert v["face_detector_conf"] >= 0.5
    assert 0.0 <= v["face_engagement"] <= 1.0 and v["face_animation"] is None  # one frame: no variation
    crop = astro_result.artifacts["key_crop"]
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8


def test_every_value_has_a_declared_provenance(analyzer, astro_result) -> None:
    cols = analyzer.columns()
    assert set(astro_result.values) <= set(cols)
    assert astro_result.provenance == {k: cols[k] for k in astro_result.values}
    assert cols["face_expr_happy"].kind is Kind.MODEL
    assert cols["face_valence"].kind is Kind.PROXY and cols["face_engagement"].kind is Kind.PROXY
    # default AU source: a trained model's blendshape scores (not FACS intensities); mesh: proxies
    assert all(cols[f"face_{au}"].kind is Kind.MODEL for au in ("au01", "au04", "au12", "au45"))
    assert "not a FACS-coded AU intensity" in cols["face_au12_z"].note
    mesh = create("face.analyzer", "default", au_source="mesh").columns()
    assert all(mesh[f"face_{au}"].kind is Kind.PROXY for au in ("au01", "au04", "au12", "au45"))
    assert cols["face_detected_frac"].kind is Kind.MEASUREMENT


def test_crying_to_laughing_video_raises_valence(wolfgang_turns) -> None:
    start, end = (t.values for t in wolfgang_turns)
    assert start["face_status"] == end["face_status"] == "ok"
    assert start["face_expression"] == "sad" and end["face_expression"] == "happy"
    assert start["face_valence"] < 0 < end["face_valence"]
    assert end["face_valence"] - start["face_valence"] > 0.8
    # Known limit of the blendshape AU source (why valence keeps the mesh geometry): the crying face
    # scores as high on mouthSmile (AU12) as the laugh, and its shut eyes as high on blink (AU45)
    # as the laughing squint
    assert start["face_au12"] > 0.5 and end["face_au12"] > 0.5 and start["face_au45"] > 0.5
    assert start["face_n_frames"] == 12 and start["face_n_tracks"] == 1


def test_mesh_aus_separate_crying_from_laughing(wolfgang_video) -> None:
    fa = create("face.analyzer", "default", au_source="mesh", expression="fer")
    start = fa.analyze_turn(_decode(wolfgang_video, 0.0, 3.0, fps=4), key_time=0.0).values
    end = fa.analyze_turn(_decode(wolfgang_video, 13.0, 16.0, fps=4), key_time=13.0).values
    fa.close()
    assert end["face_au12"] > start["face_au12"]  # lip corners pulled up
    assert start["face_au45"] > 0.7 > end["face_au45"]  # eyes shut while crying


def test_key_frame_follows_key_time(analyzer, wolfgang_video) -> None:
    turn = list(_decode(wolfgang_video, 0.0, 19.7, fps=1))
    early = analyzer.analyze_turn(iter(turn), key_time=1.2).values
    late = analyzer.analyze_turn(iter(turn), key_time=15.2).values
    assert early["face_key_time"] == pytest.approx(1.0, abs=0.05)
    assert late["face_key_time"] == pytest.approx(15.0, abs=0.05)
    assert early["face_valence_key"] < 0 < late["face_valence_key"]
    # the crying key frame reads as a negative class (crying is not a coded class), the laugh happy
    assert early["face_expression_key"] in ("sad", "disgust", "angry", "fear")
    assert late["face_expression_key"] == "happy"
    # the turn means do not depend on the key frame
    assert early["face_valence"] == pytest.approx(late["face_valence"])


@pytest.mark.parametrize("which", ["coffee", "blank", "no_face_video"])
def test_no_face_gives_explicit_none_values(analyzer, feat_data_dir, which: str) -> None:
    from skimage import data

    if which == "coffee":
        frames = [Frame(0.0, data.coffee())]
    elif which == "blank":
        frames = [Frame(t, np.full((180, 320, 3), 30, np.uint8)) for t in (0.0, 0.5)]
    else:
        frames = list(_decode(feat_data_dir / "no_face.mp4", 0.0, 4.0, fps=1.5))
    res = analyzer.analyze_turn(frames, key_time=0.0)
    v = res.values
    assert v["face_status"] == "no_face"
    assert v["face_n_frames"] == len(frames) and v["face_detected_frac"] == 0.0
    for col in (
        "face_valence",
        "face_arousal",
        "face_expr_sad",
        "face_au12",
        "face_engagement",
        "face_key_time",
    ):
        assert v[col] is None
    assert "key_crop" not in res.artifacts


def test_no_frames_status(analyzer) -> None:
    v = analyzer.analyze_turn(iter(()), key_time=1.0).values
    assert v["face_status"] == "no_frames" and v["face_n_frames"] == 0 and v["face_valence"] is None


def test_detected_fraction_counts_frames_without_the_face(analyzer, astronaut) -> None:
    from skimage import data

    coffee = data.coffee()
    frames = [Frame(float(i), img) for i, img in enumerate([astronaut, astronaut, coffee, astronaut, coffee])]
    v = analyzer.analyze_turn(frames, key_time=2.0).values
    assert v["face_detected_frac"] == pytest.approx(0.6)
    assert v["face_n_tracks"] == 1  # the track survives the frame without a face
    assert v["face_key_time"] in (1.0, 3.0)  # nearest frame where the face is seen


@pytest.fixture(scope="module")
def split_screen(astronaut, wolfgang_video) -> np.ndarray:
    """A smiling face on the left, a crying face (Wolfgang at 3 s, larger) on the right."""
    import cv2

    sad = next(_decode(wolfgang_video, 3.0, 3.5, fps=1, scale=1.0)).image  # 640 x 360
    left = cv2.resize(astronaut, (360, 360), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(np.hstack([left, sad]))


@pytest.mark.parametrize(
    ("policy", "expression"),
    [("left", "happy"), ("right", "sad"), ("largest", "sad"), (0, "happy"), (1, "sad")],
)
def test_client_track_policy_picks_the_face(split_screen, policy, expression: str) -> None:
    from congruence.perception.face.analyzer import FaceAnalyzer

    fa = FaceAnalyzer(client_track=policy)
    frames = [Frame(t, split_screen) for t in (0.0, 0.2, 0.4)]
    v = fa.analyze_turn(frames, key_time=0.0).values
    fa.close()
    assert v["face_n_tracks"] == 2
    assert v["face_expression"] == expression


def test_group_photo_tracks_every_face(analyzer, feat_data_dir) -> None:
    import cv2

    img = cv2.cvtColor(cv2.imread(str(feat_data_dir / "multi_face.jpg")), cv2.COLOR_BGR2RGB)
    # a slow pan: the faces move 4 px per frame and keep their ids
    frames = [Frame(0.1 * k, np.ascontiguousarray(np.roll(img, 4 * k, axis=1))) for k in range(4)]
    v = analyzer.analyze_turn(frames, key_time=None).values
    assert v["face_n_tracks"] >= 4
    assert v["face_detected_frac"] == 1.0 and v["face_expression"] == "happy"


def test_mtcnn_detector_reference_option(astronaut) -> None:
    import cv2

    from congruence.perception.face.analyzer import FaceAnalyzer

    fa = FaceAnalyzer(detector="mtcnn", detector_options={"min_face_size": 40})
    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    v = fa.analyze_turn([Frame(0.0, small)], key_time=None).values
    assert "torchvision" not in sys.modules  # the stand-ins are gone after the import
    assert v["face_status"] == "ok" and v["face_expression"] == "happy" and v["face_detector_conf"] > 0.9
    assert fa.columns()["face_detected_frac"].estimator == "mtcnn+sort"


def test_memory_does_not_grow_with_frames(analyzer, astronaut) -> None:
    import cv2

    img = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)

    def stream(n: int) -> Iterator[Frame]:
        for i in range(n):
            yield Frame(i / 10, img.copy())  # a fresh 196 KB array per frame

    def peak(n: int) -> int:
        tracemalloc.start()
        analyzer.analyze_turn(stream(n), key_time=0.0)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    peak(2)  # warm-up (lazy imports)
    few, many = peak(5), peak(40)
    assert many - few < 2_000_000  # keeping the 35 extra frames would cost ~6.9 MB


def test_finalize_zscores_against_the_persons_neutral_turns(analyzer, wolfgang_video, wolfgang_turns) -> None:
    segments = [(0.0, 3.0), (3.0, 6.0), (10.0, 13.0), (13.0, 16.0), (16.0, 19.5)]
    rows = [
        analyzer.analyze_turn(_decode(wolfgang_video, a, b, fps=2), key_time=a).values for a, b in segments
    ]
    rows.append(analyzer.analyze_turn([Frame(0.0, np.zeros((90, 160, 3), np.uint8))], key_time=0.0).values)
    one = pd.DataFrame(rows)
    other = one.copy()
    for c in [c for c in one.columns if c.startswith("face_au")]:
        other[c] = other[c] + 0.25  # another person with a different resting face
    table = pd.concat([one.assign(session_id="a"), other.assign(session_id="b")], ignore_index=True)
    out = analyzer.finalize(table)
    zcols = [c for c in out.columns if c.endswith("_z")]
    assert len(zcols) == len(analyzer.au_names) == 11 and len(out) == len(table)
    a, b = out[out.session_id == "a"], out[out.session_id == "b"]
    # per-person normalisation removes the offset between the two people
    assert np.allclose(a[zcols].to_numpy(float), b[zcols].to_numpy(float), equal_nan=True)
    assert a["face_au12_z"].iloc[:5].notna().all() and np.isnan(a["face_au12_z"].iloc[5])
    # the reference (3 most neutral ok turns) is centred at zero
    ref = a.iloc[:5].nlargest(3, "face_expr_neutral")
    assert ref["face_au12_z"].mean() == pytest.approx(0.0, abs=1e-9)
    assert analyzer.finalize(pd.DataFrame())["face_au12_z"].empty


def test_bad_input_is_a_clear_error(analyzer) -> None:
    from congruence.perception.face.analyzer import FaceAnalyzer

    with pytest.raises(MediaError, match="uint8"):
        analyzer.analyze_turn([Frame(0.0, np.zeros((64, 64, 3), np.float32))], key_time=None)
    with pytest.raises(MediaError, match="shape"):
        analyzer.analyze_turn([Frame(0.0, np.zeros((64, 64, 2), np.uint8))], key_time=None)
    with pytest.raises(CongruenceError, match="client_track"):
        FaceAnalyzer(client_track="tallest")
    with pytest.raises(CongruenceError, match=r"Unknown face\.detector"):
        FaceAnalyzer(detector="dlib")
    with pytest.raises(CongruenceError, match="va_model_path"):
        FaceAnalyzer(va="onnx")
    with pytest.raises(CongruenceError, match="uses no model file"):
        FaceAnalyzer(va="proxy", va_model_path="emonet_8.pth")


def test_registry_and_config(analyzer) -> None:
    assert {"proxy", "onnx", "emonet", "torch"} <= set(names("face.va"))
    assert {"mediapipe", "mtcnn"} <= set(names("face.detector"))
    cfg = analyzer.config()
    json.dumps(cfg)  # usable as a cache key
    from congruence.perception.face.analyzer import FaceAnalyzer

    assert FaceAnalyzer(client_track="left").config() != cfg


def test_import_and_construction_load_no_model() -> None:
    code = (
        "import sys; from congruence.perception.face.analyzer import FaceAnalyzer; FaceAnalyzer(); "
        "mods = ('mediapipe', 'ai_edge_litert', 'facenet_pytorch', 'onnxruntime'); "
        "print([m for m in mods if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_turn_values_are_finite_numbers(wolfgang_turns) -> None:
    for t in wolfgang_turns:
        for k, v in t.values.items():
            if isinstance(v, float):
                assert math.isfinite(v), k
