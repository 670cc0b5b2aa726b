"""``congruence respond``: a person-centred reply to one utterance, or to every client turn of a table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from congruence.errors import CongruenceError
from congruence.table import read_table

BACKEND_HELP = (
    "qwen (embedded default, Qwen2.5-Coder-1.5B), smollm2 (fast, weak), transformers, onnx, openai (HTTP), "
    "llamacpp."
)


def _load_affect(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    path = Path(value)
    try:
        text = path.read_text(encoding="utf-8") if path.suffix.lower() == ".json" or path.is_file() else value
        data = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise CongruenceError(
            f"--affect is neither a JSON object nor a readable JSON file: {exc}.",
            'Pass e.g. --affect \'{"face_valence": -0.6, "incongruence": "contradiction"}\'.',
        ) from exc
    if not isinstance(data, dict):
        raise CongruenceError(
            "--affect must be a JSON object (column -> value).", "Wrap the values in {...}."
        )
    return data


def _load_image(path: Path | None) -> Any:
    if path is None:
        return None
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise CongruenceError(
            f"Cannot read the face image {path}: {exc}.", "Pass a PNG or JPEG file."
        ) from exc


def write_table(df: Any, path: Path) -> None:
    """Write a responded table atomically as Parquet or CSV (chosen by suffix)."""
    from congruence.io import atomic_path

    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise CongruenceError(f"Cannot write a table as {suffix!r}.", "Use a .parquet or .csv file name.")
    with atomic_path(path) as tmp:
        if suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)


def backend_options(
    backend: str,
    *,
    model: str | None,
    base_url: str | None,
    api_key_env: str | None,
    engine: str | None,
    timeout: float,
    retries: int,
    image_text: bool,
    threads: int | None = None,
) -> dict[str, Any]:
    """Constructor keywords for the named backend from the CLI options."""
    if backend == "openai":
        if not base_url or not model:
            raise CongruenceError(
                "The openai backend needs --base-url and --model.",
                "e.g. --base-url http://127.0.0.1:8000/v1 --model Qwen/Qwen2.5-7B-Instruct",
            )
        return {
            "base_url": base_url,
            "model": model,
            "api_key_env": api_key_env,
            "timeout": timeout,
            "max_retries": retries,
            "send_images": image_text,
        }
    if backend == "transformers":
        if not model:
            raise CongruenceError(
                "The transformers backend needs --model PATH.", "Pass a local model folder."
            )
        return {"model_path": model, "image_text": image_text, "threads": threads}
    if backend == "onnx":
        if not model:
            raise CongruenceError(
                "The onnx backend needs --model FOLDER.", "Pass an ONNX Runtime GenAI folder."
            )
        return {"model_path": model, "threads": threads}
    if backend == "llamacpp":
        return {"threads": threads, **({"model_path": model} if model else {})}
    if backend == "qwen":
        return {
            "threads": threads,
            **({"engine": engine} if engine else {}),
            **({"size": model} if model else {}),
        }
    if backend == "smollm2":
        return {"threads": threads, **({"engine": engine} if engine else {})}
    return {}


def register(app: typer.Typer) -> None:
    """Add ``respond`` to the ``congruence`` command line."""

    from congruence.console import examples, user_errors

    @app.command(
        epilog=examples(
            'congruence respond "I\'m fine, really."',
            'congruence respond "I\'m fine." --affect \'{"face_valence": -0.6}\' --strategy dissonance',
            "congruence respond --table results/ --table-out results/replies.csv",
            "congruence respond --table turns.parquet --backend openai --base-url http://127.0.0.1:8000/v1 "
            "--model qwen2.5-7b",
        )
    )
    @user_errors
    def respond(
        utterance: Annotated[
            str | None, typer.Argument(help="The client's words (omit with --table).")
        ] = None,
        table: Annotated[
            Path | None,
            typer.Option(
                "--table", help="Turn table (turns.parquet/.csv) or output folder of `congruence analyze`."
            ),
        ] = None,
        out: Annotated[
            Path | None,
            typer.Option("--out", "-o", help="With --table: JSONL of finished turns (resumable)."),
        ] = None,
        table_out: Annotated[
            Path | None,
            typer.Option("--table-out", help="With --table: write the table plus responses (.parquet/.csv)."),
        ] = None,
        resume: Annotated[bool, typer.Option(help="Skip turns already in --out.")] = True,
        affect: Annotated[
            str | None,
            typer.Option(help="Precomputed affect: a JSON object or a .json file (turn-table columns)."),
        ] = None,
        face_image: Annotated[
            Path | None, typer.Option("--face-image", help="The client's face (PNG/JPEG).")
        ] = None,
        strategy: Annotated[
            str, typer.Option(help="ether, base, discrete, continuous, dissonance, incongruence.")
        ] = "incongruence",
        backend: Annotated[str, typer.Option(help=BACKEND_HELP)] = "qwen",
        model: Annotated[
            str | None,
            typer.Option(
                help="Model name (openai), local folder (transformers, onnx, llamacpp) "
                "or size (qwen: 1.5b, 0.5b).",
            ),
        ] = None,
        base_url: Annotated[
            str | None,
            typer.Option("--base-url", help="OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1."),
        ] = None,
        api_key_env: Annotated[
            str | None,
            typer.Option(
                "--api-key-env",
                help="Environment variable holding the API key "
                "(default: CONGRUENCE_API_KEY, then OPENAI_API_KEY).",
            ),
        ] = None,
        engine: Annotated[
            str | None,
            typer.Option(
                help="Engine: smollm2 auto/onnx/transformers/llamacpp; qwen auto/llamacpp/onnx/transformers."
            ),
        ] = None,
        image_text: Annotated[
            bool,
            typer.Option(
                "--image-text",
                help="The model takes images: transformers loads a vision-language model; openai sends "
                "the client's face to the server (off by default: frames stay on this machine).",
            ),
        ] = False,
        samples: Annotated[int, typer.Option(help="Samples per turn; the median-length one is kept.")] = 3,
        temperature: Annotated[float, typer.Option(help="Sampling temperature (0 = greedy).")] = 0.7,
        max_tokens: Annotated[
            int | None,
            typer.Option("--max-tokens", help="Tokens per sample (default 80 constrained, 160 free)."),
        ] = None,
        seed: Annotated[int | None, typer.Option(help="Base seed for reproducible sampling.")] = 0,
        retries: Annotated[
            int, typer.Option(help="Extra calls per turn for unparseable samples; HTTP retries.")
        ] = 3,
        timeout: Annotated[float, typer.Option(help="HTTP timeout in seconds.")] = 60.0,
        threads: Annotated[int | None, typer.Option(help="CPU threads of a local engine.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    ) -> None:
        """A person-centred reply to one client utterance, or to every client turn of an analysed session.

        Replies are research outputs, not therapy or clinical advice. Crisis language in the
        client's words is answered with a fixed message that points to human help.
        """
        from rich.console import Console

        from congruence.generation.respond import DISCLAIMER, Responder, failure_summary

        console = Console()
        err = Console(stderr=True)
        if (utterance is None) == (table is None):
            raise CongruenceError(
                "Give either an utterance or --table, not both and not neither.",
                'e.g. congruence respond "I\'m fine, really." or --table turns.parquet',
            )
        opts = backend_options(
            backend,
            model=model,
            base_url=base_url,
            api_key_env=api_key_env,
            engine=engine,
            timeout=timeout,
            retries=retries,
            image_text=image_text,
            threads=threads,
        )
        responder = Responder(
            backend=backend,
            backend_options=opts,
            strategy=strategy,
            n_samples=samples,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            retry_budget=retries,
        )
        if table is not None:
            if table.is_dir():  # an analysis output folder: its turn table, frames beside it
                table = table / "turns.parquet"
            df = read_table(table)
            out_path = out or table.with_name(f"{table.stem}.responses.jsonl")
            result = responder.respond_table(df, out=out_path, resume=resume, image_root=table.parent)
            if table_out is not None:
                write_table(result, table_out)
            n = int(result["response_status"].notna().sum())
            flagged = result["response_flags"].fillna("").str.contains("crisis", regex=False).sum()
            if as_json:
                rows = result[result["response_status"].notna()]
                cols = [c for c in ("session_id", "turn_index", "text") if c in rows.columns]
                from congruence.generation.respond import RESPONSE_COLUMNS

                typer.echo(rows[cols + list(RESPONSE_COLUMNS)].to_json(orient="records", force_ascii=False))
            else:
                console.print(f"{n} client turn(s) answered; {flagged} answered with the safe message.")
                failed = failure_summary(list(result["response_status"]), list(result["response_flags"]))
                if failed:
                    err.print(f"[yellow]{failed}[/]", markup=True, highlight=False)
                console.print(f"responses: {out_path}")
                if table_out is not None:
                    console.print(f"table: {table_out}")
                err.print(f"[dim]{DISCLAIMER}[/]")
            return
        affect_values = _load_affect(affect)
        image = _load_image(face_image)
        if image is not None and affect_values is None:
            from congruence.generation.affect import affect_for

            affect_values = affect_for(str(utterance), image)
        reply = responder.respond(str(utterance), affect=affect_values, image=image)
        if as_json:
            typer.echo(json.dumps({**reply.to_json(), "disclaimer": DISCLAIMER}, ensure_ascii=False))
            return
        if reply.technique:
            console.print(f"[bold]Technique:[/] {reply.technique}")
        console.print(reply.text or "[red](no usable reply)[/]", markup=not reply.text)
        if reply.flags:
            console.print(f"[yellow]flags:[/] {', '.join(reply.flags)}")
        failed = failure_summary([reply.status], [";".join(reply.flags)])
        if failed:
            err.print(f"[red]The reply failed:[/] {failed}")
        err.print(f"[dim]{DISCLAIMER}[/]")


__all__ = ["backend_options", "register", "write_table"]
