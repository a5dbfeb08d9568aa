"""``maestro server`` (API + in-process worker) and ``maestro worker`` (standalone worker)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.panel import Panel

from .settings_options import load_settings

console = Console(stderr=True)


def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="data directory")] = None,
    worker: Annotated[bool, typer.Option(help="run the in-process job worker")] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Start the API server (migrations applied, first admin created on first start)."""
    from maestro_ml.api.app import create_app
    from maestro_ml.bootstrap import build_container

    settings = load_settings(data_dir, host=host, port=port, run_worker=worker)
    container = build_container(settings)
    announce_bootstrap(container)
    app = create_app(container)
    console.print(
        f"[bold green]Maestro ML[/] on http://{settings.host}:{settings.port}  "
        f"(database: {container.engine.url.render_as_string(hide_password=True)}, "
        f"artifacts: {settings.resolved_artifact_root})"
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level,
                access_log=False, server_header=False)


def announce_bootstrap(container) -> None:  # type: ignore[no-untyped-def]
    from maestro_ml.bootstrap import bootstrap_admin

    result = bootstrap_admin(container)
    if not result.created:
        return
    if result.generated_password:
        console.print(Panel(
            f"First start: created platform admin [bold]{result.email}[/] in tenant 'default'.\n"
            f"One-time password: [bold yellow]{result.generated_password}[/]\n"
            "It is shown only now. Log in and create an API key, or set "
            "MAESTRO_BOOTSTRAP_ADMIN_EMAIL / MAESTRO_BOOTSTRAP_ADMIN_PASSWORD before first start.",
            title="Bootstrap admin", border_style="yellow",
        ))
    else:
        console.print(f"First start: created platform admin [bold]{result.email}[/].")


def work(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="data directory")] = None,
    concurrency: Annotated[int, typer.Option(help="jobs run at once")] = 1,
) -> None:
    """Run a standalone job worker against the configured database and artifact store."""
    from maestro_ml.bootstrap import build_container
    from maestro_ml.jobs.worker import build_worker

    settings = load_settings(data_dir, worker_concurrency=concurrency)
    container = build_container(settings)
    worker = build_worker(container)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    console.print(f"[bold green]Maestro worker[/] {worker.worker_id} polling for jobs")
    worker.start()
    stop.wait()
    console.print("stopping: finishing the current job's bookkeeping")
    worker.stop()
    container.close()
