"""``congruence evaluate`` and ``congruence compare``, added to the main Typer app by :func:`register`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from congruence.errors import CongruenceError
from congruence.evaluation.suite import EvaluationSuite, load_responses, summarize
from congruence.table import read_table


def _options(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in pairs or []:
        if "=" not in kv:
            raise CongruenceError(f"Option '{kv}' is not KEY=VALUE.", "Write e.g. --judge-opt model=llama3.")
        k, v = kv.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


def register(app: typer.Typer) -> None:
    """Add the ``evaluate`` and ``compare`` commands to the main app."""
    from congruence.console import examples, user_errors

    @app.command(
        "evaluate",
        epilog=examples(
            "congruence evaluate replies.csv                  # writes replies-eval/scores.csv, summary.md",
            "congruence evaluate replies.csv --no-bertscore --similarity lexical   # fast, no models",
            "congruence evaluate replies.csv --judge openai --judge-opt base_url=http://127.0.0.1:8000/v1 "
            "--judge-opt model=qwen2.5-7b",
        ),
    )
    @user_errors
    def evaluate(
        responses: Annotated[
            Path,
            typer.Argument(
                help="Responses: an analysis folder or turns.parquet with replies, the JSONL of "
                "`congruence respond --out`, or a table (.csv/.tsv/.json/.jsonl/.parquet) with a "
                "response column and a client utterance column."
            ),
        ],
        out: Annotated[Path | None, typer.Option(help="Output folder (default: <RESPONSES>-eval).")] = None,
        client_col: Annotated[
            str | None, typer.Option(help="Client utterance column (default: found by name).")
        ] = None,
        response_col: Annotated[
            str | None, typer.Option(help="Response column (default: found by name).")
        ] = None,
        similarity: Annotated[str, typer.Option(help="Mirroring similarity: minilm or lexical.")] = "minilm",
        word_vectors: Annotated[
            str, typer.Option(help="Congruence word vectors: glove, spacy or none.")
        ] = "glove",
        bertscore: Annotated[
            bool, typer.Option(help="Compute BERTScore against the client utterance.")
        ] = True,
        bertscore_model: Annotated[
            str, typer.Option(help="auto, minilm, roberta-large or a local model folder.")
        ] = "auto",
        bertscore_layers: Annotated[
            int | None, typer.Option(help="Layer for BERTScore (default: documented).")
        ] = None,
        precision: Annotated[
            str,
            typer.Option(
                help="MiniLM forward pass for mirroring and BERTScore: auto (bfloat16 where the CPU has "
                "it natively: scores within 0.004, about 2x faster), float32 or bfloat16."
            ),
        ] = "auto",
        include_failed: Annotated[
            bool,
            typer.Option(
                help="Also score replies whose response_status is not 'generated' (failed, safe "
                "message); by default they are skipped and counted."
            ),
        ] = False,
        judge: Annotated[
            str | None, typer.Option(help="LLM judge backend name (e.g. smollm2, openai).")
        ] = None,
        judge_opt: Annotated[
            list[str] | None, typer.Option(help="Judge backend option KEY=VALUE (repeat).")
        ] = None,
        human_ratings: Annotated[
            Path | None,
            typer.Option(
                help="With --judge: expert ratings (the app's ratings export: one row per response and "
                "rater, Likert columns) to correlate with the judge (interventions paper, Table 3)."
            ),
        ] = None,
        on: Annotated[
            str | None,
            typer.Option(
                help="Key columns joining --human-ratings to the responses (default: those of "
                "session_id, turn_index, system in both)."
            ),
        ] = None,
    ) -> None:
        """Score every response with the PCT metrics, BERTScore and (optionally) an LLM judge.

        Writes scores.csv (one row per response), summary.csv / summary.md (mean, SD, n per metric)
        and provenance.json (which estimator made each column, and whether it is a proxy).
        """
        if human_ratings is not None and not judge:
            raise CongruenceError(
                "--human-ratings needs --judge: it correlates the judge's ratings with the experts'.",
                "Add e.g. --judge openai --judge-opt base_url=... --judge-opt model=...",
            )
        loaded = load_responses(
            responses, response_col=response_col, client_col=client_col, include_failed=include_failed
        )
        if loaded.n_skipped:
            detail = ", ".join(f"{n} {k}" for k, n in sorted(loaded.skipped.items()))
            typer.echo(
                f"Skipped {loaded.n_skipped} replies that are not 'generated' ({detail}); "
                "--include-failed scores them too."
            )
        if loaded.client_col is None:
            typer.echo(
                "No client utterance column: Responsive Engagement and BERTScore are left empty "
                "(pass --client-col, or evaluate the turn table / analysis folder instead of respond --out)."
            )
        if loaded.table.empty:
            raise CongruenceError(
                f"No replies to score in {responses} ({loaded.n_skipped} skipped).",
                "Pass --include-failed to score failed replies, or check the file.",
            )
        table = loaded.table
        human = read_table(human_ratings) if human_ratings is not None else None
        judge_obj = None
        if judge:
            from congruence.evaluation.judge import LLMJudge
            from congruence.registry import create

            judge_obj = LLMJudge(backend=create("generation.backend", judge, **_options(judge_opt)))
        suite = EvaluationSuite(
            similarity=similarity,
            word_vectors=word_vectors,
            bertscore=bertscore and loaded.client_col is not None,
            bertscore_model=bertscore_model,
            bertscore_layers=bertscore_layers,
            judge=judge_obj,
            precision=precision,  # type: ignore[arg-type]
        )
        scores = suite.score(table, client_col=loaded.client_col, response_col=loaded.response_col)
        prov = suite.columns()
        agreement = None
        if human is not None:
            from congruence.evaluation.judge import judge_human_correlation

            shared = [k for k in ("session_id", "turn_index", "system") if k in scores and k in human]
            keys = [k.strip() for k in on.split(",")] if on else shared
            if not keys:
                raise CongruenceError(
                    "The responses and the human ratings share no key column.",
                    "Give both session_id and turn_index (and system) columns, or pass --on.",
                )
            agreement = judge_human_correlation(scores, human, on=keys)
        from congruence.evaluation.tables import to_markdown

        base = responses.parent / responses.name if responses.is_dir() else responses.with_suffix("")
        folder = out or base.with_name(base.name + "-eval")
        folder.mkdir(parents=True, exist_ok=True)
        scores.to_csv(folder / "scores.csv", index=False)
        numeric = [c for c, p in prov.items() if not c.endswith("status") and not c.startswith("n_")]
        summary = summarize(scores, numeric)
        summary.to_csv(folder / "summary.csv", index=False)
        (folder / "summary.md").write_text(to_markdown(summary), encoding="utf-8")
        (folder / "provenance.json").write_text(
            json.dumps({c: p.as_dict() for c, p in prov.items()}, indent=1) + "\n", encoding="utf-8"
        )
        typer.echo(to_markdown(summary))
        if agreement is not None:
            agreement.to_csv(folder / "judge_vs_human.csv", index=False)
            (folder / "judge_vs_human.md").write_text(to_markdown(agreement), encoding="utf-8")
            typer.echo("Judge vs human ratings (Pearson r, Spearman rho, Kendall tau):")
            typer.echo(to_markdown(agreement[["criterion", "n", "r", "rho", "tau"]]))
        typer.echo(f"Wrote {len(scores)} scored responses to {folder}")

    @app.command(
        "compare",
        epilog=examples(
            "congruence compare full-eval/scores.csv base-eval/scores.csv --names full,base",
            "congruence compare a.csv b.csv c.csv --metrics mirroring,congruence --test welch -o cmp/",
        ),
    )
    @user_errors
    def compare(
        tables: Annotated[
            list[Path],
            typer.Argument(
                help="Score tables from `congruence evaluate`: the system "
                "(or full method) first, then baselines / ablations."
            ),
        ],
        out: Annotated[Path, typer.Option(help="Output folder.")] = Path("comparison"),
        names: Annotated[
            str | None, typer.Option(help="Comma-separated names, one per table (default: file names).")
        ] = None,
        id_col: Annotated[str, typer.Option(help="Item id column for paired tests.")] = "pair_id",
        metrics: Annotated[
            str | None,
            typer.Option(
                help="Comma-separated metric columns (default: the four "
                "headline PCT metrics, plus BERTScore F1 and judge ratings "
                "when every table has them)."
            ),
        ] = None,
        test: Annotated[
            str, typer.Option(help="auto (paired when ids are shared), paired or welch.")
        ] = "auto",
    ) -> None:
        """Compare systems: E-THER Tables III-IV and VI-VII, ANOVA + Tukey HSD, and an effect-size plot."""
        from congruence.evaluation import tables as T
        from congruence.evaluation.pct import HEADLINE_METRICS

        if len(tables) < 2:
            raise CongruenceError(
                "compare needs at least two score tables.", "Pass the system and a baseline."
            )
        label = (
            [n.strip() for n in names.split(",")]
            if names
            else [t.parent.name if t.name == "scores.csv" else t.stem for t in tables]
        )
        if len(label) != len(tables) or len(set(label)) != len(label):
            raise CongruenceError(
                "--names needs one distinct name per table.", "E.g. --names full,no-weights."
            )
        frames = {n: read_table(t) for n, t in zip(label, tables, strict=True)}
        if test not in ("auto", "paired", "welch"):
            raise CongruenceError(f"Unknown test '{test}'.", "Use auto, paired or welch.")
        if metrics:
            chosen = [m.strip() for m in metrics.split(",")]
        else:
            optional = ["bertscore_f1", "judge_applicability", "judge_empathy", "judge_comprehensiveness"]
            chosen = list(HEADLINE_METRICS) + [
                m for m in optional if all(m in f.columns and f[m].notna().any() for f in frames.values())
            ]
        for n, f in frames.items():
            missing = [m for m in chosen if m not in f.columns]
            if missing:
                raise CongruenceError(
                    f"Table '{n}' has no columns {missing}.", "Score it with `congruence evaluate` first."
                )
        idc = id_col if all(id_col in f.columns for f in frames.values()) else None
        if test == "paired" and idc is None:
            raise CongruenceError(
                f"Paired tests need the id column '{id_col}' in every table.", "Pass --id-col."
            )
        first, *rest = label
        out.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        svb = pd.concat(
            [
                T.system_vs_baseline(
                    frames[first],
                    frames[b],
                    metrics=chosen,
                    system_name=first,
                    baseline_name=b,
                    id_col=idc,
                    test=test,
                )  # type: ignore[arg-type]
                for b in rest
            ],
            ignore_index=True,
        )
        md = "\n".join(T.to_markdown(T.format_system_vs_baseline(svb[svb["baseline"] == b])) for b in rest)
        svb.to_csv(out / "system_vs_baseline.csv", index=False)
        (out / "system_vs_baseline.md").write_text(md, encoding="utf-8")
        written += [out / "system_vs_baseline.csv", out / "system_vs_baseline.md"]
        abl = T.ablation_table(
            frames[first],
            {n: frames[n] for n in rest},
            metrics=chosen,
            full_name=first,
            id_col=idc,
            test=test,
        )  # type: ignore[arg-type]
        written += T.write_table(abl, out / "ablation", markdown=T.format_ablation(abl))
        anova, tukey = T.anova_tukey(frames, metrics=chosen)
        written += T.write_table(anova, out / "anova")
        written += T.write_table(tukey, out / "tukey")
        if abl["cohens_d"].notna().any():
            written.append(
                T.effect_size_plot(
                    abl,
                    out / "effect_sizes.png",
                    title=f"Cohen's d of {first} against each condition (> 0: {first} higher)",
                )
            )
        else:
            typer.echo("No effect size is defined (see the note column): effect_sizes.png not written.")
        typer.echo(T.to_markdown(T.format_ablation(abl)))
        typer.echo("Wrote " + ", ".join(str(p) for p in written))
