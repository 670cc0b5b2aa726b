"""Text perception: sentiment, valence-arousal-dominance, emotion categories and an embedding per turn.

Importing this package loads no model. Registry families: ``"text.analyzer"`` (``"default"``:
:class:`TextAnalyzer`) and ``"text.classifier"`` (``"hf"``: :class:`HFTextClassifier`).
"""

from congruence.perception.text.analyzer import TextAnalyzer, text_columns
from congruence.perception.text.classifier import HFTextClassifier
from congruence.perception.text.mapping import fer_distribution

__all__ = ["HFTextClassifier", "TextAnalyzer", "fer_distribution", "text_columns"]
