"""Prediction serving benchmark: Maestro against ``mlflow models serve`` and the HTTP floor.

Starts a real ``maestro server`` (SQLite, local artifacts, in-process worker) in a scratch
data directory, trains the reference model through the API (RandomForestClassifier, 100
trees, max_depth 8, 20 features, 5000 rows, random_state 0) and deploys it with API-key
auth, rate limiting, metrics and the prediction log on (``--log-sample-rate`` of requests
logged with their inputs). The same model (same data, same parameters) is saved with
``mlflow.sklearn.save_model`` and served by ``mlflow models serve --env-manager local``; a
bare uvicorn app answering a constant is the floor of this machine. All three are loaded
by wrk (Debian package ``wrk``) with the same bodies — one row per request and 100 rows per
request, MLflow's ``dataframe_split`` shape — at 1, 8 and 64 connections.

    .venv/bin/python bench/serving.py                 # 15 s per case, the full table
    .venv/bin/python bench/serving.py --quick         # 3 s per case
    .venv/bin/python bench/serving.py --maestro 1,2,2:onnx
    .venv/bin/python bench/serving.py --model-latency   # native vs ONNX, in process

Prints requests/s, rows/s, p50 and p99 per case, Maestro/MLflow ratios, and the issue's
bars marked PASS or FAIL for each Maestro configuration.
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


def start_maestro(
    data_dir: Path, port: int, workers: int, onnx: bool = False
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MAESTRO_SERVING_COMPILE_ONNX": "true" if onnx else "false",
        "MAESTRO_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "MAESTRO_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    command = [sys.executable, "-m", "maestro_ml.cli.main", "server", "--host", "127.0.0.1",
               "--port", str(port), "--data-dir", str(data_dir), "--log-level", "warning",
               "--workers", str(workers)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(data_dir / "server.log", "ab"))  # noqa: SIM115


def start_floor(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    (workdir / "floor_app.py").write_text(FLOOR_APP)
    command = [sys.executable, "-m", "uvicorn", "floor_app:app", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def prepare_deployment(
    base: str, workdir: Path, log_sample_rate: float
) -> tuple[str, str, np.ndarray, np.ndarray]:
    """Train and deploy the reference model through the API; returns (url, key, X, y)."""
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
        "model_id": model["id"], "name": "reference", "log_sample_rate": log_sample_rate,
    }).json()
    url = f"{base}/api/v1/deployments/{deployment['name']}/predict"
    return url, key, x, y


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



BAR_SPEEDUP_64 = 30.0
BAR_P99_64_MS = 100.0
BAR_P50_1_MS = 3.0
BAR_ROWS_8 = 20_000.0


def start_mlflow(model_dir: Path, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_dir),
               "--env-manager", "local", "-p", str(port), "--host", "127.0.0.1"]
    # MLflow starts ``uvicorn`` by name: the interpreter's scripts directory must be on PATH.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(workdir / "mlflow.log", "wb"))  # noqa: SIM115


def save_mlflow_model(x: np.ndarray, y: np.ndarray, workdir: Path) -> Path:
    """The reference model, trained here the same way, in MLflow's format."""
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.ensemble import RandomForestClassifier

    columns = [f"f{i}" for i in range(x.shape[1])]
    frame = pd.DataFrame(x, columns=columns)
    model = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0).fit(frame, y)
    path = workdir / "mlflow-model"
    # MLflow's default (skops) format asks which types to trust: the forest's trees, made here.
    mlflow.sklearn.save_model(model, str(path),
                              signature=infer_signature(frame, model.predict(frame)),
                              skops_trusted_types=["sklearn.tree._tree.Tree"])
    return path


def print_table(results: list[Result]) -> None:
    print()
    print(f"{'system':<28}{'payload':>9}{'conns':>6}{'req/s':>10}{'rows/s':>10}{'p50 ms':>9}"
          f"{'p99 ms':>10}{'errors':>8}")
    for r in results:
        payload = "1 row" if r.rows_per_request == 1 else f"{r.rows_per_request} rows"
        print(f"{r.name:<28}{payload:>9}{r.connections:>6}{r.requests_per_s:>10.1f}"
              f"{r.rows_per_s:>10.0f}{r.p50_ms:>9.2f}{r.p99_ms:>10.2f}{r.errors:>8}")


