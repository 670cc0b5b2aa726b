"""Files of the mixed-signals disagreement analysis: figures (Figures 2-3), Markdown, CSV, JSON.

:func:`write_disagreement` writes a :class:`~congruence.incongruence.disagreement.DisagreementResult`
to a folder; a degenerate model (one class for every turn) is flagged in ``report.md``,
``evaluation.csv`` and ``summary.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from congruence.incongruence.disagreement import (
    FUSION,
    QUADRANT_COLORS,
    QUADRANT_MEANING,
    QUADRANTS,
    DisagreementResult,
    project_embeddings,
)
from congruence.incongruence.evaluation import confusion_markdown
from congruence.incongruence.features import PAPER_NAMES, embedding_matrix
from congruence.incongruence.labels import LABELS
from congruence.io import markdown_table


def _figure_paths(fig: Any, stem: Path) -> list[str]:
    paths = []
    for ext in ("png", "svg"):
        p = stem.with_suffix(f".{ext}")
        fig.savefig(p, dpi=150 if ext == "png" else None, bbox_inches="tight")
        paths.append(str(p))
    return paths


def plot_confidence(
    conf: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[object]]],
    stem: str | Path,
    *,
    threshold: float = 0.5,
) -> list[str]:
    """The paper's Figure 2: per modality, confidence in the correct label, unimodal (x) vs fusion (y),
    points coloured by quadrant. ``conf[modality] = (unimodal, fusion, quadrant)``. Writes PNG and SVG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mods = list(conf)
    fig, axes = plt.subplots(1, len(mods), figsize=(4.2 * len(mods), 4.2), squeeze=False)
    for ax, m in zip(axes[0], mods, strict=True):
        u, f, q = (np.asarray(v, dtype=object) for v in conf[m])
        for qd in QUADRANTS:
            sel = q == qd
            ax.scatter(
                u[sel].astype(float),
                f[sel].astype(float),
                s=14,
                alpha=0.75,
                color=QUADRANT_COLORS[qd],
                label=f"{qd}: {QUADRANT_MEANING[qd]} ({int(sel.sum())})",
            )
        ax.axvline(threshold, color="grey", lw=0.8, ls="--")
        ax.axhline(threshold, color="grey", lw=0.8, ls="--")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"{m} ({PAPER_NAMES.get(m, m)}) model: P(correct label)")
        ax.set_ylabel("fusion model: P(correct label)")
        ax.legend(fontsize=7, loc="lower left", framealpha=0.8)
    fig.suptitle("Unimodal vs fusion confidence (out-of-fold, session-level CV)")
    fig.tight_layout()
    try:
        return _figure_paths(fig, Path(stem))
    finally:
        plt.close(fig)


