"""Voice perception per turn: prosody, eGeMAPS and speech-emotion estimates
(see :mod:`congruence.perception.voice.analyzer`).

Importing this package loads no model. Its registry families (:data:`congruence.registry.ENTRIES`):

- ``"voice.analyzer"``: ``"default"`` -> :class:`~congruence.perception.voice.analyzer.VoiceAnalyzer`
- ``"voice.ser"``: ``"proxy"`` (default, speaker-normalised arousal proxy), ``"wav2vec2"``
  (audEERING valence / arousal / dominance model from a local folder)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from congruence.perception.voice.analyzer import VoiceAnalyzer

__all__ = ["VoiceAnalyzer"]


def __getattr__(name: str) -> Any:
    # lazy so that `import congruence.perception.voice` stays cheap (no pandas / Praat / openSMILE)
    if name == "VoiceAnalyzer":
        from congruence.perception.voice.analyzer import VoiceAnalyzer

        return VoiceAnalyzer
    raise AttributeError(name)