def find(results: list[Result], name: str, rows: int, conns: int) -> Result | None:
    return next((r for r in results if r.name == name and r.rows_per_request == rows
                 and r.connections == conns), None)


def print_ratios(results: list[Result], maestro_names: list[str]) -> None:
    print("\nMaestro / MLflow (requests/s; p99)")
    for name in maestro_names:
        for r in results:
            if r.name != name:
                continue
            base = find(results, "mlflow models serve", r.rows_per_request, r.connections)
            if base is None or base.requests_per_s == 0:
                continue
            print(f"  {name:<26} {r.rows_per_request:>3} rows @ {r.connections:>2} conns: "
                  f"{r.requests_per_s / base.requests_per_s:7.1f}x req/s, "
                  f"p99 {r.p99_ms:.1f} ms vs {base.p99_ms:.1f} ms")


def print_bars(results: list[Result], maestro_names: list[str]) -> None:
    print("\nBars (issue #4)")
    mlflow_64 = find(results, "mlflow models serve", 1, 64)
    for name in maestro_names:
        checks: list[tuple[str, bool | None]] = []
        one_64, one_1 = find(results, name, 1, 64), find(results, name, 1, 1)
        hundred_8 = find(results, name, 100, 8)
        if one_64 is not None and mlflow_64 is not None and mlflow_64.requests_per_s > 0:
            speedup = one_64.requests_per_s / mlflow_64.requests_per_s
            checks.append((f"1 row @ 64 conns >= {BAR_SPEEDUP_64:g}x MLflow req/s "
                           f"({speedup:.1f}x)", speedup >= BAR_SPEEDUP_64))
        if one_64 is not None:
            checks.append((f"1 row @ 64 conns p99 < {BAR_P99_64_MS:g} ms "
                           f"({one_64.p99_ms:.1f} ms)", one_64.p99_ms < BAR_P99_64_MS))
        if one_1 is not None:
            checks.append((f"1 row @ 1 conn p50 < {BAR_P50_1_MS:g} ms ({one_1.p50_ms:.2f} ms)",
                           one_1.p50_ms < BAR_P50_1_MS))
        if hundred_8 is not None:
            checks.append((f"100 rows @ 8 conns >= {BAR_ROWS_8:,.0f} rows/s "
                           f"({hundred_8.rows_per_s:,.0f})", hundred_8.rows_per_s >= BAR_ROWS_8))
        for text, ok in checks:
            print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {text}")


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def bodies(x: np.ndarray) -> dict[int, dict]:
    columns = [f"f{i}" for i in range(x.shape[1])]
    return {rows: {"dataframe_split": {"columns": columns, "data": x[:rows].round(6).tolist()}}
            for rows in (1, 100)}


def measure(name: str, url: str, key: str | None, payloads: dict[int, dict], connections:
            list[int], duration: int, workdir: Path) -> list[Result]:
    results = []
    for conns in connections:
        for rows, body in payloads.items():
            script = wrk_script(body, key, workdir / f"{abs(hash(name))}-{rows}.lua")
            rps, p50, p99, errors = run_wrk(url, script, conns, duration)
            results.append(Result(name, conns, rows, rps, p50, p99, errors))
            print(f"  {name}, {rows} rows @ {conns} connections: {rps:.0f} req/s "
                  f"p99 {p99:.1f} ms", file=sys.stderr)
    return results


