"""BERTScore precision / recall / F1 of a response against the client utterance (E-THER VI-B).

BERTScore (Zhang et al., 2020) matches each token embedding of the candidate with its most
similar token of the reference (greedy cosine matching):
``P = mean_{c in cand} max_{r in ref} cos(c, r)``, ``R = mean_{r in ref} max_{c in cand} cos(r, c)``,
``F1 = 2 P R / (P + R)``. With baseline rescaling, each score ``s`` becomes
``(s - b) / (1 - b)`` where ``b`` is the mean score of random unrelated sentence pairs for the same
model and layer (the baseline file), so unrelated text scores about 0.

E-THER compares the *response* (candidate) with the *client's utterance* (reference).

Models:

- default: the packaged all-MiniLM-L6-v2 at layer 4 of 6 (:data:`MINILM_LAYER`; about the same
  relative depth as roberta-large's tuned layer 17 of 24), rescaled with the baseline that this
  project computes itself (``congruence/data/bertscore/baseline_minilm_L4.tsv``, see
  :mod:`congruence.evaluation.baselines`).
- roberta-large (the BERTScore reference model, layer 17) when its weights are on disk: pass its
  folder as ``model=``, set ``$CONGRUENCE_ROBERTA_LARGE``, or have it in the Hugging Face cache;
  the baseline file shipped with ``bert_score`` is used for it.
- any other local model folder with an explicit ``num_layers`` (and a baseline file to rescale).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.evaluation.embeddings import Precision, SentenceEncoder, bound_length
from congruence.evaluation.pct import CLIENT_ALIASES, RESPONSE_ALIASES, _pick, minilm_path
from congruence.provenance import Kind, Provenance

MINILM_LAYER = 4
ROBERTA_LARGE_LAYER = 17  # bert_score's layer for roberta-large, tuned on WMT16 by its authors
BASELINE_DIR = Path(__file__).resolve().parent.parent / "data" / "bertscore"
COLUMNS = ("bertscore_precision", "bertscore_recall", "bertscore_f1")


def minilm_baseline_path() -> Path:
    """The project's baseline file for the packaged MiniLM.

    Named after the default layer, it holds one row per layer 0-6 in bert_score's format
    (``LAYER,P,R,F``; bert_score reads the row of the layer in use), so every layer can be rescaled.
    """
    return BASELINE_DIR / f"baseline_minilm_L{MINILM_LAYER}.tsv"


def roberta_large_baseline_path() -> Path:
    """bert_score's own English roberta-large baseline file."""
    import importlib.util

    spec = importlib.util.find_spec("bert_score")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - a dependency
        raise ModelUnavailableError("bert_score is not installed.", "Run `bash scripts/install.sh`.")
    return Path(next(iter(spec.submodule_search_locations))) / "rescale_baseline" / "en" / "roberta-large.tsv"


def find_roberta_large() -> Path | None:
    """A local roberta-large folder: ``$CONGRUENCE_ROBERTA_LARGE`` or the Hugging Face cache; no download."""
    env = os.environ.get("CONGRUENCE_ROBERTA_LARGE")
    if env:
        return Path(env) if Path(env, "config.json").is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a transformers dependency
        return None
    for repo in ("FacebookAI/roberta-large", "roberta-large"):
        found = try_to_load_from_cache(repo, "config.json")
        if isinstance(found, str):
            folder = Path(found).parent
            if any(folder.glob("*.safetensors")) or any(folder.glob("*.bin")):
                return folder
    return None


def is_roberta_large(config: dict[str, Any]) -> bool:
    """True for a roberta-large architecture (24 layers, hidden size 1024)."""
    return (
        config.get("model_type") == "roberta"
        and config.get("num_hidden_layers") == 24
        and config.get("hidden_size") == 1024
    )


