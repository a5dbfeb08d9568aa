"""The migrations build exactly the schema the ORM tables declare, on the session's database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from maestro_ml.bootstrap import Container
from maestro_ml.storage.migrate import alembic_config, head_revision, include_object, is_current
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


def test_metrics_logged_again_exactly_keep_one_copy_on_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'before-0009.db'}"
    command.upgrade(alembic_config(url), "0008")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("PRAGMA foreign_keys=OFF"))
        row = "('r1', 'acc', {value}, {nan}, 0, 1000)"
        values = [row.format(value=0.5, nan=0)] * 3 + [row.format(value=0.6, nan=0)] + [
            row.format(value=0.0, nan=1)] * 2
        connection.execute(text(
            "INSERT INTO metrics (run_id, key, value, is_nan, step, timestamp) VALUES "
            + ", ".join(values)))
    command.upgrade(alembic_config(url), "0009")
    with engine.connect() as connection:
        kept = connection.execute(text(
            "SELECT value, is_nan FROM metrics ORDER BY value, is_nan")).all()
    engine.dispose()
    assert [tuple(r) for r in kept] == [(0.0, 1), (0.5, 0), (0.6, 0)]