def model_latency(repeats: int = 2000) -> None:
    """Native (tree by tree) against ONNX Runtime for the reference forest, in process."""
    from sklearn.ensemble import RandomForestClassifier

    from maestro_ml.ml.model_io import load_model, save_model
    from maestro_ml.serving.onnx_runtime import compile_version

    x, y = make_classification(n_samples=5000, n_features=20, n_informative=10,
                               random_state=0)
    columns = [f"f{i}" for i in range(20)]
    forest = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0).fit(x, y)
    with tempfile.TemporaryDirectory() as directory:
        save_model(forest, directory, {
            "task": "classification", "estimator": "RandomForestClassifier",
            "classes": [0, 1], "feature_names": columns, "categorical_features": [],
        })
        native = load_model(directory)
    compiled, compilation = compile_version(native, x[4000:4256].tolist())
    print(f"ONNX compilation: {compilation.runtime} ({compilation.reason})")
    for rows in (1, 100):
        batch = [dict(zip(columns, row, strict=True)) for row in x[:rows].tolist()]
        for name, model in (("native", native), ("onnxruntime", compiled)):
            model.predict(batch)
            started = time.perf_counter()
            for _ in range(repeats // rows * 10 if rows > 1 else repeats):
                model.predict(batch)
            calls = repeats // rows * 10 if rows > 1 else repeats
            per_call = (time.perf_counter() - started) / calls * 1e6
            print(f"  {name:<12} {rows:>3} rows: {per_call:8.1f} us per call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per case")
    parser.add_argument("--quick", action="store_true", help="3 s per case")
    parser.add_argument("--connections", default="1,8,64")
    parser.add_argument("--maestro", default="1,1:onnx",
                        help="Maestro configurations to measure: process counts, ':onnx' to "
                        "serve through ONNX Runtime (e.g. 1,2,2:onnx)")
    parser.add_argument("--log-sample-rate", type=float, default=0.1,
                        help="share of Maestro predictions written to the prediction log")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--model-latency", action="store_true",
                        help="only time the reference forest in process: native vs ONNX")
    args = parser.parse_args()
    if args.model_latency:
        model_latency()
        return
    duration = 3 if args.quick else args.duration
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    connections = [int(c) for c in args.connections.split(",")]
    configs = [(int(c.split(":")[0]), c.endswith(":onnx")) for c in args.maestro.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="maestro-bench-"))
    processes: list[subprocess.Popen[bytes] | None] = []
    results: list[Result] = []
    maestro_names: list[str] = []
    try:
        port = free_port()
        server = start_maestro(workdir, port, workers=1)
        processes.append(server)
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/readyz", timeout=120)
        url, key, x, y = prepare_deployment(base, workdir, args.log_sample_rate)
        payloads = bodies(x)
        httpx.post(url, json=payloads[1],
                   headers={"Authorization": f"Bearer {key}"}).raise_for_status()

        floor_port = free_port()
        processes.append(start_floor(floor_port, workdir))
        wait_ready(f"http://127.0.0.1:{floor_port}/", timeout=30)
        results += measure("bare uvicorn floor", f"http://127.0.0.1:{floor_port}/", None,
                           {1: payloads[1]}, connections, duration, workdir)
        stop(processes.pop())

        if not args.skip_mlflow:
            mlflow_port = free_port()
            processes.append(start_mlflow(save_mlflow_model(x, y, workdir), mlflow_port,
                                          workdir))
            wait_ready(f"http://127.0.0.1:{mlflow_port}/ping", timeout=180)
            results += measure("mlflow models serve",
                               f"http://127.0.0.1:{mlflow_port}/invocations", None, payloads,
                               connections, duration, workdir)
            stop(processes.pop())

        for index, (workers, onnx) in enumerate(configs):
            if index > 0 or workers != 1 or onnx:  # else: the server that trained serves
                stop(processes.pop())
                port = free_port()
                processes.append(start_maestro(workdir, port, workers=workers, onnx=onnx))
                base = f"http://127.0.0.1:{port}"
                # Every worker process builds its own container: slow on a busy 2-core host.
                wait_ready(f"{base}/readyz", timeout=600)
                url = base + url[url.index("/api/"):]
            name = (f"maestro ({workers} process{'es' if workers > 1 else ''}"
                    f"{', onnx' if onnx else ''})")
            maestro_names.append(name)
            httpx.post(url, json=payloads[1],
                       headers={"Authorization": f"Bearer {key}"}).raise_for_status()
            results += measure(name, url, key, payloads, connections, duration, workdir)
        print(f"\n{duration} s per case; wrk with 2 threads (1 for 1 connection); "
              f"Maestro: API key auth, rate limits, metrics on, prediction log sample rate "
              f"{args.log_sample_rate:g}.")
        print_table(results)
        print_ratios(results, maestro_names)
        print_bars(results, maestro_names)
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
