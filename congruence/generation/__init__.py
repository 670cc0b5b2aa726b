"""Incongruence-aware person-centred responses: prompts, backends, the E-THER collection protocol,
parsing of ``[Technique] [Response]`` and a safety layer.

Research and supportive-communication outputs, not therapy: replies never present themselves as
clinical advice, and crisis language is answered by pointing to people, not by a model.

>>> from congruence.generation import build_messages
>>> build_messages("base", "I'm fine.")[0]["content"].endswith("[Technique] [Your Response]")
True
"""

from __future__ import annotations

from congruence.generation.parsing import ParsedReply, parse_reply
from congruence.generation.prompts import STRATEGIES, DialogueTurn, build_messages, get_strategy
from congruence.generation.respond import (
    DISCLAIMER,
    RESPONSE_COLUMNS,
    Reply,
    Responder,
    add_responses,
    median_length_index,
    response_provenance,
)

__all__ = [
    "DISCLAIMER",
    "RESPONSE_COLUMNS",
    "STRATEGIES",
    "DialogueTurn",
    "ParsedReply",
    "Reply",
    "Responder",
    "add_responses",
    "build_messages",
    "get_strategy",
    "median_length_index",
    "parse_reply",
    "response_provenance",
]
