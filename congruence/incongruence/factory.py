"""Build or load an incongruence model by name: ``logreg`` / ``hgb`` (calibrated) or ``gated`` (fusion).

One place for the choice the ``detect`` and ``disagreement`` commands and
:func:`~congruence.incongruence.disagreement.analyze_disagreement` make, through the package
registry's ``incongruence.detector`` family (the CLI stays thin).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from congruence.errors import CongruenceError

#: Training options of the gated network that the calibrated detectors do not take: dropped for
#: them, so that one set of command-line options serves every model.
_NETWORK_ONLY = frozenset(
    {"epochs", "lr", "min_steps", "batch_size", "modality_dropout", "hidden", "dropout"}
)


def model_factory(
    model: str, modalities: Sequence[str], task: str = "type", seed: int = 0, **options: Any
) -> Callable[[], Any]:
    """A function that builds a fresh, unfitted model (for cross-validation and the final fit).

    ``model`` is an ``incongruence.detector`` entry of :mod:`congruence.registry` (an unknown
    name is an error listing the valid ones). ``options`` go to the model's constructor; the
    network's training options (``epochs``, ``lr``, ...) are ignored for the calibrated ones.
    """
    from congruence import registry

    accepted = registry.keywords("incongruence.detector", model)
    opts = {k: v for k, v in options.items() if k in accepted or k not in _NETWORK_ONLY}
    opts["seed" if "seed" in accepted else "random_state"] = seed
    mods = tuple(modalities)
    return lambda: registry.create("incongruence.detector", model, modalities=mods, task=task, **opts)


def check_model_file(model: str, path: Path) -> None:
    """The gated fusion model is saved as a torch ``.pt`` file, the calibrated ones as joblib."""
    if model == "gated" and path.suffix != ".pt":
        raise CongruenceError("The gated fusion model is saved as a torch file.", "Name the output *.pt.")
    if model != "gated" and path.suffix == ".pt":
        raise CongruenceError("A .pt output is for --model gated.", "Name the output *.joblib.")


def load_model(path: str | Path) -> Any:
    """A saved detector: ``.pt`` -> the gated fusion model, anything else -> the calibrated detector."""
    p = Path(path)
    if p.suffix == ".pt":
        from congruence.incongruence.fusion import FusionDetector

        return FusionDetector.load(p)
    from congruence.incongruence.detector import IncongruenceDetector

    return IncongruenceDetector.load(p)
