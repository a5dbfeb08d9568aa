"""SQLite writers of one process take turns on a lock, held for exactly their transaction."""

from __future__ import annotations

import threading

import pytest

from maestro_ml.bootstrap import Container
from maestro_ml.storage.database import sqlite_writer_lock


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
