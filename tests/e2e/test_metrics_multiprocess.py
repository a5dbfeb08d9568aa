"""``maestro server --workers 2``: request counts aggregate across the processes, on the
unauthenticated metrics port and on the API's /metrics alike."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e import conftest as e2e
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, free_port, server_environment

REQUESTS = 60
# The kernel hands each new connection to one of the workers, and which one is its choice: on
# a busy host one worker can take a whole round. Rounds go on until both have served.
MAX_ROUNDS = 20
# Each worker process imports and wires the whole server: slow on a busy CI host.
STARTUP_SECONDS = 300.0


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    data_dir = tmp_path_factory.mktemp("two-workers")
    port = metrics_port = free_port()
    while metrics_port == port:  # a port just released can be handed out again
        metrics_port = free_port()
    env = server_environment(f"sqlite:///{data_dir / 'maestro.db'}")
    env["MAESTRO_METRICS_PORT"] = str(metrics_port)
    log_path = data_dir / "server.log"
    command = [sys.executable, "-m", "maestro_ml.cli.main", "server", "--host", "127.0.0.1",
               "--port", str(port), "--data-dir", str(data_dir), "--workers", "2",
               "--no-worker"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, env=env, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        default, e2e.STARTUP_SECONDS = e2e.STARTUP_SECONDS, STARTUP_SECONDS
        try:
            e2e.wait_until_ready(url, process, log_path)
        finally:
            e2e.STARTUP_SECONDS = default
        yield url, f"http://127.0.0.1:{metrics_port}/metrics", data_dir
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def healthz_count(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "maestro_http_requests_total" and sample.labels.get("route") == "/healthz"
    )


def healthz_by_process(data_dir: Path) -> list[float]:
    """The /healthz counts of each process that has served one, each read from its own file."""
    counts = []
    for file in (data_dir / "metrics-multiproc").glob("counter_*.db"):
        with tempfile.TemporaryDirectory() as alone:
            shutil.copy(file, alone)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=alone)
            counts.append(healthz_count(generate_latest(registry).decode()))
    return [count for count in counts if count]


def test_counts_aggregate_across_worker_processes(two_workers: tuple[str, str, Path]):
    url, metrics_url, data_dir = two_workers

    def hit(_: int) -> int:
        with httpx.Client(timeout=30) as fresh:  # a new connection each: both workers serve
            return fresh.get(f"{url}/healthz").status_code

    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(MAX_ROUNDS):
            assert set(pool.map(hit, range(REQUESTS))) == {200}
            sent += REQUESTS
            if len(healthz_by_process(data_dir)) >= 2:
                break
    served = healthz_by_process(data_dir)
    assert len(served) >= 2 and sum(served) == sent, served  # both processes served

    public = httpx.get(metrics_url, timeout=30)
    assert public.status_code == 200
    assert healthz_count(public.text) == sent

    token = httpx.post(f"{url}/api/v1/auth/token", timeout=30,
                       json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert token.status_code == 200, token.text
    scraped = httpx.get(f"{url}/metrics", timeout=30, headers={
        "Authorization": f"Bearer {token.json()['access_token']}"})
    assert scraped.status_code == 200, scraped.text
    assert healthz_count(scraped.text) == sent