def make_scorer(
    model_path: str | Path,
    *,
    num_layers: int,
    baseline_path: str | Path | None = None,
    all_layers: bool = False,
    batch_size: int = 64,
    device: str = "cpu",
) -> Any:
    """A ``bert_score.BERTScorer`` on a local folder (rescaled when a baseline file is given)."""
    from bert_score import BERTScorer

    scorer = BERTScorer(
        model_type=str(model_path),
        num_layers=num_layers,
        all_layers=all_layers,
        batch_size=batch_size,
        device=device,
        lang="en",  # only used by bert_score to locate a default baseline; ours is explicit
        rescale_with_baseline=baseline_path is not None,
        baseline_path=str(baseline_path) if baseline_path is not None else None,
        use_fast_tokenizer=True,  # the slow tokenizers are several times slower
    )
    bound_length(scorer._tokenizer, getattr(scorer._model.config, "max_position_embeddings", None))
    return scorer


@dataclass(frozen=True)
class BERTScoreSettings:
    """What a :class:`BERTScore` runs: model folder, display name, layer and baseline file."""

    model_path: Path
    name: str
    num_layers: int
    baseline_path: Path | None

    @property
    def estimator(self) -> str:
        return self.label()

    def label(self, precision: str | None = None) -> str:
        """``bertscore:<model>@L<layer>(rescaled|raw[,<precision>])``."""
        rescaled = "rescaled" if self.baseline_path is not None else "raw"
        return f"bertscore:{self.name}@L{self.num_layers}({rescaled}{f',{precision}' if precision else ''})"


def resolve_settings(
    model: str | Path | None = None,
    *,
    num_layers: int | None = None,
    rescale: bool = True,
    baseline_path: str | Path | None = None,
) -> BERTScoreSettings:
    """Pick model folder, layer and baseline without loading weights.

    ``model``: ``None``/``"auto"`` (roberta-large if on disk, else the packaged MiniLM),
    ``"minilm"``, ``"roberta-large"`` (must be on disk) or a local model folder.
    """
    if model is None or model == "auto":
        model = find_roberta_large() or "minilm"
    if model == "roberta-large":
        found = find_roberta_large()
        if found is None:
            raise ModelUnavailableError(
                "roberta-large weights are not on this machine (no download happens here).",
                "Put the model folder on disk and pass its path, or set $CONGRUENCE_ROBERTA_LARGE.",
            )
        model = found
    if model == "minilm":
        path, name, layers = minilm_path(), "all-MiniLM-L6-v2", num_layers or MINILM_LAYER
        default_baseline: Path | None = minilm_baseline_path()
    else:
        path = Path(model)
        cfg_file = path / "config.json"
        if not cfg_file.is_file():
            raise ModelUnavailableError(
                f"No model folder with a config.json at {path}.",
                "Pass a local Hugging Face model folder, 'minilm' or 'roberta-large'.",
            )
        config = json.loads(cfg_file.read_text(encoding="utf-8"))
        if path.resolve() == minilm_path().resolve():
            name, layers = "all-MiniLM-L6-v2", num_layers or MINILM_LAYER
            default_baseline = minilm_baseline_path()
        elif is_roberta_large(config):
            name, layers = "roberta-large", num_layers or ROBERTA_LARGE_LAYER
            default_baseline = roberta_large_baseline_path()
        else:
            if num_layers is None:
                raise CongruenceError(
                    f"No documented BERTScore layer for the model at {path}.",
                    "Pass num_layers= (bert_score uses about two thirds of the depth).",
                )
            name, layers, default_baseline = path.name, num_layers, None
    n_max = None
    cfg = path / "config.json"
    if cfg.is_file():
        n_max = json.loads(cfg.read_text(encoding="utf-8")).get("num_hidden_layers")
    if n_max is not None and not 0 <= layers <= n_max:
        raise CongruenceError(
            f"num_layers={layers} is outside 0..{n_max} for {name}.", "Pick a layer in range."
        )
    base = Path(baseline_path) if baseline_path is not None else default_baseline
    if rescale:
        if base is None or not base.is_file():
            raise CongruenceError(
                f"No BERTScore baseline file for {name} at layer {layers}"
                + (f" ({base} does not exist)." if base is not None else "."),
                "Compute one with congruence.evaluation.baselines.compute_bertscore_baseline and pass "
                "baseline_path=, or use rescale=False.",
            )
    else:
        base = None
    return BERTScoreSettings(model_path=path, name=name, num_layers=layers, baseline_path=base)


