"""``client.runs``: read and search runs, log params/metrics/tags, upload artifacts."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import InvalidInput, client_error
from ..models import Artifact, MetricPoint, Run
from .base import Resource, present, segment

# The server's per-call limits of POST /runs/{id}/batch.
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_TAGS_PER_BATCH = 100
CHUNK_BYTES = 1024 * 1024


def now_ms() -> int:
    return int(time.time() * 1000)


class Runs(Resource):
    """``client.runs``: read/search runs, log to them, move their artifacts."""

    # -- reading ----------------------------------------------------------------------
    def get(self, run_id: str) -> Run:
        """One run with its params, latest metrics and tags.

        >>> client.runs.get(run_id).metrics["accuracy"]
        """
        return self._one(Run, self._transport.json("GET", f"/api/v1/runs/{segment(run_id)}"))

    def list(
        self,
        experiment_id: str | None = None,
        filter: str | None = None,
        order_by: str | None = None,
        max_results: int | None = None,
        view: str | None = None,
    ) -> Iterator[Run]:
        """Runs (of one experiment), filtered and ordered, fetched page by page as you iterate.

        ``view`` is ``active`` (default), ``deleted`` or ``all``.

        >>> for run in client.runs.list(exp.id, filter="metrics.accuracy > 0.9",
        ...                             order_by="metrics.accuracy DESC"):
        ...     print(run.id, run.metrics["accuracy"])
        """
        params = {"experiment_id": experiment_id, "filter": filter, "order_by": order_by,
                  "view": view}
        return self._each(Run, "/api/v1/runs", params, max_results=max_results)

    def search(
        self,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        experiment_ids: Sequence[str] | None = None,
        max_results: int | None = None,
        view: str | None = None,
    ) -> Iterator[Run]:
        """Search runs across experiments with the MLflow filter language, lazily.

        >>> best = next(client.runs.search("params.estimator = 'RandomForestClassifier'",
        ...                                order_by=["metrics.accuracy DESC"]))
        """
        if isinstance(order_by, str):
            order_by = [order_by]
        body = {"experiment_ids": list(experiment_ids or []), "filter": filter,
                "order_by": list(order_by) if order_by else None, "view": view}
        return self._each(Run, "/api/v1/runs/search", body=body, max_results=max_results)

    def metric_history(self, run_id: str, key: str) -> Iterator[MetricPoint]:
        """Every logged value of one metric, lazily.

        >>> [p.value for p in client.runs.metric_history(run.id, "loss")]
        """
        path = f"/api/v1/runs/{segment(run_id)}/metrics/{segment(key)}/history"
        return self._each(MetricPoint, path)

    # -- lifecycle --------------------------------------------------------------------
    def create(
        self,
        experiment_id: str,
        name: str | None = None,
        parent_run_id: str | None = None,
        dataset_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        start_time: int | None = None,
    ) -> Run:
        """Start a run in an experiment (``maestro_ml.start_run`` is the friendlier way).

        >>> run = client.runs.create(exp.id, name="baseline")
        """
        body = present({
            "experiment_id": experiment_id, "name": name, "parent_run_id": parent_run_id,
            "dataset_id": dataset_id, "tags": dict(tags) if tags else None,
            "start_time": start_time if start_time is not None else now_ms(),
        })
        return self._one(Run, self._transport.json("POST", "/api/v1/runs", json=body))

    def update(
        self, run_id: str, *, status: str | None = None, end_time: int | None = None,
        name: str | None = None,
    ) -> Run:
        """Change a run's status, end time or name.

        >>> client.runs.update(run.id, name="baseline-2")
        """
        body = present({"status": status, "end_time": end_time, "name": name})
        data = self._transport.json("PATCH", f"/api/v1/runs/{segment(run_id)}", json=body)
        return self._one(Run, data)

    def end(self, run_id: str, status: str = "FINISHED") -> Run:
        """Mark a run ended now with ``status`` (FINISHED, FAILED or KILLED).

        >>> client.runs.end(run.id, "FAILED").status
        'FAILED'
        """
        return self.update(run_id, status=status, end_time=now_ms())

    def delete(self, run_id: str) -> None:
        """Soft-delete a run (``restore`` brings it back).

        >>> client.runs.delete(run.id)
        """
        self._transport.request("DELETE", f"/api/v1/runs/{segment(run_id)}")

    def restore(self, run_id: str) -> Run:
        """Undo a delete.

        >>> client.runs.restore(run.id).lifecycle_stage
        """
        data = self._transport.json("POST", f"/api/v1/runs/{segment(run_id)}/restore")
        return self._one(Run, data)

    # -- logging ----------------------------------------------------------------------
    def log_param(self, run_id: str, key: str, value: Any) -> None:
        """Record one parameter (stored as text; params are write-once).

        >>> client.runs.log_param(run.id, "max_depth", 10)
        """
        body = {"key": key, "value": _text(value)}
        self._transport.request("POST", f"/api/v1/runs/{segment(run_id)}/params", json=body)

    def log_metric(
        self, run_id: str, key: str, value: float, step: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Record one metric value at ``step`` (0 when omitted).

        >>> client.runs.log_metric(run.id, "loss", 0.31, step=3)
        """
        body = {"key": key, "value": float(value), "step": step or 0,
                "timestamp": timestamp if timestamp is not None else now_ms()}
        self._transport.request("POST", f"/api/v1/runs/{segment(run_id)}/metrics", json=body)

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        """Set (or overwrite) one tag.

        >>> client.runs.set_tag(run.id, "team", "growth")
        """
        body = {"key": key, "value": _text(value)}
        self._transport.request("POST", f"/api/v1/runs/{segment(run_id)}/tags", json=body)

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove one tag.

        >>> client.runs.delete_tag(run.id, "team")
        """
        self._transport.request("DELETE", f"/api/v1/runs/{segment(run_id)}/tags/{segment(key)}")

    def log_batch(
        self,
        run_id: str,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, Any] | None = None,
        step: int | None = None,
    ) -> None:
        """Log many params, metrics and tags, split into as many calls as the server's limits need.

        >>> client.runs.log_batch(run.id, params={"lr": 0.1}, metrics={"loss": 0.2})
        """
        stamp = now_ms()
        param_rows = [{"key": k, "value": _text(v)} for k, v in (params or {}).items()]
        metric_rows = [{"key": k, "value": float(v), "step": step or 0, "timestamp": stamp}
                       for k, v in (metrics or {}).items()]
        tag_rows = [{"key": k, "value": _text(v)} for k, v in (tags or {}).items()]
        path = f"/api/v1/runs/{segment(run_id)}/batch"
        while param_rows or metric_rows or tag_rows:
            body = {"params": param_rows[:MAX_PARAMS_PER_BATCH],
                    "metrics": metric_rows[:MAX_METRICS_PER_BATCH],
                    "tags": tag_rows[:MAX_TAGS_PER_BATCH]}
            self._transport.request("POST", path, json=body)
            param_rows = param_rows[MAX_PARAMS_PER_BATCH:]
            metric_rows = metric_rows[MAX_METRICS_PER_BATCH:]
            tag_rows = tag_rows[MAX_TAGS_PER_BATCH:]

    # -- artifacts --------------------------------------------------------------------
    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> list[Artifact]:
        """Upload a file (or every file under a directory), streamed, under ``artifact_path``.

        >>> client.runs.log_artifact(run.id, "plots/roc.png", "figures")
        [Artifact(path='figures/roc.png', ...)]
        """
        local = Path(local_path)
        if local.is_file():
            files = [(local, local.name)]
        elif local.is_dir():
            files = [(p, p.relative_to(local).as_posix())
                     for p in sorted(local.rglob("*")) if p.is_file()]
        else:
            raise client_error(InvalidInput, f"artifact '{local}' does not exist")
        folder = (artifact_path or "").strip("/")
        prefix = f"{folder}/" if folder else ""
        return [self._put_file(run_id, path, prefix + name) for path, name in files]

    def _put_file(self, run_id: str, path: Path, key: str) -> Artifact:
        url = f"/api/v1/runs/{segment(run_id)}/artifacts/{quote(key, safe='/')}"
        headers = {"Content-Length": str(path.stat().st_size),
                   "Content-Type": "application/octet-stream"}
        data = self._transport.json("PUT", url, content=lambda: _chunks(path), headers=headers)
        return self._one(Artifact, data)

    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[Artifact]:
        """The run's artifacts (optionally under ``prefix``), every page.

        >>> [a.path for a in client.runs.list_artifacts(run.id)]
        """
        path = f"/api/v1/runs/{segment(run_id)}/artifacts"
        return list(self._each(Artifact, path, {"prefix": prefix}, page_size=1000))

    def download_artifact(self, run_id: str, path: str, destination: str | Path) -> Path:
        """Stream one artifact to ``destination`` (a file path, or a directory to put it in).

        >>> client.runs.download_artifact(run.id, "figures/roc.png", "/tmp")
        """
        target = Path(destination)
        if target.is_dir():
            target = target / Path(path).name
        url = f"/api/v1/runs/{segment(run_id)}/artifacts/{quote(path.strip('/'), safe='/')}"
        with self._transport.stream("GET", url) as response, open(target, "wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
        return target


def _chunks(path: Path) -> Iterable[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
