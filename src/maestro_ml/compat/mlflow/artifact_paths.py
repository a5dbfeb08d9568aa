"""Where an ``mlflow-artifacts:/<path>`` lives in the caller's tenant artifact store.

MLflow clients upload and download through the artifact proxy with paths of the URIs the
server handed out: an experiment's ``artifact_location`` ``mlflow-artifacts:/<experiment>``,
a run's ``artifact_uri`` ``mlflow-artifacts:/<experiment>/<run>/artifacts`` and a logged
model's ``mlflow-artifacts:/<experiment>/models/<model>/artifacts``. :func:`resolve` is the
one mapping of such a path onto a tenant-relative store key:

- ``<experiment>/<run>/artifacts/<file>`` -> ``runs/<run>/artifacts/<file>``, the key the
  native API uses, so files logged through MLflow are the run's artifacts everywhere;
- ``<experiment>/models/<model>/artifacts/<file>`` -> ``mlflow/models/<model>/artifacts/<file>``;
- the bare prefixes of those (``<experiment>``, ``<experiment>/<run>``, ...) are
  directories for listing; any other path names nothing (``NotFound``).

Every path is canonical (``domain.paths.canonical_key``): traversal is refused with
``InvalidPath`` (400) and the store adds the tenant prefix, so no path leaves the tenant.

>>> resolve("0a1b/9f8e/artifacts/plots/roc.png").key
'runs/9f8e/artifacts/plots/roc.png'
>>> resolve("0a1b/models/m-1/artifacts/MLmodel").key
'mlflow/models/m-1/artifacts/MLmodel'
"""

from __future__ import annotations

from dataclasses import dataclass

from maestro_ml.domain.errors import NotFound
from maestro_ml.domain.paths import canonical_key

SCHEME = "mlflow-artifacts:"


@dataclass(frozen=True, slots=True)
class ArtifactLocation:
    """A resolved proxy path: its store key, and the run and in-run path when it is a run's."""

    key: str
    run_id: str | None = None
    run_path: str = ""
    model_id: str | None = None


def experiment_artifact_location(experiment_id: str) -> str:
    return f"{SCHEME}/{experiment_id}"


def run_artifact_uri(experiment_id: str, run_id: str) -> str:
    return f"{SCHEME}/{experiment_id}/{run_id}/artifacts"


def logged_model_artifact_uri(experiment_id: str, model_id: str) -> str:
    return f"{SCHEME}/{experiment_id}/models/{model_id}/artifacts"


def strip_scheme(uri: str) -> str:
    """``mlflow-artifacts:/a/b`` (or ``mlflow-artifacts://host/a/b``) -> ``a/b``."""
    rest = uri.removeprefix(SCHEME)
    if rest.startswith("//"):
        rest = rest[2:].partition("/")[2]
    return rest.lstrip("/")


def resolve(path: str) -> ArtifactLocation:
    """The location of a proxy ``path`` (the part after ``mlflow-artifacts:/``)."""
    key = canonical_key(path.strip("/")) if path.strip("/") else ""
    parts = key.split("/") if key else []
    if len(parts) >= 3 and parts[2] == "artifacts" and parts[1] != "models":
        run_id, run_path = parts[1], "/".join(parts[3:])
        store_key = f"runs/{run_id}/artifacts" + (f"/{run_path}" if run_path else "")
        return ArtifactLocation(store_key, run_id=run_id, run_path=run_path)
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        return ArtifactLocation(f"mlflow/{key.split('/', 1)[1]}", model_id=parts[2])
    raise NotFound(
        f"no artifact at '{key[:200]}': artifact paths look like "
        "<experiment>/<run>/artifacts/<file> or <experiment>/models/<model>/artifacts/<file>",
        kind="artifact",
    )
