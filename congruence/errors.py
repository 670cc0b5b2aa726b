"""User-facing errors: each names what is wrong and what to do about it."""

from __future__ import annotations


class CongruenceError(Exception):
    """An error caused by the user's input or environment, not by a bug.

    The CLI prints ``problem`` and ``fix`` without a traceback.
    """

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}" + (f" Fix: {fix}" if fix else ""))


class MediaError(CongruenceError):
    """Media that cannot be opened or decoded."""


class TranscriptError(CongruenceError):
    """A transcript that cannot be parsed or does not fit the media."""


class ModelUnavailableError(CongruenceError):
    """A configured model whose weights or package are not on this machine."""
