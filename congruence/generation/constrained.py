"""Format by construction: the technique is chosen from a fixed list under the model, and the model
writes only the reply after a pre-filled ``[Technique] X [Response]``.

Small models do not keep the interventions paper's ``[Technique] [Your Response]`` form when asked
(SmolLM2-135M: 0 of 20 well-formed, issue 15). Here the assistant turn is pre-filled with
``[Technique]``; the technique is the allowed name the model scores highest (local engines:
:meth:`complete_choice`); the text ``[Technique] <name> [Response]`` is then pre-filled and the
model continues with the reply alone, under a token budget for E-THER's 1-3 sentences and with stop
sequences at a new line or a new speaker. The papers' free-text form stays the ``free`` format
(for large remote models behind the ``openai`` backend).

How each engine scores the names:

- transformers: the log-likelihood ``sum_t log p(token_t | prompt, head, tokens_<t)`` of every
  name, in one batched forward pass; the highest wins.
- ONNX Runtime GenAI (only next-token logits are exposed): greedy decoding restricted to the
  token trie of the names, i.e. at each step the allowed next token with the highest logit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

#: Person-centred techniques the model may name (ours: the names models give in the interventions
#: paper's appendices F and H, without directive ones such as "Cognitive Restructuring").
TECHNIQUES: tuple[str, ...] = (
    "Reflection",
    "Validation",
    "Open Question",
    "Clarification",
    "Summarizing",
    "Empathic Acknowledgement",
    "Exploring Feelings",
    "Gentle Challenge",
)
#: Pre-filled text before the technique and between technique and reply.
HEAD, TAIL = "[Technique]", " [Response]"
#: Tokens for the reply in the constrained format (1-3 short sentences; E-THER asks for 1-2).
REPLY_TOKENS = 80
#: Reply tokens before an end-of-sequence may end it (an empty reply is never a reply).
MIN_REPLY_TOKENS = 4
#: Where a reply stops: a new line, a bracket (a new field) or a new speaker.
STOP: tuple[str, ...] = ("\n", "[", "Patient:", "Therapist:", "Client:", "User:")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’')\]]*\s+")


def common_prefix(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the longest common prefix of token sequences.

    >>> common_prefix([[1, 2, 3], [1, 2, 4], [1, 2]])
    2
    """
    if not seqs:
        return 0
    n = min(len(s) for s in seqs)
    for i in range(n):
        if any(s[i] != seqs[0][i] for s in seqs[1:]):
            return i
    return n


def trie_choice(
    seqs: Sequence[Sequence[int]], start: int, logits: Callable[[], Any], advance: Callable[[int], None]
) -> int:
    """The index of the token sequence chosen by greedy decoding restricted to the sequences' trie.

    From position ``start`` (the shared prefix, already fed), at each step the allowed next token
    (one that continues a sequence still in play) with the highest of ``logits()`` is fed with
    ``advance(token)``; a sequence that is complete wins. Engines that expose only next-token logits
    (ONNX Runtime GenAI, llama.cpp) choose the technique this way.

    >>> rows = iter([[0.0, 0.1, 0.9, 0.0], [0.0, 0.0, 0.0, 0.0]])
    >>> trie_choice([[0, 1, 3], [0, 2], [0, 1]], 1, lambda: next(rows), lambda t: None)
    1
    """
    alive = list(range(len(seqs)))
    pos = start
    while True:
        done = [k for k in alive if len(seqs[k]) == pos]
        if done:
            return done[0]
        row = logits()
        nxt = max({seqs[k][pos] for k in alive}, key=lambda t: row[t])
        alive = [k for k in alive if seqs[k][pos] == nxt]
        advance(nxt)
        pos += 1


def cut_at_stop(text: str, stop: Sequence[str] = STOP) -> str:
    """``text`` up to the first stop sequence; leading white space is not a stop (a reply that
    starts on a new line after ``[Response]`` is still a reply).

    >>> cut_at_stop("That sounds hard.\\nPatient: yes")
    'That sounds hard.'
    >>> cut_at_stop("\\n That sounds hard.\\nPatient: yes")
    'That sounds hard.'
    """
    text = text.lstrip()
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=len(text))
    return text[:cut].strip()


def keep_sentences(text: str, n: int = 3) -> str:
    """The first ``n`` sentences (E-THER's concision); a trailing unfinished sentence is dropped
    when at least one finished sentence comes before it.

    >>> keep_sentences("One. Two? Three! Four.")
    'One. Two? Three!'
    >>> keep_sentences("It sounds hard. And I wonder whether")
    'It sounds hard.'
    """
    parts = [p for p in _SENTENCE_END.split(text.strip()) if p]
    if len(parts) > 1 and not re.search(r"[.!?][\"”’')\]]*$", parts[-1]):
        parts = parts[:-1]
    return " ".join(parts[:n]).strip()


def choice_prompt(prompt: str, choice: str) -> str:
    """The pre-filled assistant text up to the reply: ``prompt + "[Technique] X [Response]"``."""
    return f"{prompt}{HEAD} {choice}{TAIL}"


__all__ = [
    "HEAD",
    "MIN_REPLY_TOKENS",
    "REPLY_TOKENS",
    "STOP",
    "TAIL",
    "TECHNIQUES",
    "choice_prompt",
    "common_prefix",
    "cut_at_stop",
    "keep_sentences",
    "trie_choice",
]
