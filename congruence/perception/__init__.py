"""Perception: per client turn, what the face shows, how the voice sounds and what the words say.

Importing this package loads no model; :data:`congruence.registry.ENTRIES` names each part's
module, so ``congruence.registry.create("face.analyzer", "default")`` imports it on demand.
"""
