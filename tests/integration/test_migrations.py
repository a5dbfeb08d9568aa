"""The migrations build exactly the schema the ORM tables declare, on the session's database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from maestro_ml.bootstrap import Container
from maestro_ml.storage.migrate import head_revision, include_object, is_current
from maestro_ml.storage.tables import Base


def test_database_is_at_the_newest_revision(container: Container) -> None:
    assert head_revision() is not None
    assert is_current(container.engine)


def test_migrated_schema_matches_the_tables(container: Container) -> None:
    with container.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "include_object": include_object(connection.dialect.name)})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], (
        "the migrations and storage/tables disagree; write a migration for: "
        f"{differences}"
    )
