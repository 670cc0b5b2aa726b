"""Prompt strategies for person-centred responses: the papers' templates, verbatim, and one of ours.

Five named strategies (:data:`STRATEGIES`):

- ``ether``: the E-THER baseline system prompt (docs/references.md#e-ther, section V-B-1), the client's
  utterance substituted for ``[CLIENT_UTTERANCE]``. It asks for 1-2 sentences and no technique.
  Without an image (a text-only backend) the two sentences about the attached image are replaced
  by a line describing the estimated facial cues (:data:`ETHER_TEXT_ONLY_CUES`), since asking a
  text model to analyse an image it cannot see invites invented descriptions.
- ``base``, ``discrete``, ``continuous``, ``dissonance``: the four strategies of the
  interventions paper (docs/references.md#interventions, section 4.1 and appendix A), which
  end with ``Your response must be in the form: [Technique] [Your Response]``. Appendix A prints one
  template for both emotion-enhanced prompts (it follows the "Continuous Emotion Prompts"
  paragraph); ``discrete`` uses it with categorical labels, ``continuous`` with valence-arousal
  values. ``dissonance`` prefixes the patient's flagged turns with ``(emotional dissonance)``.
- ``incongruence``: our incongruence-aware variant. It keeps the interventions paper's frame and
  output form, explains E-THER's two incongruence types (section III-C-1) in the instruction and
  names the type on each flagged client turn, e.g. ``Patient (incongruence: minimizing): ...``.

All strategies take the same inputs: the client's current turn and the preceding dialogue
(:class:`DialogueTurn`), each client turn with an optional affect mapping (a turn-table row).
Missing values are simply not shown. The model's own earlier replies are never part of the
context: each instance is built from the input dialogue alone (E-THER's "each test instance
processed independently").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from congruence.errors import CongruenceError
from congruence.table import FER_CLASSES, as_number, is_blank

#: FER-2013 classes of the ``face_expr_<class>`` columns.
FACE_CLASSES: tuple[str, ...] = FER_CLASSES  # the face classifier's classes (the contract's vocabulary)

# ----------------------------------------------------------------------------------------------
# Verbatim templates. Tests pin these strings: change them only together with the paper.
# ----------------------------------------------------------------------------------------------

#: E-THER, section V-B-1 ("System Prompt"), verbatim.
ETHER_PCT_SYSTEM_PROMPT = (
    "You are an empathic AI assistant trained in Person-Centered Therapy principles. Respond to the "
    "client with genuine empathy, focusing on understanding their emotional experience rather than "
    "giving advice. Use Rogers' core conditions: empathy, unconditional positive regard, and congruence. "
    "Please analyze the attached image showing a client's facial expression and respond empathically to "
    "their statement: '[CLIENT_UTTERANCE]'. Focus on both their verbal expression and any emotional cues "
    "visible in their facial expression. Respond in 1-2 sentences that demonstrate genuine empathic "
    "understanding."
)

#: The E-THER prompt's image sentences, and their text-only replacement (ours; see module doc).
ETHER_IMAGE_SENTENCES = (
    "Please analyze the attached image showing a client's facial expression and respond empathically to "
    "their statement: '[CLIENT_UTTERANCE]'. Focus on both their verbal expression and any emotional cues "
    "visible in their facial expression."
)
ETHER_TEXT_ONLY_CUES = (
    "Respond empathically to the client's statement: '[CLIENT_UTTERANCE]'. [CUES]Focus on both their "
    "verbal expression and any emotional cues described."
)

#: Interventions paper, appendix A, "Simple Prompts" (the ``base`` strategy), verbatim.
BASE_INSTRUCTION = (
    "Imagine you are a mental health expert interacting with a patient. Based on the dialogue provided, "
    "please apply the most suitable intervention technique and specify its name. Then, continue the "
    "dialogue with a concise response."
)

#: Interventions paper, appendix A, emotion-enhanced prompt (``discrete`` and ``continuous``), verbatim.
EMOTION_INSTRUCTION = (
    "Imagine you are a mental health expert interacting with a patient. Based on the dialogue provided, "
    "please apply the most appropriate intervention technique and specify its name. Continue the dialogue "
    "with a concise response. For each patient utterance, emotion predictions from both speech and facial "
    "expressions are provided."
)

#: Interventions paper, appendix A, "Emotional Dissonance Prompts", verbatim (em dash and all).
DISSONANCE_INSTRUCTION = (
    "Imagine you are a mental health expert interacting with a patient. Based on the dialogue provided, "
    "please apply the most suitable intervention technique and specify its name. You have also noticed "
    "emotional dissonance—when the patient’s vocal tone does not match their facial expression. Continue "
    "the dialogue with a concise response."
)

#: Ours: the interventions frame plus E-THER's incongruence types (section III-C-1).
INCONGRUENCE_INSTRUCTION = (
    "Imagine you are a mental health expert interacting with a patient. Based on the dialogue provided, "
    "please apply the most suitable intervention technique and specify its name. On some patient turns "
    "you have noticed verbal-visual incongruence: 'minimizing' means their face shows stronger emotion "
    "than their words admit, or an emotion slips through despite controlled words; 'contradiction' means "
    "their face and their words show opposite emotions. Where it is marked, gently acknowledge what may "
    "lie beneath the words, without judging and without giving advice. Continue the dialogue with a "
    "concise response."
)

#: The output form line of the interventions paper, verbatim.
RESPONSE_FORM = "Your response must be in the form: [Technique] [Your Response]"

#: Speaker names used by the interventions paper's dialogue layout.
THERAPIST, PATIENT = "Therapist", "Patient"


@dataclass(frozen=True)
class DialogueTurn:
    """One turn of the context: who spoke, what they said, and (client turns) the affect row."""

    role: str  # "client" or "counsellor"
    text: str
    affect: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if _normalise_role(self.role) is None:
            raise CongruenceError(
                f"Unknown dialogue role {self.role!r}.",
                "Use 'client' or 'counsellor' (or patient/therapist).",
            )


@dataclass(frozen=True)
class Strategy:
    """A named prompt strategy.

    ``expects_technique`` says whether the reply must carry a ``[Technique]`` (the interventions
    paper's form) or is a plain reply (E-THER's 1-2 sentences).
    """

    name: str
    description: str
    instruction: str
    expects_technique: bool
    annotate: str  # "none" | "labels" | "values" | "dissonance" | "incongruence" | "ether"
    source: str = field(default="")


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy(
            "ether",
            "E-THER PCT baseline prompt: the client's statement (and image or facial cues), 1-2 sentences.",
            ETHER_PCT_SYSTEM_PROMPT,
            expects_technique=False,
            annotate="ether",
            source="docs/references.md#e-ther, section V-B-1",
        ),
        Strategy(
            "base",
            "Dialogue only (interventions paper, 'Simple Prompts').",
            BASE_INSTRUCTION,
            expects_technique=True,
            annotate="none",
            source="docs/references.md#interventions, appendix A",
        ),
        Strategy(
            "discrete",
            "Dialogue with categorical emotion labels from speech and face on each patient turn.",
            EMOTION_INSTRUCTION,
            expects_technique=True,
            annotate="labels",
            source="docs/references.md#interventions, appendix A",
        ),
        Strategy(
            "continuous",
            "Dialogue with valence-arousal values from speech and face on each patient turn.",
            EMOTION_INSTRUCTION,
            expects_technique=True,
            annotate="values",
            source="docs/references.md#interventions, appendix A",
        ),
        Strategy(
            "dissonance",
            "Dialogue with '(emotional dissonance)' on the patient turns where voice and face disagree.",
            DISSONANCE_INSTRUCTION,
            expects_technique=True,
            annotate="dissonance",
            source="docs/references.md#interventions, appendix A",
        ),
        Strategy(
            "incongruence",
            "Ours: the E-THER incongruence type (minimizing / contradiction) named on flagged client turns.",
            INCONGRUENCE_INSTRUCTION,
            expects_technique=True,
            annotate="incongruence",
            source="congruence (E-THER types, docs/references.md#e-ther III-C-1, in the interventions frame)",
        ),
    )
}


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``, or a :class:`CongruenceError` listing the known ones."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise CongruenceError(
            f"Unknown prompt strategy '{name}'.", f"Choose one of: {', '.join(STRATEGIES)}."
        ) from None


# ----------------------------------------------------------------------------------------------
# Reading affect from a turn-table row
# ----------------------------------------------------------------------------------------------

#: Columns searched, in order, for the incongruence type of a client turn: an explicit column,
#: the human annotation (E-THER's field), then the computed text-face pair.
INCONGRUENCE_COLUMNS: tuple[str, ...] = (
    "incongruence",
    "incongruence_type",
    "ann_incongruence",
    "text_face_type",
)
#: Columns searched, in order, for the dissonance indicator (the interventions paper's is face-voice).
DISSONANCE_COLUMNS: tuple[str, ...] = ("dissonance", "face_voice_dissonance")
#: Modalities shown in the continuous / discrete annotations, as (column prefix, label in the prompt).
#: The interventions paper gives speech and face; the words' own estimate comes last.
MODALITIES: tuple[tuple[str, str], ...] = (("voice", "speech"), ("face", "face"), ("text", "text"))


def face_label(affect: Mapping[str, Any] | None) -> str | None:
    """Most probable FER class from ``face_expr_<class>`` columns (or a ``face_label`` column).

    >>> face_label({"face_expr_sad": 0.7, "face_expr_happy": 0.1})
    'sad'
    >>> face_label({"face_valence": 0.2}) is None
    True
    """
    if not affect:
        return None
    for key in ("face_label", "face_expression", "face_emotion"):
        if not is_blank(affect.get(key)):
            return str(affect[key])
    probs = {c: as_number(affect.get(f"face_expr_{c}")) for c in FACE_CLASSES}
    probs = {c: p for c, p in probs.items() if p is not None}
    if not probs:
        return None
    return max(probs, key=lambda c: (probs[c], -FACE_CLASSES.index(c)))


def discrete_labels(affect: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """``(modality, label)`` pairs for the ``discrete`` strategy; absent modalities are left out.

    Face: :func:`face_label`. Speech and text: a ``voice_emotion`` / ``text_emotion`` (or
    ``*_label``) column when the analyzers provide one.

    >>> discrete_labels({"face_expr_happy": 0.9, "face_expr_sad": 0.1, "voice_emotion": "sad"})
    [('speech', 'sad'), ('face', 'happy')]
    """
    if not affect:
        return []
    out = []
    for prefix, shown in MODALITIES:
        if prefix == "face":
            lab = face_label(affect)
        else:
            lab = next(
                (
                    str(affect[k])
                    for k in (f"{prefix}_emotion", f"{prefix}_label")
                    if not is_blank(affect.get(k))
                ),
                None,
            )
        if lab is not None:
            out.append((shown, lab))
    return out


def continuous_values(affect: Mapping[str, Any] | None) -> list[tuple[str, float | None, float | None]]:
    """``(modality, valence, arousal)`` for the ``continuous`` strategy; a modality with neither is left out.

    >>> continuous_values({"face_valence": -0.4, "voice_arousal": 0.61, "text_valence": float("nan")})
    [('speech', None, 0.61), ('face', -0.4, None)]
    """
    if not affect:
        return []
    out = []
    for prefix, shown in MODALITIES:
        v, a = as_number(affect.get(f"{prefix}_valence")), as_number(affect.get(f"{prefix}_arousal"))
        if v is not None or a is not None:
            out.append((shown, v, a))
    return out


def incongruence_of(affect: Mapping[str, Any] | None) -> str | None:
    """E-THER incongruence type of a turn ("minimizing" / "contradiction"), or ``None`` for none/missing.

    >>> incongruence_of({"text_face_type": "minimizing"}), incongruence_of({"incongruence": "none"})
    ('minimizing', None)
    """
    if not affect:
        return None
    for col in INCONGRUENCE_COLUMNS:
        v = affect.get(col)
        if not is_blank(v):
            t = str(getattr(v, "value", v)).strip().lower()
            if t in ("minimizing", "contradiction"):
                return t
            if t == "none":
                return None
            raise CongruenceError(
                f"Column {col!r} holds {v!r}, not an E-THER incongruence type.",
                "Use 'none', 'minimizing' or 'contradiction'.",
            )
    return None


def dissonance_of(affect: Mapping[str, Any] | None) -> bool:
    """Whether the turn carries the dissonance indicator (1 / True); missing counts as no.

    >>> dissonance_of({"face_voice_dissonance": 1.0}), dissonance_of({"dissonance": float("nan")})
    (True, False)
    """
    if not affect:
        return False
    for col in DISSONANCE_COLUMNS:
        v = affect.get(col)
        x = float(v) if isinstance(v, bool) else as_number(v)
        if x is not None:
            return x >= 0.5
    return False


def _fmt(x: float) -> str:
    return f"{x:+.2f}"


def client_annotation(strategy: Strategy, affect: Mapping[str, Any] | None) -> str:
    """The parenthesised marker placed after ``Patient`` on a client turn ('' for none).

    >>> s = get_strategy("continuous")
    >>> client_annotation(s, {"voice_valence": 0.1, "voice_arousal": 0.7, "face_valence": -0.5})
    ' (speech: valence +0.10, arousal +0.70; face: valence -0.50)'
    >>> client_annotation(get_strategy("dissonance"), {"dissonance": 1})
    ' (emotional dissonance)'
    """
    kind = strategy.annotate
    parts: list[str] = []
    if kind == "labels":
        parts = [f"{m}: {lab}" for m, lab in discrete_labels(affect)]
    elif kind == "values":
        for m, v, a in continuous_values(affect):
            vals = ([f"valence {_fmt(v)}"] if v is not None else []) + (
                [f"arousal {_fmt(a)}"] if a is not None else []
            )
            parts.append(f"{m}: {', '.join(vals)}")
    elif kind == "dissonance":
        parts = ["emotional dissonance"] if dissonance_of(affect) else []
    elif kind == "incongruence":
        t = incongruence_of(affect)
        parts = [f"incongruence: {t}"] if t else []
    return f" ({'; '.join(parts)})" if parts else ""


def _normalise_role(role: str) -> str | None:
    r = str(getattr(role, "value", role)).strip().lower()
    if r in ("client", "patient", "user"):
        return "client"
    if r in ("counsellor", "counselor", "therapist", "assistant"):
        return "counsellor"
    return None


def _ether_cues(affect: Mapping[str, Any] | None) -> str:
    """Text-only stand-in for E-THER's image: the estimated facial cues, if any."""
    parts = []
    lab = face_label(affect)
    if lab:
        parts.append(f"expression {lab}")
    vals = [(v, a) for m, v, a in continuous_values(affect) if m == "face"]
    if vals:
        v, a = vals[0]
        if v is not None:
            parts.append(f"valence {_fmt(v)}")
        if a is not None:
            parts.append(f"arousal {_fmt(a)}")
    if not parts:
        return ""
    return f"Their facial expression, estimated from video: {', '.join(parts)}. "


