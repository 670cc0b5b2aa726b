"""``congruence detect train|eval|predict`` and ``congruence disagreement`` (see :func:`register`).

Light to import: scikit-learn, torch and pandas load inside the commands.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from congruence.errors import CongruenceError

MODALITY_HELP = "Comma-separated modalities: text, face, voice (one = a unimodal model)."
LABELS_HELP = (
    "CSV/TSV/Parquet of labels: session_id, turn_index, incongruence (none/minimizing/contradiction), "
    "optional rater. Omit when the tables' ann_incongruence is filled."
)



def _modalities(text: str) -> tuple[str, ...]:
    mods = tuple(m.strip() for m in text.split(",") if m.strip())
    aliases = {"audio": "voice", "video": "face"}
    return tuple(aliases.get(m, m) for m in mods)


def _load(tables: list[Path], labels: Path | None, rater: str | None) -> Any:
    from congruence.incongruence.detector import attach_labels, read_labels, read_tables

    table = read_tables(tables)
    if labels is not None:
        table = attach_labels(table, read_labels(labels), rater=rater)
        unmatched = table.attrs.get("labels_unmatched", 0)
        if unmatched:
            typer.secho(f"Warning: {unmatched} label(s) match no turn of the tables.", fg="yellow", err=True)
    return table


def _make(model: str, modalities: tuple[str, ...], task: str, seed: int, **kw: Any) -> Callable[[], Any]:
    from congruence import registry

    accepted = registry.keywords("incongruence.detector", model)  # an unknown name lists the valid ones
    opts = {k: v for k, v in kw.items() if k in accepted}
    opts["seed" if "seed" in accepted else "random_state"] = seed
    return lambda: registry.create("incongruence.detector", model, modalities=modalities, task=task, **opts)


def load_model(path: Path) -> Any:
    """A saved detector: ``.pt`` -> the gated fusion model, anything else -> the calibrated detector."""
    if path.suffix == ".pt":
        from congruence.incongruence.fusion import FusionDetector

        return FusionDetector.load(path)
    from congruence.incongruence.detector import IncongruenceDetector

    return IncongruenceDetector.load(path)


def register(app: typer.Typer) -> None:
    """Add ``detect`` (train / eval / predict) and ``disagreement`` to the main app."""
    from congruence.cli import user_errors
    detect = typer.Typer(
        name="detect",
        help="Learned incongruence detector (E-THER none / minimizing / contradiction) from turn tables.",
        no_args_is_help=True,
    )

    @detect.command("train")
    @user_errors
    def train(
        tables: Annotated[list[Path], typer.Argument(help="turns.parquet files or folders of them.")],
        out: Annotated[
            Path, typer.Option("--out", "-o", help="Model file (.joblib; .pt for --model gated).")
        ],
        labels: Annotated[Path | None, typer.Option("--labels", "-l", help=LABELS_HELP)] = None,
        model: Annotated[
            str, typer.Option(help="logreg | hgb (calibrated) | gated (attention fusion).")
        ] = "logreg",
        modalities: Annotated[str, typer.Option(help=MODALITY_HELP)] = "text,face,voice",
        task: Annotated[str, typer.Option(help="type (3 E-THER labels) or binary (incongruent).")] = "type",
        folds: Annotated[int, typer.Option(help="Session-level CV folds (0 = skip the CV estimate).")] = 5,
        epochs: Annotated[int, typer.Option(help="gated: training epochs (paper: 10).")] = 10,
        lr: Annotated[float, typer.Option(help="gated: learning rate (paper: 1e-4).")] = 1e-4,
        embedding: Annotated[bool, typer.Option(help="Use the text embedding.")] = True,
        egemaps: Annotated[bool, typer.Option(help="Use the eGeMAPS voice features.")] = True,
        rater: Annotated[str | None, typer.Option(help="Use one rater's labels (default: majority).")] = None,
        report: Annotated[
            Path | None, typer.Option(help="Write the CV evaluation here (.md or .json).")
        ] = None,
        seed: int = 0,
    ) -> None:
        """Train a detector on labelled turns; report session-level cross-validated scores first."""
        from congruence.incongruence.detector import cross_validate

        table = _load(tables, labels, rater)
        make = _make(
            model,
            _modalities(modalities),
            task,
            seed,
            epochs=epochs,
            lr=lr,
            text_embedding=embedding,
            egemaps=egemaps,
        )
        if model == "gated" and out.suffix != ".pt":
            raise CongruenceError("The gated fusion model is saved as a torch file.", "Name the output *.pt.")
        if model != "gated" and out.suffix == ".pt":
            raise CongruenceError("A .pt output is for --model gated.", "Name the output *.joblib.")
        if folds:
            n_sessions = table.loc[table["ann_incongruence"].notna(), "session_id"].nunique()
            if n_sessions >= 2:
                cv = cross_validate(make, table, n_splits=folds, seed=seed)
                md = cv.evaluation.to_markdown(title=f"{cv.n_folds}-fold session-level cross-validation")
                typer.echo(md)
                if report is not None:
                    _write_eval(report, cv.evaluation, md)
            else:
                typer.secho("Only one labelled session: no cross-validated estimate.", fg="yellow", err=True)
        det = make().fit(table)
        det.save(out)
        n, k = det.training_["n_labelled"], det.training_["n_sessions"]
        typer.echo(f"model: {out} ({n} labelled turns, {k} sessions)")

    @detect.command("eval")
    @user_errors
    def evaluate_cmd(
        model_path: Annotated[Path, typer.Argument(help="A file written by detect train.")],
        tables: Annotated[list[Path], typer.Argument(help="Held-out turns.parquet files or folders.")],
        labels: Annotated[Path | None, typer.Option("--labels", "-l", help=LABELS_HELP)] = None,
        rater: Annotated[str | None, typer.Option(help="Use one rater's labels (default: majority).")] = None,
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="Write the evaluation (.md or .json).")
        ] = None,
    ) -> None:
        """Evaluate a saved detector against human labels: accuracy, macro-F1, Cohen's kappa, confusion."""
        from congruence.incongruence.detector import evaluate, table_labels

        det = load_model(model_path)
        table = _load(tables, labels, rater)
        y = table_labels(table, det.task)
        ev = evaluate(y.tolist(), det.predict(table).tolist(), labels=det.classes)
        md = ev.to_markdown(title=f"{det.name} on {len(tables)} table(s)")
        typer.echo(md)
        if out is not None:
            _write_eval(out, ev, md)

    @detect.command("predict")
    @user_errors
    def predict_cmd(
        model_path: Annotated[Path, typer.Argument(help="A file written by detect train.")],
        tables: Annotated[list[Path], typer.Argument(help="turns.parquet files or folders.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Predictions CSV.")],
    ) -> None:
        """Predict the incongruence type of every turn (CSV keyed by session_id, turn_index)."""
        from congruence.incongruence.detector import read_tables
        from congruence.io import write_atomic, write_json

        det = load_model(model_path)
        pred = det.predictions(read_tables(tables))
        write_atomic(out, lambda fh: pred.to_csv(fh, index=False))
        side = out.with_suffix(".provenance.json")
        write_json(side, {k: v.as_dict() for k, v in det.columns().items() if k in pred.columns})
        typer.echo(f"{len(pred)} predictions: {out} (column provenance: {side})")

    app.add_typer(detect, name="detect")

    @app.command("disagreement")
    @user_errors
    def disagreement_cmd(
        tables: Annotated[
            list[Path], typer.Argument(help="turns.parquet files or folders (several sessions).")
        ],
        out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
        labels: Annotated[Path | None, typer.Option("--labels", "-l", help=LABELS_HELP)] = None,
        fusion: Annotated[str, typer.Option(help="gated (paper) | logreg | hgb.")] = "gated",
        folds: Annotated[int, typer.Option(help="Session-level CV folds.")] = 5,
        threshold: Annotated[float, typer.Option(help="Quadrant threshold on P(correct label).")] = 0.5,
        epochs: Annotated[int, typer.Option(help="gated: training epochs (paper: 10).")] = 10,
        lr: Annotated[float, typer.Option(help="gated: learning rate (paper: 1e-4).")] = 1e-4,
        projection: Annotated[str, typer.Option(help="auto | umap | pca.")] = "auto",
        rater: Annotated[str | None, typer.Option(help="Use one rater's labels (default: majority).")] = None,
        seed: int = 0,
    ) -> None:
        """Mixed-signals analysis: where unimodal and fused incongruence models disagree.

        Out-of-fold unimodal and fusion predictions, disagreement rates, quadrants, feature
        t-tests, confidence plot and text-embedding projection (CSV, Markdown, PNG, SVG).
        """
        from congruence.incongruence.detector import read_labels
        from congruence.incongruence.disagreement import analyze_disagreement, write_disagreement

        if projection not in ("auto", "umap", "pca"):
            raise CongruenceError(f"Unknown projection {projection!r}.", "Use auto, umap or pca.")
        table = _load(tables, labels, rater)
        raters = _two_raters(table, read_labels(labels)) if labels is not None and rater is None else None
        opts = {"epochs": epochs, "lr": lr} if fusion == "gated" else {}
        result = analyze_disagreement(
            table,
            fusion=fusion,
            fusion_options=opts,
            n_splits=folds,
            threshold=threshold,
            seed=seed,
            first_rater=raters[0] if raters else None,
            second_rater=raters[1] if raters else None,
        )
        files = write_disagreement(result, table, out, projection=projection, seed=seed)
        typer.echo(Path(files["report_md"]).read_text())
        typer.echo(f"Wrote {len(files)} files to {out}")


def _two_raters(table: Any, labels: Any) -> tuple[Any, Any] | None:
    """The first two raters' labels aligned with ``table`` rows, if the labels file has two raters."""
    import pandas as pd

    names = list(dict.fromkeys(labels["rater"].tolist()))
    if len(names) < 2:
        return None
    key = pd.MultiIndex.from_frame(
        table[["session_id", "turn_index"]].astype({"session_id": str, "turn_index": int})
    )
    out = []
    for name in names[:2]:
        one = labels[labels["rater"] == name].drop_duplicates(["session_id", "turn_index"])
        s = one.set_index(["session_id", "turn_index"])["incongruence"].reindex(key)
        out.append(pd.Series(s.to_numpy(), index=table.index, dtype=object))
    return out[0], out[1]


def _write_eval(path: Path, ev: Any, md: str) -> None:
    from congruence.io import write_atomic, write_json

    if path.suffix == ".json":
        write_json(path, ev.to_dict())
    else:
        write_atomic(path, lambda fh: fh.write(md))
    typer.echo(f"evaluation: {path}")
