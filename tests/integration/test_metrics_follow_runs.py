"""Metrics belong to their run: they are deleted with it and never outlive it, on both databases.

On SQLite a foreign key cascades; on PostgreSQL (migration 0007) a trigger on ``runs``
deletes them and every metric insert holds the run ``FOR KEY SHARE``. The races here are
PostgreSQL's: a delete and an append in two transactions at once.
"""

from __future__ import annotations

import math
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from maestro_ml.bootstrap import Container
from maestro_ml.storage.repositories.run_appends import RunAppends, _pg_arrays
from tests.factories import Actors
from tests.integration.test_run_appends import wait_for_a_lock_wait
from tests.integration.test_runs import RUNS, make_run

MLFLOW = "/api/2.0/mlflow"
METRICS = {"metrics": [{"key": f"m{i % 3}", "value": float(i), "step": i} for i in range(30)]}


def metric_count(container: Container, run_id: str) -> int:
    with container.engine.connect() as connection:
        return int(connection.execute(
            text("SELECT count(*) FROM metrics WHERE run_id = :r"), {"r": run_id}).scalar())


def logged_run(client: TestClient, tenant: Actors, **fields: object) -> dict:
    run = make_run(client, tenant, **fields)
    response = client.post(f"{RUNS}/{run['id']}/batch", json=METRICS,
                           headers=tenant.headers("data_scientist"))
    assert response.status_code == 200, response.text
    return run


def require_postgres(container: Container) -> None:
    if container.engine.dialect.name != "postgresql":
        pytest.skip("SQLite admits one writer at a time: nothing runs in between")


def test_deleting_an_experiment_deletes_its_runs_metrics_and_no_others(
    client: TestClient, container: Container, tenant: Actors
):
    doomed = logged_run(client, tenant)
    sibling = logged_run(client, tenant, experiment_id=doomed["experiment_id"])
    kept = logged_run(client, tenant)
    assert metric_count(container, doomed["id"]) == 30
    with container.engine.begin() as connection:  # a hard delete, cascading to the runs
        connection.execute(text("DELETE FROM experiments WHERE id = :e"),
                           {"e": doomed["experiment_id"]})
    assert metric_count(container, doomed["id"]) == 0
    assert metric_count(container, sibling["id"]) == 0
    assert metric_count(container, kept["id"]) == 30


def test_a_batch_waiting_on_a_run_being_deleted_writes_nothing(
    client: TestClient, container: Container, tenant: Actors
):
    require_postgres(container)
    run = logged_run(client, tenant)
    answers = []
    with container.engine.connect() as other:
        other.execute(text("DELETE FROM runs WHERE id = :r"), {"r": run["id"]})
        batch = threading.Thread(target=lambda: answers.append(client.post(
            f"{RUNS}/{run['id']}/batch", json=METRICS,
            headers=tenant.headers("data_scientist"))))
        batch.start()
        wait_for_a_lock_wait(container, "the batch never waited for the delete")
        other.commit()
    batch.join(20)
    assert answers and answers[0].status_code == 404, answers and answers[0].text
    assert metric_count(container, run["id"]) == 0


def test_a_delete_waits_for_an_append_and_takes_its_metrics(
    client: TestClient, container: Container, tenant: Actors
):
    require_postgres(container)
    run = logged_run(client, tenant)
    deleted = threading.Event()
    with container.engine.connect() as appender:
        raw = appender.connection.dbapi_connection
        appends = RunAppends(raw, "postgresql", tenant.tenant_id)
        appended = appends.append(run["id"], "active", metrics=[("m0", 1.0, 100, 1)])
        assert appended.states == ("active", "active")

        def delete() -> None:
            with container.engine.begin() as connection:
                connection.execute(text("DELETE FROM runs WHERE id = :r"), {"r": run["id"]})
            deleted.set()

        deleter = threading.Thread(target=delete)
        deleter.start()
        wait_for_a_lock_wait(container, "the delete never waited for the append")
        assert not deleted.is_set()
        raw.commit()
    deleter.join(20)
    assert deleted.is_set()
    assert metric_count(container, run["id"]) == 0


def test_metric_keys_and_values_are_stored_exactly(
    client: TestClient, tenant: Actors
):
    """Through the MLflow API, whose JSON carries NaN and the infinities as strings."""
    headers = tenant.headers("data_scientist")
    run = make_run(client, tenant)
    values = [0.1 + 0.2, -0.0, 5e-324, 1.7976931348623157e308, math.inf, -math.inf,
              math.nan, 12345678901234567.0]
    keys = ["a b/c", "ключ", "x.y-z_1"]
    batch = [{"key": key, "value": _proto_double(value), "step": step,
              "timestamp": 2**62 + step}
             for key in keys for step, value in enumerate(values)]
    response = client.post(f"{MLFLOW}/runs/log-batch",
                           json={"run_id": run["id"], "metrics": batch}, headers=headers)
    assert response.status_code == 200, response.text
    for key in keys:
        history = client.get(f"{MLFLOW}/metrics/get-history",
                             params={"run_id": run["id"], "metric_key": key},
                             headers=headers).json()["metrics"]
        got = [_from_proto_double(point["value"]) for point in history]
        assert [int(point["step"]) for point in history] == list(range(len(values)))
        assert [int(point["timestamp"]) for point in history] == [2**62 + s for s in range(8)]
        assert math.isnan(got[6]) and got[:6] + got[7:] == values[:6] + values[7:]


def _proto_double(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    return value if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")


def _from_proto_double(value: float | str) -> float:
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(value, value)  # type: ignore[arg-type]


def test_array_text_reads_back_as_the_same_keys(container: Container):
    require_postgres(container)
    keys = ['quote"d', "back\\slash", "comma,brace{}", " spaced ", "NULL", ""]
    rows = [("run", key, 1.5, False, 2, 3) for key in keys]
    arrays = _pg_arrays(rows)
    with container.engine.connect() as connection:
        read = connection.execute(
            text("SELECT CAST(:k AS text[]), CAST(:v AS float8[]), CAST(:n AS boolean[]), "
                 "CAST(:s AS bigint[])"),
            {"k": arrays["key"], "v": arrays["value"], "n": arrays["is_nan"],
             "s": arrays["step"]}).one()
    assert read == (keys, [1.5] * 6, [False] * 6, [2] * 6)
