"""The ``maestro`` command line (Typer + Rich)."""

from __future__ import annotations

import typer

from . import admin, quickstart, remote, server
from .audit import audit_app
from .slo import slo_app

app = typer.Typer(
    name="maestro", help="Maestro ML: track, train, register, deploy and serve models.",
    no_args_is_help=True, pretty_exceptions_show_locals=False,
)
app.command("server")(server.serve)
app.command("worker")(server.work)
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.users_app, name="users")
app.add_typer(admin.keys_app, name="api-keys")
app.add_typer(audit_app, name="audit")
app.add_typer(slo_app, name="slo")
app.add_typer(remote.experiments_app, name="experiments")
app.add_typer(remote.runs_app, name="runs")
app.add_typer(remote.models_app, name="models")
app.add_typer(remote.jobs_app, name="jobs")
app.command("deploy")(remote.deploy)
app.command("predict")(remote.predict)
app.command("quickstart")(quickstart.quickstart)


def run() -> None:
    app()


if __name__ == "__main__":
    run()