def plot_projection(
    xy: np.ndarray, quadrant_of: Sequence[object], labels: Sequence[object], stem: str | Path, *, method: str
) -> list[str]:
    """The paper's Figure 3: text-embedding projection, one panel per human label, coloured by quadrant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    q = np.asarray(list(quadrant_of), dtype=object)
    lab = np.asarray([str(v) for v in labels], dtype=object)
    present = [c for c in LABELS if (lab == c).any()] or sorted(set(lab))
    fig, axes = plt.subplots(1, len(present), figsize=(4.2 * len(present), 4.0), squeeze=False)
    for ax, c in zip(axes[0], present, strict=True):
        for qd in QUADRANTS:
            sel = (lab == c) & (q == qd)
            ax.scatter(
                xy[sel, 0],
                xy[sel, 1],
                s=14,
                alpha=0.8,
                color=QUADRANT_COLORS[qd],
                label=f"{qd} ({sel.sum()})",
            )
        rest = (lab == c) & ~np.isin(q, QUADRANTS)
        if rest.any():
            ax.scatter(xy[rest, 0], xy[rest, 1], s=10, color="lightgrey", label=f"no quadrant ({rest.sum()})")
        ax.set_title(f"human label: {c}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=7)
    fig.suptitle(f"Text embeddings ({method.upper()}), coloured by text-vs-fusion quadrant")
    fig.tight_layout()
    try:
        return _figure_paths(fig, Path(stem))
    finally:
        plt.close(fig)


def _md(df: pd.DataFrame) -> str:
    return markdown_table(df, missing="n/a").rstrip("\n")


def _p(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return "<0.0001" if v < 1e-4 else f"{v:.4f}"


def ttest_markdown(df: pd.DataFrame, *, alpha: float = 0.05) -> str:
    """A t-test table in the paper's layout: feature, p (red vs blue), direction, p (green vs blue),
    direction; p-values below ``alpha`` in bold."""
    if df.empty:
        return "_No feature could be tested (quadrants too small or features missing)._"
    comps = [c[2:] for c in df.columns if c.startswith("p_")]
    head = ["group", "feature"]
    for k in comps:
        a, b = k.split("_vs_")
        head += [f"p ({a} vs {b})", "n", "direction"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in df.iterrows():
        cells = [r["group"], r["feature"]]
        for k in comps:
            a, b = k.split("_vs_")
            p = r[f"p_{k}"]
            ps = _p(p)
            cells += [
                f"**{ps}**" if np.isfinite(p) and p < alpha else ps,
                f"{r[f'n_{a}__{k}']}/{r[f'n_{b}__{k}']}",
                r[f"dir_{k}"],
            ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def report_markdown(result: DisagreementResult) -> str:
    """The whole analysis as one Markdown document."""
    r = result
    mods = ", ".join(r.ttests)
    out = [
        "# Modality disagreement (mixed-signals analysis)",
        "",
        f"Out-of-fold predictions from {r.n_folds}-fold session-level cross-validation; fusion model: "
        f"`{r.fusion_name}`. Unimodal models: {mods} (the paper's text / audio / video = text / voice / "
        f"face). Quadrant "
        f"threshold: P(correct label) > {r.threshold}. t-test p-values are uncorrected Welch tests.",
        "",
    ]
    if r.warnings:
        out += ["## Warning: degenerate model(s)", "", *[f"- **{w}**" for w in r.warnings], ""]
    out += [
        "## Model performance against the human labels",
        "",
        "| model | n | accuracy | macro-F1 | Cohen's kappa | predicted classes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, e in r.evaluations.items():
        k = "n/a" if not np.isfinite(e.kappa) else f"{e.kappa:.3f}"
        pc = ", ".join(e.predicted_classes) + (" (degenerate)" if e.degenerate else "")
        out.append(f"| {name} | {e.n} | {e.accuracy:.3f} | {e.macro_f1:.3f} | {k} | {pc} |")
    out += [
        "",
        "Confusion matrix of the fusion model:",
        "",
        confusion_markdown(r.evaluations[FUSION].confusion),
    ]
    out += [
        "",
        "## Pairwise disagreement rates (Table 2)",
        "",
        _md(r.disagreement.reset_index(names="model")),
    ]
    counts = r.quadrant_counts.reset_index(names="modality")
    out += ["", "## Quadrants per unimodal model vs fusion (Figure 2)", "", _md(counts)]
    out += ["", "; ".join(f"{q}: {QUADRANT_MEANING[q]}" for q in QUADRANTS) + "."]
    for m, df in r.ttests.items():
        out += ["", f"## Features between quadrants of the {m} model ({PAPER_NAMES[m]}; Tables 3-4)", ""]
        out += [ttest_markdown(df)]
    for m, df in r.agreement.items():
        out += ["", f"## Rater agreement per quadrant of the {m} model (Table 5)", "", _md(df)]
    if r.notes:
        out += ["", "## Notes", "", *[f"- {n}" for n in r.notes]]
    return "\n".join(out) + "\n"


def write_disagreement(
    result: DisagreementResult,
    table: pd.DataFrame,
    out_dir: str | Path,
    *,
    projection: str = "auto",
    seed: int = 0,
) -> dict[str, str]:
    """Write the tables (CSV + Markdown), the figures (PNG + SVG) and ``report.md`` to ``out_dir``."""
    from congruence.io import write_atomic, write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}

    def csv(name: str, df: pd.DataFrame, index: bool = False) -> None:
        p = out / f"{name}.csv"
        write_atomic(p, lambda fh: df.to_csv(fh, index=index))
        files[name] = str(p)

    def md(name: str, text: str) -> None:
        p = out / f"{name}.md"
        write_atomic(p, lambda fh: fh.write(text))
        files[f"{name}_md"] = str(p)

    r = result
    csv("predictions", r.predictions)
    prov = {
        "pred_<model>": "argmax of the model's out-of-fold probabilities (model output)",
        "p_<label>_<model>": "out-of-fold probability of the label (calibrated for the unimodal detectors; "
        "softmax for the gated fusion model)",
        "conf_<model>": "probability the model gives the human label",
        "quadrant_<modality>": f"blue/yellow/green/red: conf_<modality> vs conf_fusion at {r.threshold}",
        "label": "human label (ann_incongruence)",
        "fusion_model": r.fusion_name,
    }
    p_prov = out / "predictions.provenance.json"
    write_json(p_prov, prov)
    files["predictions_provenance"] = str(p_prov)
    csv("disagreement_matrix", r.disagreement, index=True)
    md("disagreement_matrix", markdown_table(r.disagreement.reset_index(names="model"), missing="n/a"))
    csv("quadrant_counts", r.quadrant_counts, index=True)
    for m, df in r.ttests.items():
        csv(f"ttests_{m}", df)
        md(f"ttests_{m}", ttest_markdown(df) + "\n")
    for m, df in r.agreement.items():
        csv(f"agreement_{m}", df)
    evals = pd.DataFrame(
        [
            {
                "model": n,
                "n": e.n,
                "accuracy": e.accuracy,
                "macro_f1": e.macro_f1,
                "kappa": e.kappa,
                "degenerate": e.degenerate,
                "predicted_classes": " ".join(e.predicted_classes),
            }
            for n, e in r.evaluations.items()
        ]
    )
    csv("evaluation", evals)
    p_sum = out / "summary.json"
    write_json(
        p_sum,
        {
            "fusion_model": r.fusion_name,
            "n_folds": r.n_folds,
            "degenerate": r.degenerate,
            "warnings": r.warnings,
            "evaluation": {n: e.to_dict() for n, e in r.evaluations.items()},
            "notes": r.notes,
        },
    )
    files["summary"] = str(p_sum)
    conf = {
        m: (r.predictions[f"conf_{m}"], r.predictions[f"conf_{FUSION}"], r.predictions[f"quadrant_{m}"])
        for m in r.ttests
    }
    for i, p in enumerate(plot_confidence(conf, out / "confidence_quadrants", threshold=r.threshold)):
        files[f"confidence_fig_{i}"] = p
    if "text" in r.ttests:
        emb = embedding_matrix(table.loc[r.predictions.index])
        ok = ~np.isnan(emb).any(axis=1) if emb.shape[1] else np.zeros(len(emb), bool)
        if ok.sum() >= 3:
            xy, used = project_embeddings(emb[ok], method=projection, seed=seed)  # type: ignore[arg-type]
            proj = pd.DataFrame(
                {
                    "session_id": r.predictions["session_id"].to_numpy()[ok],
                    "turn_index": r.predictions["turn_index"].to_numpy()[ok],
                    "x": xy[:, 0],
                    "y": xy[:, 1],
                    "quadrant_text": r.predictions["quadrant_text"].to_numpy()[ok],
                    "label": r.predictions["label"].to_numpy()[ok],
                }
            )
            csv("text_projection", proj)
            paths = plot_projection(
                xy, proj["quadrant_text"], proj["label"], out / "text_projection", method=used
            )
            for i, p in enumerate(paths):
                files[f"projection_fig_{i}"] = p
        else:
            r.notes.append("Fewer than 3 labelled turns have a text embedding: no projection.")
    md("report", report_markdown(r))
    return files
