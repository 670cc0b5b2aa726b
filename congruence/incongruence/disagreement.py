"""Where unimodal and fused models disagree: the mixed-signals paper's analysis on turn tables.

docs/references.md#mixed-signals, section 3: unimodal text / audio / video classifiers and a gated fusion
model; the pairwise disagreement rate of their predictions (Table 2); per unimodal model, the
four *quadrants* of the confidence each model gives the correct label (Figure 2):

======== ========================================== ===============================
quadrant unimodal confidence / fusion confidence    meaning
======== ========================================== ===============================
blue     > threshold / > threshold                  both right
yellow   <= threshold / <= threshold                both wrong
green    <= threshold / > threshold                 fusion right only
red      > threshold / <= threshold                 unimodal right only
======== ========================================== ===============================

(threshold 0.5, the paper's "Unimodal > 0.5, Multimodal < 0.5"; with three classes a
confidence above 0.5 implies the argmax is right, while a right argmax may sit below 0.5 and
then counts as wrong here); Welch t-tests of interpretable features between quadrants, red vs
blue and green vs blue, with the direction of each effect (Tables 3, 4, 6-8); a 2-D projection
of the text embeddings coloured by quadrant (Figure 3, UMAP); and annotator agreement per
quadrant (Table 5) when two raters labelled the turns.

Here the task is E-THER's incongruence type, the modalities are text, voice (the paper's audio)
and face (video), the unimodal models are :class:`~.detector.IncongruenceDetector` on one
modality and the fusion model :class:`~.fusion.FusionDetector` (or the multimodal calibrated
detector). All predictions are out-of-fold from session-level cross-validation, so no turn is
predicted by a model that saw its session. p-values are per test, uncorrected, as in the paper.
A model that predicts one class for every turn is flagged (:attr:`DisagreementResult.degenerate`,
a warning in the report): its quadrants say nothing about the modalities.

Figures, Markdown and files: :mod:`congruence.incongruence.disagreement_report`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError
from congruence.incongruence.detector import (
    LABELS,
    MODALITIES,
    Evaluation,
    IncongruenceDetector,
    cross_validate,
    modality_present,
    require_labels,
    table_labels,
)
from congruence.table import is_missing

QUADRANTS: tuple[str, ...] = ("blue", "yellow", "green", "red")
QUADRANT_MEANING: Mapping[str, str] = {
    "blue": "both right",
    "yellow": "both wrong",
    "green": "fusion right only",
    "red": "unimodal right only",
}
QUADRANT_COLORS: Mapping[str, str] = {
    "blue": "#1f77b4",
    "yellow": "#e6b400",
    "green": "#2ca02c",
    "red": "#d62728",
}
FUSION = "fusion"

#: Interpretable features compared between quadrants: (group, column, display name). The paper's
#: audio features (Praat prosody; Min Intensity has no column here), facial AU activations (here
#: the mesh AU proxies, continuous, not activation rates) and valence / arousal / dominance.
TTEST_FEATURES: tuple[tuple[str, str, str], ...] = (
    ("prosody", "voice_f0_median", "Mean Pitch"),
    ("prosody", "voice_f0_p05", "Min Pitch"),
    ("prosody", "voice_f0_p95", "Max Pitch"),
    ("prosody", "voice_intensity_mean", "Mean Intensity"),
    ("prosody", "voice_intensity_max", "Max Intensity"),
    ("prosody", "voice_jitter", "Jitter"),
    ("prosody", "voice_shimmer", "Shimmer"),
    ("prosody", "voice_hnr", "HNR"),
    ("prosody", "voice_rate", "speaking_rate"),
    ("prosody", "voice_arousal", "voice arousal"),
    ("prosody", "voice_valence", "voice valence"),
    ("prosody", "voice_dominance", "voice dominance"),
    ("AU", "face_au01", "AU01: Inner Brow Raiser"),
    ("AU", "face_au02", "AU02: Outer Brow Raiser"),
    ("AU", "face_au04", "AU04: Brow Lowerer"),
    ("AU", "face_au05", "AU05: Upper Lid Raiser"),
    ("AU", "face_au06", "AU06: Cheek Raiser"),
    ("AU", "face_au12", "AU12: Lip Corner Puller"),
    ("AU", "face_au15", "AU15: Lip Corner Depressor"),
    ("AU", "face_au25", "AU25: Lips Part"),
    ("AU", "face_au26", "AU26: Jaw Drop"),
    ("AU", "face_au45", "AU45: Blink"),
    ("AU", "face_valence", "face valence"),
    ("AU", "face_arousal", "face arousal"),
    ("VAD", "text_valence", "text valence"),
    ("VAD", "text_arousal", "text arousal"),
    ("VAD", "text_dominance", "text dominance"),
    ("VAD", "text_sentiment", "text sentiment"),
)


# ------------------------------------------------------------------------------ pure functions
def correct_confidence(proba: pd.DataFrame, labels: Sequence[object], classes: Sequence[str]) -> np.ndarray:
    """Probability each row gives its true label: ``p[i, label_i]``; NaN if either is missing.

    >>> p = pd.DataFrame({"p_a": [0.7, 0.2, np.nan], "p_b": [0.3, 0.8, np.nan]})
    >>> correct_confidence(p, ["a", "a", "b"], ["a", "b"]).tolist()
    [0.7, 0.2, nan]
    """
    p = proba[[f"p_{c}" for c in classes]].to_numpy(dtype=float)
    pos = {c: j for j, c in enumerate(classes)}
    out = np.full(len(p), np.nan)
    for i, lab in enumerate(labels):
        j = (
            pos.get(str(lab))
            if lab is not None and not (isinstance(lab, float) and math.isnan(lab))
            else None
        )
        if j is not None:
            out[i] = p[i, j]
    return out


def quadrant(conf_unimodal: float, conf_fusion: float, *, threshold: float = 0.5) -> str | None:
    """Quadrant of one example from the confidence both models give its correct label.

    ``right = confidence > threshold``: blue both right, yellow both wrong, green fusion right
    only, red unimodal right only; ``None`` when either confidence is missing.

    >>> quadrant(0.9, 0.8), quadrant(0.2, 0.3), quadrant(0.2, 0.7), quadrant(0.7, 0.2), quadrant(0.5, 0.5)
    ('blue', 'yellow', 'green', 'red', 'yellow')
    """
    if conf_unimodal is None or conf_fusion is None or math.isnan(conf_unimodal) or math.isnan(conf_fusion):
        return None
    uni, fus = conf_unimodal > threshold, conf_fusion > threshold
    if uni and fus:
        return "blue"
    if not uni and not fus:
        return "yellow"
    return "green" if fus else "red"


def quadrants(
    conf_unimodal: Sequence[float], conf_fusion: Sequence[float], *, threshold: float = 0.5
) -> np.ndarray:
    """:func:`quadrant` over aligned sequences (object array of names / ``None``)."""
    a, b = np.asarray(conf_unimodal, dtype=float), np.asarray(conf_fusion, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"confidences differ in shape: {a.shape} vs {b.shape}")
    return np.array([quadrant(x, y, threshold=threshold) for x, y in zip(a, b, strict=True)], dtype=object)


def disagreement_rate(a: Sequence[object], b: Sequence[object]) -> float:
    """Share of examples on which two models predict different labels (the paper's Table 2).

    Only examples with both predictions count; NaN if there are none.

    >>> disagreement_rate(["x", "y", "x", None], ["x", "x", "x", "y"])
    0.3333333333333333
    """
    if len(a) != len(b):
        raise ValueError("prediction sequences differ in length")
    both = [(x, y) for x, y in zip(a, b, strict=True) if not is_missing(x) and not is_missing(y)]
    if not both:
        return float("nan")
    return sum(x != y for x, y in both) / len(both)


def disagreement_matrix(predictions: Mapping[str, Sequence[object]]) -> pd.DataFrame:
    """Symmetric matrix of :func:`disagreement_rate` between every two models (diagonal NaN)."""
    names = list(predictions)
    m = pd.DataFrame(np.nan, index=names, columns=names)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            m.loc[a, b] = m.loc[b, a] = disagreement_rate(predictions[a], predictions[b])
    return m


def welch(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Welch's unequal-variance t-test (Welch, 1947): ``t = (m_a - m_b) / sqrt(v_a/n_a + v_b/n_b)``,
    two-sided p from the Welch-Satterthwaite degrees of freedom (``scipy.stats.ttest_ind``,
    ``equal_var=False``). NaNs are dropped; ``(nan, nan)`` with fewer than 2 values in a group.
    """
    from scipy import stats

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if x.size < 2 or y.size < 2:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # zero variance in both groups -> nan
        res = stats.ttest_ind(x, y, equal_var=False)
    return float(res.statistic), float(res.pvalue)


def direction(mean_a: float, mean_b: float, a: str, b: str) -> str:
    """The paper's "Mean Comparison" column: ``"μ_red > μ_blue"`` or the reverse; "" if unknown.

    >>> direction(2.0, 1.0, "red", "blue"), direction(0.0, 1.0, "green", "blue")
    ('μ_red > μ_blue', 'μ_blue > μ_green')
    """
    if is_missing(mean_a) or is_missing(mean_b):
        return ""
    if mean_a == mean_b:
        return f"μ_{a} = μ_{b}"
    return f"μ_{a} > μ_{b}" if mean_a > mean_b else f"μ_{b} > μ_{a}"


def quadrant_ttests(
    table: pd.DataFrame,
    quadrant_of: Sequence[object],
    *,
    features: Sequence[tuple[str, str, str]] = TTEST_FEATURES,
    comparisons: Sequence[tuple[str, str]] = (("red", "blue"), ("green", "blue")),
) -> pd.DataFrame:
    """Welch t-tests of each feature between quadrants (the paper's Tables 3, 4, 7, 8).

    One row per feature present in ``table``: ``group``, ``feature``, ``column`` and per
    comparison ``a_vs_b``: ``n_<a>``, ``n_<b>`` (non-missing values), ``mean_<a>``, ``mean_<b>``,
    ``t_<a>_vs_<b>``, ``p_<a>_vs_<b>``, ``dir_<a>_vs_<b>``. Sorted by the first comparison's p.
    """
    q = np.asarray(list(quadrant_of), dtype=object)
    if len(q) != len(table):
        raise ValueError("quadrant_of must have one entry per table row")
    rows = []
    for group, col, name in features:
        if col not in table.columns:
            continue
        x = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
        if np.isnan(x).all():
            continue
        row: dict[str, Any] = {"group": group, "feature": name, "column": col}
        for a, b in comparisons:
            xa, xb = x[q == a], x[q == b]
            xa, xb = xa[~np.isnan(xa)], xb[~np.isnan(xb)]
            t, p = welch(xa, xb)
            ma = float(xa.mean()) if xa.size else float("nan")
            mb = float(xb.mean()) if xb.size else float("nan")
            key = f"{a}_vs_{b}"
            row.update(
                {
                    f"n_{a}__{key}": int(xa.size),
                    f"n_{b}__{key}": int(xb.size),
                    f"mean_{a}__{key}": ma,
                    f"mean_{b}__{key}": mb,
                    f"t_{key}": t,
                    f"p_{key}": p,
                    f"dir_{key}": direction(ma, mb, a, b),
                }
            )
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out) and comparisons:
        first = f"p_{comparisons[0][0]}_vs_{comparisons[0][1]}"
        out = out.sort_values(first, na_position="last", kind="stable").reset_index(drop=True)
    return out


