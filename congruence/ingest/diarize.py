"""Speaker diarization (who spoke when) and client / counsellor role assignment.

Method: Silero VAD speech regions (pauses of 0.3 s split them, so a window rarely spans a change
of speaker) are cut into windows (``window_s``, hop ``hop_s``); each window gets a resemblyzer
d-vector (Wan et al. 2018, "Generalized end-to-end loss for speaker verification", ICASSP; the
encoder weights ship inside the ``resemblyzer`` wheel); windows are grouped by agglomerative
clustering on cosine distance (average linkage) - cut at ``threshold``, or into ``num_speakers``
clusters when that is known. Each ASR word takes the speaker of the windows that overlap it
(weighted by overlap), and consecutive words of one speaker become one
:class:`~congruence.schema.Turn`. Speakers are named ``"S1"``, ``"S2"``, ... in order of first
appearance.

Roles: :func:`assign_roles` guesses which speaker is the counsellor with a documented heuristic;
an explicit mapping from the user always wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from congruence.errors import CongruenceError
from congruence.ingest.asr import SAMPLE_RATE, AsrSegment, ensure_sample_rate, speech_regions
from congruence.ingest.media import Audio
from congruence.schema import Role, Turn, Word


@dataclass(frozen=True)
class SpeakerWindow:
    """An analysis window (media seconds) and the speaker cluster it was put in."""

    start: float
    end: float
    label: int


def window_spans(
    regions: Sequence[tuple[float, float]],
    *,
    window_s: float,
    hop_s: float,
    min_window_s: float,
    bounds: tuple[float, float],
) -> list[tuple[float, float]]:
    """Windows of ``window_s`` every ``hop_s`` inside each region; the last one ends at the region end.

    A region shorter than ``window_s`` gives one window of its own length, widened to
    ``min_window_s`` (within ``bounds``) so that the encoder sees enough speech.

    >>> window_spans([(0.0, 3.0)], window_s=1.5, hop_s=0.75, min_window_s=0.8, bounds=(0, 10))
    [(0.0, 1.5), (0.75, 2.25), (1.5, 3.0)]
    """
    lo, hi = float(bounds[0]), float(bounds[1])
    out: list[tuple[float, float]] = []
    for start, end in regions:
        start, end = max(lo, start), min(hi, end)
        if end <= start:
            continue
        if end - start <= window_s:
            if end - start < min_window_s:
                mid = (start + end) / 2
                start = max(lo, mid - min_window_s / 2)
                end = min(hi, start + min_window_s)
            out.append((round(start, 3), round(end, 3)))
            continue
        t = start
        while t + window_s < end - 1e-9:
            out.append((round(t, 3), round(t + window_s, 3)))
            t += hop_s
        out.append((round(end - window_s, 3), round(end, 3)))
    return out


def cluster_embeddings(
    embeddings: np.ndarray,
    *,
    threshold: float = 0.3,
    num_speakers: int | None = None,
    max_speakers: int | None = None,
) -> np.ndarray:
    """Agglomerative clustering (average linkage, cosine distance) of L2-normalised embeddings.

    With ``num_speakers`` the tree is cut into that many clusters (forced). Otherwise the number
    of speakers comes from the data: the tree is cut at cosine distance ``threshold`` (one voice
    stays one cluster), and at most ``max_speakers`` clusters are kept (the tree is cut into
    that many when the threshold gives more). Labels are renumbered 0, 1, ... in order of first
    appearance.
    """
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=int)
    if n == 1 or num_speakers == 1:
        return np.zeros(n, dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    x = np.asarray(embeddings, dtype=np.float64)

    def cut(k: int | None) -> np.ndarray:
        if k is not None:
            algo = AgglomerativeClustering(n_clusters=min(k, n), metric="cosine", linkage="average")
        else:
            algo = AgglomerativeClustering(
                n_clusters=None, distance_threshold=threshold, metric="cosine", linkage="average"
            )
        return algo.fit_predict(x)

    raw = cut(num_speakers)
    if num_speakers is None and max_speakers is not None and len(set(raw.tolist())) > max_speakers:
        raw = cut(max_speakers)
    order: dict[int, int] = {}
    for lab in raw:
        order.setdefault(int(lab), len(order))
    return np.array([order[int(lab)] for lab in raw], dtype=int)


def label_words(words: Sequence[Word], windows: Sequence[SpeakerWindow]) -> list[int]:
    """Speaker label of each word: the label with the largest total overlap with the word.

    A word that overlaps no window takes the label of the window whose centre is nearest.
    """
    if not windows:
        return [0] * len(words)
    starts = np.array([w.start for w in windows])
    ends = np.array([w.end for w in windows])
    labels = np.array([w.label for w in windows])
    centres = (starts + ends) / 2
    out = []
    for word in words:
        overlap = np.minimum(ends, word.end) - np.maximum(starts, word.start)
        hit = overlap > 0
        if hit.any():
            votes = np.bincount(labels[hit], weights=overlap[hit])
            out.append(int(np.argmax(votes)))
        else:
            out.append(int(labels[np.argmin(np.abs(centres - (word.start + word.end) / 2))]))
    return out


_ATTACH_LEFT = re.compile(r"^(-\w|'\w|n't\b|[.,!?;:%)\]}…])")  # "-hearted", "'s", "n't", punctuation


def join_word(text: str, word: str) -> str:
    """Append an ASR word to ``text``: a space, except inside hyphenated words and contractions.

    Whisper splits "cold-hearted" into "cold" and "-hearted" and "don't" into "don" and "'t"; their
    word timestamps come stripped of the leading space that marked a new word, so the rule is
    orthographic: no space before a piece starting with a hyphen or apostrophe followed by a letter,
    "n't" or closing punctuation, and none after a piece ending in a hyphen or opening bracket.

    >>> join_word("cold", "-hearted"), join_word("don", "'t"), join_word("well", "then")
    ('cold-hearted', "don't", 'well then')
    >>> join_word("self-", "aware"), join_word("it", "- I")
    ('self-aware', 'it - I')
    """
    if not text:
        return word
    if not word:
        return text
    if _ATTACH_LEFT.match(word) or (text.endswith(("-", "(", "[", "{")) and not text.endswith(" -")):
        return text + word
    return f"{text} {word}"


def merge_words(words: Sequence[Word], labels: Sequence[int]) -> list[Turn]:
    """Turns from labelled words: consecutive words of one speaker form one turn (``"S<label+1>"``)."""
    turns: list[Turn] = []
    for word, lab in zip(words, labels, strict=True):
        speaker = f"S{lab + 1}"
        if turns and turns[-1].speaker == speaker:
            t = turns[-1]
            t.words.append(word)
            t.end = word.end
            t.text = join_word(t.text, word.text)
        else:
            turns.append(
                Turn(
                    index=len(turns),
                    speaker=speaker,
                    text=word.text,
                    start=word.start,
                    end=word.end,
                    words=[word],
                )
            )
    return turns


class Diarizer:
    """resemblyzer embeddings + agglomerative clustering; the encoder loads on first use.

    Args:
        threshold: cosine-distance cut of the clustering tree (~0.3 separated clean synthetic and
            studio voices; noisy rooms may need tuning).
        num_speakers: a fixed number of speakers instead of the threshold (forced: a one-voice
            recording is then split too). ``None``: decided from the data (see
            :func:`cluster_embeddings`).
        max_speakers: with ``num_speakers=None``, at most this many speakers (e.g. 2 for a
            counselling session).
        window_s, hop_s: analysis window and hop in seconds.
        min_window_s: shorter speech regions are widened to this length.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.3,
        num_speakers: int | None = None,
        max_speakers: int | None = None,
        window_s: float = 1.5,
        hop_s: float = 0.75,
        min_window_s: float = 0.8,
    ) -> None:
        if num_speakers is not None and num_speakers < 1:
            raise CongruenceError(
                f"num_speakers must be at least 1, got {num_speakers}.", "Pass 1, 2, ... or None."
            )
        if not 0 < hop_s <= window_s:
            raise CongruenceError(
                f"Need 0 < hop_s <= window_s, got {hop_s}, {window_s}.", "Fix the window settings."
            )
        self.threshold = threshold
        self.num_speakers = num_speakers
        self.max_speakers = max_speakers
        self.window_s = window_s
        self.hop_s = hop_s
        self.min_window_s = min_window_s
        self._encoder: Any = None

    def config(self) -> dict[str, Any]:
        return {
            "encoder": "resemblyzer-0.1.4",
            "threshold": self.threshold,
            "num_speakers": self.num_speakers,
            "max_speakers": self.max_speakers,
            "window_s": self.window_s,
            "hop_s": self.hop_s,
            "min_window_s": self.min_window_s,
        }

    def _load(self) -> Any:
        if self._encoder is None:
            from resemblyzer import VoiceEncoder

            self._encoder = VoiceEncoder("cpu", verbose=False)
        return self._encoder

    def embed(self, audio: Audio, spans: Sequence[tuple[float, float]]) -> np.ndarray:
        """L2-normalised d-vectors (n, 256) of the given media-time spans of ``audio``."""
        import torch
        from resemblyzer import normalize_volume, wav_to_mel_spectrogram

        a = ensure_sample_rate(audio)
        enc = self._load()
        mels = []
        for start, end in spans:
            i0 = max(0, round((start - a.offset) * SAMPLE_RATE))
            i1 = min(len(a.samples), round((end - a.offset) * SAMPLE_RATE))
            # resemblyzer was trained on volume-normalised speech (-30 dBFS)
            wav = normalize_volume(a.samples[i0:i1].astype(np.float32), -30, increase_only=True)
            mels.append(wav_to_mel_spectrogram(wav))
        out = np.zeros((len(spans), 256), dtype=np.float32)
        by_len: dict[int, list[int]] = {}
        for i, m in enumerate(mels):
            by_len.setdefault(len(m), []).append(i)
        with torch.inference_mode():
            for idx in by_len.values():  # equal lengths batch together
                batch = torch.from_numpy(np.stack([mels[i] for i in idx]))
                out[idx] = enc(batch).numpy()
        return out

    def speaker_windows(
        self, audio: Audio, regions: Sequence[tuple[float, float]] | None = None
    ) -> list[SpeakerWindow]:
        """Windows over the speech ``regions`` (VAD when ``None``) with their speaker clusters."""
        a = ensure_sample_rate(audio)
        if regions is None:
            regions = speech_regions(a)
        spans = window_spans(
            regions,
            window_s=self.window_s,
            hop_s=self.hop_s,
            min_window_s=self.min_window_s,
            bounds=(a.offset, a.offset + a.duration),
        )
        if not spans:
            return []
        labels = cluster_embeddings(
            self.embed(a, spans),
            threshold=self.threshold,
            num_speakers=self.num_speakers,
            max_speakers=self.max_speakers,
        )
        return [SpeakerWindow(s, e, int(lab)) for (s, e), lab in zip(spans, labels, strict=True)]

    def diarize(self, audio: Audio, segments: Sequence[AsrSegment] | None = None) -> list[Turn]:
        """Turns with speakers ``"S1"``, ``"S2"``, ...; with ASR ``segments`` each word is assigned.

        Without segments (no ASR) the turns are the VAD regions with empty text.
        """
        a = ensure_sample_rate(audio)
        regions = speech_regions(a)
        windows = self.speaker_windows(a, regions)
        if segments is None:
            words = [Word(text="", start=s, end=e) for s, e in regions]
            turns = merge_words(words, label_words(words, windows))
            for t in turns:
                t.text, t.words = "", []
            return _renumber(turns)
        words = sorted((w for s in segments for w in s.words), key=lambda w: (w.start, w.end))
        return _renumber(merge_words(words, label_words(words, windows)))


