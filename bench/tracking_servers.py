"""The servers the tracking benchmarks measure: Maestro, ``mlflow server``, a stub, a bare writer.

Each starter returns a :class:`Server` with its URL, the token the client sends (Maestro's
API key; none for the others), ``stop`` and ``populate(name)``, which writes the search
data set (runs with a ``score`` metric and two params) in-process and returns the id of
the experiment holding it. The bare writer (``bench/tracking_ceiling.py``) is the stub plus
one durable INSERT per ``log-metric`` call.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text

ADMIN_EMAIL = "bench@maestro.local"
ADMIN_PASSWORD = "bench-password-123!"
PG_BASE = os.environ.get("MAESTRO_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@dataclass
class Server:
    url: str
    token: str | None
    stop: Callable[[], None]
    populate: Callable[[str], str] | None = None
    pid: int | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:g} s")


def stopper(process: subprocess.Popen[bytes]) -> Callable[[], None]:
    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    return stop


def create_pg_database(system: str) -> tuple[str, str]:
    name = f"bench_{system}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_BASE).set(database=name).render_as_string(hide_password=False), name


def refresh_statistics(database_url: str) -> None:
    """ANALYZE a PostgreSQL database just loaded in bulk, as autovacuum would within a minute.

    Both systems' search data are written seconds before they are searched; without
    statistics the planner takes each table for empty and may pick a plan that walks every
    run. Applied to Maestro's and MLflow's databases alike; SQLite is left as it is.
    """
    if not database_url.startswith("postgresql"):
        return
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1),
                           isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
    engine.dispose()


def drop_pg_database(name: str) -> None:
    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# -- Maestro ----------------------------------------------------------------------------
def start_maestro(workdir: Path, database_url: str | None, search_runs: int) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = database_url or f"sqlite:///{workdir / 'maestro.db'}"
    secret = uuid.uuid4().hex * 2
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAESTRO_")},
        "MAESTRO_DATABASE_URL": database_url, "MAESTRO_SECRET_KEY": secret,
        "MAESTRO_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "MAESTRO_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # A benchmark client is one tenant hammering one server on purpose.
        "MAESTRO_RATE_LIMIT_ENABLED": "false",
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "maestro_ml.cli.main", "server", "--host", "127.0.0.1",
               "--port", str(port), "--data-dir", str(workdir), "--log-level", "warning"]
    with open(workdir / "server.log", "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_ready(f"{url}/readyz", process, timeout=300.0)
    http = httpx.Client(base_url=url, timeout=60)
    token = http.post("/api/v1/auth/token",
                      json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    key = http.post("/api/v1/api-keys", json={"name": "bench"}, headers=auth).json()["key"]

    def populate(name: str) -> str:
        return populate_maestro(database_url, workdir, secret, key, name, search_runs)

    return Server(url, key, stopper(process), populate, process.pid)


def populate_maestro(database_url: str, workdir: Path, secret: str, key: str, name: str,
                     count: int) -> str:
    from maestro_ml.bootstrap import build_container
    from maestro_ml.config import Settings

    settings = Settings(database_url=database_url, data_dir=workdir, secret_key=secret,
                        run_worker=False)
    container = build_container(settings, migrate=False)
    try:
        principal = container.identity.authenticate(key)
        experiment = container.experiments.create_experiment(principal, name=name)
        for i in range(count):
            run = container.runs.create_run(principal, experiment_id=experiment.id)
            container.run_data.log_batch(
                principal, run.id,
                metrics=[{"key": "score", "value": (i * 7919 % count) / count, "step": 0}],
                params=[{"key": "i", "value": str(i)}, {"key": "mod", "value": str(i % 10)}],
            )
        refresh_statistics(database_url)
        return str(experiment.id)
    finally:
        container.close()


# -- MLflow -----------------------------------------------------------------------------
def start_mlflow(workdir: Path, database_url: str | None, search_runs: int) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    store_uri = _mlflow_uri(database_url) if database_url else f"sqlite:///{workdir / 'mlflow.db'}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1", "--backend-store-uri", store_uri,
               "--artifacts-destination", str(workdir / "artifacts")]
    with open(workdir / "mlflow.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    wait_ready(f"{url}/health", process, timeout=600.0)  # it migrates its schema first

    def populate(name: str) -> str:
        return populate_mlflow(store_uri, workdir, name, search_runs)

    return Server(url, None, stopper(process), populate)


def _mlflow_uri(database_url: str) -> str:
    return database_url.replace("postgresql+psycopg://", "postgresql://")


def populate_mlflow(store_uri: str, workdir: Path, name: str, count: int) -> str:
    from mlflow.entities import Metric, Param
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(store_uri, str(workdir / "artifacts"))
    experiment_id = store.create_experiment(name)
    now = int(time.time() * 1000)
    for i in range(count):
        run = store.create_run(experiment_id, "bench", now, [], None)
        store.log_batch(
            run.info.run_id,
            metrics=[Metric("score", (i * 7919 % count) / count, now, 0)],
            params=[Param("i", str(i)), Param("mod", str(i % 10))], tags=[],
        )
    refresh_statistics(store_uri)
    return str(experiment_id)


# -- the client's floor -----------------------------------------------------------------
STUB_APP = textwrap.dedent(
    """
    import json

    RUN = {"info": {"run_id": "0" * 32, "run_uuid": "0" * 32, "experiment_id": "1",
                    "run_name": "stub", "user_id": "", "status": "RUNNING",
                    "start_time": 1, "artifact_uri": "mlflow-artifacts:/1/r/artifacts",
                    "lifecycle_stage": "active"},
           "data": {"metrics": [{"key": "score", "value": 0.9, "timestamp": 1, "step": 0}],
                    "params": [], "tags": []}}
    EXPERIMENT = {"experiment_id": "1", "name": "stub", "artifact_location": "x",
                  "lifecycle_stage": "active", "tags": []}
    ANSWERS = {
        "/api/2.0/mlflow/experiments/create": {"experiment_id": "1"},
        "/api/2.0/mlflow/experiments/get": {"experiment": EXPERIMENT},
        "/api/2.0/mlflow/experiments/get-by-name": {"experiment": EXPERIMENT},
        "/api/2.0/mlflow/runs/create": {"run": RUN},
        "/api/2.0/mlflow/runs/get": {"run": RUN},
        "/api/2.0/mlflow/runs/update": {"run_info": RUN["info"]},
        "/api/2.0/mlflow/runs/search": {"runs": [RUN] * 100},
    }
    BODIES = {path: json.dumps(body).encode() for path, body in ANSWERS.items()}

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": BODIES.get(scope["path"], b"{}")})
    """
)


def start_stub(workdir: Path, database_url: str | None, search_runs: int) -> Server:
    return start_asgi_source(workdir, "stub_app", STUB_APP)


def start_asgi_source(workdir: Path, module: str, source: str,
                      env: dict[str, str] | None = None) -> Server:
    """``source`` written as ``module.py`` in ``workdir`` and its ``app`` served by uvicorn."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{module}.py").write_text(source)
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", f"{module}:app", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, cwd=workdir, env={**os.environ, **(env or {})},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process)
    return Server(url, None, stopper(process), None, process.pid)