def greedy_match(
    cand: np.ndarray, ref: np.ndarray, cand_weight: np.ndarray, ref_weight: np.ndarray
) -> tuple[float, float, float]:
    r"""BERTScore of one pair by greedy cosine matching (Zhang et al., 2020, eq. 1-3; idf off).

    .. math::

        P = \frac{\sum_i w_i \max_j \cos(c_i, r_j)}{\sum_i w_i}, \quad
        R = \frac{\sum_j v_j \max_i \cos(r_j, c_i)}{\sum_j v_j}, \quad
        F_1 = \frac{2 P R}{P + R}

    ``cand`` (n, D) and ``ref`` (m, D) are token embeddings with special tokens; the weights are 1
    for word pieces and 0 for special tokens, which still take part in the max (as in
    ``bert_score``). :math:`F_1` is 0 where :math:`P + R = 0`.

    >>> e = np.eye(3, dtype=np.float32)
    >>> greedy_match(e, e, np.ones(3), np.ones(3))
    (1.0, 1.0, 1.0)
    """
    c = cand / np.linalg.norm(cand, axis=1, keepdims=True)
    r = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    sim = c @ r.T
    p = float(sim.max(axis=1) @ cand_weight / cand_weight.sum())
    rc = float(sim.max(axis=0) @ ref_weight / ref_weight.sum())
    f = 2 * p * rc / (p + rc) if p + rc != 0 else 0.0
    return p, rc, f


def rescale(score: Any, baseline: Any) -> Any:
    r"""Baseline rescaling (Zhang et al., 2020, section 3): :math:`\hat s = (s - b) / (1 - b)`.

    >>> rescale(0.5, 0.5), rescale(1.0, 0.4)
    (0.0, 1.0)
    """
    return (score - baseline) / (1 - baseline)


def read_baseline(path: Path, layer: int) -> np.ndarray:
    """The (P, R, F) baseline of ``layer`` from a file in ``bert_score``'s format (``LAYER,P,R,F``)."""
    return pd.read_csv(path).iloc[layer].to_numpy(dtype=np.float64)[1:]


