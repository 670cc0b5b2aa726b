"""Gated attention fusion of text, face and voice (the mixed-signals paper's fusion model).

docs/references.md#mixed-signals, appendix A.2: "Each unimodal model representation is independently
gated and passed through an attention mechanism that computes modality-specific weights. The
weighted embeddings are aggregated and classified using a three-layer feedforward network with
max pooling. The fusion model is trained for 10 epochs using a learning rate of 1e-4 and includes
modality dropout during training."

Here, per turn and modality ``m`` with input features ``x_m`` (see :func:`modality_inputs`):

- encoder: ``h_m = Linear(GELU(LayerNorm(Linear(x_m))))`` (one per modality; the paper's inputs
  are frozen 768-d RoBERTa / HuBERT / VideoMAE embeddings, ours are the turn table's features);
- gate: ``g_m = sigmoid(W_g,m h_m + b) * h_m`` (element-wise, per modality);
- attention: ``s_m = <q_m, tanh(W_a g_m)>`` with a query ``q_m`` per modality,
  ``w = softmax(s)`` over the *observed* modalities (a missing or dropped modality gets
  ``s_m = -inf``, so ``w_m = 0`` and the others' weights sum to 1);
- aggregation: the paper does not say how the weighted embeddings are aggregated; here the
  concatenation of the weighted embeddings ``w_m g_m`` (which keeps which modality said what:
  incongruence is a relation between modalities) with their element-wise max over the observed
  modalities (the paper's max pooling), fed to a three-layer feed-forward classifier;
- modality dropout: while training, each observed modality of a turn is masked with probability
  ``p`` (at least one stays), as if it had not been observed; never at inference.

A missing modality (``<modality>_status`` not ``"ok"``) enters as zeros with its mask off, so its
values cannot reach the output. :class:`FusionDetector` wraps the module for turn tables:
per-feature standardisation from the training rows, the training loop (AdamW, cross-entropy with
class-balanced weights, CPU), predictions with the attention weights, save / load.

The probabilities are a softmax, not calibrated; :class:`~.detector.IncongruenceDetector` is the
calibrated model.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from congruence.errors import CongruenceError
from congruence.incongruence.detector import (
    BINARY_LABELS,
    LABELS,
    MODALITIES,
    FeatureSpec,
    Task,
    feature_frame,
    modality_present,
    normalize_label,
    prediction_frame,
    require_labels,
    table_labels,
)
from congruence.provenance import Kind, Provenance
from congruence.runtime import torch_threads
from congruence.version import __version__

FORMAT = "congruence.incongruence.fusion"
FORMAT_VERSION = 1
CLIP = 6.0  # standardised inputs are clipped to +-6 SD so one outlier turn cannot dominate


def modality_dropout(
    mask: torch.Tensor, p: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Randomly mask observed modalities: each ``True`` of ``mask`` (batch, modalities) turns ``False``
    with probability ``p``; a row that would lose all its modalities keeps one chosen at random.

    Rows with no observed modality stay empty. ``p = 0`` returns ``mask`` unchanged.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"modality dropout p must lie in [0, 1], got {p}")
    if p == 0.0:
        return mask
    keep = torch.rand(mask.shape, generator=generator) >= p
    out = mask & keep
    emptied = (out.sum(1) == 0) & mask.any(1)
    if emptied.any():
        # one observed modality per emptied row, uniformly among the observed ones
        r = torch.rand(mask.shape, generator=generator).masked_fill(~mask, -1.0)
        pick = r.argmax(1)
        rows = torch.nonzero(emptied).squeeze(1)
        out[rows, pick[rows]] = True
    return out


@dataclass
class FusionOutput:
    """Logits (batch, classes), attention weights (batch, modalities), the mask used, the gates."""

    logits: torch.Tensor
    weights: torch.Tensor
    mask: torch.Tensor
    gates: dict[str, torch.Tensor]


class GatedAttentionFusion(nn.Module):
    """Gated attention fusion network (see the module docstring for the equations).

    Args:
        input_dims: modality name -> number of input features, in modality order.
        hidden: width of each modality's embedding.
        n_classes: output classes.
        dropout: dropout inside the encoders and the classifier.
        modality_dropout: probability of masking an observed modality while training.
    """

    def __init__(
        self,
        input_dims: Mapping[str, int],
        *,
        hidden: int = 64,
        n_classes: int = 3,
        dropout: float = 0.1,
        modality_dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if not input_dims:
            raise ValueError("at least one modality is needed")
        if not 0.0 <= modality_dropout <= 1.0:
            raise ValueError(f"modality_dropout must lie in [0, 1], got {modality_dropout}")
        self.modalities = tuple(input_dims)
        self.hidden = hidden
        self.p_modality = modality_dropout
        self.encoders = nn.ModuleDict(
            {
                m: nn.Sequential(
                    nn.Linear(d, hidden),
                    nn.LayerNorm(hidden),
                    nn.GELU(),
                    nn.Dropout(dropout),
                    nn.Linear(hidden, hidden),
                )
                for m, d in input_dims.items()
            }
        )
        self.gates = nn.ModuleDict({m: nn.Linear(hidden, hidden) for m in self.modalities})
        self.attn_proj = nn.Linear(hidden, hidden)
        self.attn_query = nn.Parameter(torch.randn(len(self.modalities), hidden) * 0.1)
        m = len(self.modalities)
        self.head = nn.Sequential(
            nn.Linear(hidden * (m + 1), hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, max(hidden // 2, n_classes)),
            nn.ReLU(),
            nn.Linear(max(hidden // 2, n_classes), n_classes),
        )
        self._generator: torch.Generator | None = None

    def forward(self, inputs: Mapping[str, torch.Tensor], mask: torch.Tensor) -> FusionOutput:
        """``inputs[m]``: (batch, d_m) float; ``mask``: (batch, modalities) bool, True = observed."""
        mask = mask.bool()
        if self.training and self.p_modality > 0:
            mask = modality_dropout(mask, self.p_modality, generator=self._generator)
        embs, gates = [], {}
        for j, m in enumerate(self.modalities):
            x = inputs[m] * mask[:, j : j + 1].to(inputs[m].dtype)  # an unobserved modality enters as zeros
            h = self.encoders[m](x)
            g = torch.sigmoid(self.gates[m](h))
            gates[m] = g
            embs.append(g * h)
        H = torch.stack(embs, 1)  # (batch, modalities, hidden)
        scores = (torch.tanh(self.attn_proj(H)) * self.attn_query).sum(-1)
        scores = scores.masked_fill(~mask, float("-inf"))
        w = torch.nan_to_num(torch.softmax(scores, 1), nan=0.0)  # a row with no modality: all zeros
        weighted = H * w.unsqueeze(-1)  # exact zeros for an unobserved modality
        pooled = weighted.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
        pooled = torch.where(mask.any(1, keepdim=True), pooled, torch.zeros_like(pooled))
        logits = self.head(torch.cat([weighted.flatten(1), pooled], 1))
        return FusionOutput(logits=logits, weights=w, mask=mask, gates=gates)


# --------------------------------------------------------------------------------- table inputs
def _modality_spec(modality: str, *, text_embedding: bool, egemaps: bool) -> FeatureSpec:
    return FeatureSpec((modality,), text_embedding=text_embedding, egemaps=egemaps, cross=False)


def modality_inputs(
    table: pd.DataFrame,
    modalities: Sequence[str],
    *,
    text_embedding: bool = True,
    egemaps: bool = True,
    columns: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict[str, pd.DataFrame], np.ndarray]:
    """Per-modality feature frames and the observed-mask (rows, modalities) of a turn table.

    Inputs (the feature lists of :mod:`.detector`): text = sentence embedding + VAD, sentiment,
    FER-class and NRC emotion shares; face = FER expression probabilities, AU proxies (raw and
    z), valence / arousal, head pose, gaze, engagement; voice = speech-emotion estimate, Praat
    prosody and eGeMAPS. ``columns`` (the fitted lists) fixes each frame's columns.
    """
    frames: dict[str, pd.DataFrame] = {}
    for m in modalities:
        spec = _modality_spec(m, text_embedding=text_embedding, egemaps=egemaps)
        cols = None if columns is None else [*columns[m], f"{m}_missing"]
        f = feature_frame(table, spec, columns=cols)
        frames[m] = f.drop(columns=[f"{m}_missing"])
    mask = (
        np.column_stack([modality_present(table, m) for m in modalities])
        if len(table)
        else np.zeros((0, len(modalities)), bool)
    )
    return frames, mask.astype(bool)


@dataclass
class _Scaler:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, observed: np.ndarray) -> _Scaler:
        rows = x[observed]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns -> mean 0, sd 1
            mean = np.nanmean(rows, axis=0) if len(rows) else np.zeros(x.shape[1])
            std = np.nanstd(rows, axis=0) if len(rows) else np.ones(x.shape[1])
        mean = np.where(np.isfinite(mean), mean, 0.0)
        std = np.where(np.isfinite(std) & (std > 1e-8), std, 1.0)
        return cls(mean, std)

    def transform(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean) / self.std
        return np.clip(np.nan_to_num(z, nan=0.0), -CLIP, CLIP)  # NaN -> the training mean


#: Default least number of optimisation steps (see :class:`FusionDetector`'s ``min_steps``).
MIN_STEPS = 750


class FusionDetector:
    """The gated attention fusion model on turn tables: train, predict, attention weights, save / load.

    Args:
        modalities: modalities fused (default text, face, voice).
        task: ``"type"`` (none / minimizing / contradiction) or ``"binary"``.
        hidden, dropout, modality_dropout: see :class:`GatedAttentionFusion`.
        epochs, lr: the paper's 10 epochs at 1e-4 by default.
        min_steps: at least this many optimisation steps, adding epochs when ``epochs`` passes
            over the data give fewer (0: exactly ``epochs``). The paper's 10 epochs were 10 passes
            over ~1,200 training segments (EMPSPEECH: 1,718 segments, appendix B), about 750
            AdamW steps at batch 16 (its batch size is not given; 16 assumed); on a table of a
            few dozen turns 10 epochs are ~20 steps at 1e-4, the network stays at its random
            initialisation and predicts one class for every turn. The default keeps the paper's
            learning rate and its number of steps.
        batch_size, weight_decay: AdamW settings.
        class_weight: ``"balanced"`` weighs the cross-entropy by ``n / (k * n_class)``; ``"none"``.
        text_embedding, egemaps: include the sentence embedding / eGeMAPS in the inputs.
        seed: seeds initialisation, shuffling and modality dropout.
        num_threads: torch CPU threads while training / predicting (restored afterwards); one is
            fastest for a network this small, more threads only add synchronisation.
    """

    def __init__(
        self,
        *,
        modalities: Sequence[str] = MODALITIES,
        task: Task = "type",
        hidden: int = 64,
        dropout: float = 0.1,
        modality_dropout: float = 0.2,
        epochs: int = 10,
        lr: float = 1e-4,
        min_steps: int = MIN_STEPS,
        batch_size: int = 16,
        weight_decay: float = 1e-4,
        class_weight: str = "balanced",
        text_embedding: bool = True,
        egemaps: bool = True,
        seed: int = 0,
        num_threads: int = 1,
    ) -> None:
        if task not in ("type", "binary"):
            raise CongruenceError(f"Unknown task {task!r}.", "Use 'type' or 'binary'.")
        if class_weight not in ("balanced", "none"):
            raise CongruenceError(f"Unknown class_weight {class_weight!r}.", "Use 'balanced' or 'none'.")
        if epochs < 1 or lr <= 0 or batch_size < 1 or min_steps < 0:
            raise CongruenceError(
                "epochs and batch_size must be >= 1, lr > 0 and min_steps >= 0.", "Fix the training settings."
            )
        self.min_steps = min_steps
        self.spec = FeatureSpec(tuple(modalities), text_embedding, egemaps, cross=False)
        self.task: Task = task
        self.classes: tuple[str, ...] = LABELS if task == "type" else BINARY_LABELS
        self.hidden, self.dropout, self.p_modality = hidden, dropout, modality_dropout
        self.epochs, self.lr, self.batch_size, self.weight_decay = epochs, lr, batch_size, weight_decay
        self.class_weight = class_weight
        self.seed = seed
        self.num_threads = num_threads
        self.net: GatedAttentionFusion | None = None
        self.columns_: dict[str, list[str]] = {}
        self._scalers: dict[str, _Scaler] = {}
        self.training_: dict[str, Any] = {}

    @property
    def modalities(self) -> tuple[str, ...]:
        return self.spec.modalities

    @property
    def name(self) -> str:
        return f"gated-fusion[{'+'.join(self.modalities)}]"

    def config(self) -> dict[str, Any]:
        return {
            "modalities": list(self.modalities),
            "task": self.task,
            "hidden": self.hidden,
            "dropout": self.dropout,
            "modality_dropout": self.p_modality,
            "epochs": self.epochs,
            "lr": self.lr,
            "min_steps": self.min_steps,
            "batch_size": self.batch_size,
            "weight_decay": self.weight_decay,
            "class_weight": self.class_weight,
            "text_embedding": self.spec.text_embedding,
            "egemaps": self.spec.egemaps,
            "seed": self.seed,
            "num_threads": self.num_threads,
        }

    def columns(self) -> dict[str, Provenance]:
        """Provenance of the columns of :meth:`predictions`."""
        n = self.training_.get("n_labelled", "?")
        note = f"{self.name}; softmax (not calibrated); trained on {n} labelled turns"
        est = f"incongruence-fusion({self.name})"
        cols = {f"p_{c}": Provenance(est, Kind.MODEL, note) for c in self.classes}
        cols["pred"] = Provenance(est, Kind.MODEL, note + "; argmax")
        cols["p_incongruent"] = Provenance(est, Kind.MODEL, note + "; 1 - p_none for the type task")
        cols["n_modalities"] = Provenance(est, Kind.MEASUREMENT, "fused modalities observed in the turn")
        for m in self.modalities:
            cols[f"w_{m}"] = Provenance(est, Kind.MODEL, "attention weight of the modality (0 if unobserved)")
        return cols

    def n_modalities(self, table: pd.DataFrame) -> np.ndarray:
        return np.sum([modality_present(table, m) for m in self.modalities], axis=0).astype(int)

    # ------------------------------------------------------------------ tensors
    def _tensors(self, table: pd.DataFrame) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        frames, mask = modality_inputs(
            table,
            self.modalities,
            text_embedding=self.spec.text_embedding,
            egemaps=self.spec.egemaps,
            columns=self.columns_ or None,
        )
        xs = {
            m: torch.as_tensor(
                self._scalers[m].transform(frames[m].to_numpy(dtype=float)), dtype=torch.float32
            )
            for m in self.modalities
        }
        return xs, torch.as_tensor(mask)

    # ------------------------------------------------------------------ training
    def fit(
        self, table: pd.DataFrame, labels: pd.Series | Sequence[object] | None = None, *, groups: Any = None
    ) -> FusionDetector:
        """Train on the labelled rows of ``table`` that have at least one observed modality.

        ``labels`` default to ``ann_incongruence``; ``groups`` is accepted for interface
        compatibility (the fixed-epoch schedule needs no validation split).
        """
        with torch_threads(self.num_threads):
            return self._fit(table, labels, groups)

    def _fit(self, table: pd.DataFrame, labels: Any, groups: Any) -> FusionDetector:
        if labels is None:
            y_all = table_labels(table, self.task)
        else:
            y_all = pd.Series(list(labels), index=table.index, dtype=object)
            if self.task == "type":
                y_all = y_all.map(normalize_label)
        keep = require_labels(y_all) & (self.n_modalities(table) > 0)
        if not keep.any():
            raise CongruenceError("No labelled turn has an observed modality.", "Check the turn table.")
        sub = table.loc[keep]
        y_str = y_all[keep].astype(str).to_numpy()
        bad = sorted(set(y_str) - set(self.classes))
        if bad:
            raise CongruenceError(f"Labels {bad} do not fit the {self.task} task.", f"Use {self.classes}.")
        y = torch.as_tensor([self.classes.index(v) for v in y_str], dtype=torch.long)

        frames, mask = modality_inputs(
            sub, self.modalities, text_embedding=self.spec.text_embedding, egemaps=self.spec.egemaps
        )
        self.columns_ = {m: list(frames[m].columns) for m in self.modalities}
        self._scalers = {
            m: _Scaler.fit(frames[m].to_numpy(dtype=float), mask[:, j]) for j, m in enumerate(self.modalities)
        }
        xs, mask_t = self._tensors(sub)

        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        net = GatedAttentionFusion(
            {m: len(self.columns_[m]) for m in self.modalities},
            hidden=self.hidden,
            n_classes=len(self.classes),
            dropout=self.dropout,
            modality_dropout=self.p_modality,
        )
        net._generator = gen
        counts = torch.bincount(y, minlength=len(self.classes)).float()
        if self.class_weight == "balanced":
            weight = torch.where(
                counts > 0, len(y) / (len(self.classes) * counts.clamp(min=1)), torch.ones(1)
            )
        else:
            weight = torch.ones(len(self.classes))
        loss_fn = nn.CrossEntropyLoss(weight=weight)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        losses = []
        net.train()
        steps_per_epoch = math.ceil(len(y) / self.batch_size)
        epochs = max(self.epochs, math.ceil(self.min_steps / steps_per_epoch))
        for _ in range(epochs):
            order = torch.randperm(len(y), generator=gen)
            total = 0.0
            for start in range(0, len(y), self.batch_size):
                idx = order[start : start + self.batch_size]
                out = net({m: xs[m][idx] for m in self.modalities}, mask_t[idx])
                loss = loss_fn(out.logits, y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            losses.append(total / len(y))
        net.eval()
        net._generator = None
        self.net = net
        self.training_ = {
            "n_labelled": len(y),
            "n_sessions": int(pd.Series(_groups_of(sub, groups, keep)).nunique()),
            "label_counts": {c: int((y_str == c).sum()) for c in self.classes},
            "epochs": epochs,
            "steps": epochs * steps_per_epoch,
            "epoch_loss": [round(v, 5) for v in losses],
            "congruence_version": __version__,
        }
        return self

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> GatedAttentionFusion:
        if self.net is None:
            raise CongruenceError("The fusion model is not trained.", "Call fit() or load a saved model.")
        return self.net

    @torch.no_grad()
    def _forward(self, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        net = self._check_fitted()
        net.eval()
        if not len(table):
            return np.zeros((0, len(self.classes))), np.zeros((0, len(self.modalities)))
        xs, mask = self._tensors(table)
        with torch_threads(self.num_threads):
            out = net(xs, mask)
        probs = torch.softmax(out.logits, 1).numpy().astype(float)
        w = out.weights.numpy().astype(float)
        none = ~mask.any(1).numpy()
        probs[none] = np.nan
        w[none] = np.nan
        return probs, w

    def predict_proba(self, table: pd.DataFrame) -> pd.DataFrame:
        """``p_<class>`` per row (softmax); NaN rows where no fused modality is observed."""
        probs, _ = self._forward(table)
        return pd.DataFrame(probs, index=table.index, columns=[f"p_{c}" for c in self.classes])

    def predict(self, table: pd.DataFrame) -> pd.Series:
        from congruence.incongruence.detector import proba_to_labels

        return proba_to_labels(self.predict_proba(table), self.classes)

    def attention(self, table: pd.DataFrame) -> pd.DataFrame:
        """Attention weight ``w_<modality>`` per row (0 for an unobserved modality; each row sums to 1)."""
        _, w = self._forward(table)
        return pd.DataFrame(w, index=table.index, columns=[f"w_{m}" for m in self.modalities])

    def predictions(self, table: pd.DataFrame) -> pd.DataFrame:
        """Like :meth:`.IncongruenceDetector.predictions`, plus the attention weights ``w_<modality>``."""
        probs, w = self._forward(table)
        proba = pd.DataFrame(probs, index=table.index, columns=[f"p_{c}" for c in self.classes])
        out = prediction_frame(table, proba, self.classes, self.n_modalities(table))
        for j, m in enumerate(self.modalities):
            out[f"w_{m}"] = w[:, j]
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write weights, feature lists, standardisation and config (torch file: tensors + plain data)."""
        from congruence.io import atomic_path

        net = self._check_fitted()
        payload = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "congruence_version": __version__,
            "torch_version": str(torch.__version__),
            "config": self.config(),
            "classes": list(self.classes),
            "columns": self.columns_,
            "scalers": {
                m: {"mean": torch.as_tensor(s.mean), "std": torch.as_tensor(s.std)}
                for m, s in self._scalers.items()
            },
            "training": self.training_,
            "state_dict": net.state_dict(),
        }
        path = Path(path)
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return path

    @classmethod
    def load(cls, path: str | Path) -> FusionDetector:
        """Read a model written by :meth:`save` (``torch.load(weights_only=True)``: no code runs)."""
        p = Path(path)
        if not p.exists():
            raise CongruenceError(f"Fusion model file {p} does not exist.", "Train one with detect train.")
        try:
            payload = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # a truncated or foreign file
            raise CongruenceError(
                f"{p} is not a fusion model file ({exc}).", "Use a detect train file."
            ) from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise CongruenceError(f"{p} is not a congruence fusion model.", "Use a detect train file.")
        if payload["format_version"] > FORMAT_VERSION:
            raise CongruenceError(f"{p} was written by a newer congruence.", "Upgrade congruence.")
        det = cls(**payload["config"])
        det.columns_ = {m: list(c) for m, c in payload["columns"].items()}
        det._scalers = {
            m: _Scaler(s["mean"].numpy().astype(float), s["std"].numpy().astype(float))
            for m, s in payload["scalers"].items()
        }
        det.training_ = dict(payload["training"])
        net = GatedAttentionFusion(
            {m: len(det.columns_[m]) for m in det.modalities},
            hidden=det.hidden,
            n_classes=len(det.classes),
            dropout=det.dropout,
            modality_dropout=det.p_modality,
        )
        net.load_state_dict(payload["state_dict"])
        net.eval()
        det.net = net
        return det


def _groups_of(sub: pd.DataFrame, groups: Any, keep: pd.Series) -> np.ndarray:
    if groups is not None:
        g = np.asarray(groups)
        return g[keep.to_numpy()] if len(g) == len(keep) else g
    if "session_id" in sub.columns:
        return sub["session_id"].astype(str).to_numpy()
    return np.zeros(len(sub), dtype=int)
