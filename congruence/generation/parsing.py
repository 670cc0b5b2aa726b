"""Parse ``[Technique] [Response]`` replies and detect the failures the interventions paper reports.

The interventions paper asks for ``[Technique] [Your Response]`` (appendix A) and reports two kinds
of failure (appendix F): an *explanation* of the reply instead of a reply ("Clarification: This
encourages the patient to elaborate on their feelings ..."), and replies that do not keep the
form. Models also write the technique as ``Technique: X`` / ``**Technique: X**`` on its own line
(appendix H shows GPT-4 and LLaMa3 doing so), fill in the placeholders literally
(``[Technique] Reflection [Your Response] ...``), wrap the reply in quotes, or go on to write the
patient's next line. :func:`parse_reply` accepts all of these and returns flags for what it could
not repair:

- ``parse_failed``: no reply text at all (empty output, or only a technique);
- ``missing_technique``: a reply without a technique, where the strategy asks for one;
- ``explanation``: every sentence of the reply talks *about* the reply or the patient (third
  person, no "you") instead of *to* the patient.

Repairs that keep a usable reply are reported as informative flags that do not trigger a retry:
``explanation_removed`` (explanatory sentences cut from a reply that also addresses the client)
and ``trimmed`` (the model's continuation of the dialogue cut off).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Flags that make a sample unusable, so the collection protocol retries it.
FAILURE_FLAGS: frozenset[str] = frozenset({"parse_failed", "missing_technique", "explanation"})
#: Longest accepted technique name (words); longer bracketed text is a reply, not a technique.
MAX_TECHNIQUE_WORDS = 12

_PLACEHOLDER_T = re.compile(r"\[\s*(?:intervention\s+)?technique\s*\]\s*:?", re.I)
_PLACEHOLDER_R = re.compile(r"\[\s*(?:your\s+)?response\s*\]\s*:?", re.I)
_LABEL_T = re.compile(
    r"^\s*[*_#\s]*(?:intervention\s+)?technique(?:\s+used)?\s*[*_]*\s*[:\-–—]\s*[*_]*\s*(?P<t>[^\n]*)", re.I
)
_LABEL_R = re.compile(
    r"^\s*[*_#\s]*(?:your\s+|therapist(?:'s)?\s+)?(?:response|reply|therapist|dialogue|continuation)\s*[*_]*\s*[:\-–—]\s*[*_]*\s*",
    re.I,
)
_BRACKET = re.compile(r"^\s*\[(?P<t>[^\[\]\n]{1,160})\]\s*(?P<rest>.*)$", re.S)
_TITLE_LINE = re.compile(
    r"^\s*[*_]*(?P<t>[A-Z][^\n:.!?\"]{0,80}?)[*_]*\s*:[*_]*\s*(?:\n|$)(?P<rest>.*)$", re.S
)
_TITLE_INLINE = re.compile(r"^\s*[*_]*(?P<t>[A-Z][^\n:.!?\"]{0,80}?)[*_]*\s*:\s*(?P<rest>\S.*)$", re.S)
_NEXT_SPEAKER = re.compile(
    r"\n\s*[*_]*(?:patient|client|therapist|counsell?or|user|assistant)\b[^:\n]{0,30}:", re.I
)
_SENTENCE = re.compile(r"(?<=[.!?])[\"”’')\]]*\s+(?=[\"“‘(\[]?[A-Z])")
_SECOND_PERSON = re.compile(r"\b(you|your|you're|you've|you'd|you'll|yours|yourself)\b", re.I)
_EXPLAIN_START = re.compile(
    r"^\s*(?:this|that|the above|such an?|my|the)\s+(?:response|reply|intervention|technique|approach|"
    r"question|statement|strategy|reflection)\b"
    r"|^\s*this\s+(?:encourages|helps|allows|seeks|aims|invites|validates|shows|demonstrates|acknowledges|"
    r"gives|provides|reflects|is|would|can|will|creates|opens|supports|explores)\b"
    r"|^\s*(?:the\s+)?(?:therapist|counsell?or)\s+(?:should|could|would|might|can|will)\b"
    r"|^\s*(?:as\s+a\s+(?:therapist|mental health expert),?\s+)?"
    r"i\s+would\s+(?:respond|say|use|apply|choose|reply)\b",
    re.I,
)
# preambles that models put where the technique belongs ("Here is your suggested response:")
_META = re.compile(r"^(?:here\b|sure\b|okay\b|certainly\b|dialogue\b|continuation\b|answer\b)", re.I)
_THIRD_PERSON_CLIENT = re.compile(
    r"\b(?:the|this|a)\s+(?:patient|client)(?:'s|’s)?\b|\b(?:patients|clients)\b", re.I
)


@dataclass(frozen=True)
class ParsedReply:
    """A parsed model output: technique (or ``None``), the reply text and flags."""

    technique: str | None
    response: str
    flags: tuple[str, ...]
    raw: str

    @property
    def ok(self) -> bool:
        """No failure flag (:data:`FAILURE_FLAGS`, or a ``degenerate:<reason>`` flag added by
        :func:`congruence.generation.respond.collect`)."""
        return not FAILURE_FLAGS.intersection(self.flags) and not any(
            f.startswith("degenerate:") for f in self.flags
        )


def _squash(text: str) -> str:
    return " ".join(text.split())


def _strip_decoration(text: str) -> str:
    """Remove markdown emphasis, wrapping quotes / brackets and a leading response label."""
    t = text.strip()
    for _ in range(3):
        t = _LABEL_R.sub("", t, count=1).strip()
        t = re.sub(r"^[*_]+|[*_]+$", "", t).strip()
        if len(t) >= 2 and t[0] in "\"“'‘[" and t[-1] in "\"”'’]" and t.count(t[0]) <= 2:
            t = t[1:-1].strip()
        elif t[:1] in ('"', "“") and t.count(t[0]) == 1 and "”" not in t:
            t = t[1:].strip()  # an opening quote whose close was cut off by the token limit
    return t


def _clean_technique(t: str) -> str | None:
    t = _LABEL_T.sub(lambda m: m.group("t"), t, count=1) if _LABEL_T.match(t) else t
    t = re.sub(r"^[*_\s\"“”]+|[*_\s\"“”:.\-–—]+$", "", t).strip()
    t = _squash(t)
    if not t or len(t.split()) > MAX_TECHNIQUE_WORDS or not re.search(r"[A-Za-z]", t):
        return None
    if re.fullmatch(r"(?:intervention\s+)?technique|(?:your\s+)?response", t, re.I) or _META.match(t):
        return None  # a placeholder echoed back or a preamble, not a technique
    return t


def is_explanation(sentence: str) -> bool:
    """Whether a sentence talks about the reply or the patient instead of to the patient.

    Rules (appendix F of the interventions paper shows the pattern): it opens with "This
    encourages / This response / The therapist should / I would respond ...", or it names "the
    patient" / "the client" in the third person without addressing anyone as "you".

    >>> is_explanation("This encourages the patient to elaborate on their feelings.")
    True
    >>> is_explanation("It sounds like this week has been really heavy for you.")
    False
    """
    s = sentence.strip()
    if not s:
        return False
    if _EXPLAIN_START.search(s):
        return True
    return bool(_THIRD_PERSON_CLIENT.search(s)) and not _SECOND_PERSON.search(s)


def split_sentences(text: str) -> list[str]:
    """Split on sentence-final punctuation followed by a capitalised word.

    >>> split_sentences("I hear you. That sounds hard! Is it?")
    ['I hear you.', 'That sounds hard!', 'Is it?']
    """
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def parse_reply(raw: str, *, expect_technique: bool = True) -> ParsedReply:
    """Parse one model output into technique, reply and flags (never raises).

    >>> p = parse_reply("[Reflective listening] [It sounds like you feel alone.]")
    >>> p.technique, p.response, p.flags
    ('Reflective listening', 'It sounds like you feel alone.', ())
    >>> parse_reply("**Technique: Socratic questioning.**\\nAnd what would that mean for you?").technique
    'Socratic questioning'
    >>> parse_reply("Clarification: This encourages the patient to elaborate on their feelings.").flags
    ('explanation',)
    >>> parse_reply("It sounds like you are tired.").flags
    ('missing_technique',)
    """
    text = str(raw or "").replace("\r\n", "\n").strip()
    flags: list[str] = []
    # literal placeholders filled in by the model become labels
    text = _PLACEHOLDER_T.sub("Technique:", text, count=1)
    text = _PLACEHOLDER_R.sub("\nResponse:", text, count=1).strip()

    technique: str | None = None
    body = text
    m = _BRACKET.match(text)
    if m and _clean_technique(m.group("t")) is not None and m.group("rest").strip():
        technique, body = _clean_technique(m.group("t")), m.group("rest")
    elif (lm := _LABEL_T.match(text)) is not None:
        line, after = lm.group("t"), text[lm.end() :]
        # "Technique: X. Response: Y" (or "Technique: X - Y" when nothing follows) on one line
        sep = r"\s*[*_]*\s*(?:your\s+)?response\s*[*_]*\s*:\s*" + ("" if after.strip() else r"|\s[-–—]\s")
        split = re.split(sep, line, maxsplit=1, flags=re.I)
        technique = _clean_technique(split[0])
        body = (split[1] if len(split) > 1 else "") + after
    elif (tm := _TITLE_LINE.match(text) or _TITLE_INLINE.match(text)) is not None and not _LABEL_R.match(
        text
    ):
        cand = _clean_technique(tm.group("t"))
        if _META.match(tm.group("t").strip("*_ ")):
            body = tm.group("rest")  # "Here is my response:" - a preamble, not a technique
        elif cand is not None and len(cand.split()) <= 6:
            technique, body = cand, tm.group("rest")
    elif m and m.group("rest").strip() == "":
        inside = m.group("t").strip()
        if (
            len(inside.split()) <= 4
            and not re.search(r"[.!?]$", inside)
            and not _SECOND_PERSON.search(inside)
        ):
            technique, body = _clean_technique(inside), ""  # a technique and no reply
        else:
            body = inside  # the whole reply in brackets, no technique

    # the model writing the patient's next line (or another turn) is cut off
    nxt = _NEXT_SPEAKER.search("\n" + body.strip())
    if nxt is not None and nxt.start() > 0:
        body = ("\n" + body.strip())[: nxt.start()]
        flags.append("trimmed")
    response = _squash(_strip_decoration(body))
    if response:
        sentences = split_sentences(response)
        explaining = [is_explanation(s) for s in sentences]
        if sentences and all(explaining):
            flags.append("explanation")
        elif any(explaining):
            response = " ".join(s for s, e in zip(sentences, explaining, strict=True) if not e)
            flags.append("explanation_removed")
    if not response:
        flags.append("parse_failed")
    if expect_technique and technique is None and response:
        flags.append("missing_technique")
    order = ["parse_failed", "missing_technique", "explanation", "explanation_removed", "trimmed"]
    return ParsedReply(technique, response, tuple(f for f in order if f in flags), str(raw or ""))


__all__ = ["FAILURE_FLAGS", "ParsedReply", "is_explanation", "parse_reply", "split_sentences"]
