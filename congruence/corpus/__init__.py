"""Corpus analysis on Ray: many sessions, each exactly `congruence analyze`, one corpus folder.

- :mod:`.sources`: the sessions of a folder or a CSV / JSONL manifest, and the inputs that are not;
- :mod:`.run`: :func:`analyze_corpus`, Ray actors that load the models once per worker;
- :mod:`.report`: the corpus report (incongruence rates by session and type, slow and failed sessions).

The folder layout (``corpus.json``, ``sessions/<id>/``, ``turns/session_id=<id>/``) is owned by
:mod:`congruence.table`, so every later stage reads a corpus through :func:`congruence.table.discover`.
"""

from congruence.corpus.run import CorpusResult, analyze_corpus
from congruence.corpus.sources import Problem, SessionSource, load_sources

__all__ = ["CorpusResult", "Problem", "SessionSource", "analyze_corpus", "load_sources"]
