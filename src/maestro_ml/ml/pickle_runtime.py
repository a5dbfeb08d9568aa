"""The isolated worker that unpickles a model and predicts with it: ``python -m
maestro_ml.ml.pickle_runtime MODEL_DIR``.

This is the only place in Maestro that unpickles, and it runs only as a child of
``serving.isolated`` (minimal environment, own process group, no database or secrets).
``MODEL_DIR`` holds ``maestro-model.json`` (format ``pickle`` or ``mlflow-pyfunc``,
``model_file``, ``serialization``, ``task``, ``feature_names``).

Protocol: JSON lines. After loading, one line ``{"type": "ready", "classes": [...] | null}``
or ``{"type": "error", "message": ...}`` (then exit 2). Then, for each request line
``{"id": n, "rows": [{feature: value}, ...]}``, one reply ``{"id": n, "predictions": [...],
"probabilities": [[...]] | null, "classes": [...] | null}`` or ``{"id": n, "error": msg}``.
EOF on stdin ends the process.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO, Any

METADATA_FILE = "maestro-model.json"


def main(argv: list[str]) -> int:
    # The protocol gets a private copy of stdout; fd 1 then points at stderr, so whatever the
    # unpickled code prints cannot corrupt the replies.
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if len(argv) != 1:
        _send(protocol, {"type": "error", "message": "usage: pickle_runtime MODEL_DIR"})
        return 2
    try:
        model, metadata = _load(Path(argv[0]))
    except Exception as exc:  # whatever the file does while loading is the user's error
        _send(protocol, {"type": "error", "message": f"{type(exc).__name__}: {exc}"})
        return 2
    from maestro_ml.ml.json_values import to_json_value

    classes = getattr(model, "classes_", None)
    classes = to_json_value(list(classes)) if classes is not None else None
    _send(protocol, {"type": "ready", "classes": classes})
    features = list(metadata.get("feature_names") or [])
    task = metadata.get("task")
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            reply = _predict(model, features, task, classes, request["rows"])
        except Exception as exc:  # the model's own errors are the request's errors
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        _send(protocol, {"id": request.get("id"), **to_json_value(reply)})
    return 0


def _load(directory: Path) -> tuple[Any, dict[str, Any]]:
    metadata = json.loads((directory / METADATA_FILE).read_text())
    path = (directory / metadata["model_file"]).resolve()
    if not path.is_relative_to(directory.resolve()):
        raise ValueError("model_file points outside the model directory")
    if metadata.get("serialization") == "cloudpickle":
        import cloudpickle

        with path.open("rb") as handle:
            model = cloudpickle.load(handle)
    else:
        import joblib

        # joblib reads its own containers and plain pickles alike.
        model = joblib.load(path)
    if not callable(getattr(model, "predict", None)):
        raise TypeError(f"the unpickled object ({type(model).__name__}) has no predict method")
    return model, metadata


def _predict(
    model: Any, features: list[str], task: str | None, classes: list[Any] | None,
    rows: list[dict[str, Any]],
) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame([[row.get(name) for name in features] for row in rows], columns=features)
    # Models fitted on bare arrays get arrays; those that know their columns get the frame.
    inputs: Any = frame if hasattr(model, "feature_names_in_") else frame.to_numpy()
    if len(rows) == 0:
        return {"predictions": [], "probabilities": None, "classes": classes}
    if task == "classification" and hasattr(model, "predict_proba"):
        probabilities = np.asarray(model.predict_proba(inputs), dtype=np.float64)
        if classes:
            labels = [classes[index] for index in probabilities.argmax(axis=1)]
        else:
            labels = list(model.predict(inputs))
        return {"predictions": labels, "probabilities": probabilities, "classes": classes}
    return {"predictions": list(np.asarray(model.predict(inputs)).tolist()),
            "probabilities": None, "classes": classes if task == "classification" else None}


def _send(stream: IO[str], message: dict[str, Any]) -> None:
    stream.write(json.dumps(message, allow_nan=False, default=str) + "\n")
    stream.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
