"""``congruence serve`` and ``congruence annotations ...``: the app's command line (light to import)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder of the SQLite database (default $CONGRUENCE_DATA_DIR or ~/.local/share/congruence).",
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="CONGRUENCE_DATABASE_URL",
        help="SQLAlchemy URL, e.g. postgresql://user@127.0.0.1/congruence (default: SQLite in the data dir).",
    ),
]


def _config(data_dir: Path | None, database_url: str | None, **kw: Any) -> Any:
    from congruence.app.config import AppConfig, default_data_dir

    return AppConfig(data_dir=data_dir or default_data_dir(), database_url=database_url, **kw)


def _db(data_dir: Path | None, database_url: str | None) -> tuple[Any, Any]:
    from congruence.app.db import Database

    config = _config(data_dir, database_url)
    db = Database(config=config)
    db.migrate()
    return config, db


def _split(value: str | None) -> list[str]:
    return [x.strip() for x in (value or "").split(",") if x.strip()]


def _print(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``annotations`` group to the ``congruence`` command line."""
    from congruence.console import examples, user_errors

    @app.command(
        epilog=examples(
            "congruence annotations add-user alice --role admin && congruence serve",
            "congruence serve --data-dir study/ --port 8080 --model-estimates on_request",
            "congruence serve --database-url postgresql://app@127.0.0.1/congruence --host 0.0.0.0 "
            "--cookie-secure",
        )
    )
    @user_errors
    def serve(
        data_dir: DataDir = None,
        database_url: DatabaseUrl = None,
        host: Annotated[
            str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")
        ] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
        model_estimates: Annotated[
            str, typer.Option(help="hidden (default, avoids anchoring), on_request or shown.")
        ] = "hidden",
        queue_order: Annotated[
            str, typer.Option(help="Default queue order: session or disagreement.")
        ] = "session",
        max_upload_mb: Annotated[
            float, typer.Option(help="Largest upload (session zip, response file) in MiB.")
        ] = 64,
        session_idle_minutes: Annotated[
            float, typer.Option(help="Log out after this long without activity.")
        ] = 120,
        cookie_secure: Annotated[
            bool, typer.Option(help="Send cookies over HTTPS only (behind a TLS proxy).")
        ] = False,
        client_login_failures: Annotated[
            int,
            typer.Option(
                help="Failed logins from one client address before its backoff starts (raise it behind a "
                "reverse proxy, where every client has the proxy's address)."
            ),
        ] = 10,
    ) -> None:
        """Start the annotation and expert-rating web application."""
        import uvicorn

        from congruence.app.web import create_app

        config = _config(
            data_dir,
            database_url,
            model_estimates=model_estimates,
            queue_order=queue_order,
            max_upload_bytes=int(max_upload_mb * 1024 * 1024),
            session_idle_minutes=session_idle_minutes,
            cookie_secure=cookie_secure,
            max_failed_logins_per_client=client_login_failures,
        )
        application = create_app(config)
        with application.state.db.read() as s:
            import sqlalchemy as sa

            from congruence.app.models import User

            n_admins = s.scalar(sa.select(sa.func.count(User.id)).where(User.role == "admin", User.active))
        where = (config.database_url and "the database URL") or str(config.data_dir / "app.sqlite3")
        typer.echo(f"Database: {where}", err=True)
        if not n_admins:
            typer.echo(
                "No admin account yet: create one with `congruence annotations add-user NAME --role admin`"
                + (f" --data-dir {config.data_dir}" if data_dir else ""),
                err=True,
            )
        if host not in ("127.0.0.1", "localhost", "::1") and not cookie_secure:
            typer.echo(
                "Listening beyond this machine: put it behind HTTPS and pass --cookie-secure.", err=True
            )
        uvicorn.run(application, host=host, port=port, log_level="info", proxy_headers=False)

    ann = typer.Typer(
        help="Manage the annotation app's data: users, imports, assignments, samples, exports.",
        no_args_is_help=True,
    )
    app.add_typer(ann, name="annotations")

    @ann.command(
        "add-user",
        epilog=examples(
            "congruence annotations add-user alice --role admin",
            "PW=secret congruence annotations add-user bob --role expert --password-env PW",
        ),
    )
    @user_errors
    def add_user(
        username: Annotated[str, typer.Argument(help="Login name.")],
        role: Annotated[str, typer.Option(help="admin, annotator or expert.")] = "annotator",
        password_env: Annotated[
            str | None, typer.Option(help="Read the password from this environment variable (else prompt).")
        ] = None,
        data_dir: DataDir = None,
        database_url: DatabaseUrl = None,
    ) -> None:
        """Create an account."""
        from congruence.app import store
        from congruence.errors import CongruenceError

        if password_env:
            password = os.environ.get(password_env)
            if not password:
                raise CongruenceError(f"${password_env} is empty.", "Export the password in it first.")
        elif sys.stdin.isatty():
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        else:
            password = sys.stdin.readline().rstrip("\n")
        from congruence.app.auth import hash_new_password
        from congruence.app.security import check_username

        config, db = _db(data_dir, database_url)
        check_username(username)
        hashed = hash_new_password(password, config=config, username=username)  # before the write lock
        with db.write() as s:
            store.create_user(s, username, password, role, config=config, password_hash=hashed)
        typer.echo(f"Created {role} '{username}'.")

    @ann.command(
        "import-session",
        epilog=examples(
            "congruence annotations import-session results/",
            "congruence annotations import-session congruence-demo/ --session-id demo-1",
        ),
    )
    @user_errors
    def import_session(
        folder: Annotated[
            Path,
            typer.Argument(
                help="Output folder of `congruence analyze`, or a corpus folder (every finished session)."
            ),
        ],
        session_id: Annotated[str | None, typer.Option(help="Import under this id instead.")] = None,
        data_dir: DataDir = None,
        database_url: DatabaseUrl = None,
    ) -> None:
        """Import an analysed session (turns, key frames, estimates) for annotation."""
        from congruence.app import importing, store
        from congruence.errors import CongruenceError
        from congruence.table import discover, is_corpus

        folders = discover(folder) if is_corpus(folder) else [folder]
        if session_id is not None and len(folders) != 1:
            raise CongruenceError("--session-id names one session, but a corpus holds several.", "Omit it.")
        parsed = [
            importing.read_analysed_session(f, session_id=session_id) for f in folders
        ]  # all read before any write
        _, db = _db(data_dir, database_url)
        with db.write() as s:
            for one in parsed:
                _print(store.import_session(s, one))

    @ann.command(
        "import-responses",
        epilog=examples(
            "congruence annotations import-responses replies.jsonl --system full",
        ),
    )
    @user_errors
    def import_responses(
        path: Annotated[Path, typer.Argument(help="JSONL / CSV / Parquet of generated responses.")],
        system: Annotated[str | None, typer.Option(help="System name for rows without one.")] = None,
        data_dir: DataDir = None,
        database_url: DatabaseUrl = None,
    ) -> None:
        """Import generated responses for blinded expert rating."""
        from congruence.app import importing, store

        rows = importing.parse_responses(
            path.read_bytes(), importing.response_format(path.name), system=system
        )
        _, db = _db(data_dir, database_url)
        with db.write() as s:
            _print(store.import_responses(s, rows, source=path.name))

    @ann.command(
        "assign",
        epilog=examples(
            "congruence annotations assign --users ann1,ann2",
            "congruence annotations assign --users exp1 --kind rate --mode split",
        ),
    )
    @user_errors
    def assign(
        users: Annotated[str, typer.Option(help="Comma-separated user names.")],
        sessions: Annotated[
            str | None, typer.Option(help="Comma-separated session ids (default: all).")
        ] = None,
        kind: Annotated[str, typer.Option(help="annotate (annotators) or rate (experts).")] = "annotate",
        mode: Annotated[
            str, typer.Option(help="all: every pair to each user; split: deal pairs out.")
        ] = "all",
        data_dir: DataDir = None,
        database_url: DatabaseUrl = None,
    ) -> None:
        """Assign the pairs of sessions to users."""
        from congruence.app import store

        _, db = _db(data_dir, database_url)
        with db.write() as s:
            _print(store.assign(s, _split(users), session_ids=_split(sessions), kind=kind, mode=mode))

    @ann.command(
        "sample",
        epilog=examples(
            "congruence annotations sample --experts exp1,exp2",
            "congruence annotations sample --experts exp1 --share 0.2 --seed 1",
        ),
    )
    @user_errors
    def sample(
        experts: Annotated[str, typer.Option(help="Comma-separated expert user names.")],
        share: Annotated[
            float, typer.Option(help="Share of annotated pairs (E-THER: 100/789 = 0.127).")
        ] = 100 / 789,
        seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
        data_dir: DataDir = None,
        database_url: DatabaseUrl = None,
    ) -> None:
        """Draw a stratified validation sample (by rater and label) and assign it to experts."""
        from congruence.app import store

        _, db = _db(data_dir, database_url)
        with db.write() as s:
            _print(
                store.create_validation_sample(
                    s, share=share, seed=seed, experts=_split(experts), created_by=None
                )
            )

    @ann.command(
        "agreement",
        epilog=examples(
            "congruence annotations agreement",
            "congruence annotations agreement --sample-id 2 > agreement.json",
        ),
    )
    @user_errors
    def agreement(
        sample_id: Annotated[
            int | None, typer.Option(help="Validation sample (default: the latest).")
        ] = None,
        data_dir: DataDir = None,
        database_url: DatabaseUrl = None,
    ) -> None:
        """E-THER Table II and the pairwise kappa matrices, as JSON."""
        from congruence.app import store

        _, db = _db(data_dir, database_url)
        with db.read() as s:
            _print(store.agreement_report(s, sample_id=sample_id))

    @ann.command(
        "export",
        epilog=examples(
            "congruence annotations export annotations -o labels.csv",
            "congruence annotations export ratings -o ratings.parquet",
        ),
    )
    @user_errors
    def export(
        what: Annotated[str, typer.Argument(help="annotations or ratings.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="File to write (.csv, .parquet, .json).")],
        mode: Annotated[str, typer.Option(help="annotations: final (one row per pair) or all.")] = "final",
        data_dir: DataDir = None,
        database_url: DatabaseUrl = None,
    ) -> None:
        """Export annotations (the dataset table) or ratings."""
        from congruence.app import exporting
        from congruence.errors import CongruenceError
        from congruence.io import write_atomic

        fmt = out.suffix.lower().lstrip(".")
        if what not in ("annotations", "ratings"):
            raise CongruenceError(f"Cannot export '{what}'.", "Export annotations or ratings.")
        _, db = _db(data_dir, database_url)
        with db.read() as s:
            df = (
                exporting.annotations_table(s, mode=mode)
                if what == "annotations"
                else exporting.ratings_table(s)
            )
        data, _ = exporting.to_bytes(df, fmt)
        write_atomic(out, lambda fh: fh.write(data), binary=True)
        typer.echo(f"{len(df)} rows -> {out}")
