"""The ``maestro`` commands that talk to a server: ``quickstart`` as a real subprocess, the
others in-process through Typer's runner (same code, same HTTP, no interpreter start-up)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maestro_ml.cli.main import app
from tests.e2e.conftest import TARGET, Seeded, Server
from tests.factories import PASSWORD, Actors

pytestmark = pytest.mark.e2e


def maestro(server: Server, key: str, *args: str):  # type: ignore[no-untyped-def]
    env = {"MAESTRO_API_URL": server.url, "MAESTRO_API_KEY": key}
    return CliRunner().invoke(app, list(args), env=env)


def test_quickstart_runs_the_seed_flow_and_prints_the_accuracy(
    server: Server, actors: Actors
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAESTRO_")}
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "maestro_ml.cli.main", "quickstart", "--api-url", server.url,
         "--email", actors.emails["ml_engineer"], "--password", PASSWORD],
        env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=600, check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    accuracy = float(result.stdout.split("validation accuracy")[1].split()[0])
    assert accuracy > 0.9
    assert "Quickstart summary" in result.stdout
    hundred = float(result.stdout.split("accuracy on 100 rows")[1].split()[1])
    assert hundred > 0.9
    assert f"curl -X POST {server.url}/api/v1/deployments/" in result.stdout
    assert "Traceback" not in result.stderr


def test_models_list_and_versions_render_the_seeded_model(
    server: Server, actors: Actors, seeded: Seeded
) -> None:
    listed = maestro(server, actors.keys["viewer"], "models", "list", "--name", seeded.model.name)
    versions = maestro(server, actors.keys["viewer"], "models", "versions", seeded.model.id)

    assert listed.exit_code == 0, listed.output
    assert seeded.model.id in listed.stdout and seeded.model.name in listed.stdout
    assert versions.exit_code == 0, versions.output
    assert "accuracy=" in versions.stdout


def test_experiments_and_runs_list_show_the_training_run(
    server: Server, actors: Actors, seeded: Seeded
) -> None:
    key = actors.keys["viewer"]
    experiments = maestro(server, key, "experiments", "list", "--name", seeded.experiment.name)
    runs = maestro(server, key, "runs", "list", "--experiment-id", seeded.experiment.id,
                   "--filter", "metrics.accuracy > 0.9", "--order-by", "metrics.accuracy DESC")
    no_runs = maestro(server, key, "runs", "list", "--experiment-id", seeded.experiment.id,
                      "--filter", "metrics.accuracy > 2")

    assert experiments.exit_code == 0, experiments.output
    assert seeded.experiment.id in experiments.stdout
    assert runs.exit_code == 0, runs.output
    assert seeded.run.id in runs.stdout and "FINISHED" in runs.stdout
    assert seeded.run.id not in no_runs.stdout


def test_deploy_then_predict_with_features_and_with_an_instances_file(
    server: Server, actors: Actors, seeded: Seeded, tmp_path: Path
) -> None:
    key = actors.keys["ml_engineer"]
    name = f"cli-{uuid.uuid4().hex[:8]}"
    deployed = maestro(server, key, "deploy", seeded.model.id, "--environment", "staging",
                       "--version", "1", "--name", name)
    assert deployed.exit_code == 0, deployed.output
    assert name in deployed.stdout

    features = seeded.frame.drop(columns=[TARGET])
    one = maestro(server, actors.keys["viewer"], "predict", name, "--json",
                  "--features", json.dumps(features.iloc[0].to_dict()))
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps(features.head(20).to_dict(orient="records")))
    many = maestro(server, actors.keys["viewer"], "predict", name, "--instances-file", str(rows))

    assert one.exit_code == 0, one.output
    assert json.loads(one.stdout)["predictions"] == [int(seeded.frame[TARGET].iloc[0])]
    assert many.exit_code == 0, many.output
    assert "Predictions of" in many.stdout and "19" in many.stdout


def test_jobs_list_and_logs_show_the_training_job(
    server: Server, actors: Actors, seeded: Seeded
) -> None:
    key = actors.keys["viewer"]
    listed = maestro(server, key, "jobs", "list", "--status", "succeeded")
    logs = maestro(server, key, "jobs", "logs", seeded.experiment.job_id)

    assert listed.exit_code == 0, listed.output
    assert seeded.experiment.job_id in listed.stdout
    assert logs.exit_code == 0, logs.output
    assert logs.stdout.strip()


def test_a_server_error_prints_the_problem_detail_and_exits_1(
    server: Server, actors: Actors
) -> None:
    missing = uuid.uuid4().hex
    result = maestro(server, actors.keys["viewer"], "models", "versions", missing)

    assert result.exit_code == 1
    assert "Not found (404)" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_viewer_deploy_is_refused_naming_the_permission(server: Server, actors: Actors) -> None:
    result = maestro(server, actors.keys["viewer"], "deploy", uuid.uuid4().hex)

    assert result.exit_code == 1
    assert "deployments:write" in result.stderr


def test_predict_needs_exactly_one_input(server: Server, actors: Actors) -> None:
    result = maestro(server, actors.keys["viewer"], "predict", "anything")

    assert result.exit_code == 2
    assert "exactly one of --features or --instances-file" in result.output
