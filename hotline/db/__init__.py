"""Database access: one async engine per process, sessions that keep objects after commit.

The same code runs on SQLite (aiosqlite, the default) and PostgreSQL (asyncpg, production and
scale-out). Queries live per concept in the sibling modules.
"""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from hotline.config import DEFAULT_DATABASE_URL
from hotline.errors import ConfigError


def create_engine(url: str) -> AsyncEngine:
    """An async engine for `url`, with SQLite made safe for a daemon and its workers."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        _check_sqlite_path(Path(parsed.database), url)
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


def _check_sqlite_path(path: Path, url: str) -> None:
    """The default ./var is ours to create; a configured file's folder must exist already, so a
    typo in the path is one line at start instead of a database made somewhere else. The file
    is then opened (created if new) as SQLite will open it: a failed aiosqlite connect leaves
    its worker thread behind, and the system's reason is clearer than SQLite's."""
    key = "database.url"
    try:
        if url == DEFAULT_DATABASE_URL:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.parent.is_dir():
            raise ConfigError(f"{key}: folder {path.parent} does not exist", key=key)
        with path.open("ab"):
            pass
    except IsADirectoryError:
        raise ConfigError(f"{key}: {path} is a directory, not a database file", key=key) from None
    except OSError as exc:  # /proc, a name too long for the file system, no permission
        raise ConfigError(f"{key}: cannot open the database file: {exc.strerror}", key=key) from None


def error_reason(error: BaseException) -> str:
    """One line saying why a database operation failed: the driver's own message, without the
    SQL statement and its parameters (phone numbers, names) that SQLAlchemy's message carries."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


async def check_connection(engine: AsyncEngine) -> None:
    """Open one connection now: an unreachable database (refused, unknown role, a file SQLite
    cannot open) is one line naming the setting at start, not a traceback."""
    try:
        async with engine.connect():
            pass
    except (OSError, SQLAlchemyError) as exc:
        raise ConfigError(f"database.url: cannot open the database: {error_reason(exc)}", key="database.url") from None


def insert_for(session: AsyncSession):
    """The INSERT of the session's dialect, for its ON CONFLICT clauses (SQLite or PostgreSQL)."""
    return (postgresql if session.bind.dialect.name == "postgresql" else sqlite).insert


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    """Sessions whose objects stay readable after commit (they are handed to JSON and events)."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def scratch_database(server_url: str, prefix: str = "hotline_scratch") -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database on the server of `server_url`, dropped on exit
    (tests and benchmarks: every run starts from nothing)."""
    import asyncpg  # the `postgres` extra: only PostgreSQL users have it

    server = make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(
        host=server.host, port=server.port, user=server.username,
        password=server.password, database=server.database,
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


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
        await check_connection(engine)
        if migrate:
            await upgrade(engine)
        yield session_factory(engine)
    finally:
        await engine.dispose()
