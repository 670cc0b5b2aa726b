"""One place that keeps the command line quiet: the model runtimes' logs, progress bars and warnings.

The runtimes under the estimators talk a lot on stderr, most of it harmless: TensorFlow Lite's
"Created TensorFlow Lite XNNPACK delegate", absl's pre-initialisation lines
(``W0000 ... inference_feedback_manager.cc``), onnxruntime, transformers and datasets progress
bars, a bert_score ``UserWarning``, transformers ``FutureWarning``\\ s, Ray. :func:`silence` turns
them off; ``congruence -v`` (:func:`set_level` with ``"verbose"``) leaves them on.

Three layers, because the chatter comes from three places:

* environment variables read when a library loads (``GLOG_minloglevel``, ``TF_CPP_MIN_LOG_LEVEL``,
  ``TRANSFORMERS_VERBOSITY``, ...): set before any of them is imported, so the CLI sets them at its
  own import, and the libraries themselves load lazily inside the commands;
* Python loggers and warning filters of named, known-harmless messages;
* C and C++ code writing straight to file descriptor 2 (TFLite's delegate line, absl's pre-init
  lines, which no environment variable reaches): :func:`redirect_native_stderr` points fd 2 at
  ``/dev/null`` and gives Python's ``sys.stderr`` a duplicate of the real one, so our progress bars,
  warnings and errors still show while native writes vanish. Only the ``congruence`` executable
  does this (never a library import, never a test runner's captured stream).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any, Literal

Level = Literal["quiet", "normal", "verbose"]

# read by the libraries when they load; only set where the user has not chosen a value
ENV: dict[str, str] = {
    "GLOG_minloglevel": "2",  # mediapipe / glog: errors only
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow Lite / TensorFlow C++
    "ABSL_MIN_LOG_LEVEL": "2",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",  # "Saving the dataset" bars of datasets
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "RAY_BACKEND_LOG_LEVEL": "error",
    "RAY_DEDUP_LOGS": "1",
    "ORT_LOGGING_LEVEL": "3",
}

LOGGERS = (
    "absl",
    "transformers",
    "datasets",
    "huggingface_hub",
    "sentence_transformers",
    "onnxruntime",
    "accelerate",
    "peft",
    "ray",
    "numba",
    "matplotlib",
    "PIL",
    "urllib3",
    "httpx",
)

# (category, message regex, module regex): known-harmless warnings of dependencies
WARNINGS: tuple[tuple[type[Warning], str, str], ...] = (
    (UserWarning, "", r"bert_score(\.|$)"),  # "Overwriting the previous importance weights", ...
    (FutureWarning, "", r"(transformers|huggingface_hub|accelerate|peft|datasets)(\.|$)"),
    (DeprecationWarning, "", r"(transformers|huggingface_hub|google\.protobuf|mediapipe|ray)(\.|$)"),
)

_set_by_us: dict[str, str] = {}  # variable -> the value we set
_our_filters: list[object] = []
_state: dict[str, Any] = {"level": "normal", "redirected": None}  # redirected: (saved fd, stream)


def silence() -> None:
    """Quiet the runtimes: environment variables, loggers and warning filters (no fd redirect)."""
    for key, value in ENV.items():
        if key not in os.environ:
            os.environ[key] = value
            _set_by_us[key] = value
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # idempotent, and robust to callers (pytest) that reset warnings.filters in between
    _drop_our_filters()
    for category, message, module in WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
        _our_filters.append(warnings.filters[0])
    _state["level"] = "normal"


def _drop_our_filters() -> None:
    kept = [f for f in warnings.filters if not any(f is o for o in _our_filters)]
    warnings.filters[:] = kept  # type: ignore[index]  # a list at run time (typeshed says Sequence)
    _our_filters.clear()


def unsilence() -> None:
    """Undo :func:`silence`: our environment variables, the loggers' levels and our warning filters."""
    for key, value in list(_set_by_us.items()):
        if os.environ.get(key) == value:  # not if someone has set it since
            del os.environ[key]
        del _set_by_us[key]
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    _drop_our_filters()
    warnings._filters_mutated()  # type: ignore[attr-defined]  # drop the per-module "already warned" caches
    restore_native_stderr()


def redirect_native_stderr() -> bool:
    """Send file descriptor 2 to /dev/null; keep Python's ``sys.stderr`` on the real stream.

    C and C++ libraries (TFLite, absl, mediapipe's graph threads) write to fd 2 directly, at any
    time, from any thread, so a scoped redirect around model loading would miss the lines written
    during inference. Python writes go through ``sys.stderr``, re-opened here on a duplicate of the
    original descriptor: progress bars, warnings, errors and tracebacks still reach the terminal.
    Returns whether it redirected (not when stderr is not a real file descriptor, e.g. captured).
    """
    if _state["redirected"] is not None:
        return True
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a test runner's in-memory stream
        return False
    if fd != 2:
        return False
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    original = sys.stderr
    sys.stderr = os.fdopen(saved, "w", buffering=1, encoding=original.encoding, errors="backslashreplace")
    _state["redirected"] = (saved, original)
    return True


def restore_native_stderr() -> None:
    """Point fd 2 back at the real stream (undo :func:`redirect_native_stderr`)."""
    saved = _state["redirected"]
    if saved is None:
        return
    fd, original = saved
    sys.stderr.flush()
    os.dup2(fd, 2)
    sys.stderr = original
    _state["redirected"] = None


def set_level(level: Level, *, native: bool = False) -> None:
    """Apply a verbosity level: ``verbose`` shows everything, ``normal``/``quiet`` silence the runtimes.

    ``native=True`` also redirects fd 2 (the executable only). ``quiet`` additionally hides
    progress bars (``CONGRUENCE_NO_PROGRESS=1``) for scripts and logs.
    """
    if level == "verbose":
        unsilence()
    else:
        silence()
        if native:
            redirect_native_stderr()
        if level == "quiet":
            os.environ["CONGRUENCE_NO_PROGRESS"] = "1"
    _state["level"] = level


def level() -> Level:
    """The verbosity level in effect (``normal`` unless :func:`set_level` chose another)."""
    current: Level = _state["level"]
    return current


def level_from_argv(argv: list[str]) -> Level:
    """The level the command line asks for, read before Click parses it (options precede commands).

    >>> level_from_argv(["demo", "-v"]), level_from_argv(["--quiet", "demo"]), level_from_argv(["demo"])
    ('verbose', 'quiet', 'normal')
    """
    if any(a in ("-v", "--verbose") for a in argv):
        return "verbose"
    if any(a in ("-q", "--quiet") for a in argv):
        return "quiet"
    return "normal"
