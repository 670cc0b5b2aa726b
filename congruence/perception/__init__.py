"""Perception: per client turn, what the face shows, how the voice sounds and what the words say.

Importing this package loads no model; it only declares where each registry family lives, so
``congruence.registry.create("face.analyzer", "default")`` imports the right module on demand.
"""

from congruence.registry import declare

declare("face.analyzer", "congruence.perception.face.analyzer")
declare("face.detector", "congruence.perception.face.detectors")
declare("face.va", "congruence.perception.face.va")
declare("voice.analyzer", "congruence.perception.voice.analyzer")
declare("voice.ser", "congruence.perception.voice.ser")
declare("text.analyzer", "congruence.perception.text.analyzer")
declare("text.classifier", "congruence.perception.text.classifier")
