"""Phrase lexicons of the PCT metrics: loading, text normalisation and fast counting.

Each lexicon is a text file under ``congruence/data/pct/`` with one phrase per line; ``#`` starts a
comment. A line starting with ``^`` matches only at the start of a sentence, a line starting with
``~`` is a leading discourse marker (used by ``open_question_starts.txt``), and ``{feeling}``
expands to the words of ``feelings.txt`` (optionally after one intensifier).

Text and phrases go through the same :func:`normalize` (lower case, straight apostrophes,
contractions expanded), so ``"you're"`` and ``"you are"`` match the same entry. All phrases of a
lexicon compile into one regular expression with longest-first alternation, so overlapping entries
("it sounds like" / "sounds like") count once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from congruence.errors import CongruenceError

LEXICON_DIR = Path(__file__).resolve().parent.parent / "data" / "pct"

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_CONTRACTIONS = (
    # order matters: irregular negations before the generic n't
    (re.compile(r"\bcan't\b"), "can not"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"\bshan't\b"), "shall not"),
    (re.compile(r"\bain't\b"), "is not"),
    (re.compile(r"\blet's\b"), "let us"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"'re\b"), " are"),
    (re.compile(r"\bi'm\b"), "i am"),
    (re.compile(r"'ve\b"), " have"),
    (re.compile(r"'ll\b"), " will"),
    (re.compile(r"'d\b"), " would"),
    # "'s" is "is" or "has" or a possessive; only the pronoun/deictic forms are expanded
    (re.compile(r"\b(it|that|there|what|how|here|he|she|who|where)'s\b"), r"\1 is"),
)
_SPACE = re.compile(r"\s+")
# intensifiers allowed between a reflective stem and a feeling word ("you seem really tired")
_INTENSIFIERS = (
    "so",
    "really",
    "very",
    "quite",
    "pretty",
    "a bit",
    "a little",
    "kind of",
    "sort of",
    "so very",
)


# the contractions above as one alternation scanned once (eleven passes cost half the lexicon
# metrics' time); alternatives keep the table's order, so "can't" wins over the generic "n't"
_ONE_PASS = re.compile("|".join(f"(?P<c{i}>{p.pattern})" for i, (p, _) in enumerate(_CONTRACTIONS)))
_ONE_PASS_REPL = [repl for _, repl in _CONTRACTIONS]


def _expand(m: re.Match[str]) -> str:
    i = int(str(m.lastgroup)[1:])
    if i == len(_CONTRACTIONS) - 1:  # "(it|that|...)'s" keeps its pronoun: "it's" -> "it is"
        return m.group()[:-2] + " is"
    return _ONE_PASS_REPL[i]


def normalize(text: str) -> str:
    """Lower-case, straighten apostrophes, expand contractions and collapse whitespace.

    >>> normalize("You’re  NOT alone; that's OK")
    'you are not alone; that is ok'
    """
    s = text.translate(_APOSTROPHES).lower()
    if "'" in s:  # every contraction has one; most texts skip the scan
        s = _ONE_PASS.sub(_expand, s)
    return _SPACE.sub(" ", s).strip()


def _phrase_pattern(phrase: str, feelings: tuple[str, ...]) -> str:
    parts = [re.escape(p) for p in normalize(phrase).split(" ")]
    pat = r"\s+".join(parts)
    if r"\{feeling\}" in pat:
        inten = "|".join(r"\s+".join(map(re.escape, i.split())) for i in _INTENSIFIERS)
        feel = "|".join(
            r"\s+".join(map(re.escape, f.split())) for f in sorted(feelings, key=len, reverse=True)
        )
        pat = pat.replace(r"\{feeling\}", rf"(?:(?:{inten})\s+)?(?:{feel})")
    return pat


@dataclass(frozen=True)
class Lexicon:
    """A named phrase list compiled to one regular expression.

    ``anywhere`` phrases match on word boundaries anywhere; ``initial`` phrases only at the start of
    the text or after sentence-final punctuation; ``markers`` are leading discourse markers.
    """

    name: str
    anywhere: tuple[str, ...]
    initial: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()
    feelings: tuple[str, ...] = ()

    @property
    def phrases(self) -> tuple[str, ...]:
        return self.anywhere + self.initial

    def _alternation(self, phrases: tuple[str, ...]) -> str:
        pats = sorted((_phrase_pattern(p, self.feelings) for p in phrases), key=len, reverse=True)
        return "|".join(pats)

    def __post_init__(self) -> None:
        # compiled once per lexicon; kept out of the dataclass fields (frozen, hashable)
        object.__setattr__(self, "_regex", _compile(self))

    @property
    def regex(self) -> re.Pattern[str]:
        return self._regex  # type: ignore[attr-defined]

    def count(self, normalized_text: str) -> int:
        """Number of non-overlapping matches in text already passed through :func:`normalize`."""
        return len(self._regex.findall(normalized_text))  # type: ignore[attr-defined]

    def matches(self, text: str) -> list[str]:
        """The matched phrases in ``text`` (normalised), for inspection and docs."""
        return [m.strip(" .!?") for m in self.regex.findall(normalize(text))]


@cache
def _compile(lex: Lexicon) -> re.Pattern[str]:
    alts = []
    if lex.anywhere:
        alts.append(rf"(?<![\w'])(?:{lex._alternation(lex.anywhere)})(?![\w'])")
    if lex.initial:
        # sentence start: beginning of text, or after . ! ? (plus closing quotes) and whitespace
        alts.append(rf"(?:^|(?<=[.!?])\s+|(?<=[.!?][\"')])\s+)(?:{lex._alternation(lex.initial)})(?![\w'])")
    if not alts:
        return re.compile(r"(?!x)x")  # matches nothing
    return re.compile("|".join(alts))


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise CongruenceError(
            f"PCT lexicon file {path} is missing.",
            "Reinstall congruence (the lexicons ship in congruence/data/pct) or pass lexicon_dir= "
            "pointing to a folder with the same file names.",
        )
    out = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def read_words(name: str, directory: Path | None = None) -> tuple[str, ...]:
    """Plain word list (``feelings``, ``stopwords``, ``congruence_concepts``) of a data file."""
    return tuple(_read_lines((directory or LEXICON_DIR) / f"{name}.txt"))


def load_lexicon(name: str, directory: Path | None = None) -> Lexicon:
    """Load ``<directory>/<name>.txt`` (default: the packaged ``congruence/data/pct``)."""
    d = directory or LEXICON_DIR
    lines = _read_lines(d / f"{name}.txt")
    anywhere = tuple(x for x in lines if x[0] not in "^~")
    initial = tuple(x[1:].strip() for x in lines if x.startswith("^"))
    markers = tuple(x[1:].strip() for x in lines if x.startswith("~"))
    feelings = read_words("feelings", d) if any("{feeling}" in x for x in lines) else ()
    return Lexicon(name=name, anywhere=anywhere, initial=initial, markers=markers, feelings=feelings)


LEXICON_NAMES = (
    "natural_conversational",
    "authentic_engagement",
    "performative",
    "situational",
    "clarity",
    "purposeful",
    "open_question_starts",
    "empathy",
    "curiosity",
    "acceptance",
    "directive",
    "authenticity",
)


def load_all(directory: Path | None = None) -> dict[str, Lexicon]:
    """Every lexicon the PCT metrics use, keyed by file stem."""
    return {n: load_lexicon(n, directory) for n in LEXICON_NAMES}


_WORD = re.compile(r"[a-z][a-z']*")


@lru_cache(maxsize=65536)  # a vocabulary's worth: the same words recur in every turn
def _stem(word: str) -> str:
    # crude suffix stripping so that "argue" / "arguing" / "argued" meet; fast, no model
    for suf in ("ing", "ed", "es", "s", "ly"):
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            return word[: -len(suf)].rstrip("e")
    return word.rstrip("e") if len(word) > 3 else word


def content_words(text: str, stopwords: frozenset[str], *, normalized: str | None = None) -> list[str]:
    """Lower-case word tokens of ``text`` that are not stopwords and longer than two letters.

    ``normalized``: ``normalize(text)`` when the caller already has it (computed once per text).
    """
    norm = normalize(text) if normalized is None else normalized
    return [w for w in _WORD.findall(norm) if w not in stopwords and len(w) > 2]
