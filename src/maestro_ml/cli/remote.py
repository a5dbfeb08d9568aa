"""Commands that talk to a Maestro server through the SDK: experiments, runs, models,
deploy, predict and jobs. Each takes ``--api-url``/``--api-key`` (env MAESTRO_API_URL /
MAESTRO_API_KEY); server errors print their problem detail in red and exit 1."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from maestro_ml.sdk import Client, MaestroError, WaitTimeout

console = Console()
err_console = Console(stderr=True)

experiments_app = typer.Typer(help="Experiments on a Maestro server.", no_args_is_help=True)
runs_app = typer.Typer(help="Runs on a Maestro server.", no_args_is_help=True)
models_app = typer.Typer(help="Registered models and their versions.", no_args_is_help=True)
jobs_app = typer.Typer(help="Background jobs (training ...).", no_args_is_help=True)

ApiUrl = Annotated[str | None, typer.Option(
    "--api-url", envvar="MAESTRO_API_URL", help="server URL (default http://127.0.0.1:8000)",
    show_default=False,
)]
ApiKey = Annotated[str | None, typer.Option(
    "--api-key", envvar="MAESTRO_API_KEY", help="API key (mk_...)", show_default=False,
)]
Limit = Annotated[int, typer.Option(help="show at most this many rows")]

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(command: F) -> F:
    """Print a server error as its problem detail in red and exit 1 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MaestroError as exc:
            status = getattr(exc, "status", None)
            prefix = f"{exc.title} ({status})" if status else exc.title
            err_console.print(f"[red]{escape(prefix)}: {escape(exc.detail)}[/]")
            raise typer.Exit(1) from None
        except WaitTimeout as exc:
            err_console.print(f"[red]Timed out: {escape(str(exc))}[/]")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def connect(api_url: str | None, api_key: str | None, **kwargs: Any) -> Client:
    return Client(api_url=api_url, api_key=api_key, **kwargs)


def when(value: Any) -> str:
    """A datetime or epoch-milliseconds value as a short UTC time."""
    if value is None:
        return ""
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value / 1000, UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else str(value)


def short(mapping: dict[str, Any], limit: int = 4) -> str:
    """A few ``key=value`` pairs of a dict, numbers rounded."""
    parts = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
             for k, v in list(mapping.items())[:limit]]
    more = len(mapping) - limit
    return ", ".join(parts) + (f", +{more}" if more > 0 else "")


def emit(renderable: Any) -> None:
    """Print to stdout; piped output has no terminal width, so print wide rather than cut
    the ids and names people copy into their next command."""
    out = console if console.is_terminal else Console(width=max(console.width, 200))
    out.print(renderable)


def print_table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        # ids are what people copy into the next command: never wrap or cut them
        is_id = column in ("id", "run", "model", "dataset")
        table.add_column(column, no_wrap=is_id, min_width=32 if is_id else None)
    count = 0
    for row in rows:
        table.add_row(*("" if cell is None else escape(str(cell)) for cell in row))
        count += 1
    if count:
        emit(table)
    else:
        console.print(f"[dim]no {title.lower()}[/]")


# -- experiments and runs -------------------------------------------------------------
@experiments_app.command("list")
@reports_errors
def experiments_list(
    name: Annotated[str | None, typer.Option(help="exact experiment name")] = None,
    limit: Limit = 50, api_url: ApiUrl = None, api_key: ApiKey = None,
) -> None:
    """List experiments, newest first."""
    with connect(api_url, api_key) as client:
        items = client.experiments.list(name=name, max_results=limit)
        print_table("Experiments", ["id", "name", "model", "dataset", "stage", "created"], (
            (e.id, e.name, e.model_id, e.dataset_id, e.lifecycle_stage, when(e.created_at))
            for e in items
        ))


@runs_app.command("list")
@reports_errors
def runs_list(
    experiment_id: Annotated[str | None, typer.Option(help="experiment id")] = None,
    filter: Annotated[str | None, typer.Option(
        "--filter", help="e.g. \"metrics.accuracy > 0.9 and params.estimator = 'Ridge'\"")] = None,
    order_by: Annotated[str | None, typer.Option(help="e.g. 'metrics.accuracy DESC'")] = None,
    limit: Limit = 50, api_url: ApiUrl = None, api_key: ApiKey = None,
) -> None:
    """List runs (of one experiment), filtered and ordered."""
    with connect(api_url, api_key) as client:
        items = client.runs.list(experiment_id=experiment_id, filter=filter,
                                 order_by=order_by, max_results=limit)
        print_table("Runs", ["id", "name", "status", "started", "metrics", "params"], (
            (r.id, r.name, r.status, when(r.start_time), short(r.metrics), short(r.params))
            for r in items
        ))


# -- registry -------------------------------------------------------------------------
@models_app.command("list")
@reports_errors
def models_list(
    name: Annotated[str | None, typer.Option(help="exact model name")] = None,
    limit: Limit = 50, api_url: ApiUrl = None, api_key: ApiKey = None,
) -> None:
    """List registered models."""
    with connect(api_url, api_key) as client:
        items = client.models.list(name=name, max_results=limit)
        print_table("Models", ["id", "name", "task", "framework", "latest", "aliases"], (
            (m.id, m.name, m.task, m.framework, m.latest_version, short(m.aliases))
            for m in items
        ))


