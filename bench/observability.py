"""What observability costs on the prediction path: off, metrics, metrics + tracing, and
metrics + tracing + the JSON access log.

One process, one SQLite data directory, one model: a RandomForestClassifier (100 trees,
max_depth 8, 20 features, 5000 rows, random_state 0 — bench/serving.py's reference model)
saved into the registry and deployed. Each mode is its own app over that data (tracing
decides at build time whether services and the database get spans); the modes take turns
in rounds, each round starting from another mode, so a busy machine slows them alike.
Requests go one at a time through ``httpx.AsyncClient`` over the ASGI transport — no
sockets, so the per-request overhead of each mode is not buried in network noise. Spans
go to a batching exporter that drops them (the cost of recording, not of a collector); log
lines go to /dev/null.

    .venv/bin/python bench/observability.py               # 10 rounds x 100 requests a mode
    .venv/bin/python bench/observability.py --quick       # 5 rounds x 50

Prints requests/s, p50, p99 and the overhead in µs per request against "off" (difference
of medians, of the mean of the fastest 90%, and of CPU time), then the request layers alone
(tracing and metrics middleware plus the predict hooks around a constant ASGI app, driven
directly in one event loop): the steadiest figure on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

from maestro_ml.api.app import create_app
from maestro_ml.api.middleware.metrics import MetricsMiddleware
from maestro_ml.api.middleware.tracing import TracingMiddleware
from maestro_ml.auth.principal import Principal
from maestro_ml.bootstrap import Container, build_container
from maestro_ml.config import Settings
from maestro_ml.ml.model_io import save_model
from maestro_ml.observability import metrics, tracing
from maestro_ml.observability.logging import configure_logging

FEATURES = [f"f{i}" for i in range(20)]
ADMIN_EMAIL = "bench@maestro.local"
ADMIN_PASSWORD = "bench-password-123!"
MODES = ("off", "metrics", "metrics+tracing", "metrics+tracing+access log")


class DroppingExporter(SpanExporter):
    """Accepts spans and throws them away: the recording cost without a collector."""

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0  # this process's CPU time (all threads) over the requests

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.seconds)
        return {
            "req_s": len(ordered) / sum(ordered),
            "p50_ms": ordered[len(ordered) // 2] * 1000,
            "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
            "median_us": statistics.median(ordered) * 1e6,
            "trimmed_mean_us": statistics.fmean(ordered[: max(1, len(ordered) * 9 // 10)]) * 1e6,
            "cpu_us": self.cpu_seconds / len(ordered) * 1e6,
        }


def settings_for(data_dir: Path, mode: str) -> Settings:
    return Settings(
        data_dir=data_dir, run_worker=False, bootstrap_admin_email=ADMIN_EMAIL,
        bootstrap_admin_password=ADMIN_PASSWORD, metrics_enabled=mode != "off",
        secret_key="bench-secret-" + "x" * 40,
    )


_PROVIDER: list[Any] = []


def enter_mode(mode: str) -> None:
    """Process-wide switches of a mode, set before its container and app are built."""
    if mode == "off":
        metrics.uninstall_metrics()
    else:
        metrics.install_metrics()
    if not _PROVIDER:  # one provider for the whole run, switched in and out
        _PROVIDER.append(tracing.configure_tracing(DroppingExporter(), batch=True))
    tracing.use_provider(_PROVIDER[0] if "tracing" in mode else None)
    access = logging.getLogger("maestro_ml.access")
    access.setLevel(logging.INFO if "access log" in mode else logging.WARNING)


def deploy_reference_model(container: Container) -> tuple[str, str]:
    """Register and deploy the reference forest; returns (deployment name, API key)."""
    identity = container.identity
    admin = identity.bootstrap_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
    tokens = identity.login(admin.email, ADMIN_PASSWORD)
    principal: Principal = identity.authenticate(tokens.access_token)
    _, key = identity.create_api_key(principal, "bench", "ml_engineer", None)
    x, y = make_classification(n_samples=5000, n_features=20, n_informative=10,
                               random_state=0)
    forest = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0).fit(x, y)
    model = container.registry.create_model(principal, name="reference", task="classification",
                                            framework="sklearn")
    signature = {"inputs": [{"name": f, "type": "double"} for f in FEATURES],
                 "outputs": [{"name": "y", "type": "long"}]}
    metadata = {"task": "classification", "estimator": "RandomForestClassifier",
                "classes": [0, 1], "feature_names": FEATURES, "categorical_features": [],
                "signature": signature}
    with tempfile.TemporaryDirectory() as directory:
        save_model(forest, directory, metadata)
        with container.uow.for_tenant(principal.tenant_id) as uow:
            store = container.artifacts
            artifact_key = f"models/{model.id}/v1"
            store.write_dir(store.tenant_key(principal.tenant_id, artifact_key), Path(directory))
            uow.model_versions.create(
                model_id=model.id, version=1, artifact_key=artifact_key, format="skops",
                framework="sklearn", signature=signature, metrics={}, run_id=None,
                dataset_id=None)
            uow.commit()
    deployment = container.deployments.create_deployment(principal, model_id=model.id,
                                                         version=1)
    return deployment.name, key


async def run_rounds(apps: dict[str, Any], path: str, key: str, body: dict[str, Any],
                     rounds: int, per_round: int) -> dict[str, Samples]:
    """Each round runs every mode once, starting from a different mode each time."""
    headers = {"Authorization": f"Bearer {key}"}
    clients = {mode: httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                       base_url="http://127.0.0.1", headers=headers)
               for mode, app in apps.items()}
    results = {mode: Samples() for mode in apps}
    modes = list(apps)
    try:
        for mode in modes:  # warm: model loaded, routes cached, label children created
            enter_mode(mode)
            await timed(clients[mode], path, body, 30, Samples())
        for number in range(rounds):
            for mode in modes[number % len(modes):] + modes[: number % len(modes)]:
                enter_mode(mode)
                await timed(clients[mode], path, body, per_round, results[mode])
    finally:
        for client in clients.values():
            await client.aclose()
    return results


async def timed(http: httpx.AsyncClient, path: str, body: dict[str, Any], count: int,
                samples: Samples) -> None:
    cpu = time.process_time()
    for _ in range(count):
        start = time.perf_counter()
        response = await http.post(path, json=body)
        samples.seconds.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
    samples.cpu_seconds += time.process_time() - cpu


async def bare_app(scope: Any, receive: Any, send: Any) -> None:
    """A constant answer: what is left is the observability layers' own cost."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def layers_cost(mode: str, count: int) -> float:
    """µs per request of the request layers (tracing + metrics middleware, the predict
    hooks) around ``bare_app``, driven directly: no HTTP client, no threads."""
    enter_mode(mode)
    live = metrics.active_metrics() if mode != "off" else None
    app = bare_app if mode == "none" else TracingMiddleware(MetricsMiddleware(bare_app, live))
    scope = {"type": "http", "method": "POST", "path": "/api/v1/deployments/d/predict",
             "headers": [(b"traceparent", b"00-" + b"ab" * 16 + b"-" + b"cd" * 8 + b"-01")],
             "state": {}}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    start = time.perf_counter()
    for _ in range(count):
        await app(dict(scope), receive, send)
        if mode != "none":
            metrics.observe_prediction("d", "primary", 0.001, 1, "ok")
            metrics.observe_batch_size(1)
    return (time.perf_counter() - start) / count * 1e6


