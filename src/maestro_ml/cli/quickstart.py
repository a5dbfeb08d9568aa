"""``maestro quickstart``: the whole lifecycle once, against a running server, via the SDK.

Upload scikit-learn's breast-cancer table, register a model, train a random forest,
deploy the new version, predict one row and a hundred, and print what was made. It
talks to no one but the given server (the data ships with scikit-learn).
"""

from __future__ import annotations

import json
import shlex
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from maestro_ml.sdk import Client, Unauthenticated

from .remote import ApiKey, ApiUrl, absolute_url, console, emit, reports_errors

TARGET = "target"
ESTIMATOR = {"estimator": "RandomForestClassifier", "n_estimators": 100}


def breast_cancer_frame() -> Any:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


def same_label(predicted: Any, expected: Any) -> bool:
    """Labels equal whether they travel as 1, 1.0 or "1"."""
    try:
        return float(predicted) == float(expected)
    except (TypeError, ValueError):
        return str(predicted) == str(expected)


def step(number: int, text: str) -> None:
    console.print(f"[bold cyan][{number}/7][/] {text}")


@reports_errors
def quickstart(
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    email: Annotated[str | None, typer.Option(
        envvar="MAESTRO_EMAIL", help="log in with email and password instead of a key")] = None,
    password: Annotated[str | None, typer.Option(
        envvar="MAESTRO_PASSWORD", help="password for --email", show_default=False)] = None,
    environment: Annotated[str, typer.Option(help="deployment environment")] = "development",
    timeout: Annotated[float, typer.Option(help="seconds to wait for training")] = 900.0,
) -> None:
    """Run the seed flow end to end: upload, train, register, deploy, predict."""
    if not api_key and not (email and password):
        raise Unauthenticated(
            "pass --api-key (or MAESTRO_API_KEY), or --email and --password; the server "
            "printed the first admin's credentials when it started"
        )
    client = Client(api_url=api_url, api_key=None if email else api_key,
                    email=email, password=password if email else None)
    with client:
        me = client.me()
        console.print(f"connected to [bold]{escape(client.api_url)}[/] as {escape(me.email)} "
                      f"({me.role})")
        summary = run_seed_flow(client, environment, timeout)
    print_summary(client.api_url, summary)


def run_seed_flow(client: Client, environment: str, timeout: float) -> dict[str, Any]:
    frame = breast_cancer_frame()
    suffix = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="maestro-quickstart-") as folder:
        path = Path(folder) / "breast_cancer.csv"
        frame.to_csv(path, index=False)
        step(1, f"uploading {len(frame)} rows of breast-cancer data")
        dataset = client.datasets.upload(path=path, name="breast-cancer")
    step(2, "registering the model")
    model = client.models.create(
        name=f"breast-cancer-{suffix}", task="classification", framework="sklearn",
        description="created by maestro quickstart",
    )
    step(3, "training a RandomForestClassifier (100 trees)")
    experiment = client.experiments.create(
        name=f"quickstart-{suffix}", model_id=model.id, dataset_id=dataset.id, target=TARGET,
        parameters=ESTIMATOR, description="maestro quickstart",
    )
    run = experiment.wait_for_completion(timeout=timeout)
    version = client.models.get_version(model.id, client.models.get(model.id).latest_version or 1)
    metrics = version.metrics or run.metrics
    print_metrics(metrics)
    step(4, f"deploying version {version.version} to {environment}")
    deployment = client.deployments.create(
        model_id=model.id, version=version.version, environment=environment
    )
    features = frame.drop(columns=[TARGET])
    step(5, "predicting one row")
    first_row = features.iloc[0].to_dict()
    one = client.predict(deployment_id=deployment.id, features=first_row)
    step(6, "predicting 100 rows")
    sample = frame.sample(n=100, random_state=0)
    many = client.predict(deployment_id=deployment.id,
                          instances=sample.drop(columns=[TARGET]).to_dict(orient="records"))
    hits = sum(same_label(p, y) for p, y in zip(many.predictions, sample[TARGET], strict=True))
    step(7, "done")
    return {
        "dataset": dataset, "model": model, "run": run, "version": version,
        "deployment": deployment, "metrics": metrics, "one": one, "first_row": first_row,
        "accuracy_100": hits / len(sample), "job_id": experiment.job_id,
    }


def print_metrics(metrics: dict[str, float]) -> None:
    table = Table("metric", "validation", title="Validation metrics", title_justify="left")
    for key, value in sorted(metrics.items()):
        table.add_row(key, f"{value:.4f}")
    console.print(table)
    accuracy = metrics.get("accuracy")
    if accuracy is not None:
        console.print(f"validation accuracy [bold green]{accuracy:.4f}[/]")


def print_summary(api_url: str, s: dict[str, Any]) -> None:
    url = absolute_url(api_url, s["deployment"].url)
    accuracy = s["metrics"].get("accuracy")
    table = Table("what", "value", title="Quickstart summary", title_justify="left")
    rows = [
        ("dataset", f"{s['dataset'].name} v{s['dataset'].version} ({s['dataset'].id})"),
        ("model", f"{s['model'].name} ({s['model'].id})"),
        ("training job", s["job_id"]),
        ("run", f"{s['run'].id} ({s['run'].status})"),
        ("model version", f"v{s['version'].version} ({s['version'].id})"),
        ("validation accuracy", f"{accuracy:.4f}" if accuracy is not None else "n/a"),
        ("deployment", f"{s['deployment'].name} ({s['deployment'].id})"),
        ("deployment URL", url),
        ("one-row prediction", json.dumps(s["one"].predictions)),
        ("accuracy on 100 rows", f"{s['accuracy_100']:.2f}"),
    ]
    for what, value in rows:
        table.add_row(what, escape(str(value)))
    emit(table)
    body = json.dumps({"features": s["first_row"]})
    console.print("[bold]Try it[/] (with an API key in MAESTRO_API_KEY):")
    console.print(
        f"curl -X POST {shlex.quote(url)} -H \"Authorization: Bearer $MAESTRO_API_KEY\" "
        f"-H 'Content-Type: application/json' -d {shlex.quote(body)}",
        markup=False, highlight=False, soft_wrap=True,
    )