def build_messages(
    strategy: str | Strategy,
    utterance: str,
    *,
    affect: Mapping[str, Any] | None = None,
    context: Sequence[DialogueTurn] = (),
    with_image: bool = False,
) -> list[dict[str, str]]:
    """Chat messages for one instance: the client's ``utterance`` (with ``affect``) after ``context``.

    Interventions strategies give one user message: the instruction, ``Dialogue:``, one line per
    turn (``Therapist: ...`` / ``Patient (marker): ...``) and the response-form line. ``ether`` gives
    E-THER's system prompt (with the utterance substituted) and the utterance as the user message;
    it ignores ``context`` (E-THER prompts each utterance on its own).

    >>> m = build_messages("dissonance", "I'm fine.", affect={"dissonance": 1},
    ...                    context=[DialogueTurn("counsellor", "How are you?")])
    >>> print(m[0]["content"].split("Dialogue:")[1])
    <BLANKLINE>
    Therapist: How are you?
    Patient (emotional dissonance): I'm fine.
    <BLANKLINE>
    Your response must be in the form: [Technique] [Your Response]
    """
    s = strategy if isinstance(strategy, Strategy) else get_strategy(strategy)
    utterance = " ".join(str(utterance).split())
    if not utterance:
        raise CongruenceError("The client's utterance is empty.", "Pass the words the client said.")
    if s.annotate == "ether":
        if with_image:
            system = ETHER_PCT_SYSTEM_PROMPT
        else:
            system = ETHER_PCT_SYSTEM_PROMPT.replace(ETHER_IMAGE_SENTENCES, ETHER_TEXT_ONLY_CUES).replace(
                "[CUES]", _ether_cues(affect)
            )
        return [
            {"role": "system", "content": system.replace("[CLIENT_UTTERANCE]", utterance)},
            {"role": "user", "content": utterance},
        ]
    lines = []
    for turn in [*context, DialogueTurn("client", utterance, affect)]:
        text = " ".join(str(turn.text).split())
        if not text:
            continue
        if _normalise_role(turn.role) == "client":
            lines.append(f"{PATIENT}{client_annotation(s, turn.affect)}: {text}")
        else:
            lines.append(f"{THERAPIST}: {text}")
    prompt = f"{s.instruction}\n\nDialogue:\n" + "\n".join(lines) + f"\n\n{RESPONSE_FORM}"
    return [{"role": "user", "content": prompt}]


__all__ = [
    "BASE_INSTRUCTION",
    "DISSONANCE_INSTRUCTION",
    "EMOTION_INSTRUCTION",
    "ETHER_PCT_SYSTEM_PROMPT",
    "FACE_CLASSES",
    "INCONGRUENCE_INSTRUCTION",
    "RESPONSE_FORM",
    "STRATEGIES",
    "DialogueTurn",
    "Strategy",
    "build_messages",
    "client_annotation",
    "continuous_values",
    "discrete_labels",
    "dissonance_of",
    "face_label",
    "get_strategy",
    "incongruence_of",
]