def report_layers(count: int) -> None:
    modes = ("none", *MODES)
    best = {mode: min(asyncio.run(layers_cost(mode, count)) for _ in range(3)) for mode in modes}
    print(f"\nrequest layers alone (best of 3 x {count} calls, µs per request; 'none' = no layers)")
    for mode in modes:
        print(f"  {mode:<28} {best[mode]:>7.1f}   Δ vs off {best[mode] - best['off']:>6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=100, help="per mode and round")
    parser.add_argument("--quick", action="store_true", help="5 rounds x 50 requests")
    args = parser.parse_args()
    rounds, per_round = (5, 50) if args.quick else (args.rounds, args.requests)
    configure_logging("json", "WARNING", stream=open(os.devnull, "w"))  # noqa: SIM115
    logging.getLogger("maestro_ml.access").setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="maestro-obs-bench-") as scratch:
        data_dir = Path(scratch)
        apps: dict[str, tuple[Any, Container]] = {}
        name = key = ""
        for mode in MODES:
            enter_mode(mode)
            container = build_container(settings_for(data_dir, mode))
            if not name:
                name, key = deploy_reference_model(container)
            apps[mode] = (create_app(container), container)
        path = f"/api/v1/deployments/{name}/predict"
        row = dict(zip(FEATURES, np.random.default_rng(0).normal(size=20).tolist(), strict=True))
        results = asyncio.run(run_rounds({mode: app for mode, (app, _) in apps.items()}, path,
                                         key, {"features": row}, rounds, per_round))
        for _, container in apps.values():
            container.close()
    report(results, rounds, per_round)
    report_layers(2000 if args.quick else 5000)


def report(results: dict[str, Samples], rounds: int, per_round: int) -> None:
    base = results["off"].summary()
    print(f"prediction path, 1 row per request, sequential, {rounds} x {per_round} per mode")
    print("Δ = overhead against 'off' in µs per request: of the median latency, of the mean of")
    print("the fastest 90%, and of the CPU time the process spent (the steadiest on a busy host)")
    print(f"{'mode':<28} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'Δp50':>7} {'Δmean90':>8} "
          f"{'CPU µs':>7} {'ΔCPU':>6}")
    for mode, samples in results.items():
        s = samples.summary()
        print(f"{mode:<28} {s['req_s']:>6.0f} {s['p50_ms']:>7.3f} {s['p99_ms']:>7.3f} "
              f"{s['median_us'] - base['median_us']:>7.0f} "
              f"{s['trimmed_mean_us'] - base['trimmed_mean_us']:>8.0f} "
              f"{s['cpu_us']:>7.0f} {s['cpu_us'] - base['cpu_us']:>6.0f}")


if __name__ == "__main__":
    main()
