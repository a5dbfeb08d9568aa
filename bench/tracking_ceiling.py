"""Sequential ``log_metric``: how close Maestro gets to the least any durable server can do.

``bench/tracking.py`` compares Maestro with the client's floor, a stub that stores nothing.
This script adds the ceiling for any server that stores each value before answering: the
same stub, except that each ``log-metric`` call is one INSERT committed on the event loop
(no auth, no validation, no tenancy, no latest-value upkeep, no thread hop) on the same
backend as Maestro. The three take turns for ``--rounds`` rounds of ``--calls`` calls with
the real ``mlflow`` client; each round's ratios are taken against the mean of the stub's
runs just before and after, so a machine whose speed drifts is compared with itself.

    .venv/bin/python bench/tracking_ceiling.py --backend postgres
    .venv/bin/python bench/tracking_ceiling.py --backend both --rounds 7
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tracking import FULL, bench_log_metric, client_for  # noqa: E402
from tracking_servers import (  # noqa: E402
    Server,
    create_pg_database,
    drop_pg_database,
    start_bare_writer,
    start_maestro,
    start_stub,
)


def log_metric_rate(server: Server, calls: int) -> float:
    """Sequential log_metric/s on a fresh experiment and run."""
    client = client_for(server)
    experiment_id = client.create_experiment(f"ceiling-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(experiment_id).info.run_id
    return bench_log_metric(client, run_id, dataclasses.replace(FULL, sequential=calls))


def bench_backend(backend: str, rounds: int, calls: int, scratch: Path) -> None:
    database_url = name = None
    if backend == "postgres":
        database_url, name = create_pg_database("ceiling")
    servers: dict[str, Server] = {}
    try:
        servers["stub"] = start_stub(scratch / f"{backend}-stub", None, 0)
        servers["bare"] = start_bare_writer(scratch / f"{backend}-bare", database_url)
        servers["maestro"] = start_maestro(scratch / f"{backend}-maestro", database_url, 0)
        rates: dict[str, list[float]] = {"stub": [], "bare": [], "maestro": []}
        ratios: dict[str, list[float]] = {"bare/stub": [], "maestro/stub": [],
                                          "maestro/bare": []}
        before = log_metric_rate(servers["stub"], calls)
        for _ in range(rounds):
            bare = log_metric_rate(servers["bare"], calls)
            ours = log_metric_rate(servers["maestro"], calls)
            after = log_metric_rate(servers["stub"], calls)
            floor = (before + after) / 2
            rates["stub"].append(floor)
            rates["bare"].append(bare)
            rates["maestro"].append(ours)
            ratios["bare/stub"].append(bare / floor)
            ratios["maestro/stub"].append(ours / floor)
            ratios["maestro/bare"].append(ours / bare)
            before = after
    finally:
        for server in servers.values():
            server.stop()
        if name:
            drop_pg_database(name)
    print(f"\n== backend: {backend} ==  ({rounds} rounds of {calls} sequential log_metric)")
    print("  ".join(f"{system} {statistics.median(values):.1f}/s"
                    for system, values in rates.items()))
    for label, values in ratios.items():
        print(f"{label:<13}{statistics.median(values):>6.0%}   by round: "
              + " ".join(f"{value:.0%}" for value in values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="postgres")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    if args.rounds < 1 or args.calls < 1:
        parser.error("--rounds and --calls must be at least 1")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="maestro-ceiling-") as scratch:
        for backend in backends:
            bench_backend(backend, args.rounds, args.calls, Path(scratch))


if __name__ == "__main__":
    main()
