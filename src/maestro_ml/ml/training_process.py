"""The training subprocess: ``python -m maestro_ml.ml.training_process``.

The job worker writes one JSON object on stdin::

    {"spec": {...TrainingSpec fields...}, "dataset_path": "...", "output_dir": "..."}

and reads JSON lines from stdout: progress and log events as they happen, then either
``{"type": "result", "result": {...}}`` (exit 0) or ``{"type": "error", "code", "message"}``
(exit 2 for the user's mistakes, 1 for anything unexpected). stdout carries nothing else:
file descriptor 1 is pointed at stderr before training, so prints from Python or from the
native code of xgboost/lightgbm end up in stderr.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, TextIO

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.ml.training import TrainingSpec, train_model

USER_ERROR_EXIT = 2
INTERNAL_ERROR_EXIT = 1
_REQUEST_FIELDS = ("spec", "dataset_path", "output_dir")


def main() -> int:
    """Run one training request from stdin; return the process exit code."""
    events = _take_over_stdout()

    def emit(event: dict[str, Any]) -> None:
        events.write(json.dumps(event) + "\n")
        events.flush()

    try:
        request = _read_request(sys.stdin.read())
        spec = TrainingSpec.from_dict(request["spec"])
        result = train_model(spec, request["dataset_path"], request["output_dir"], emit)
    except InvalidInput as exc:
        emit({"type": "error", "code": exc.code, "message": exc.detail})
        return USER_ERROR_EXIT
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        emit({"type": "error", "code": "internal", "message": f"{type(exc).__name__}: {exc}"})
        return INTERNAL_ERROR_EXIT
    emit({"type": "result", "result": result.to_dict()})
    return 0


def _take_over_stdout() -> TextIO:
    """A private stream to the real stdout; fd 1 and ``sys.stdout`` now go to stderr."""
    sys.stdout.flush()
    events_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(events_fd, "w", encoding="utf-8")


def _read_request(text: str) -> dict[str, Any]:
    try:
        request = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"the training request is not valid JSON: {exc}") from exc
    if not isinstance(request, dict):
        raise InvalidInput("the training request must be a JSON object")
    missing = [name for name in _REQUEST_FIELDS if name not in request]
    unknown = sorted(set(request) - set(_REQUEST_FIELDS))
    if missing or unknown:
        raise InvalidInput(
            f"the training request needs exactly: {', '.join(_REQUEST_FIELDS)}"
            f" (missing: {', '.join(missing) or 'none'}; unknown: {', '.join(unknown) or 'none'})"
        )
    for name in ("dataset_path", "output_dir"):
        if not isinstance(request[name], str) or not request[name]:
            raise InvalidInput(f"{name} must be a non-empty string")
    return request


if __name__ == "__main__":
    sys.exit(main())