def _renumber(turns: list[Turn]) -> list[Turn]:
    """Rename speakers S1, S2, ... by first appearance in the turns."""
    names: dict[str, str] = {}
    for t in turns:
        names.setdefault(t.speaker, f"S{len(names) + 1}")
    return [replace(t, index=i, speaker=names[t.speaker]) for i, t in enumerate(turns)]


def diarize(
    audio: Audio,
    segments: Sequence[AsrSegment] | None = None,
    *,
    threshold: float = 0.3,
    num_speakers: int | None = None,
    window_s: float = 1.5,
    hop_s: float = 0.75,
) -> list[Turn]:
    """One-shot :meth:`Diarizer.diarize` (loads the encoder each call; keep a Diarizer to reuse it)."""
    d = Diarizer(threshold=threshold, num_speakers=num_speakers, window_s=window_s, hop_s=hop_s)
    return d.diarize(audio, segments)


_QUESTION_START = re.compile(
    r"^\s*(what|how|why|when|where|who|which|do|does|did|are|is|was|were|can|could|would|will|have|has|"
    r"tell me|say more)\b",
    re.IGNORECASE,
)


def is_question(text: str) -> bool:
    """Whether an utterance reads as a question: it has a '?' or opens with an interrogative word.

    >>> is_question("How did that feel"), is_question("I felt fine.")
    (True, False)
    """
    return "?" in text or bool(_QUESTION_START.match(text))


