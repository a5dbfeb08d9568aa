"""``maestro server`` (API + in-process worker) and ``maestro worker`` (standalone worker)."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console
from rich.panel import Panel

from maestro_ml.config import Settings
from maestro_ml.observability.logging import configure_logging
from maestro_ml.observability.metrics import active_metrics, mark_process_dead
from maestro_ml.observability.tracing import shutdown_tracing

from .settings_options import load_settings

console = Console(stderr=True)
WORKER_STARTUP_SECONDS = 120


def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="data directory")] = None,
    worker: Annotated[bool, typer.Option(help="run the in-process job worker")] = True,
    workers: Annotated[int, typer.Option(
        min=1, help="server processes (metrics aggregate across them)")] = 1,
    log_level: Annotated[str | None, typer.Option(help="log level (default: MAESTRO_LOG_LEVEL)")]
    = None,
) -> None:
    """Start the API server (migrations applied, first admin created on first start)."""
    from maestro_ml.api.app import create_app
    from maestro_ml.bootstrap import build_container

    settings = load_settings(data_dir, host=host, port=port, run_worker=worker,
                             log_level=log_level.upper() if log_level else None)
    configure_logging(settings.log_format, settings.log_level)
    if workers > 1:  # before anything creates a metric: every value goes to per-process files
        prepare_multiprocess_metrics(settings.data_dir)
    container = build_container(settings)
    announce_bootstrap(container)
    console.print(
        f"[bold green]Maestro ML[/] on http://{settings.host}:{settings.port}  "
        f"({workers} process{'es' if workers > 1 else ''}; "
        f"database: {container.engine.url.render_as_string(hide_password=True)}, "
        f"artifacts: {settings.resolved_artifact_root})"
    )
    app = create_app(container)  # also registers the app's scrape-time collectors (SLOs)
    start_metrics_port(settings)
    atexit.register(shutdown_tracing)
    common: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "log_config": None,
        "access_log": False, "server_header": False, "log_level": settings.log_level.lower(),
    }
    if workers == 1:
        uvicorn.run(app, **common)
        return
    container.close()  # the workers build their own; this process only supervises
    hand_settings_to_workers(settings)
    # A worker builds its whole container before answering the supervisor's health pings;
    # on a busy host that takes longer than uvicorn's 5 s default and it would be killed.
    uvicorn.run(f"{__name__}:worker_app", factory=True, workers=workers,
                timeout_worker_healthcheck=WORKER_STARTUP_SECONDS, **common)


def prepare_multiprocess_metrics(data_dir: Path) -> None:
    """A fresh PROMETHEUS_MULTIPROC_DIR for this server's processes (old files would count)."""
    directory = (data_dir / "metrics-multiproc").resolve()
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def hand_settings_to_workers(settings: Settings) -> None:
    """The command line's overrides, as the MAESTRO_* variables the workers' Settings read."""
    os.environ["MAESTRO_DATA_DIR"] = str(settings.data_dir.resolve())
    os.environ["MAESTRO_HOST"] = settings.host
    os.environ["MAESTRO_PORT"] = str(settings.port)
    os.environ["MAESTRO_RUN_WORKER"] = "true" if settings.run_worker else "false"
    os.environ["MAESTRO_LOG_LEVEL"] = settings.log_level
    os.environ.pop("MAESTRO_METRICS_PORT", None)  # served by the supervisor, once


def worker_app() -> Any:
    """The app of one ``--workers`` process (uvicorn calls this factory in each)."""
    from maestro_ml.api.app import create_app
    from maestro_ml.bootstrap import build_container

    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    container = build_container(settings, migrate=False)  # the supervisor migrated
    pid = os.getpid()
    atexit.register(mark_process_dead, pid)
    atexit.register(shutdown_tracing)
    return create_app(container)


def start_metrics_port(settings: Settings) -> None:
    """Serve /metrics without authentication on MAESTRO_METRICS_PORT, when it is set."""
    from prometheus_client import start_http_server

    live = active_metrics()
    if settings.metrics_port is None or live is None:
        return
    start_http_server(settings.metrics_port, settings.metrics_host,
                      registry=live.scrape_registry())
    console.print(f"metrics (no auth) on http://{settings.metrics_host}:{settings.metrics_port}"
                  "/metrics")


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
    configure_logging(settings.log_format, settings.log_level)
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
