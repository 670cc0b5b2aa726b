"""Safety layer: crisis language in the client's words, directive advice and clinical claims in replies.

Pure functions over text, with the lexicons below as documented, inspectable data. They are a
*screening heuristic*, not a risk assessment: phrase lists miss indirect or misspelt disclosures
and catch some idioms. That is why the crisis check errs towards flagging and why every flagged
turn is routed to people (the safe message), never to the model.

Crisis (:func:`detect_crisis`), three categories, patterns matched case-insensitively on the
client's words:

- ``suicide``: "kill myself", "end my life", "take my own life", "suicide", "suicidal", "want to
  die", "better off dead", "no reason to live", "don't want to live / be alive / be here anymore",
  "end it all", "can't go on";
- ``self_harm``: "hurt / harm / cut / burn / punish myself", "self-harm", "cutting", "overdose";
- ``harm_to_others``: "kill / hurt / harm / shoot / stab / strangle" + a person (him, her, them,
  someone, people, my <anyone>) and "make him/her/them pay".

Negations: a match is *negated* when one of the cues in :data:`NEGATION_CUES` ("never", "not",
"n't", "no longer", "wouldn't", ...) stands in the same clause within three words before it ("I
would never hurt myself", "I'm not going to kill myself", "I don't want to die"). A negated match
does **not** trigger the safe message (a client who rules something out is not answered as if
they had disclosed it) but is reported as ``negated`` so that a person can review it: denials are
themselves a place where words and face can disagree (E-THER's *minimizing*). Phrases that carry
their own negation ("don't want to live", "can't go on") are crisis phrases, not negations, and
"can't stop" / "couldn't stop" never negate ("I can't stop thinking about killing myself").

Directive advice (:func:`directive_counts`): :data:`DIRECTIVE_PATTERNS` ("you should", "you need
to", "you must", "you have to", "you ought to", "I suggest / recommend / advise", "try to", "why
don't you", "make sure", "it's important (for you) to", "the best thing (for you) is"). PCT
counts these against unconditional positive regard (E-THER section V-A: a penalty for directive
language); we count them and flag replies that contain any.

Clinical claims (:func:`clinical_claims`): a reply must never present itself as clinical advice:
diagnoses ("you have depression", "you are suffering from PTSD"), prescriptions (medication,
dosage), or a clinical identity ("as your therapist", "I am a licensed psychologist"). Sentences
that make such claims are removed from a reply (:func:`remove_clinical_claims`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PERSON = (
    r"(?:him|her|them|someone|somebody|anyone|anybody|people|everyone|everybody|others|"
    r"my\s+(?:\w+\s+)?(?:wife|husband|partner|boss|mother|mom|mum|father|dad|brother|sister|son|daughter|"
    r"child|children|kids?|family|friend|boyfriend|girlfriend|ex|neighbou?r|colleague|coworker|teacher))"
)

#: Crisis patterns per category (case-insensitive regular expressions).
CRISIS_PATTERNS: dict[str, tuple[str, ...]] = {
    "suicide": (
        r"\bkill(?:ing)?\s+my\s*self\b",
        r"\bend(?:ing)?\s+(?:my|this)\s+(?:own\s+)?life\b",
        r"\btak(?:e|ing)\s+my\s+(?:own\s+)?life\b",
        r"\bsuicid(?:e|al)\b",
        r"\bwant(?:ed)?\s+to\s+die\b",
        r"\bwish\s+i\s+(?:was|were)\s+dead\b",
        r"\bwish\s+i\s+(?:had\s+never\s+been|wasn'?t|weren'?t)\s+born\b",
        r"\bbetter\s+off\s+dead\b",
        r"\b(?:better|easier)\s+(?:off\s+)?without\s+me\b",
        r"\bno\s+(?:reason|point)\s+(?:to|in)\s+(?:live|living|go(?:ing)?\s+on)\b",
        r"\b(?:don'?t|do\s+not|no\s+longer)\s+want\s+to\s+(?:live|be\s+alive|be\s+here\s+any\s*more|exist|wake\s+up)\b",
        r"\bend\s+it\s+all\b",
        r"\bcan'?t\s+go\s+on\b",
    ),
    "self_harm": (
        r"\b(?:hurt|harm|cut|burn|punish|injure|starve)(?:ing)?\s+my\s*self\b",
        r"\bself[-\s]?harm(?:ing)?\b",
        r"\bcutting\s+(?:myself|my\s+(?:arms?|legs?|wrists?|skin))\b",
        r"\boverdos(?:e|ing)\b",
    ),
    "harm_to_others": (
        r"\b(?:kill|hurt|harm|shoot|stab|strangle|beat\s+up|attack)(?:ing)?\s+" + _PERSON + r"\b",
        r"\bmake\s+(?:him|her|them)\s+pay\b",
    ),
}

#: Words that negate a crisis phrase when they stand in the same clause within three words before it.
NEGATION_CUES: tuple[str, ...] = (
    "never",
    "not",
    "no",
    "n't",
    "no longer",
    "nobody",
    "nothing",
    "wouldn't",
    "won't",
    "don't",
    "didn't",
    "wasn't",
    "isn't",
)
_NEGATION = re.compile(r"\b(?:never|not|no|nobody|nothing|no\s+longer)\b|n't\b|n’t\b", re.I)
_NOT_NEGATION = re.compile(r"\b(?:can|could)(?:n't|n’t|\s+not)\s+stop\b", re.I)
_CLAUSE_BREAK = re.compile(r"[.!?;,:]|\bbut\b|\bthough\b|\bhowever\b|\band\b", re.I)
_COMPILED = {c: tuple(re.compile(p, re.I) for p in ps) for c, ps in CRISIS_PATTERNS.items()}


@dataclass(frozen=True)
class CrisisMatch:
    """One crisis phrase in a text: category, the words matched, and whether they were negated."""

    category: str
    phrase: str
    start: int
    negated: bool


def _negated(text: str, start: int) -> bool:
    before = text[:start]
    breaks = list(_CLAUSE_BREAK.finditer(before))
    clause = before[breaks[-1].end() :] if breaks else before
    clause = _NOT_NEGATION.sub(" ", clause)
    window = " ".join(clause.split()[-3:])
    return bool(_NEGATION.search(window))


def detect_crisis(text: str) -> list[CrisisMatch]:
    """All crisis phrases in ``text`` (see the module docstring for the lexicon and the negation rule).

    >>> [(m.category, m.negated) for m in detect_crisis("Some days I just want to die.")]
    [('suicide', False)]
    >>> [(m.category, m.negated) for m in detect_crisis("I would never hurt myself.")]
    [('self_harm', True)]
    >>> detect_crisis("This commute is killing me.")
    []
    """
    text = str(text or "").replace("’", "'")
    found: list[CrisisMatch] = []
    seen: set[tuple[int, int]] = set()
    for cat, pats in _COMPILED.items():
        for pat in pats:
            for m in pat.finditer(text):
                if any(a <= m.start() < b for a, b in seen):
                    continue  # an overlapping phrase already reported
                seen.add((m.start(), m.end()))
                found.append(CrisisMatch(cat, m.group(0), m.start(), _negated(text, m.start())))
    return sorted(found, key=lambda m: m.start)


def crisis_categories(text: str) -> list[str]:
    """Categories of the non-negated crisis phrases in ``text`` (empty: no crisis language).

    >>> crisis_categories("I'm fine. I'm not going to kill myself."), crisis_categories("I want to hurt him")
    ([], ['harm_to_others'])
    """
    return sorted({m.category for m in detect_crisis(text) if not m.negated})


#: The reply given instead of the model's whenever the client's words contain crisis language.
#: Non-clinical, makes no promises, points to people: emergency number, crisis line, someone trusted.
SAFE_MESSAGE = (
    "It sounds like you are carrying something really painful right now, and I'm glad you said it. "
    "I'm an automated research tool, not a counsellor, so I can't give you the support you deserve. "
    "If you feel you might act on these thoughts, or that you or someone else is in danger, please "
    "call your local emergency number now. You can also contact a crisis line in your country, or "
    "reach out to someone you trust and tell them how you are feeling."
)

#: A neutral reply used when every sentence of a model reply was removed as a clinical claim.
NON_CLINICAL_FALLBACK = (
    "Thank you for sharing that with me. Could you tell me a little more about how it feels for you?"
)


def safe_message(categories: list[str] | tuple[str, ...] = ()) -> str:
    """The safe reply (one message for every category: it must read right whatever was detected).

    >>> "emergency number" in safe_message(["suicide"])
    True
    """
    return SAFE_MESSAGE


#: Directive-advice patterns (case-insensitive), by name.
DIRECTIVE_PATTERNS: dict[str, str] = {
    "you_should": r"\byou\s+(?:really\s+|just\s+|definitely\s+)?(?:should|shouldn't|should\s+not)\b",
    "you_need_to": r"\byou\s+(?:really\s+|just\s+)?need\s+to\b",
    "you_must": r"\byou\s+(?:really\s+)?(?:must|mustn't)\b",
    "you_have_to": r"\byou\s+(?:really\s+|just\s+)?(?:have|got)\s+to\b|\byou've\s+got\s+to\b",
    "you_ought_to": r"\byou\s+ought\s+to\b",
    "i_suggest": r"\bi(?:\s+would|'d|\s+strongly)?\s+(?:suggest|recommend|advise|urge)\b",
    "try_to": r"(?:^|[.!?]\s+|\byou\s+(?:could\s+|can\s+|might\s+)?)try\s+(?:to\b|\w+ing\b)",
    "why_dont_you": r"\bwhy\s+(?:don't|do\s+not)\s+you\b",
    "make_sure": r"\bmake\s+sure\b",
    "its_important_to": (
        r"\bit(?:'s|\s+is)\s+(?:really\s+|very\s+)?important\s+(?:for\s+you\s+)?(?:to|that\s+you)\b"
    ),
    "best_thing": r"\bthe\s+best\s+thing\s+(?:for\s+you\s+)?(?:is|would\s+be)\b",
}
_DIRECTIVES = {k: re.compile(p, re.I) for k, p in DIRECTIVE_PATTERNS.items()}


def directive_counts(text: str) -> dict[str, int]:
    """Occurrences of each directive pattern (only those found).

    >>> directive_counts("You should rest. I suggest a walk, and you should call her.")
    {'you_should': 2, 'i_suggest': 1}
    """
    text = str(text or "").replace("’", "'")
    counts = {k: len(p.findall(text)) for k, p in _DIRECTIVES.items()}
    return {k: v for k, v in counts.items() if v}


def directive_count(text: str) -> int:
    """Total directive-advice occurrences in ``text``.

    >>> directive_count("It sounds like a lot. What feels hardest?")
    0
    """
    return sum(directive_counts(text).values())


#: Clinical-claim patterns (case-insensitive): diagnoses, prescriptions, clinical identity.
CLINICAL_PATTERNS: dict[str, str] = {
    "diagnosis": (
        r"\byou\s+(?:have|'ve\s+got|are\s+suffering\s+from|suffer\s+from|clearly\s+have|probably\s+have)\s+"
        r"(?:(?:a|an|clinical|severe|major|mild)\s+)*(?:depression|depressive\s+disorder|anxiety\s+disorder|"
        r"ptsd|ocd|adhd|bipolar|schizophreni\w*|borderline|personality\s+disorder|an?\s+eating\s+disorder|"
        r"a\s+(?:mental|psychiatric)\s+(?:illness|disorder)|\w+\s+disorder)\b"
        r"|\b(?:my|this|the)\s+diagnosis\b|\bi\s+(?:would\s+)?diagnose\b"
    ),
    "prescription": (
        r"\b(?:take|taking|prescribe|increase|decrease|stop\s+taking)\s+(?:your\s+|some\s+|an?\s+)?"
        r"(?:medication|meds|antidepressants?|pills?|ssris?|dose|dosage)\b|\b\d+\s*mg\b"
    ),
    "clinical_identity": (
        r"\bas\s+your\s+(?:therapist|counsell?or|doctor|psychologist|psychiatrist|clinician)\b"
        r"|\bi\s+am\s+(?:a|your)\s+(?:licensed|certified|qualified|registered|trained)?\s*"
        r"(?:therapist|counsell?or|doctor|psychologist|psychiatrist|clinician)\b"
        r"|\bi'm\s+(?:a|your)\s+(?:licensed|certified|qualified|registered|trained)?\s*"
        r"(?:therapist|counsell?or|doctor|psychologist|psychiatrist|clinician)\b"
        r"|\b(?:this|my)\s+(?:is\s+)?(?:clinical|medical)\s+advice\b"
    ),
}
_CLINICAL = {k: re.compile(p, re.I) for k, p in CLINICAL_PATTERNS.items()}


def clinical_claims(text: str) -> list[str]:
    """Kinds of clinical claim made in ``text`` (see :data:`CLINICAL_PATTERNS`).

    >>> clinical_claims("As your therapist, I think you have clinical depression.")
    ['clinical_identity', 'diagnosis']
    >>> clinical_claims("That sounds really heavy.")
    []
    """
    text = str(text or "").replace("’", "'")
    return sorted(k for k, p in _CLINICAL.items() if p.search(text))


def remove_clinical_claims(text: str) -> tuple[str, list[str]]:
    """Drop the sentences of ``text`` that make clinical claims; return the rest and the claim kinds.

    If nothing is left, the reply becomes :data:`NON_CLINICAL_FALLBACK`.

    >>> remove_clinical_claims("I hear you. As your therapist, I know best.")
    ('I hear you.', ['clinical_identity'])
    """
    from congruence.generation.parsing import split_sentences

    kinds = clinical_claims(text)
    if not kinds:
        return text, []
    kept = [s for s in split_sentences(text) if not clinical_claims(s)]
    return (" ".join(kept) if kept else NON_CLINICAL_FALLBACK), kinds


__all__ = [
    "CLINICAL_PATTERNS",
    "CRISIS_PATTERNS",
    "DIRECTIVE_PATTERNS",
    "NEGATION_CUES",
    "NON_CLINICAL_FALLBACK",
    "SAFE_MESSAGE",
    "CrisisMatch",
    "clinical_claims",
    "crisis_categories",
    "detect_crisis",
    "directive_count",
    "directive_counts",
    "remove_clinical_claims",
    "safe_message",
]
