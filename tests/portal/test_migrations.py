"""Models and migrations agree (the equivalent of ``alembic check``), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from portal.db import Database, metadata
from portal.migrate import alembic_config, include_name, render_item


async def test_models_and_migrations_agree(database: Database) -> None:
    # compare_metadata is what `alembic check` runs; called directly it also works while several
    # domains keep separate migration branches (several heads).
    def diff(connection: Any) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "render_item": render_item,
                "include_name": include_name,
            },
        )
        return compare_metadata(context, metadata)

    async with database.engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == [], f"models differ from migrations: {differences}"


async def test_database_is_at_every_head(database: Database) -> None:
    script = ScriptDirectory.from_config(alembic_config(database.url))
    heads = set(script.get_heads())

    def current(connection: Any) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    async with database.engine.connect() as connection:
        assert await connection.run_sync(current) == heads


def test_migration_files_follow_the_naming_convention() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    for revision in script.walk_revisions():
        name = revision.path.rsplit("/", 1)[-1]
        date, time_, rev, *_ = name.split("_")
        assert len(date) == 8 and date.isdigit(), name  # noqa: PT018
        assert len(time_) == 4 and time_.isdigit(), name  # noqa: PT018
        assert rev == revision.revision, name