def counsellor_scores(turns: Sequence[Turn]) -> dict[str, float]:
    """Heuristic counsellor score per speaker (higher = more counsellor-like).

    ``score(s) = q(s) + 0.5 * (1 - talk(s)) + 0.25 * first(s)`` where ``q(s)`` is the share of the
    speaker's turns that are questions (:func:`is_question`), ``talk(s)`` the speaker's share of
    all words (or of turn time when there is no text) and ``first(s)`` is 1 for the speaker who
    opens the session. Rationale: in person-centred and most counselling sessions the counsellor
    asks open questions, talks less than the client and opens the session. A heuristic: wrong for
    sessions that break these habits, hence the override in :func:`assign_roles`.
    """
    speakers = list(dict.fromkeys(t.speaker for t in turns))
    if not speakers:
        return {}
    words = {s: 0.0 for s in speakers}
    n_turns = dict.fromkeys(speakers, 0)
    n_q = dict.fromkeys(speakers, 0)
    for t in turns:
        n_turns[t.speaker] += 1
        n_q[t.speaker] += is_question(t.text)
        words[t.speaker] += len(t.text.split())
    if sum(words.values()) == 0:  # no text: use talk time
        words = {s: sum(t.duration or 0.0 for t in turns if t.speaker == s) for s in speakers}
    total = sum(words.values()) or 1.0
    return {
        s: n_q[s] / n_turns[s] + 0.5 * (1 - words[s] / total) + 0.25 * (s == speakers[0]) for s in speakers
    }