def agreement_by_quadrant(
    rater_a: Sequence[object], rater_b: Sequence[object], quadrant_of: Sequence[object]
) -> pd.DataFrame:
    """Cohen's kappa between two raters within each quadrant (the paper's Table 5).

    Columns ``quadrant``, ``n`` (turns both raters labelled), ``agreement`` (share equal),
    ``kappa`` (NaN when undefined, e.g. one label only).
    """
    from congruence.evaluation.stats import cohens_kappa

    rows = []
    for qd in QUADRANTS:
        pairs = [
            (str(x), str(y))
            for x, y, z in zip(rater_a, rater_b, quadrant_of, strict=True)
            if z == qd and not is_missing(x) and not is_missing(y)
        ]
        if not pairs:
            rows.append({"quadrant": qd, "n": 0, "agreement": float("nan"), "kappa": float("nan")})
            continue
        a, b = zip(*pairs, strict=True)
        k = cohens_kappa(a, b).kappa
        rows.append(
            {"quadrant": qd, "n": len(a), "agreement": float(np.mean([x == y for x, y in pairs])), "kappa": k}
        )
    return pd.DataFrame(rows)


def project_embeddings(
    embeddings: np.ndarray, *, method: Literal["auto", "umap", "pca"] = "auto", seed: int = 0
) -> tuple[np.ndarray, str]:
    """2-D projection of row vectors: UMAP (McInnes et al., 2018; the paper's Figure 3) or PCA.

    ``"auto"`` uses UMAP from 30 rows up and PCA below (UMAP's neighbour graph needs more
    points than a handful). Returns the (n, 2) coordinates and the method used.
    """
    x = np.asarray(embeddings, dtype=float)
    if x.ndim != 2 or len(x) < 3:
        raise CongruenceError(
            f"A projection needs at least 3 embeddings, got {len(x)}.", "Use more turns with text."
        )
    use = method if method != "auto" else ("umap" if len(x) >= 30 else "pca")
    if use == "umap":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # umap / numba chatter (n_jobs with random_state, ...)
            import umap

            xy = umap.UMAP(n_components=2, n_neighbors=min(15, len(x) - 1), random_state=seed).fit_transform(
                x
            )
        return np.asarray(xy, dtype=float), "umap"
    from sklearn.decomposition import PCA

    xy = PCA(n_components=2, random_state=seed).fit_transform(x)
    return np.asarray(xy, dtype=float), "pca"


