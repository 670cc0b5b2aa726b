"""``congruence dataset build`` and ``congruence train CONFIG`` (light imports; work happens on call)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer


def _main_process() -> bool:
    """Whether this is the process that reports (rank 0 under ``accelerate launch`` / torchrun)."""
    return int(os.environ.get("RANK", "0")) == 0


def _num(v: float | None) -> str:
    return "-" if v is None or v != v else f"{v:.4f}"


def loss_lines(res: Any) -> list[str]:
    """The losses a training run reports, rounded, each saying whether it is weighted.

    The training loss is the incongruence-weighted mean (weights w_i of the scheme); the held-out
    loss is unweighted (w = 1), so the two are not on the same scale.

    >>> from types import SimpleNamespace as NS
    >>> r = NS(train_metrics={"train_loss": 2.718281828}, eval_loss_before=3.14159265, eval_loss_after=None,
    ...        mean_weight=1.25)
    >>> print("\\n".join(loss_lines(r)))
    training loss (weighted by the incongruence scheme, mean weight 1.250): 2.7183
    held-out loss (unweighted): 3.1416 -> -
    """
    lines = []
    train_loss = (res.train_metrics or {}).get("train_loss")
    if train_loss is not None:
        mw = res.mean_weight
        weight = f", mean weight {mw:.3f}" if mw == mw else ""
        lines.append(f"training loss (weighted by the incongruence scheme{weight}): {_num(train_loss)}")
    lines.append(f"held-out loss (unweighted): {_num(res.eval_loss_before)} -> {_num(res.eval_loss_after)}")
    return lines


def register(app: typer.Typer) -> None:
    """Add the training commands to the ``congruence`` app."""
    from congruence.console import err, examples, out, user_errors

    dataset_app = typer.Typer(help="Build training datasets from analysed sessions.", no_args_is_help=True)

    @dataset_app.command(
        "build",
        epilog=examples(
            "congruence dataset build results/*/ -o dataset/",
            "congruence dataset build sessions/*/ --eval-sessions s07,s12 -o dataset/",
        ),
    )
    @user_errors
    def build(
        sessions: Annotated[
            list[Path], typer.Argument(help="Analysis output folders (turns.parquet) or tables.")
        ],
        out_dir: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder.")] = Path("dataset"),
        n_eval: Annotated[int, typer.Option(help="Held-out sessions (E-THER: 2 of 18).")] = 2,
        eval_sessions: Annotated[
            str | None, typer.Option(help="Comma-separated session ids to hold out (overrides --n-eval).")
        ] = None,
        seed: Annotated[int, typer.Option(help="Seed of the session split.")] = 0,
        score_from: Annotated[
            str, typer.Option(help="auto, model or label (source of the score s).")
        ] = "auto",
    ) -> None:
        """Training instances (frame, utterance, counsellor target, labels) with session-level splits."""
        from congruence.training.dataset import build_instances, export_dataset

        ev = [s.strip() for s in eval_sessions.split(",") if s.strip()] if eval_sessions else None
        df = build_instances(sessions, n_eval=n_eval, eval_sessions=ev, seed=seed, score_from=score_from)
        paths = export_dataset(df, out_dir)
        counts = df["split"].value_counts().to_dict()
        out.print(f"{counts.get('train', 0)} train / {counts.get('eval', 0)} eval instances; label sources: "
                  f"{df['label_source'].value_counts().to_dict()}")  # fmt: skip
        for k, p in paths.items():
            out.print(f"{k}: {p}")

    app.add_typer(dataset_app, name="dataset")

    @app.command(
        "train",
        epilog=examples(
            "congruence train configs/training/embedded.toml",
            "congruence train my-run.toml --no-resume     # start again from the base model",
        ),
    )
    @user_errors
    def train_cmd(
        config: Annotated[Path, typer.Argument(help="TOML training config (configs/training/*.toml).")],
        no_resume: Annotated[bool, typer.Option("--no-resume", help="Ignore existing checkpoints.")] = False,
    ) -> None:
        """LoRA training with incongruence weights and context dropout; metrics per step in metrics.csv."""
        from congruence.training.config import load_config
        from congruence.training.trainer import train

        cfg = load_config(config)
        res = train(cfg, resume=not no_resume)
        if not _main_process():
            return
        for line in loss_lines(res):
            out.print(line)
        out.print(
            f"{res.samples_per_second:.2f} training samples/s; context dropout on {res.dropout_share:.0%}"
        )
        out.print(f"metrics: {res.metrics_csv}\nadapters: {res.output_dir / 'final'}")
        if cfg.model.kind == "embedded":
            err.print("[dim]The embedded model is a small default that runs anywhere, not a quality claim[/]")

    @app.command(
        "ablate",
        epilog=examples(
            "congruence ablate configs/training/embedded.toml -o ablation/",
            "congruence ablate run.toml --conditions full,no_incongruence",
        ),
    )
    @user_errors
    def ablate_cmd(
        config: Annotated[Path, typer.Argument(help="TOML training config of the full method.")],
        out_dir: Annotated[
            Path | None, typer.Option("--out", "-o", help="Output folder (default: ablation.output_dir).")
        ] = None,
        conditions: Annotated[
            str | None,
            typer.Option(help="Comma-separated: full, no_incongruence, engagement, text_only (all)."),
        ] = None,
        no_resume: Annotated[
            bool, typer.Option("--no-resume", help="Train every condition again (old folder -> *.previous).")
        ] = False,
    ) -> None:
        """E-THER ablations (full / no weighting / engagement / text-only): train, reply, score, tabulate."""
        from congruence.training.ablation import run_ablations
        from congruence.training.config import load_config

        cfg = load_config(config)
        change: dict[str, object] = {}
        if out_dir is not None:
            change["output_dir"] = str(out_dir.resolve())
        if conditions:
            change["conditions"] = tuple(c.strip() for c in conditions.split(",") if c.strip())
        if change:
            cfg = cfg.with_(ablation=change)
        res = run_ablations(cfg, resume=not no_resume, log=lambda m: err.print(f"[dim]{m}[/]"))
        if not _main_process():
            return
        from congruence.evaluation.tables import to_markdown

        out.print(res.table_markdown, soft_wrap=True, markup=False, highlight=False)
        cols = ["condition", "scheme", "text_only", "eval_loss_after", "samples_per_second", "mean_weight"]
        out.print(to_markdown(res.conditions[cols]), soft_wrap=True, markup=False, highlight=False)
        out.print(f"written: {res.output_dir}")
