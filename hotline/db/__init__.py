"""Database access: one async engine per process, sessions that keep objects after commit.

The same code runs on SQLite (aiosqlite, the default) and PostgreSQL (asyncpg, production and
scale-out). Queries live per concept in the sibling modules.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def create_engine(url: str) -> AsyncEngine:
    """An async engine for `url`, with SQLite made safe for a daemon and its workers."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:
        # SQLite ignores foreign keys unless asked, per connection; WAL lets the web API read
        # while the call tracker writes.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def insert_for(session: AsyncSession):
    """The INSERT of the session's dialect, for its ON CONFLICT clauses (SQLite or PostgreSQL)."""
    return (postgresql if session.bind.dialect.name == "postgresql" else sqlite).insert


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    """Sessions whose objects stay readable after commit (they are handed to JSON and events)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> AlembicConfig:
    """Alembic's configuration for the migrations shipped inside the package."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database schema up to `revision` (idempotent)."""

    def run(connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


@asynccontextmanager
async def database(url: str, *, migrate: bool = True) -> AsyncIterator[async_sessionmaker]:
    """Sessions on `url` for the length of one command: the schema is brought up to date first
    (unless `migrate` is off, as for workers that must not change a shared schema), and the
    engine is disposed of afterwards."""
    engine = create_engine(url)
    try:
        if migrate:
            await upgrade(engine)
        yield session_factory(engine)
    finally:
        await engine.dispose()
