"""MLflow-client tracking benchmark: Maestro against ``mlflow server`` and the client's floor.

The same ``MlflowClient`` workload runs against three servers, one backend at a time:

- Maestro: a real ``maestro server`` process, auth on (an API key in MLFLOW_TRACKING_TOKEN);
- MLflow: ``mlflow server --workers 1`` on the same kind of backend (a SQLite file, or a
  fresh PostgreSQL database on 127.0.0.1:5432);
- a stub answering every call at once with canned valid responses: the client's own floor.

Workloads: 1000 sequential ``log_metric`` (ops/s); ``log_batch`` of 1000 metrics
(metrics/s); 200 runs with 10 params and 10 metrics each (create, log_batch, terminate:
runs/s); ``search_runs`` with a metric filter and a metric order over 10,000 runs (p50 ms);
8 threads logging metrics for 10 s (writes/s). Maestro and the stub run side by side and
take turns, ``--rounds`` times (medians printed; ``m/stub`` is the median of each round's
ratio, so that a machine whose speed drifts is compared with itself); MLflow runs once,
after them. Before each timed workload the client's heap is collected and frozen (see
``settle_heap``). The 10,000 runs are written in-process
(Maestro: its own services on the server's database; MLflow: its SqlAlchemyStore), which is
much faster than through either client; the output says so. On PostgreSQL both databases
are then ANALYZEd, as autovacuum would do within a minute of such a load.

    .venv/bin/python bench/tracking.py --backend sqlite --quick
    .venv/bin/python bench/tracking.py --backend both
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tracking_servers import (  # noqa: E402
    PG_BASE,
    Server,
    create_pg_database,
    drop_pg_database,
    start_maestro,
    start_mlflow,
    start_stub,
)

os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")


@dataclass(frozen=True)
class Sizes:
    sequential: int
    batches: int
    runs: int
    search_runs: int
    searches: int
    threads: int
    seconds: float


FULL = Sizes(sequential=1000, batches=10, runs=200, search_runs=10_000, searches=30,
             threads=8, seconds=10.0)
QUICK = Sizes(sequential=200, batches=3, runs=40, search_runs=1000, searches=10,
              threads=8, seconds=2.0)
UNITS = {
    "log_metric": "ops/s", "log_batch": "metrics/s", "create_runs": "runs/s",
    "search_p50": "ms", "concurrent": "writes/s",
}


def client_for(server: Server) -> Any:
    from mlflow import MlflowClient

    if server.token:
        os.environ["MLFLOW_TRACKING_TOKEN"] = server.token
    else:
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
    return MlflowClient(tracking_uri=server.url)


def settle_heap() -> None:
    """Collect the client's garbage and freeze what survives, just before a timed workload.

    The mlflow client's heap is large (its imports, protos, lazily loaded modules), and a
    full collection of it stalls the client for about 100 ms on this machine. Left alone,
    one falls into whichever system's turn it happens to hit: a tenth of a 10-batch
    log_batch run. Frozen objects are skipped by later collections, so every system is
    timed with the same, small collector work.
    """
    gc.collect()
    gc.freeze()


def bench_log_metric(client: Any, run_id: str, sizes: Sizes) -> float:
    client.log_metric(run_id, "warmup", 0.0)
    settle_heap()
    start = time.perf_counter()
    for i in range(sizes.sequential):
        client.log_metric(run_id, "seq", float(i), step=i)
    return sizes.sequential / (time.perf_counter() - start)


def bench_log_batch(client: Any, run_id: str, sizes: Sizes) -> float:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    settle_heap()
    start = time.perf_counter()
    for b in range(sizes.batches):
        metrics = [Metric(f"b{i % 10}", float(i), now, b * 1000 + i) for i in range(1000)]
        client.log_batch(run_id, metrics=metrics)
    return sizes.batches * 1000 / (time.perf_counter() - start)


def bench_create_runs(client: Any, experiment_id: str, sizes: Sizes) -> float:
    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    settle_heap()
    start = time.perf_counter()
    for r in range(sizes.runs):
        run = client.create_run(experiment_id)
        client.log_batch(
            run.info.run_id,
            params=[Param(f"p{i}", str(r + i)) for i in range(10)],
            metrics=[Metric(f"m{i}", r / (i + 1), now, 0) for i in range(10)],
        )
        client.set_terminated(run.info.run_id)
    return sizes.runs / (time.perf_counter() - start)


def bench_search(client: Any, experiment_id: str, sizes: Sizes) -> float:
    timings = []
    settle_heap()
    for _ in range(sizes.searches):
        start = time.perf_counter()
        found = client.search_runs(
            [experiment_id], filter_string="metrics.score > 0.5",
            order_by=["metrics.score DESC"], max_results=100,
        )
        timings.append((time.perf_counter() - start) * 1000)
        assert len(found) == 100, len(found)
    return statistics.median(timings)


def bench_concurrent(client: Any, experiment_id: str, sizes: Sizes) -> float:
    runs = [client.create_run(experiment_id).info.run_id for _ in range(sizes.threads)]
    counts = [0] * sizes.threads
    settle_heap()
    stop = time.perf_counter() + sizes.seconds
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            while time.perf_counter() < stop:
                client.log_metric(runs[index], "c", float(counts[index]), step=counts[index])
                counts[index] += 1
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(sizes.threads)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sum(counts) / (time.perf_counter() - start)


def run_writes(server: Server, sizes: Sizes) -> dict[str, float]:
    """The writing workloads, on a fresh experiment and run."""
    client = client_for(server)
    experiment_id = client.create_experiment(f"bench-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(experiment_id).info.run_id
    return {
        "log_metric": bench_log_metric(client, run_id, sizes),
        "log_batch": bench_log_batch(client, run_id, sizes),
        "create_runs": bench_create_runs(client, experiment_id, sizes),
        "concurrent": bench_concurrent(client, experiment_id, sizes),
    }


def run_search(server: Server, sizes: Sizes) -> float:
    client = client_for(server)
    if server.populate is not None:
        experiment_id = server.populate(f"search-{uuid.uuid4().hex[:8]}")
    else:
        experiment_id = client.create_experiment(f"bench-{uuid.uuid4().hex[:8]}")
    return bench_search(client, experiment_id, sizes)


def print_table(backend: str, results: dict[str, dict[str, float]], note: str,
                paired: dict[str, list[float]]) -> None:
    """Medians of each system's rounds; ``m/stub`` is the median of the rounds' own ratios
    where Maestro and the stub took turns (``paired``)."""
    print(f"\n== backend: {backend} ==  ({note})")
    print(f"{'workload':<14}{'maestro':>12}{'mlflow':>12}{'stub':>12}"
          f"{'m/mlflow':>10}{'m/stub':>9}  unit")
    for name, unit in UNITS.items():
        ours, theirs, floor = (results[s].get(name, float("nan"))
                               for s in ("maestro", "mlflow", "stub"))
        if name == "search_p50":  # lower is better: ratios as speed-ups
            vs_mlflow, vs_stub = theirs / ours, floor / ours
        else:
            vs_mlflow = ours / theirs
            vs_stub = statistics.median(paired[name]) if paired.get(name) else ours / floor
        print(f"{name:<14}{ours:>12.1f}{theirs:>12.1f}{floor:>12.1f}"
              f"{vs_mlflow:>9.2f}x{vs_stub:>8.0%}  {unit}")
    if paired:
        print("m/stub by round: " + "; ".join(
            f"{name} " + " ".join(f"{ratio:.0%}" for ratio in ratios)
            for name, ratios in paired.items()))


STARTERS = {"stub": start_stub, "maestro": start_maestro, "mlflow": start_mlflow}


def bench_backend(backend: str, sizes: Sizes, workdir: Path, only: set[str],
                  rounds: int) -> None:
    results: dict[str, dict[str, float]] = {"maestro": {}, "mlflow": {}, "stub": {}}
    by_round: dict[str, list[dict[str, float]]] = {"maestro": [], "stub": []}
    databases: list[str] = []

    def start(system: str) -> Server:
        url = None
        if backend == "postgres" and system != "stub":
            url, name = create_pg_database(system)
            databases.append(name)
        return STARTERS[system](workdir / f"{backend}-{system}", url, sizes.search_runs)

    try:
        # The floor and Maestro take turns, round after round: a machine's speed drifts
        # over minutes, and the ratio of two runs taken minutes apart would measure the drift.
        turns = [system for system in ("stub", "maestro") if system in only]
        servers: dict[str, Server] = {}
        try:
            for system in turns:
                servers[system] = start(system)
            for _ in range(rounds):
                for system in turns:
                    os.sync()  # each round starts on a flushed disk
                    by_round[system].append(run_writes(servers[system], sizes))
            for system in turns:
                results[system] = {name: statistics.median(r[name] for r in by_round[system])
                                   for name in by_round[system][0]}
                results[system]["search_p50"] = run_search(servers[system], sizes)
                print(f"  {system}: {results[system]}", flush=True)
        finally:
            for server in servers.values():
                server.stop()
        if "mlflow" in only:  # one round: minutes each, and far from the bars
            os.sync()  # Maestro's writes (10,000 runs of search data) not written back now
            server = start("mlflow")
            try:
                results["mlflow"] = run_writes(server, sizes)
                results["mlflow"]["search_p50"] = run_search(server, sizes)
            finally:
                server.stop()
            print(f"  mlflow: {results['mlflow']}", flush=True)
    finally:
        for name in databases:
            drop_pg_database(name)
    paired = {}
    if by_round["maestro"] and by_round["stub"]:  # both took their turns
        paired = {name: [ours[name] / floor[name] for ours, floor in
                         zip(by_round["maestro"], by_round["stub"], strict=True)]
                  for name in by_round["maestro"][0]}
    note = ("search data written in-process: Maestro through its services, "
            "MLflow through its SqlAlchemyStore"
            + ("; both databases ANALYZEd after loading" if backend == "postgres" else ""))
    print_table(backend, results, note, paired)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--quick", action="store_true", help="small counts for a smoke run")
    parser.add_argument("--only", default="stub,maestro,mlflow",
                        help="comma-separated systems to run (default: all three)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds in which Maestro and the stub take turns (default: 3)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    sizes = QUICK if args.quick else FULL
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if "postgres" in backends and not PG_BASE:
        parser.error("PostgreSQL backend needs a server on 127.0.0.1:5432")
    with tempfile.TemporaryDirectory(prefix="maestro-bench-") as scratch:
        for backend in backends:
            bench_backend(backend, sizes, Path(scratch), set(args.only.split(",")), args.rounds)


if __name__ == "__main__":
    main()