@models_app.command("versions")
@reports_errors
def models_versions(
    model_id: str, limit: Limit = 50, api_url: ApiUrl = None, api_key: ApiKey = None,
) -> None:
    """List a model's versions with their metrics, stage and aliases."""
    with connect(api_url, api_key) as client:
        items = client.models.versions(model_id, max_results=limit)
        print_table(
            "Versions", ["version", "id", "stage", "status", "aliases", "metrics", "created"],
            ((v.version, v.id, v.stage, v.status, ", ".join(v.aliases), short(v.metrics),
              when(v.created_at)) for v in items),
        )


# -- deployments and predictions ------------------------------------------------------
@reports_errors
def deploy(
    model_id: str,
    environment: Annotated[str, typer.Option(
        help="development | staging | production")] = "development",
    version: Annotated[int | None, typer.Option(help="version number")] = None,
    alias: Annotated[str | None, typer.Option(help="deploy the version an alias names")] = None,
    name: Annotated[str | None, typer.Option(help="deployment name (URL-safe)")] = None,
    replicas: Annotated[int, typer.Option(help="replicas")] = 1,
    api_url: ApiUrl = None, api_key: ApiKey = None,
) -> None:
    """Deploy a model version (the latest unless --version or --alias)."""
    with connect(api_url, api_key) as client:
        dep = client.deployments.create(
            model_id=model_id, version=version, alias=alias, name=name,
            environment=environment, replicas=replicas,
        )
        url = absolute_url(client.api_url, dep.url)
        console.print(
            f"deployed [bold]{escape(dep.name)}[/] (id {dep.id}): model {dep.model_id} "
            f"v{dep.version} in {dep.environment}, {dep.replicas} replica(s), {dep.status}\n"
            f"predict at [cyan]{escape(url)}[/]"
        )


def absolute_url(api_url: str, url: str | None) -> str:
    if not url:
        return ""
    return f"{api_url}{url}" if url.startswith("/") else url


@reports_errors
def predict(
    deployment: Annotated[str, typer.Argument(help="deployment id or name")],
    features: Annotated[str | None, typer.Option(help='one row as JSON: \'{"a": 1}\'')] = None,
    instances_file: Annotated[Path | None, typer.Option(
        help="JSON file: a list of rows, or {\"instances\": [...]}", exists=True,
        dir_okay=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw JSON answer")] = False,
    api_url: ApiUrl = None, api_key: ApiKey = None,
) -> None:
    """Predict one row (--features) or many (--instances-file) with a deployment."""
    row, rows = parse_prediction_input(features, instances_file)
    with connect(api_url, api_key) as client:
        result = client.predict(deployment, features=row, instances=rows)
    if as_json:
        console.print_json(result.model_dump_json())
        return
    columns = ["row", "prediction"] + (["probability"] if result.probabilities else [])
    table_rows = []
    for index, value in enumerate(result.predictions):
        cells: list[Any] = [index, value]
        if result.probabilities:
            cells.append(f"{max(result.probabilities[index]):.3f}")
        table_rows.append(cells)
    print_table(f"Predictions of {result.deployment} v{result.model_version}", columns, table_rows)


def parse_prediction_input(
    features: str | None, instances_file: Path | None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]] | None]:
    if (features is None) == (instances_file is None):
        raise typer.BadParameter("pass exactly one of --features or --instances-file")
    try:
        if features is not None:
            row = json.loads(features)
            if not isinstance(row, dict):
                raise typer.BadParameter("must be a JSON object", param_hint="--features")
            return row, None
        data = json.loads(instances_file.read_text())  # type: ignore[union-attr]
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not valid JSON: {exc}") from None
    rows = data.get("instances") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise typer.BadParameter(
            'the file must hold a list of objects or {"instances": [...]}',
            param_hint="--instances-file",
        )
    return None, rows


# -- jobs -----------------------------------------------------------------------------
@jobs_app.command("list")
@reports_errors
def jobs_list(
    status: Annotated[str | None, typer.Option(help="queued|running|succeeded|failed|cancelled")]
    = None,
    kind: Annotated[str | None, typer.Option(help="e.g. train")] = None,
    limit: Limit = 50, api_url: ApiUrl = None, api_key: ApiKey = None,
) -> None:
    """List jobs, newest first."""
    with connect(api_url, api_key) as client:
        items = client.jobs.list(status=status, kind=kind, max_results=limit)
        print_table("Jobs", ["id", "kind", "status", "progress", "message", "run", "created"], (
            (j.id, j.kind, j.status, f"{(j.progress or 0) * 100:.0f}%",
             j.error or j.progress_message, j.run_id, when(j.created_at)) for j in items
        ))


@jobs_app.command("logs")
@reports_errors
def jobs_logs(job_id: str, api_url: ApiUrl = None, api_key: ApiKey = None) -> None:
    """Print a job's log, oldest first."""
    colours = {"error": "red", "warning": "yellow", "debug": "dim"}
    with connect(api_url, api_key) as client:
        for line in client.jobs.logs(job_id):
            colour = colours.get(line.level.lower(), "default")
            console.print(f"[dim]{when(line.created_at)}[/] [{colour}]{line.level:<7}[/] "
                          f"{escape(line.message)}")


@jobs_app.command("cancel")
@reports_errors
def jobs_cancel(job_id: str, api_url: ApiUrl = None, api_key: ApiKey = None) -> None:
    """Cancel a queued or running job."""
    with connect(api_url, api_key) as client:
        job = client.jobs.cancel(job_id)
    console.print(f"job {job.id} is now [bold]{job.status}[/]")
