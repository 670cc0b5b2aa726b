"""``congruence detect train|eval|predict`` and ``congruence disagreement`` (see :func:`register`).

Light to import: scikit-learn, torch and pandas load inside the commands.
"""

from __future__ import annotations

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


def register(app: typer.Typer) -> None:
    """Add ``detect`` (train / eval / predict) and ``disagreement`` to the main app."""
    from congruence.console import examples, user_errors

    detect = typer.Typer(
        name="detect",
        help="Learned incongruence detector (E-THER none / minimizing / contradiction) from turn tables.",
        no_args_is_help=True,
    )

    @detect.command(
        "train",
        epilog=examples(
            "congruence detect train results/*/turns.parquet --labels labels.csv -o detector.joblib",
            "congruence detect train sessions/ -l labels.csv --model gated -o fusion.pt --report cv.md",
        ),
    )
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
        min_steps: Annotated[
            int, typer.Option(help="gated: at least this many training steps (paper: ~750; 0 = epochs only).")
        ] = 750,
        embedding: Annotated[bool, typer.Option(help="Use the text embedding.")] = True,
        egemaps: Annotated[bool, typer.Option(help="Use the eGeMAPS voice features.")] = True,
        rater: Annotated[str | None, typer.Option(help="Use one rater's labels (default: majority).")] = None,
        report: Annotated[
            Path | None, typer.Option(help="Write the CV evaluation here (.md or .json).")
        ] = None,
        seed: int = 0,
    ) -> None:
        """Train a detector on labelled turns; report session-level cross-validated scores first."""
        from congruence.incongruence.evaluation import cv_estimate
        from congruence.incongruence.factory import check_model_file, model_factory

        check_model_file(model, out)
        table = _load(tables, labels, rater)
        make = model_factory(
            model,
            _modalities(modalities),
            task,
            seed,
            epochs=epochs,
            lr=lr,
            min_steps=min_steps,
            text_embedding=embedding,
            egemaps=egemaps,
        )
        if "ann_incongruence" not in table or not table["ann_incongruence"].notna().any():
            # one message, before the CV step (it used to print a CV note, then this error)
            raise CongruenceError(
                "No turn has a human incongruence label, so there is nothing to train on.",
                "Pass a labels file (--labels labels.csv: session_id, turn_index, incongruence) or "
                "annotate turns in the app (congruence serve) and export them.",
            )
        cv, why_not = cv_estimate(make, table, n_splits=folds, seed=seed)
        if cv is None:
            typer.secho(f"Note: {why_not}.", fg="yellow", err=True)
        else:
            md = cv.evaluation.to_markdown(title=f"{cv.n_folds}-fold session-level cross-validation")
            typer.echo(md)
            _warn_degenerate(cv.evaluation, f"{model} model (cross-validated)")
            if report is not None:
                _write_eval(report, cv.evaluation, md)
        det = make().fit(table)
        det.save(out)
        n, k = det.training_["n_labelled"], det.training_["n_sessions"]
        typer.echo(f"model: {out} ({n} labelled turns, {k} sessions)")

    @detect.command(
        "eval",
        epilog=examples(
            "congruence detect eval detector.joblib heldout/ --labels labels.csv",
            "congruence detect eval fusion.pt heldout/ -l labels.csv -o eval.json",
        ),
    )
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
        from congruence.incongruence.factory import load_model

        det = load_model(model_path)
        table = _load(tables, labels, rater)
        y = table_labels(table, det.task)
        ev = evaluate(y.tolist(), det.predict(table).tolist(), labels=det.classes)
        md = ev.to_markdown(title=f"{det.name} on {len(tables)} table(s)")
        typer.echo(md)
        _warn_degenerate(ev, det.name)
        if out is not None:
            _write_eval(out, ev, md)

    @detect.command(
        "predict",
        epilog=examples("congruence detect predict detector.joblib results/ -o predictions.csv"),
    )
    @user_errors
    def predict_cmd(
        model_path: Annotated[Path, typer.Argument(help="A file written by detect train.")],
        tables: Annotated[list[Path], typer.Argument(help="turns.parquet files or folders.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Predictions CSV.")],
    ) -> None:
        """Predict the incongruence type of every turn (CSV keyed by session_id, turn_index)."""
        from congruence.incongruence.detector import read_tables
        from congruence.incongruence.factory import load_model
        from congruence.io import write_atomic, write_json

        det = load_model(model_path)
        pred = det.predictions(read_tables(tables))
        write_atomic(out, lambda fh: pred.to_csv(fh, index=False))
        side = out.with_suffix(".provenance.json")
        write_json(side, {k: v.as_dict() for k, v in det.columns().items() if k in pred.columns})
        typer.echo(f"{len(pred)} predictions: {out} (column provenance: {side})")

    app.add_typer(detect, name="detect")

    @app.command(
        "disagreement",
        epilog=examples(
            "congruence disagreement sessions/ --labels labels.csv -o mixed-signals/",
            "congruence disagreement sessions/ -l labels.csv --fusion logreg --projection pca -o ms/",
        ),
    )
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
        min_steps: Annotated[
            int, typer.Option(help="gated: at least this many training steps (paper: ~750; 0 = epochs only).")
        ] = 750,
        projection: Annotated[str, typer.Option(help="auto | umap | pca.")] = "auto",
        rater: Annotated[str | None, typer.Option(help="Use one rater's labels (default: majority).")] = None,
        seed: int = 0,
    ) -> None:
        """Mixed-signals analysis: where unimodal and fused incongruence models disagree.

        Out-of-fold unimodal and fusion predictions, disagreement rates, quadrants, feature
        t-tests, confidence plot and text-embedding projection (CSV, Markdown, PNG, SVG).
        """
        from congruence.incongruence.detector import read_labels
        from congruence.incongruence.disagreement import analyze_disagreement
        from congruence.incongruence.disagreement_report import write_disagreement
        from congruence.incongruence.labels import rater_labels

        if projection not in ("auto", "umap", "pca"):
            raise CongruenceError(f"Unknown projection {projection!r}.", "Use auto, umap or pca.")
        table = _load(tables, labels, rater)
        raters = rater_labels(table, read_labels(labels)) if labels is not None and rater is None else None
        opts = {"epochs": epochs, "lr": lr, "min_steps": min_steps}  # the factory keeps what a model uses
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
        for w in result.warnings:
            typer.secho(f"Warning: {w}", fg="yellow", err=True)
        typer.echo(f"Wrote {len(files)} files to {out}")


def _warn_degenerate(ev: Any, model: str) -> None:
    if ev.degenerate:
        typer.secho(f"Warning: {ev.degenerate_warning(model)}", fg="yellow", err=True)


def _write_eval(path: Path, ev: Any, md: str) -> None:
    from congruence.io import write_atomic, write_json

    if path.suffix == ".json":
        write_json(path, ev.to_dict())
    else:
        write_atomic(path, lambda fh: fh.write(md))
    typer.echo(f"evaluation: {path}")