class BERTScore:
    """BERTScore of responses against client utterances.

    The token embeddings come from :class:`~congruence.evaluation.embeddings.SentenceEncoder` (one
    pass per distinct text, shared with the mirroring similarity when the same encoder is passed);
    the matching and rescaling are :func:`greedy_match` and :func:`rescale`, checked against the
    ``bert_score`` package in the tests.

    >>> bs = BERTScore(model="minilm")            # doctest: +SKIP
    >>> bs.score(["You sound exhausted."], ["I'm so tired of all of it."])  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        model: str | Path | None = None,
        num_layers: int | None = None,
        rescale: bool = True,
        baseline_path: str | Path | None = None,
        batch_size: int = 16,
        device: str = "cpu",
        precision: Precision = "auto",
        encoder: SentenceEncoder | None = None,
    ) -> None:
        self.settings = resolve_settings(
            model, num_layers=num_layers, rescale=rescale, baseline_path=baseline_path
        )
        if encoder is not None and (
            encoder.folder.resolve() != self.settings.model_path.resolve()
            or encoder.token_layer != self.settings.num_layers
        ):
            raise CongruenceError(
                "The shared encoder is not BERTScore's model and layer.",
                f"Build it with path={self.settings.model_path} and token_layer={self.settings.num_layers}.",
            )
        self.encoder = encoder or SentenceEncoder(
            path=self.settings.model_path,
            token_layer=self.settings.num_layers,
            sentences=False,
            batch_size=batch_size,
            device=device,
            precision=precision,
        )
        b = self.settings.baseline_path
        self._baseline = read_baseline(b, self.settings.num_layers) if b is not None else None

    @property
    def estimator(self) -> str:
        """Model, layer, rescaling and the precision of the forward pass, e.g.
        ``bertscore:all-MiniLM-L6-v2@L4(rescaled,bfloat16)``."""
        return self.settings.label(self.encoder.precision)

    def columns(self) -> dict[str, Provenance]:
        note = "token-embedding similarity of response to client utterance; not a quality rating"
        cols = {c: Provenance(self.estimator, Kind.MEASUREMENT, note) for c in COLUMNS}
        cols["bertscore_status"] = Provenance(self.estimator, Kind.MEASUREMENT, "ok / empty_text")
        return cols

    def score(self, candidates: Sequence[str], references: Sequence[str]) -> pd.DataFrame:
        """P / R / F1 per pair (all non-empty strings), as a DataFrame with :data:`COLUMNS`."""
        if len(candidates) != len(references):
            raise CongruenceError(
                "candidates and references differ in length.", "Pass one reference per response."
            )
        if not candidates:
            return pd.DataFrame({c: pd.Series(dtype="Float64") for c in COLUMNS})
        tok = self.encoder.tokenizer
        special = [i for i in (tok.cls_token_id, tok.sep_token_id) if i is not None]
        texts = list(dict.fromkeys([*candidates, *references]))  # one pass, sorted by length
        # per text once: embeddings and weights (1 for word pieces, 0 for special tokens)
        emb = {
            t: (e, (~np.isin(ids, special)).astype(np.float32))
            for t, (ids, e) in zip(texts, self.encoder.tokens(texts), strict=True)
        }
        rows = [
            greedy_match(emb[c][0], emb[r][0], emb[c][1], emb[r][1])
            for c, r in zip(candidates, references, strict=True)
        ]
        out = np.asarray(rows, dtype=np.float64)
        if self._baseline is not None:
            out = rescale(out, self._baseline)
        return pd.DataFrame(out, columns=list(COLUMNS)).astype("Float64")

    def score_texts(self, responses: Sequence[str | None], clients: Sequence[str | None]) -> pd.DataFrame:
        """Like :meth:`score` with missing or empty texts as ``None`` values and a status column."""
        ok = [
            i
            for i, (r, c) in enumerate(zip(responses, clients, strict=True))
            if isinstance(r, str) and r.strip() and isinstance(c, str) and c.strip()
        ]
        scored = self.score([responses[i] for i in ok], [clients[i] for i in ok])  # type: ignore[misc]
        out = pd.DataFrame({c: pd.array([None] * len(responses), dtype="Float64") for c in COLUMNS})
        out["bertscore_status"] = "empty_text"
        for col in COLUMNS:
            out.loc[ok, col] = scored[col].to_numpy()
        out.loc[ok, "bertscore_status"] = "ok"
        return out

    def score_table(
        self, table: pd.DataFrame, *, client_col: str | None = None, response_col: str | None = None
    ) -> pd.DataFrame:
        """BERTScore columns for every row of a (client, response) table (same index)."""
        rcol = _pick(list(table.columns), response_col, RESPONSE_ALIASES, "response")
        ccol = _pick(list(table.columns), client_col, CLIENT_ALIASES, "client utterance")
        if rcol is None or ccol is None:
            raise CongruenceError(
                "BERTScore needs a response and a client utterance column.",
                f"Name them one of {', '.join(RESPONSE_ALIASES)} and {', '.join(CLIENT_ALIASES)}, "
                "or pass response_col= / client_col=.",
            )
        out = self.score_texts(
            [x if isinstance(x, str) else None for x in table[rcol].tolist()],
            [x if isinstance(x, str) else None for x in table[ccol].tolist()],
        )
        out.index = table.index
        return out