# -- the bare writer ---------------------------------------------------------------------
BARE_WRITER_APP = STUB_APP + textwrap.dedent(
    """
    import os
    import sqlite3

    import orjson
    import psycopg

    URL = os.environ["BARE_WRITER_DATABASE"]
    if URL.startswith("postgresql"):
        DB = psycopg.connect(URL, autocommit=True)  # each INSERT commits, durably
        INSERT = "INSERT INTO bare_metrics VALUES (%s, %s, %s, %s, %s)"
    else:  # as Maestro's embedded database: WAL, synchronous=NORMAL
        DB = sqlite3.connect(URL, isolation_level=None, check_same_thread=False)
        DB.execute("PRAGMA journal_mode=WAL")
        DB.execute("PRAGMA synchronous=NORMAL")
        INSERT = "INSERT INTO bare_metrics VALUES (?, ?, ?, ?, ?)"
    DB.execute("CREATE TABLE IF NOT EXISTS bare_metrics (run_id TEXT, key TEXT, "
               "value DOUBLE PRECISION, step BIGINT, timestamp BIGINT)")
    DB.execute("CREATE INDEX IF NOT EXISTS bare_metrics_key "
               "ON bare_metrics (run_id, key, step, timestamp)")
    stub = app

    async def app(scope, receive, send):
        if scope.get("path") != "/api/2.0/mlflow/runs/log-metric":
            await stub(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        item = orjson.loads(body)
        DB.execute(INSERT, (item["run_id"], item["key"], float(item["value"]),
                            int(item.get("step") or 0), int(item["timestamp"])))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})
    """
)


def start_bare_writer(workdir: Path, database_url: str | None) -> Server:
    """The stub, but each ``log-metric`` is one INSERT committed on the event loop: the least
    work any server that stores the value durably before answering can do."""
    url = (database_url or "").replace("postgresql+psycopg://", "postgresql://", 1)
    return start_asgi_source(workdir, "bare_writer_app", BARE_WRITER_APP,
                             {"BARE_WRITER_DATABASE": url or str(workdir / "bare.db")})
