"""Prediction serving benchmark: Maestro's predict endpoint against the machine's HTTP floor.

Starts a real ``maestro server`` (SQLite, local artifacts, in-process worker) in a scratch
data directory, trains the reference model through the API (RandomForestClassifier, 100
trees, max_depth 8, 20 features, 5000 rows, random_state 0), deploys it, and loads the
predict endpoint with wrk (Debian package ``wrk``) — one row per request and 100 rows per
request at 1, 8 and 64 connections — with API-key auth on. A bare uvicorn app answering
a constant is measured the same way as the floor of this machine.

    .venv/bin/python bench/serving.py --duration 15

Prints requests/s, rows/s, p50 and p99 per case, and the ratio to the HTTP floor.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from sklearn.datasets import make_classification

ADMIN_EMAIL = "bench@maestro.local"
ADMIN_PASSWORD = "bench-password-123!"
FLOOR_APP = textwrap.dedent(
    """
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"predictions":[1]}'})
    """
)


@dataclass
class Result:
    name: str
    connections: int
    rows_per_request: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rows_per_s(self) -> float:
        return self.requests_per_s * self.rows_per_request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server at {url} did not become ready in {timeout} s")


def start_maestro(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MAESTRO_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "MAESTRO_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    command = [sys.executable, "-m", "maestro_ml.cli.main", "server", "--host", "127.0.0.1",
               "--port", str(port), "--data-dir", str(data_dir), "--log-level", "warning"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(data_dir / "server.log", "wb"))  # noqa: SIM115


def start_floor(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    (workdir / "floor_app.py").write_text(FLOOR_APP)
    command = [sys.executable, "-m", "uvicorn", "floor_app:app", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def prepare_deployment(base: str, workdir: Path) -> tuple[str, str, np.ndarray]:
    """Train and deploy the reference model through the API; returns (url, key, X)."""
    x, y = make_classification(n_samples=5000, n_features=20, n_informative=10,
                               random_state=0)
    columns = [f"f{i}" for i in range(20)]
    csv = workdir / "reference.csv"
    rows = np.column_stack([x, y])
    np.savetxt(csv, rows, delimiter=",", header=",".join([*columns, "label"]), comments="",
               fmt=["%.6f"] * 20 + ["%d"])
    http = httpx.Client(base_url=base, timeout=60)
    token = http.post("/api/v1/auth/token",
                      json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    key = http.post("/api/v1/api-keys", json={"name": "bench"}, headers=auth).json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    with csv.open("rb") as handle:
        dataset = http.post("/api/v1/datasets", headers=headers, data={"name": "reference"},
                            files={"file": ("reference.csv", handle, "text/csv")}).json()
    model = http.post("/api/v1/models", headers=headers, json={
        "name": "reference-rf", "task": "classification", "framework": "sklearn"}).json()
    experiment = http.post("/api/v1/experiments", headers=headers, json={
        "model_id": model["id"], "dataset_id": dataset["id"], "target": "label",
        "parameters": {"estimator": "RandomForestClassifier", "n_estimators": 100,
                       "max_depth": 8, "random_state": 0},
    }).json()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        job = http.get(f"/api/v1/jobs/{experiment['job_id']}", headers=headers).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.5)
    if job["status"] != "succeeded":
        raise SystemExit(f"training failed: {job.get('error')}")
    deployment = http.post("/api/v1/deployments", headers=headers, json={
        "model_id": model["id"], "name": "reference"}).json()
    url = f"{base}/api/v1/deployments/{deployment['name']}/predict"
    return url, key, x


def wrk_script(body: dict, key: str | None, path: Path) -> Path:
    headers = 'wrk.headers["Content-Type"] = "application/json"\n'
    if key:
        headers += f'wrk.headers["Authorization"] = "Bearer {key}"\n'
    path.write_text(
        'wrk.method = "POST"\n' + headers + f"wrk.body = {json.dumps(json.dumps(body))}\n"
    )
    return path


def parse_duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    url: str, script: Path, connections: int, duration: int
) -> tuple[float, float, float, int]:
    threads = min(connections, 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
         "--timeout", "10s", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # Anchored: the thread-stats table also prints percentages such as "87.50%".
    p50 = parse_duration_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = parse_duration_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(bad.group(1)) if bad else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return rps, p50, p99, errors


def print_table(results: list[Result], floor: dict[int, float]) -> None:
    print()
    print(f"{'case':<26}{'conns':>6}{'req/s':>11}{'rows/s':>11}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'errors':>8}{'vs floor':>10}")
    for r in results:
        ratio = r.requests_per_s / floor[r.connections] if floor.get(r.connections) else 0
        print(f"{r.name:<26}{r.connections:>6}{r.requests_per_s:>11.1f}{r.rows_per_s:>11.0f}"
              f"{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{r.errors:>8}{ratio:>9.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per case")
    parser.add_argument("--connections", default="1,8,64")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    connections = [int(c) for c in args.connections.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="maestro-bench-"))
    port, floor_port = free_port(), free_port()
    server = start_maestro(workdir, port)
    floor_server = start_floor(floor_port, workdir)
    results: list[Result] = []
    floor: dict[int, float] = {}
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/readyz", timeout=120)
        wait_ready(f"http://127.0.0.1:{floor_port}/", timeout=30)
        url, key, x = prepare_deployment(base, workdir)
        columns = [f"f{i}" for i in range(20)]
        one = {"features": dict(zip(columns, x[0].round(6).tolist(), strict=True))}
        hundred = {"instances": [dict(zip(columns, row.round(6).tolist(), strict=True))
                                 for row in x[:100]]}
        check = httpx.post(url, json=one, headers={"Authorization": f"Bearer {key}"})
        check.raise_for_status()
        floor_script = wrk_script(one, None, workdir / "floor.lua")
        cases = [("maestro single row", one, 1), ("maestro 100-row batch", hundred, 100)]
        for conns in connections:
            rps, p50, p99, errors = run_wrk(f"http://127.0.0.1:{floor_port}/", floor_script,
                                            conns, args.duration)
            floor[conns] = rps
            results.append(Result("bare uvicorn floor", conns, 1, rps, p50, p99, errors))
            for name, body, rows in cases:
                script = wrk_script(body, key, workdir / f"case-{rows}.lua")
                rps, p50, p99, errors = run_wrk(url, script, conns, args.duration)
                results.append(Result(name, conns, rows, rps, p50, p99, errors))
                print(f"  {name} @ {conns} connections: {rps:.0f} req/s", file=sys.stderr)
        print_table(results, floor)
    finally:
        for process in (server, floor_server):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
