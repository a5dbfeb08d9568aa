"""Alembic migrations, run programmatically (server start and ``maestro db upgrade``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"
# Constraints the tables declare that a dialect's migrated schema replaces with something
# else (the migration that drops one says what takes its place and why).
REPLACED_CONSTRAINTS = {"postgresql": frozenset({"fk_metrics_run_id_runs"})}


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def include_object(dialect: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` hook: compare only what ``dialect``'s schema holds."""
    replaced = REPLACED_CONSTRAINTS.get(dialect, frozenset())

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
                ) -> bool:
        return not (type_ == "foreign_key_constraint" and name in replaced)

    return include
