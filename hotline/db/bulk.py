"""Loading many rows at once: COPY on PostgreSQL, one executemany on SQLite.

For `hotline db seed`: a million rows through INSERT statements take many minutes on
PostgreSQL; COPY (asyncpg's binary `copy_records_to_table`) takes seconds. Rows carry their own
ids (the caller numbers them from `next_id`), so rows of several tables can point at one
another without reading ids back; `sync_id_sequence` then moves PostgreSQL's sequence past them.
"""

from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession


async def next_id(session: AsyncSession, table: Table) -> int:
    """The id after the highest in `table`."""
    return (await session.scalar(select(func.coalesce(func.max(table.c.id), 0)))) + 1


async def load_rows(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Add `rows` (every column of `table`, by name) in the current transaction."""
    if not rows:
        return
    if session.bind.dialect.name != "postgresql":
        await session.execute(insert(table), rows)
        return
    dialect = session.bind.dialect
    columns = list(table.columns)
    # COPY bypasses SQLAlchemy's parameter handling: apply each type's own conversion (UTC for
    # times, text for JSON) as an INSERT would.
    processors = [column.type._cached_bind_processor(dialect) for column in columns]
    records = [
        tuple(value if process is None or value is None else process(value)
              for process, value in zip(processors, (row[column.name] for column in columns)))
        for row in rows
    ]
    connection = await (await session.connection()).get_raw_connection()
    await connection.driver_connection.copy_records_to_table(
        table.name, records=records, columns=[column.name for column in columns]
    )


async def sync_id_sequence(session: AsyncSession, table: Table) -> None:
    """After rows were loaded with their own ids: let PostgreSQL's next id come after them."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(
            text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                 f"(SELECT coalesce(max(id), 0) + 1 FROM {table.name}), false)")
        )
