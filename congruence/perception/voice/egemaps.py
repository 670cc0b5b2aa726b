"""eGeMAPSv02 functionals (88 acoustic parameters) with openSMILE.

Eyben et al. (2016), "The Geneva Minimalistic Acoustic Parameter Set (GeMAPS) for Voice Research
and Affective Computing", IEEE Transactions on Affective Computing 7(2). openSMILE (the ``opensmile``
package) is free for research and education only: its licence does not allow commercial use
without a licence from audEERING.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from congruence.perception.voice.arousal import EGEMAPS_PREFIX

EGEMAPS_ESTIMATOR = "opensmile-eGeMAPSv02"
LICENCE_NOTE = "openSMILE: research/education use only (non-commercial licence, audEERING)"


class EgemapsExtractor:
    """Lazily created ``opensmile.Smile`` for eGeMAPSv02 functionals (one per instance)."""

    def __init__(self) -> None:
        self._smile: Any = None

    def _get(self) -> Any:
        if self._smile is None:
            import opensmile

            self._smile = opensmile.Smile(
                feature_set=opensmile.FeatureSet.eGeMAPSv02,
                feature_level=opensmile.FeatureLevel.Functionals,
            )
        return self._smile

    def feature_names(self) -> list[str]:
        """The 88 eGeMAPSv02 functional names, in openSMILE's order."""
        return list(self._get().feature_names)

    def column_names(self) -> list[str]:
        """Table columns: ``voice_egemaps_<name>``."""
        return [EGEMAPS_PREFIX + n for n in self.feature_names()]

    def extract(self, samples: np.ndarray, sample_rate: int) -> dict[str, float | None]:
        """Functionals of one turn as ``{voice_egemaps_<name>: value}``; NaN becomes ``None``."""
        df = self._get().process_signal(np.asarray(samples, dtype=np.float32), sample_rate)
        row = df.iloc[0]
        out: dict[str, float | None] = {}
        for name, value in row.items():
            v = float(value)
            out[EGEMAPS_PREFIX + str(name)] = v if math.isfinite(v) else None
        return out
