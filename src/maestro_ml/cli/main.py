"""The ``maestro`` command line (Typer + Rich)."""

from __future__ import annotations

import typer

from . import admin, server

app = typer.Typer(
    name="maestro", help="Maestro ML: track, train, register, deploy and serve models.",
    no_args_is_help=True, pretty_exceptions_show_locals=False,
)
app.command("server")(server.serve)
app.command("worker")(server.work)
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.users_app, name="users")
app.add_typer(admin.keys_app, name="api-keys")


def run() -> None:
    app()