def assign_roles(
    turns: Sequence[Turn], *, override: Mapping[str, Role | str] | None = None
) -> dict[str, Role]:
    """Role of every speaker: the user's ``override`` where given, the heuristic elsewhere.

    Speakers named in ``override`` get those roles. If no speaker is then the counsellor, the
    remaining speaker with the highest :func:`counsellor_scores` score (ties: the earlier speaker)
    becomes the counsellor; all other speakers are clients. A single speaker with no override is
    the client (a monologue is analysed as the client's).
    """
    speakers = list(dict.fromkeys(t.speaker for t in turns))
    roles: dict[str, Role] = {}
    for spk, role in (override or {}).items():
        if spk not in speakers:
            raise CongruenceError(
                f"Role override names speaker '{spk}', who has no turn.",
                f"Use one of the diarized speakers: {', '.join(speakers) or '(none)'}.",
            )
        try:
            roles[spk] = Role(role)
        except ValueError as e:
            raise CongruenceError(
                f"Unknown role '{role}' for speaker '{spk}'.",
                f"Use one of: {', '.join(r.value for r in Role)}.",
            ) from e
    rest = [s for s in speakers if s not in roles]
    if rest and Role.COUNSELLOR not in roles.values() and len(speakers) > 1:
        scores = counsellor_scores(turns)
        best = max(rest, key=lambda s: (scores[s], -speakers.index(s)))
        roles[best] = Role.COUNSELLOR
    for s in rest:
        roles.setdefault(s, Role.CLIENT)
    return roles


def apply_roles(turns: Sequence[Turn], roles: Mapping[str, Role]) -> list[Turn]:
    """Copies of the turns with ``role`` set from ``roles`` (speakers not in it keep ``None``)."""
    return [replace(t, role=roles.get(t.speaker)) for t in turns]
