"""Against a live ``maestro server``: an A/B deployment of a good and a deliberately weak
breast-cancer classifier reaches a verdict from fed-back labels, and a clean shutdown writes
every prediction still waiting in the log."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import skops.io
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy import create_engine, text

from tests.conftest import PG_ENV, _create_pg_database, _drop_pg_database
from tests.e2e.conftest import Server, free_port, server_environment, wait_until_ready
from tests.factories import Actors, make_tenant

pytestmark = pytest.mark.e2e

DATA = load_breast_cancer()
FEATURES = [f"f{i}" for i in range(DATA.data.shape[1])]
SIGNATURE = {"inputs": [{"name": n, "type": "double"} for n in FEATURES],
             "outputs": [{"name": "y", "type": "long"}]}


def _models() -> tuple[bytes, bytes]:
    """A good classifier, and a weak one fitted to shuffled labels (about chance level)."""
    x, y = DATA.data[::2], DATA.target[::2]  # the even rows train; the odd rows are served
    good = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    shuffled = np.random.default_rng(0).permutation(y)
    weak = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, shuffled)
    return skops.io.dumps(good), skops.io.dumps(weak)


def _upload(http: httpx.Client, headers: dict[str, str], model_id: str, data: bytes) -> int:
    response = http.post(
        f"/api/v1/models/{model_id}/versions", headers=headers,
        files={"file": ("model.skops", io.BytesIO(data))},
        data={"signature": json.dumps(SIGNATURE)},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["version"])


def _rows(start: int, count: int) -> tuple[list[dict[str, float]], list[int]]:
    x, y = DATA.data[1::2], DATA.target[1::2]
    picked = range(start, start + count)
    rows = [dict(zip(FEATURES, map(float, x[i]), strict=True)) for i in picked]
    return rows, [int(y[i]) for i in picked]


def _new_model(http: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    response = http.post("/api/v1/models", headers=headers, json={
        "name": f"cancer-{uuid.uuid4().hex[:8]}", "task": "classification",
        "framework": "sklearn"})
    assert response.status_code == 201, response.text
    return response.json()


def test_ab_verdict_from_fed_back_labels(server: Server, actors: Actors) -> None:
    engineer = actors.headers("ml_engineer")
    with httpx.Client(base_url=server.url, timeout=60) as http:
        model = _new_model(http, engineer)
        good_bytes, weak_bytes = _models()
        good = _upload(http, engineer, model["id"], good_bytes)
        weak = _upload(http, engineer, model["id"], weak_bytes)
        created = http.post("/api/v1/deployments", headers=engineer, json={
            "model_id": model["id"], "strategy": "ab_test", "variants": [
                {"name": "good", "role": "primary", "version": good, "weight": 50},
                {"name": "weak", "role": "challenger", "version": weak, "weight": 50},
            ]})
        assert created.status_code == 201, created.text
        name = created.json()["name"]

        def serve_and_label(start: int, requests: int, size: int) -> None:
            for index in range(requests):
                rows, labels = _rows(start + index * size, size)
                predicted = http.post(f"/api/v1/deployments/{name}/predict",
                                      headers=actors.headers("viewer"), json={"instances": rows})
                assert predicted.status_code == 200, predicted.text
                feedback = http.post(
                    f"/api/v1/predictions/{predicted.json()['prediction_id']}/feedback",
                    headers=actors.headers("data_scientist"), json={"label": labels})
                assert feedback.status_code == 201, feedback.text

        serve_and_label(0, 2, 5)
        early = http.get(f"/api/v1/deployments/{name}/ab-test", headers=engineer).json()
        assert early["verdict"] == "insufficient data"

        serve_and_label(10, 27, 10)  # 280 labelled rows in all, ~140 per variant
        report = http.get(f"/api/v1/deployments/{name}/ab-test", headers=engineer,
                          params={"min_samples": 60}).json()
        variants = {v["name"]: v for v in report["variants"]}
        assert variants["good"]["metric"] > 0.9 > variants["weak"]["metric"], report
        assert report["p_value"] < 0.001
        assert report["verdict"] == "good is better"


def test_clean_shutdown_writes_every_queued_prediction(
    tmp_path: Path, root_token: str
) -> None:
    """A second server whose log would wait a minute before writing: SIGTERM writes it all."""
    pg_base = os.environ.get(PG_ENV)
    pg_name = None
    if pg_base:
        database_url, pg_name = _create_pg_database(pg_base)
    else:
        database_url = f"sqlite:///{tmp_path / 'maestro.db'}"
    env = server_environment(database_url)
    env.update({"MAESTRO_PREDICTION_LOG_FLUSH_SECONDS": "60",
                "MAESTRO_PREDICTION_LOG_BATCH_SIZE": "1000"})
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "maestro_ml.cli.main", "server", "--host", "127.0.0.1",
             "--port", str(port), "--data-dir", str(tmp_path)],
            env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(url, process, log_path)
        with httpx.Client(base_url=url, timeout=60) as http:
            token = http.post("/api/v1/auth/token", json={
                "email": env["MAESTRO_BOOTSTRAP_ADMIN_EMAIL"],
                "password": env["MAESTRO_BOOTSTRAP_ADMIN_PASSWORD"]}).json()["access_token"]
            actors = make_tenant(http, token)
            engineer = actors.headers("ml_engineer")
            model = _new_model(http, engineer)
            version = _upload(http, engineer, model["id"], _models()[0])
            created = http.post("/api/v1/deployments", headers=engineer, json={
                "model_id": model["id"], "version": version, "log_sample_rate": 1.0})
            assert created.status_code == 201, created.text
            ids = []
            for start in range(0, 40):
                rows, _ = _rows(start, 1)
                response = http.post(f"/api/v1/deployments/{created.json()['name']}/predict",
                                     headers=actors.headers("viewer"), json={"instances": rows})
                assert response.status_code == 200, response.text
                ids.append(response.json()["prediction_id"])
        process.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal once its graceful shutdown is complete.
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in log_path.read_text(errors="replace")
        engine = create_engine(database_url)
        with engine.connect() as connection:
            written = connection.execute(
                text("SELECT id FROM prediction_log WHERE deployment_id = :d"),
                {"d": created.json()["id"]},
            ).scalars().all()
        engine.dispose()
        assert sorted(written) == sorted(ids)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if pg_base and pg_name:
            _drop_pg_database(pg_base, pg_name)
    assert root_token  # the session's own server is untouched
