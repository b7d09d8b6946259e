"""A database that refuses writes, for real: triggers that make every INSERT and UPDATE of the
given tables fail inside the database, as a full disk or a read-only volume does, while reads
(and health's `select 1`) still answer. No mock: the daemon's own SQL meets the refusal."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from sqlalchemy import text

from hotline.db import create_engine

REFUSAL = "disk I/O error (refused by the test)"


@asynccontextmanager
async def writes_refused(database_url: str, *tables: str) -> AsyncIterator[None]:
    """Every INSERT and UPDATE of `tables` fails with REFUSAL until the block ends."""
    engine = create_engine(database_url)
    postgresql = engine.dialect.name == "postgresql"
    try:
        async with engine.begin() as connection:
            if postgresql:
                await connection.execute(text(
                    "CREATE FUNCTION refuse_writes() RETURNS trigger LANGUAGE plpgsql AS"
                    f" $$ BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$"
                ))
            for table in tables:
                if postgresql:
                    await connection.execute(text(
                        f"CREATE TRIGGER refuse_{table} BEFORE INSERT OR UPDATE ON {table}"
                        " FOR EACH ROW EXECUTE FUNCTION refuse_writes()"
                    ))
                else:
                    for operation in ("INSERT", "UPDATE"):
                        await connection.execute(text(
                            f"CREATE TRIGGER refuse_{table}_{operation} BEFORE {operation} ON {table}"
                            f" BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
                        ))
        yield
        async with engine.begin() as connection:
            for table in tables:
                if postgresql:
                    await connection.execute(text(f"DROP TRIGGER refuse_{table} ON {table}"))
                else:
                    for operation in ("INSERT", "UPDATE"):
                        await connection.execute(text(f"DROP TRIGGER refuse_{table}_{operation}"))
            if postgresql:
                await connection.execute(text("DROP FUNCTION refuse_writes()"))
    finally:
        await engine.dispose()
