"""Alembic environment of the annotation app: migrations run on the connection the app passes in.

Run through :meth:`congruence.app.db.Database.migrate` (``congruence serve`` does it at start);
there is no alembic.ini. To write a new revision, autogenerate against a scratch database::

    from alembic import command; from alembic.config import Config
    cfg = Config(); cfg.set_main_option("script_location", "congruence/app/migrations")
    cfg.set_main_option("sqlalchemy.url", "sqlite:////tmp/scratch.sqlite3")
    command.upgrade(cfg, "head"); command.revision(cfg, "what changed", autogenerate=True)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from congruence.app.models import Base

target_metadata = Base.metadata


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # two servers starting at once must not both create the tables
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7202503)")
        context.run_migrations()


def main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)


if hasattr(context, "config"):  # only when Alembic runs this file (not when a tool imports it)
    config = context.config
    main()
