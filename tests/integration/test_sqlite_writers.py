"""SQLite writers of one process take turns on a lock, held for exactly their transaction;
short writes run on the event loop only when they can start at once."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from maestro_ml.auth.principal import Principal
from maestro_ml.bootstrap import Container
from maestro_ml.storage.database import LoopWriter, WouldWait, sqlite_writer_lock
from tests.factories import Actors, unique


@pytest.fixture
def sqlite_container(container: Container) -> Container:
    if container.engine.dialect.name != "sqlite":
        pytest.skip("the writer lock exists for SQLite only")
    return container


def held_elsewhere(lock: threading.RLock) -> bool:
    """Whether another thread holds ``lock`` (probed from a thread of our own)."""
    result: list[bool] = []

    def probe() -> None:
        acquired = lock.acquire(blocking=False)
        if acquired:
            lock.release()
        result.append(not acquired)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return result[0]


def test_a_write_transaction_holds_the_lock_until_it_ends(sqlite_container: Container) -> None:
    lock = sqlite_writer_lock(sqlite_container.engine)
    with sqlite_container.uow.system() as uow:
        assert held_elsewhere(lock)
        uow.commit()
    assert not held_elsewhere(lock)
    with sqlite_container.uow.system(write=False):
        assert not held_elsewhere(lock)  # readers never queue


def test_the_lock_is_released_when_the_transaction_fails(sqlite_container: Container) -> None:
    lock = sqlite_writer_lock(sqlite_container.engine)
    with pytest.raises(RuntimeError), sqlite_container.uow.system():
        raise RuntimeError("boom")
    assert not held_elsewhere(lock)


def test_concurrent_writers_all_commit(sqlite_container: Container) -> None:
    principal = sqlite_container.identity.authenticate_password(
        sqlite_container.settings.bootstrap_admin_email,
        sqlite_container.settings.bootstrap_admin_password.get_secret_value(),
    )
    experiment = sqlite_container.experiments.create_experiment(principal, name="writers-x")
    run = sqlite_container.runs.create_run(principal, experiment_id=experiment.id)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            for step in range(25):
                sqlite_container.run_data.log_metric(
                    principal, run.id, f"w{index}", float(step), step=step)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    details = sqlite_container.runs.get_run(principal, run.id)
    assert {key: details.metrics[key] for key in sorted(details.metrics)} == {
        f"w{i}": 24.0 for i in range(6)}
    assert not held_elsewhere(sqlite_writer_lock(sqlite_container.engine))


# -- short writes on the event loop (LoopWriter) ----------------------------------------------
def admin_run(container: Container) -> tuple[Principal, str]:
    principal = container.identity.authenticate_password(
        container.settings.bootstrap_admin_email,
        container.settings.bootstrap_admin_password.get_secret_value(),
    )
    experiment = container.experiments.create_experiment(principal, name=unique("loop"))
    return principal, container.runs.create_run(principal, experiment_id=experiment.id).id


@contextmanager
def another_process_writing(container: Container) -> Iterator[sqlite3.Connection]:
    """A write transaction held open on a connection of its own, as another process's."""
    other = sqlite3.connect(container.engine.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_loop_write_runs_only_while_no_thread_of_ours_writes(
    sqlite_container: Container,
) -> None:
    writer = LoopWriter(sqlite_container.engine)
    with writer.attempt() as now:
        assert now
        assert held_elsewhere(sqlite_writer_lock(sqlite_container.engine))
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with sqlite_container.uow.system():
            entered.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert entered.wait(10)
        with writer.attempt() as now:
            assert not now  # the pool runs it: waiting here would stall the loop
    finally:
        release.set()
        holder.join()
    with LoopWriter(create_engine("postgresql+psycopg://x@127.0.0.1/x")).attempt() as now:
        assert not now  # PostgreSQL statements wait on the network: always the pool


def test_a_loop_write_declines_at_once_when_another_process_writes(
    sqlite_container: Container,
) -> None:
    principal, run_id = admin_run(sqlite_container)
    writer = LoopWriter(sqlite_container.engine)
    with another_process_writing(sqlite_container):
        started = time.monotonic()
        with writer.attempt() as now, pytest.raises(WouldWait):
            assert now
            sqlite_container.run_data.log_metric(principal, run_id, "declined", 1.0)
        assert time.monotonic() - started < 5  # no busy wait (that would be 30 s)
    # Nothing was written, the lock is free, and writes wait as usual again.
    assert "declined" not in sqlite_container.runs.get_run(principal, run_id).metrics
    assert not held_elsewhere(sqlite_writer_lock(sqlite_container.engine))
    with writer.attempt() as now:
        assert now
        sqlite_container.run_data.log_metric(principal, run_id, "on-loop", 2.0)
    assert sqlite_container.runs.get_run(principal, run_id).metrics["on-loop"] == 2.0


def test_a_declined_request_waits_in_the_pool_while_the_loop_serves_others(
    sqlite_container: Container, client: TestClient, tenant: Actors,
) -> None:
    headers = tenant.headers()
    experiment = client.post("/api/2.0/mlflow/experiments/create", headers=headers,
                             json={"name": unique("declined")}).json()["experiment_id"]
    run_id = client.post("/api/2.0/mlflow/runs/create", headers=headers, json={
        "experiment_id": experiment}).json()["run"]["info"]["run_id"]
    body = {"run_id": run_id, "key": "waited", "value": 3.5, "timestamp": 1, "step": 7}
    for _ in range(2):  # the second call goes through direct dispatch
        assert client.post("/api/2.0/mlflow/runs/log-metric", headers=headers,
                           json=body).status_code == 200
    answers: list[int] = []
    with another_process_writing(sqlite_container):
        waiting = threading.Thread(target=lambda: answers.append(client.post(
            "/api/2.0/mlflow/runs/log-metric", headers=headers,
            json={**body, "value": 4.5, "step": 8}).status_code))
        waiting.start()
        time.sleep(0.3)
        assert answers == [] and waiting.is_alive()  # waiting on the database ...
        assert client.get("/healthz").status_code == 200  # ... in the pool, not on the loop
    waiting.join(30)
    assert answers == [200]
    run = client.get("/api/2.0/mlflow/runs/get", headers=headers,
                     params={"run_id": run_id}).json()["run"]
    assert {m["key"]: m["value"] for m in run["data"]["metrics"]}["waited"] == 4.5