# ---------------------------------------------------------------------------------- the analysis
@dataclass
class DisagreementResult:
    """Out-of-fold predictions, disagreement rates, quadrants, t-tests and evaluations."""

    predictions: pd.DataFrame  # per labelled turn: label, pred_<model>, conf_<model>, quadrant_<modality>
    disagreement: pd.DataFrame
    quadrant_counts: pd.DataFrame  # modality x quadrant
    ttests: dict[str, pd.DataFrame]  # per modality
    evaluations: dict[str, Evaluation]  # per model (text, voice, face, fusion)
    agreement: dict[str, pd.DataFrame] = field(default_factory=dict)  # per modality, if 2 raters
    threshold: float = 0.5
    fusion_name: str = ""
    n_folds: int = 0
    notes: list[str] = field(default_factory=list)
    #: per model: it predicted one class for every turn (see :attr:`.Evaluation.degenerate`)
    degenerate: dict[str, bool] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # one line per degenerate model


def analyze_disagreement(
    table: pd.DataFrame,
    *,
    modalities: Sequence[str] = MODALITIES,
    fusion: str = "gated",
    fusion_options: Mapping[str, Any] | None = None,
    unimodal_options: Mapping[str, Any] | None = None,
    n_splits: int = 5,
    threshold: float = 0.5,
    seed: int = 0,
    second_rater: pd.Series | None = None,
    first_rater: pd.Series | None = None,
) -> DisagreementResult:
    """Run the mixed-signals analysis on the labelled turns of ``table`` (``ann_incongruence``).

    Unimodal models: :class:`IncongruenceDetector` per modality (``unimodal_options`` passed
    on); fusion: ``"gated"`` (:class:`~.fusion.FusionDetector`, ``fusion_options`` passed on) or
    ``"logreg"`` / ``"hgb"`` (the multimodal calibrated detector). All share the same
    session-level folds, so every prediction is out-of-fold. ``first_rater`` / ``second_rater``
    (labels of two raters aligned with ``table``) add the per-quadrant agreement.
    """
    if not 0.0 < threshold < 1.0:
        raise CongruenceError(f"threshold must lie in (0, 1), got {threshold}.", "Use 0.5 (the paper's).")
    uni_opts = dict(unimodal_options or {})
    labelled = table[require_labels(table_labels(table)).to_numpy()]  # raises when unlabelled
    notes = []
    observed = []
    for m in modalities:
        n_obs = int(modality_present(labelled, m).sum())
        if n_obs < 2:  # e.g. no audio track in any session: no unimodal model, said so in the report
            notes.append(f"{m}: observed in {n_obs} labelled turn(s); no unimodal {m} model.")
        else:
            observed.append(m)
    if not observed:
        raise CongruenceError(
            "No modality is observed in the labelled turns.", "Check the turn tables' *_status columns."
        )
    modalities = observed
    from congruence.incongruence.factory import model_factory

    make_fusion = model_factory(fusion, observed, seed=seed, **dict(fusion_options or {}))

    def unimodal(m: str) -> Callable[[], IncongruenceDetector]:
        return lambda: IncongruenceDetector(modalities=(m,), random_state=seed, **uni_opts)

    results = {m: cross_validate(unimodal(m), table, n_splits=n_splits, seed=seed) for m in modalities}
    results[FUSION] = cross_validate(make_fusion, table, n_splits=n_splits, seed=seed)
    base = results[FUSION].predictions
    classes = LABELS
    preds = base[["session_id", "turn_index", "label"]].copy()
    for name, r in results.items():
        p = r.predictions.reindex(base.index)
        preds[f"pred_{name}"] = p["pred"]
        preds[f"conf_{name}"] = correct_confidence(p, p["label"].tolist(), classes)
        for c in classes:
            preds[f"p_{c}_{name}"] = p[f"p_{c}"]
    for m in modalities:
        preds[f"quadrant_{m}"] = quadrants(preds[f"conf_{m}"], preds[f"conf_{FUSION}"], threshold=threshold)
    labelled = table.loc[base.index]
    ttests = {m: quadrant_ttests(labelled, preds[f"quadrant_{m}"]) for m in modalities}
    counts = pd.DataFrame(
        [[int((preds[f"quadrant_{m}"] == q).sum()) for q in QUADRANTS] for m in modalities],
        index=list(modalities),
        columns=list(QUADRANTS),
    )
    agreement: dict[str, pd.DataFrame] = {}
    if first_rater is not None and second_rater is not None:
        ra, rb = first_rater.reindex(base.index).tolist(), second_rater.reindex(base.index).tolist()
        agreement = {m: agreement_by_quadrant(ra, rb, preds[f"quadrant_{m}"].tolist()) for m in modalities}
    for name, r in results.items():
        if r.evaluation.n_unscored:
            notes.append(
                f"{name}: {r.evaluation.n_unscored} labelled turn(s) lack the modality (no prediction)."
            )
    evaluations = {n: r.evaluation for n, r in results.items()}
    warn = [e.degenerate_warning(f"{n} model") for n, e in evaluations.items() if e.degenerate]
    proto = make_fusion()
    return DisagreementResult(
        predictions=preds,
        disagreement=disagreement_matrix({n: preds[f"pred_{n}"].tolist() for n in results}),
        quadrant_counts=counts,
        ttests=ttests,
        evaluations=evaluations,
        agreement=agreement,
        threshold=threshold,
        fusion_name=getattr(proto, "name", fusion),
        n_folds=results[FUSION].n_folds,
        notes=notes,
        degenerate={n: e.degenerate for n, e in evaluations.items()},
        warnings=warn,
    )
