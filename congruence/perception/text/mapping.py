"""Map lexicon emotions of an utterance onto the 7 FER-2013 classes, the face classifier's space.

E-THER's incongruence score compares a vision and a text embedding with a cosine (docs/references.md#e-ther,
eq. 3). To compare like with like, the text side is expressed as a distribution over the same 7
classes that the face expression classifier (FER-2013 mini-Xception) outputs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from congruence.table import FER_CLASSES

# NRC EmoLex category -> FER-2013 class. anticipation and trust have no FER counterpart, and
# positive / negative are polarities, not emotions: words with only those count as no emotion.
NRC_TO_FER: Mapping[str, str] = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "joy": "happy",
    "sadness": "sad",
    "surprise": "surprise",
}
_NEGATIVE_FER = ("angry", "disgust", "fear", "sad")

SENTIMENT_WEIGHT = 0.5


def fer_distribution(
    word_emotions: Sequence[Collection[str]],
    compound: float | None = None,
    *,
    sentiment_weight: float = SENTIMENT_WEIGHT,
) -> dict[str, float]:
    """Distribution over :data:`FER_CLASSES` from the NRC categories of an utterance's content words.

    1. Each content word carries mass 1, split equally over the FER classes of its NRC categories
       (:data:`NRC_TO_FER`); a word with none of them (no entry, only trust / anticipation /
       polarity, or negated) puts its mass on ``neutral``. No content word: all mass on ``neutral``.
    2. Normalise: ``p_c = m_c / sum(m)``.
    3. Sentiment support: lexicons miss many words, so a share ``sentiment_weight * |compound|`` of
       the neutral mass moves to ``happy`` when ``compound > 0`` or to the negative classes
       (angry, disgust, fear, sad) in proportion to their mass - all to ``sad`` if they have none -
       when ``compound < 0``. ``compound`` is VADER's in [-1, 1]; ``None`` skips this step.

    The result sums to 1.

    >>> d = fer_distribution([{"joy", "positive"}, set()])
    >>> d["happy"], d["neutral"]
    (0.5, 0.5)
    >>> d = fer_distribution([set()], compound=-0.8)
    >>> round(d["sad"], 2), round(d["neutral"], 2)
    (0.4, 0.6)
    """
    if not 0.0 <= sentiment_weight <= 1.0:
        raise ValueError(f"sentiment_weight must lie in [0, 1], got {sentiment_weight}")
    mass = dict.fromkeys(FER_CLASSES, 0.0)
    for cats in word_emotions:
        classes = sorted({NRC_TO_FER[c] for c in cats if c in NRC_TO_FER})
        if classes:
            for c in classes:
                mass[c] += 1.0 / len(classes)
        else:
            mass["neutral"] += 1.0
    total = sum(mass.values())
    if total <= 0.0:
        mass["neutral"], total = 1.0, 1.0
    p = {c: m / total for c, m in mass.items()}

    if compound is not None and compound == compound and compound != 0.0:  # skip None / NaN / 0
        moved = sentiment_weight * min(abs(compound), 1.0) * p["neutral"]
        p["neutral"] -= moved
        if compound > 0:
            p["happy"] += moved
        else:
            neg = sum(p[c] for c in _NEGATIVE_FER)
            if neg > 0.0:
                for c in _NEGATIVE_FER:
                    p[c] += moved * p[c] / neg
            else:
                p["sad"] += moved
    return p
