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
