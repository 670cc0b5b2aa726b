"""The annotation and expert-rating web application (``congruence serve``).

Raters annotate E-THER dialogue pairs (incongruence type, engagement, valence-arousal-dominance)
with the client's frame and the transcript side by side; experts review a stratified validation
sample and rate generated responses (Likert 1-5: applicability, empathy, comprehensiveness) with
the systems blinded; admins import analysed sessions, assign work, see agreement statistics and
export the annotations as a dataset. See docs/app.md.

Importing this package loads nothing heavy; :func:`create_app` builds the FastAPI application.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AppConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from congruence.app.web import create_app

        return create_app
    if name == "AppConfig":
        from congruence.app.config import AppConfig

        return AppConfig
    raise AttributeError(f"module 'congruence.app' has no attribute {name!r}")
