"""The face analyzer of the embedded default: one client turn's frames in, one row of face columns out.

Per turn (:meth:`FaceAnalyzer.analyze_turn`):

1. detect faces in every sampled frame (``"face.detector"``: MediaPipe by default, MTCNN as the
   interventions paper's reference) and drop detections below ``min_confidence``;
2. track them with a fresh SORT tracker (:mod:`.sort`), so each turn's result is independent
   of the others and can be cached;
3. for every detection of every track: FER-2013-class expression probabilities (:mod:`.expression`;
   ``expression="ensemble"``, the mean of fer's and facex's models, by default, ``"fer"`` or
   ``"facex"`` alone by name), action-unit-like channels (``au_source="blendshapes"``: MediaPipe
   FaceLandmarker v2 blendshape scores, :mod:`.blendshapes`, by default; ``"mesh"``: geometric
   proxies from the 478-point mesh, :mod:`.geometry`), head pose and gaze from the mesh, valence /
   arousal (``"face.va"``, :mod:`.va`); these feed running sums per track, so memory does not grow
   with the number of frames. The slower models (facex, blendshapes, the Haar crop search; together
   ~2.5x the time of detection, mesh and fer per face, bench/bench_face.py) run at most once per
   ``model_interval`` seconds per track and their last answer is held in between
   (expression and facial actions change more slowly than the 2 frames/s that analyze samples);
   fer and the mesh run on every frame;
4. choose the client's track (:mod:`.selection`) and report its turn means (the interventions
   paper averages over the segment) and its values at the key frame, the frame nearest to
   ``key_time`` (E-THER's frame at the client's verbal response onset), plus an engagement proxy
   (:mod:`.engagement`).

A turn with no frames reads ``face_status = "no_frames"``, one where no face passes the detector
``"no_face"``; all other values are then None. The FER classifier answers for any image, so the
detector gate is what keeps a wall or a cat from getting an expression.

:meth:`FaceAnalyzer.finalize` z-scores the AU proxies per person against the person's most
neutral turns (``face_au<N>_z``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError, MediaError
from congruence.ingest.media import Frame
from congruence.perception.base import Features, Value
from congruence.perception.face.blendshapes import (
    BLENDSHAPE_AU_NAMES,
    BLENDSHAPE_AUS,
    BLENDSHAPE_MODEL_NAME,
    BlendshapeModel,
    blendshape_aus,
)
from congruence.perception.face.engagement import animation_score, engagement_proxy, head_orientation_score
from congruence.perception.face.expression import (
    ENSEMBLE_MODEL_NAME,
    EXPRESSION_MODELS,
    EXPRESSIONS,
    FACEX_MODEL_NAME,
    FER_MODEL_NAME,
    FacexClassifier,
    FerClassifier,
    ensemble_mean,
    expression_crop_box,
    from_relative,
    haar_face_box,
    haar_offsets,
    relative_box,
)
from congruence.perception.face.geometry import AU_LABELS, AU_NAMES, au_proxies, gaze, head_pose
from congruence.perception.face.mesh import FaceMesher, crop_padded, square_crop_box
from congruence.perception.face.selection import TrackPolicy, TrackSummary, choose_track, validate_policy
from congruence.perception.face.sort import SortTracker
from congruence.perception.face.stats import _person_groups, _TrackAcc, zscore_against_reference
from congruence.provenance import Kind, Provenance
from congruence.registry import create

VERSION = 2
STATUSES = ("ok", "no_face", "no_frames")
AU_SOURCES = ("blendshapes", "mesh")
_EXPRESSION_NAMES = {"ensemble": ENSEMBLE_MODEL_NAME, "fer": FER_MODEL_NAME, "facex": FACEX_MODEL_NAME}
_AU_LABELS = {**AU_LABELS, "au09": "nose wrinkler"}
# mesh AU proxies whose within-turn variation counts as facial animation (blinks are not "animated");
# always the geometric ones, whatever the AU source, so the engagement proxy keeps one scale
ANIMATION_AUS = ("au01", "au02", "au04", "au12", "au15", "au25", "au26")
# per-frame scalars that are averaged over the turn: name in the per-frame dict -> output column
_MEAN_COLUMNS: dict[str, str] = {
    "valence": "face_valence",
    "arousal": "face_arousal",
    **{f"expr_{e}": f"face_expr_{e}" for e in EXPRESSIONS},
    **{au: f"face_{au}" for au in BLENDSHAPE_AU_NAMES},
    "yaw": "face_head_yaw",
    "pitch": "face_head_pitch",
    "roll": "face_head_roll",
    "gaze_x": "face_gaze_x",
    "gaze_y": "face_gaze_y",
    "at_camera": "face_gaze_at_camera",
}
_KEY_COLUMNS: dict[str, str] = {
    "valence": "face_valence_key",
    "arousal": "face_arousal_key",
    "at_camera": "face_gaze_at_camera_key",
}


def _as_rgb(frame: Frame) -> np.ndarray:
    img = np.asarray(frame.image)
    if img.dtype != np.uint8:
        raise MediaError(
            f"Frame at {frame.time:.3f} s has dtype {img.dtype}; RGB uint8 is expected.",
            "Decode frames as rgb24 (e.g. PyAV frame.to_ndarray(format='rgb24')).",
        )
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 8:
        raise MediaError(
            f"Frame at {frame.time:.3f} s has shape {img.shape}; an (H, W, 3) RGB image is expected.",
            "Pass decoded RGB frames of at least 8 x 8 pixels.",
        )
    return img


class FaceAnalyzer:
    """Face analyzer: expression, valence/arousal, AU proxies, head pose, gaze, engagement per turn.

    Args:
        detector: ``"face.detector"`` name: ``"mediapipe"`` (default) or ``"mtcnn"``.
        va: ``"face.va"`` name: ``"proxy"`` (default), ``"onnx"``, ``"emonet"`` / ``"torch"``.
        va_model_path: local model file for a plug-in ``va``.
        va_options: further keyword arguments of the ``va`` class (e.g. ``normalize``).
        expression: ``"ensemble"`` (default: mean of fer and facex), ``"fer"`` or ``"facex"``
            (see :mod:`congruence.perception.face.expression`).
        au_source: ``"blendshapes"`` (default: MediaPipe FaceLandmarker v2 blendshape scores,
            :mod:`.blendshapes`) or ``"mesh"`` (geometric proxies, :mod:`.geometry`).
        model_interval: seconds between runs of facex and the blendshape model on one track;
            their last answer is held in between (0: every frame). 2 s keeps analyze's RTF within
            ~1.2x of fer + mesh alone (1 s: ~1.6x; bench/results/face-2026-12-05.md).
        client_track: ``"largest"``, ``"left"``, ``"right"``, ``"center"`` or a track index
            (see :mod:`congruence.perception.face.selection`).
        min_confidence: detector confidence below which a detection is ignored.
        min_face_size: smallest face box side in pixels of the full frame that is analysed.
        detect_max_side: frames are downscaled to this longer side for detection only.
        key_crop_size: side of the key-frame face crop returned in ``artifacts["key_crop"]``.
        iou_threshold, max_age: SORT parameters (:class:`~.sort.SortTracker`).

    Example (no frames -> an explicit status, no model is loaded):

    >>> FaceAnalyzer().analyze_turn([], key_time=None).values["face_status"]
    'no_frames'
    """

    name = "face"

    def __init__(
        self,
        *,
        detector: str = "mediapipe",
        va: str = "proxy",
        va_model_path: str | None = None,
        va_options: Mapping[str, Any] | None = None,
        client_track: TrackPolicy = "largest",
        min_confidence: float = 0.5,
        min_face_size: int = 20,
        detect_max_side: int = 640,
        key_crop_size: int = 112,
        iou_threshold: float = 0.3,
        max_age: int = 3,
        detector_options: Mapping[str, Any] | None = None,
        expression: str = "ensemble",
        au_source: str = "blendshapes",
        model_interval: float = 2.0,
    ) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise CongruenceError(f"min_confidence must lie in [0, 1], got {min_confidence}.")
        if expression not in EXPRESSION_MODELS:
            raise CongruenceError(
                f"Unknown face expression model '{expression}'.",
                f"Set expression to one of {', '.join(EXPRESSION_MODELS)} in the [face] config section.",
            )
        if au_source not in AU_SOURCES:
            raise CongruenceError(
                f"Unknown face AU source '{au_source}'.",
                f"Set au_source to one of {', '.join(AU_SOURCES)} in the [face] config section.",
            )
        if not (isinstance(model_interval, int | float) and model_interval >= 0):
            raise CongruenceError(
                f"model_interval must be a number of seconds >= 0, got {model_interval!r}.",
                "Set model_interval = 2.0 (the default) or 0 (every frame) in the [face] config section.",
            )
        self.expression = expression
        self.au_source = au_source
        self.model_interval = float(model_interval)
        self.client_track = validate_policy(client_track)
        self.min_confidence = min_confidence
        self.min_face_size = min_face_size
        self.detect_max_side = detect_max_side
        self.key_crop_size = key_crop_size
        self.iou_threshold = iou_threshold
        self.max_age = max_age
        # building these loads nothing: every model loads on its first use
        self.detector = create(
            "face.detector", detector, min_confidence=min_confidence, **dict(detector_options or {})
        )
        va_kwargs = dict(va_options or {})
        if va_model_path is not None:
            va_kwargs["model_path"] = va_model_path
        self.va = create("face.va", va, **va_kwargs)
        self.mesher = FaceMesher()
        # members of the expression model; fer is cheap and runs on every frame, facex is held
        self.expr_models: dict[str, FerClassifier | FacexClassifier] = {}
        if expression in ("ensemble", "fer"):
            self.expr_models["fer"] = FerClassifier()
        if expression in ("ensemble", "facex"):
            self.expr_models["facex"] = FacexClassifier()
        self.blendshapes = BlendshapeModel() if au_source == "blendshapes" else None
        # the expression crop mimics the Haar cascade box both classifiers' packages use; its
        # offset from the detector's box was measured per detector (bench/bench_face.py)
        det_key = self.detector.name
        if getattr(self.detector, "model_range", None):
            det_key += f"-{self.detector.model_range}"
        self.crop_offsets = haar_offsets(det_key)
        self.au_names = BLENDSHAPE_AU_NAMES if au_source == "blendshapes" else AU_NAMES
        if hasattr(self.va, "expression_source"):
            self.va.expression_source = _EXPRESSION_NAMES[expression]

    # ------------------------------------------------------------------ description
    def config(self) -> dict[str, Any]:
        return {
            "analyzer": self.name,
            "version": VERSION,
            "detector": self.detector.config(),
            "va": self.va.config(),
            "expression": {
                "model": _EXPRESSION_NAMES[self.expression],
                "crop": "haar-cascade",
                "fallback_crop": self.crop_offsets,
            },
            "au_source": BLENDSHAPE_MODEL_NAME if self.au_source == "blendshapes" else "mesh-geometry",
            "model_interval": self.model_interval,
            "mesh": {"model": "mediapipe-face-mesh-0.10.21", "crop_scale": self.mesher.crop_scale},
            "client_track": self.client_track,
            "min_confidence": self.min_confidence,
            "min_face_size": self.min_face_size,
            "detect_max_side": self.detect_max_side,
            "iou_threshold": self.iou_threshold,
            "max_age": self.max_age,
        }

    def columns(self) -> dict[str, Provenance]:
        det = f"{self.detector.name}+sort"
        mesh = "mediapipe-face-mesh"
        expr = _EXPRESSION_NAMES[self.expression]
        va_kind = self.va.kind
        va_est = self.va.estimator
        va_note = (
            "model output" if va_kind is Kind.MODEL else "circumplex position of FER classes + AU12 proxy"
        )
        cols: dict[str, Provenance] = {
            "face_status": Provenance(det, Kind.MEASUREMENT, "ok / no_face / no_frames"),
            "face_n_frames": Provenance(det, Kind.MEASUREMENT, "sampled frames of the turn"),
            "face_n_tracks": Provenance(det, Kind.MEASUREMENT, "face tracks found in the turn"),
            "face_track": Provenance(det, Kind.MEASUREMENT, f"chosen track ({self.client_track})"),
            "face_detected_frac": Provenance(det, Kind.MEASUREMENT, "share of frames with the client's face"),
            "face_mesh_frac": Provenance(mesh, Kind.MEASUREMENT, "share of face frames with a mesh"),
            "face_detector_conf": Provenance(det, Kind.MEASUREMENT, "mean detector confidence"),
            "face_key_time": Provenance(det, Kind.MEASUREMENT, "time (s) of the key frame used"),
            "face_valence": Provenance(va_est, va_kind, va_note + "; turn mean"),
            "face_arousal": Provenance(va_est, va_kind, va_note + "; turn mean"),
            "face_valence_key": Provenance(va_est, va_kind, va_note + "; key frame"),
            "face_arousal_key": Provenance(va_est, va_kind, va_note + "; key frame"),
            "face_va_expression": Provenance(
                va_est, Kind.MODEL, "expression probabilities of a plug-in VA model, if it has them"
            ),
            "face_expression": Provenance(expr, Kind.MODEL, "top FER-2013 class of the turn mean"),
            "face_expression_key": Provenance(expr, Kind.MODEL, "top FER-2013 class, key frame"),
        }
        for e in EXPRESSIONS:
            cols[f"face_expr_{e}"] = Provenance(expr, Kind.MODEL, f"P({e}), turn mean")
        for au in self.au_names:
            cols[f"face_{au}"] = self._au_provenance(au, "turn mean")
        for c in ("face_head_yaw", "face_head_pitch", "face_head_roll"):
            cols[c] = Provenance(mesh, Kind.PROXY, "degrees, from mesh 3D geometry, turn mean")
        cols["face_gaze_x"] = Provenance(mesh, Kind.PROXY, "iris offset in eye half-widths, + = image right")
        cols["face_gaze_y"] = Provenance(mesh, Kind.PROXY, "iris offset in eye half-widths, + = up")
        cols["face_gaze_at_camera"] = Provenance(mesh, Kind.PROXY, "gaze (head + iris) toward camera, 0-1")
        cols["face_gaze_at_camera_key"] = Provenance(mesh, Kind.PROXY, "gaze toward camera, key frame")
        cols["face_animation"] = Provenance(mesh, Kind.PROXY, "variation of brow/mouth AU proxies, 0-1")
        cols["face_engagement"] = Provenance(
            "engagement-proxy(gaze,head,animation,presence)", Kind.PROXY, "E-THER ranges; visible cues only"
        )
        for au in self.au_names:
            cols[f"face_{au}_z"] = self._au_provenance(au, "z-score against the person's most neutral turns")
        return cols

    def _au_provenance(self, au: str, what: str) -> Provenance:
        if self.au_source == "mesh":
            return Provenance(
                "mediapipe-face-mesh",
                Kind.PROXY,
                f"{_AU_LABELS[au]}: mesh geometry / inter-ocular distance, {what}",
            )
        if au == "au25":
            return Provenance(
                BLENDSHAPE_MODEL_NAME,
                Kind.PROXY,
                f"{_AU_LABELS[au]}: jawOpen - mouthClose blendshape scores (0-1), {what}; "
                "not a FACS-coded AU intensity",
            )
        return Provenance(
            BLENDSHAPE_MODEL_NAME,
            Kind.MODEL,
            f"{_AU_LABELS[au]} <- mean({', '.join(BLENDSHAPE_AUS[au])}): a trained model's blendshape "
            f"score (0-1), not a FACS-coded AU intensity; {what}",
        )

    # ------------------------------------------------------------------ per turn
    def _detect(self, img: np.ndarray) -> np.ndarray:
        """Boxes (N, 5: x1, y1, x2, y2, score) in full-frame pixels that pass the gates."""
        import cv2

        h, w = img.shape[:2]
        scale = min(1.0, self.detect_max_side / max(h, w))
        small = img if scale == 1.0 else cv2.resize(img, (round(w * scale), round(h * scale)), cv2.INTER_AREA)
        rows = []
        for d in self.detector.detect(small):
            box = np.asarray(d.box) / scale
            if d.score < self.min_confidence or min(box[2] - box[0], box[3] - box[1]) < self.min_face_size:
                continue
            rows.append([*box, d.score])
        return np.asarray(rows, dtype=float).reshape(-1, 5)

    def _face_values(
        self, img: np.ndarray, gray: np.ndarray, box: np.ndarray, held: dict[str, Any], refresh: bool
    ) -> tuple[dict[str, Any], bool]:
        """Per-detection values and whether a mesh was found.

        ``held`` holds the slower models' last answers for this track; they run again (and
        ``held`` is updated) when ``refresh`` is true or they have no answer yet.
        """
        h, w = img.shape[:2]
        x1, y1, x2, y2 = (float(v) for v in box)
        if refresh or "haar" not in held:
            # where the Haar cascade of fer's and facex's own pipelines puts the face, relative to
            # the detector's box; held like the slower models' answers (a few ms per search)
            hb = haar_face_box(gray, (x1, y1, x2, y2))
            held["haar"] = None if hb is None else relative_box(hb, (x1, y1, x2, y2))
        crop_box = (
            expression_crop_box((x1, y1, x2, y2), **self.crop_offsets)
            if held["haar"] is None
            else from_relative(held["haar"], (x1, y1, x2, y2))
        )
        face_gray = crop_padded(gray, crop_box)
        members = []
        for name, model in self.expr_models.items():
            if name == "fer" or refresh or name not in held:
                held[name] = model.predict(face_gray)
            members.append(held[name])
        probs = ensemble_mean(members)
        vals: dict[str, Any] = {f"expr_{e}": float(p) for e, p in zip(EXPRESSIONS, probs, strict=True)}
        lm = self.mesher.landmarks(img, (x1, y1, x2, y2))
        aus = None
        if lm is not None:
            aus = au_proxies(lm)
            pose = head_pose(lm)
            gz = gaze(lm, pose)
            if self.au_source == "mesh":
                vals.update(aus)
            vals.update({f"geo_{k}": v for k, v in aus.items() if k in ANIMATION_AUS})
            vals.update(yaw=pose.yaw, pitch=pose.pitch, roll=pose.roll, gaze_x=gz.x, gaze_y=gz.y)
            # closed eyes make no eye contact, whatever the iris landmarks say
            vals["at_camera"] = gz.at_camera * (1.0 - aus["au45"])
            vals["head_orientation"] = head_orientation_score(pose.to_camera_deg)
        if self.blendshapes is not None:
            if refresh or "blendshapes" not in held:
                crop = crop_padded(img, square_crop_box((x1, y1, x2, y2), 1.4, w, h))
                if crop.shape[0] > 256:
                    import cv2

                    crop = cv2.resize(crop, (256, 256), interpolation=cv2.INTER_AREA)
                scores = self.blendshapes.scores(crop)
                held["blendshapes"] = None if scores is None else blendshape_aus(scores)
            if held["blendshapes"] is not None:
                vals.update(held["blendshapes"])
        face_rgb = crop_padded(img, square_crop_box((x1, y1, x2, y2), 1.2, w, h))
        res = self.va.predict(face_rgb=face_rgb, expr_probs=probs, aus=aus)
        vals.update(valence=res.valence, arousal=res.arousal)
        if res.expression is not None:
            vals["va_expression"] = np.asarray(res.expression, dtype=float)
        vals["_crop"] = face_rgb
        return vals, lm is not None

    def analyze_turn(self, frames: Iterable[Frame], key_time: float | None) -> Features:
        """Face columns of one turn from its sampled frames (streamed; any iterable of :class:`Frame`).

        ``key_time`` is E-THER's key-frame moment (the client's verbal response onset); None uses
        the first frame in which the client's face is seen.
        """
        import cv2

        tracker = SortTracker(iou_threshold=self.iou_threshold, max_age=self.max_age)
        accs: dict[int, _TrackAcc] = {}
        n_frames = 0
        for frame in frames:
            img = _as_rgb(frame)
            n_frames += 1
            dets = self._detect(img)
            if not len(dets):
                tracker.update(np.empty((0, 4)))
                continue
            gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
            w = img.shape[1]
            for track_id, di in tracker.update(dets[:, :4]):
                box, score = dets[di, :4], float(dets[di, 4])
                acc = accs.setdefault(track_id, _TrackAcc())
                # key frame: nearest to key_time (first frame when None); earlier frame wins ties
                dist = frame.time if key_time is None else abs(frame.time - key_time)
                key_candidate = acc.key_time is None or dist < acc.key_dist
                refresh = acc.held_time is None or frame.time - acc.held_time >= self.model_interval
                if refresh:
                    acc.held_time = float(frame.time)
                vals, has_mesh = self._face_values(img, gray, box, acc.held, refresh)
                key_vals = vals
                if key_candidate and not refresh:
                    # a frame that may become the key frame (those up to key_time: one or two per
                    # turn in analyze) gets the slower models' own answers for its key values; the
                    # turn means keep the held ones, so they do not depend on key_time
                    key_vals, _ = self._face_values(img, gray, box, dict(acc.held), True)
                acc.n += 1
                acc.n_mesh += int(has_mesh)
                acc.area_sum += float((box[2] - box[0]) * (box[3] - box[1]))
                acc.cx_sum += float((box[0] + box[2]) / 2 / w)
                acc.score_sum += score
                for k, v in vals.items():
                    if k == "va_expression":
                        acc.model_expr_sum = v if acc.model_expr_sum is None else acc.model_expr_sum + v
                    elif not k.startswith("_"):
                        acc.add(k, v)
                if key_candidate:
                    acc.key_dist, acc.key_time = dist, float(frame.time)
                    acc.key_values = {k: v for k, v in key_vals.items() if not k.startswith("_")}
                    side = (self.key_crop_size, self.key_crop_size)
                    acc.key_crop = cv2.resize(key_vals["_crop"], side, interpolation=cv2.INTER_AREA)
        return self._result(accs, n_frames)

    def _empty(self, status: str, n_frames: int) -> Features:
        values: dict[str, Value] = {c: None for c in self.columns() if not c.endswith("_z")}
        values.update(face_status=status, face_n_frames=n_frames, face_n_tracks=0)
        if status == "no_face":
            values["face_detected_frac"] = 0.0
        return Features(values=values, provenance=self._provenance_for(values))

    def _provenance_for(self, values: Mapping[str, Value]) -> dict[str, Provenance]:
        cols = self.columns()
        return {k: cols[k] for k in values}

    def _result(self, accs: dict[int, _TrackAcc], n_frames: int) -> Features:
        if n_frames == 0:
            return self._empty("no_frames", 0)
        summaries = [
            TrackSummary(tid, a.n, a.area_sum / a.n, a.cx_sum / a.n) for tid, a in sorted(accs.items()) if a.n
        ]
        chosen = choose_track(summaries, self.client_track)
        if chosen is None:
            return self._empty("no_face", n_frames)
        acc = accs[chosen]
        values: dict[str, Value] = {
            "face_status": "ok",
            "face_n_frames": n_frames,
            "face_n_tracks": len(summaries),
            "face_track": chosen,
            "face_detected_frac": acc.n / n_frames,
            "face_mesh_frac": acc.n_mesh / acc.n,
            "face_detector_conf": acc.score_sum / acc.n,
            "face_key_time": acc.key_time,
        }
        absent = {f"face_{au}" for au in BLENDSHAPE_AU_NAMES} - {f"face_{au}" for au in self.au_names}
        for src, col in _MEAN_COLUMNS.items():
            if col not in absent:  # AU channels the chosen source lacks (au09 of the mesh)
                values[col] = acc.mean(src)
        for src, col in _KEY_COLUMNS.items():
            v = acc.key_values.get(src)
            values[col] = None if v is None else float(v)
        expr_mean = np.array([acc.mean(f"expr_{e}") or 0.0 for e in EXPRESSIONS])
        values["face_expression"] = EXPRESSIONS[int(np.argmax(expr_mean))]
        key_expr = np.array([acc.key_values.get(f"expr_{e}", 0.0) for e in EXPRESSIONS])
        values["face_expression_key"] = EXPRESSIONS[int(np.argmax(key_expr))]
        values["face_va_expression"] = (
            None if acc.model_expr_sum is None else [float(v) for v in acc.model_expr_sum / acc.n]
        )
        stds = [acc.stats[f"geo_{a}"].std for a in ANIMATION_AUS if f"geo_{a}" in acc.stats]
        stds = [s for s in stds if s is not None]
        animation = animation_score(float(np.mean(stds))) if stds else None
        values["face_animation"] = animation
        eye, head = acc.mean("at_camera"), acc.mean("head_orientation")
        values["face_engagement"] = (
            None
            if eye is None or head is None
            else engagement_proxy(
                presence=acc.n / n_frames,
                eye_contact=min(max(eye, 0.0), 1.0),
                head_orientation=min(max(head, 0.0), 1.0),
                animation=animation,
            )
        )
        return Features(
            values=values,
            provenance=self._provenance_for(values),
            artifacts={"key_crop": acc.key_crop},
        )

    # ------------------------------------------------------------------ session level
    def finalize(self, table: pd.DataFrame) -> pd.DataFrame:
        """Add ``face_au<N>_z``: AU proxies z-scored against the person's most neutral turns.

        Per person (grouped by the first of ``person_id``, ``session_id``, ``session`` found among
        the columns or index levels; else the whole table), among turns with ``face_status == "ok"``
        the reference set is the ``k = max(3, ceil(n / 4))`` turns with the highest
        ``face_expr_neutral``; ``z = (x - mean_ref) / sd_ref``. When the reference set has fewer
        than 2 turns or no spread, ``sd`` over all of the person's ok turns is used; a person with
        fewer than 2 ok turns gets NaN. Removes the person's resting face shape from the proxies
        (a person whose resting mouth turns down is not "sad" on every turn).
        """
        out = table.copy()
        zcols = [f"face_{au}_z" for au in self.au_names]
        z = np.full((len(out), len(zcols)), np.nan)
        if "face_status" in out.columns and len(out):
            for pos in _person_groups(out):
                part = out.iloc[pos]
                ok_mask = (part["face_status"] == "ok").to_numpy()
                ok_pos, ok = pos[ok_mask], part[ok_mask]
                if len(ok) < 2:
                    continue
                k = min(len(ok), max(3, math.ceil(len(ok) / 4)))
                neutral = (
                    pd.to_numeric(ok["face_expr_neutral"], errors="coerce").fillna(-1.0).to_numpy()
                    if "face_expr_neutral" in ok.columns
                    else np.zeros(len(ok))
                )
                ref = np.argsort(-neutral, kind="stable")[:k]
                for j, au in enumerate(self.au_names):
                    if f"face_{au}" not in ok.columns:
                        continue
                    x = pd.to_numeric(ok[f"face_{au}"], errors="coerce").to_numpy(dtype=float)
                    z[ok_pos, j] = zscore_against_reference(x, ref)
        for j, c in enumerate(zcols):
            out[c] = z[:, j]
        return out

    def close(self) -> None:
        """Release the MediaPipe graphs (they are rebuilt on the next use)."""
        self.mesher.close()
        if self.blendshapes is not None:
            self.blendshapes.close()
        close = getattr(self.detector, "close", None)
        if close is not None:
            close()
