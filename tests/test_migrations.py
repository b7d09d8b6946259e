"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from alembic.script import ScriptDirectory

from hotline.db import alembic_config, upgrade
from hotline.db.schema import metadata


async def test_migrated_schema_matches_the_models(engine):
    def differences(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_upgrade_again_is_harmless_and_lands_on_the_newest_revision(engine):
    await upgrade(engine)
    async with engine.connect() as connection:
        version = (await connection.exec_driver_sql("select version_num from alembic_version")).scalar()
    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_upgrading_to_0004_makes_transcripts_stored_before_it_searchable(database_url):
    from datetime import datetime, timezone

    from sqlalchemy import text

    from hotline.db import create_engine, session_factory
    from recordings.search import search_transcripts

    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0003")
        at = datetime(2026, 11, 27, 8, tzinfo=timezone.utc)
        async with engine.begin() as connection:
            for n in (1, 2):
                await connection.execute(text(
                    "INSERT INTO calls (id, pbx, linkedid, status, started_at, updated_at)"
                    " VALUES (:n, 'main', :linkedid, 'ended', :at, :at)"
                ), {"n": n, "linkedid": f"1795811555.{n}", "at": at.replace(minute=n)})
                await connection.execute(text(
                    "INSERT INTO recordings (id, call_id, source, path, format, size_bytes, sha256, condition,"
                    " recorded_at, ingested_at, legal_hold) VALUES (:n, :n, :path, :path, 'pcm', 1, :sha, 'ok', :at, :at, false)"
                ), {"n": n, "path": f"{n}.wav", "sha": "0" * 64, "at": at})
                await connection.execute(text(
                    "INSERT INTO transcripts (id, recording_id, model, text, audio_seconds, processing_seconds, worker,"
                    " created_at) VALUES (:n, :n, 'vosk-model-cn', '我 要 投诉 道路 坑洼', 5, 1, 'w', :at)"
                ), {"n": n, "at": at})
                await connection.execute(text(
                    "INSERT INTO transcript_segments (transcript_id, speaker, start, \"end\", text, search_text, words)"
                    " VALUES (:n, 'caller', 2.0, 4.1, '我 要 投诉 道路 坑洼', '我要投诉道路坑洼', :words)"
                ), {"n": n, "words": '[{"word": "道路", "start": 3.2, "end": 3.5, "conf": 0.9}]'})
        await upgrade(engine)
        async with session_factory(engine)() as session:
            for keyword in ("道路", "投诉道路", "路坑"):
                assert [m.call_id for m in await search_transcripts(session, keyword)] == [2, 1]
    finally:
        await engine.dispose()
