"""Alembic environment (async, after alembic's templates/async/env.py).

`hotline db upgrade` and `serve` pass an open connection in `config.attributes["connection"]`;
the `alembic` command line builds its own engine from HOTLINE_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from hotline.config import DEFAULT_DATABASE_URL
from hotline.db import create_engine
from hotline.db.schema import metadata
from hotline.db.tables import UtcDateTime


def _render_item(kind: str, item, autogen_context):
    # Migrations must not import model code that may change later: UtcDateTime is a plain
    # timezone-aware DateTime in the database.
    if kind == "type" and isinstance(item, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead of leaving a
        # half-applied schema behind.
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    engine = create_engine(os.environ.get("HOTLINE_DATABASE_URL", DEFAULT_DATABASE_URL))
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_with_own_engine())
