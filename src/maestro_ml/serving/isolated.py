"""Pickle-based models served from an isolated child process; the API process never unpickles.

:class:`IsolatedModel` looks like ``ml.model_io.LoadedModel`` to the model cache and the
prediction service, but its model lives in a long-lived child running
``python -m maestro_ml.ml.pickle_runtime MODEL_DIR`` (one child per model version, so per
tenant and version; requests to it are serialised by a lock). The child gets a minimal
environment — no ``MAESTRO_*`` settings, secrets or database URL — runs in its own session
and process group with a scratch directory as home and cwd, and speaks JSON lines over its
stdin/stdout (see ``pickle_runtime``).

A child that dies is started again on the next request; the request it died in fails with
503 (retryable). When the model cache evicts the model and the last request using it is
done, the finaliser kills the child's process group; so does :meth:`IsolatedModel.close`.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any

from maestro_ml.domain.errors import InvalidInput, Unavailable
from maestro_ml.ml.model_io import PredictionOutput

log = logging.getLogger("maestro_ml.serving.isolated")

RUNTIME_MODULE = "maestro_ml.ml.pickle_runtime"
# Only what Python needs to start; notably nothing named MAESTRO_*, no DATABASE_URL, no tokens.
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ")
_STDERR_LINES = 50
_DIED = object()
_TIMED_OUT = object()


def child_environment(scratch: Path) -> dict[str, str]:
    env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
    env.setdefault("PATH", os.defpath)
    # Where this package is imported from, so the child finds the runtime however the
    # parent was started (installed, editable, or PYTHONPATH=src in development).
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env.update(
        HOME=str(scratch), TMPDIR=str(scratch), PYTHONNOUSERSITE="1",
        PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
    )
    return env


class _Child:
    """One running worker: the process, a reader thread per pipe, its scratch directory."""

    def __init__(self, model_dir: Path, python: str) -> None:
        self.scratch = Path(tempfile.mkdtemp(prefix="maestro-model-worker-"))
        # The command is fixed: this interpreter, our runtime module, a directory we wrote.
        self.process = subprocess.Popen(  # noqa: S603
            [python, "-m", RUNTIME_MODULE, str(model_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=child_environment(self.scratch), cwd=self.scratch, close_fds=True,
            start_new_session=True, text=True, encoding="utf-8",
        )
        self.replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.replies.put(json.loads(line))
            except ValueError:
                self.stderr.append(f"(bad protocol line) {line[:200]}")
        self.replies.put(None)  # EOF: the child is gone

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line.rstrip()[:500])

    def call(self, message: dict[str, Any], timeout: float) -> Any:
        """Send one request; its reply, or ``_DIED`` / ``_TIMED_OUT``."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message, default=str) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return _DIED
        return self.wait(timeout)

    def wait(self, timeout: float) -> Any:
        try:
            reply = self.replies.get(timeout=timeout)
        except queue.Empty:
            return _TIMED_OUT
        return _DIED if reply is None else reply

    def alive(self) -> bool:
        return self.process.poll() is None

    def last_error(self) -> str:
        return " | ".join(list(self.stderr)[-5:])


def _kill(process: subprocess.Popen[str], scratch: Path) -> None:
    """Kill the child's whole process group (it may have forked) and remove its scratch."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("model worker %s did not exit after SIGKILL", process.pid)
    for stream in (process.stdin, process.stdout, process.stderr):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass
    shutil.rmtree(scratch, ignore_errors=True)


class IsolatedModel:
    """A pickle-based model version served by a child process; LoadedModel's interface."""

    def __init__(
        self, model_dir: Path, metadata: dict[str, Any], *, python: str | None = None,
        start_timeout: float = 60.0, request_timeout: float = 60.0,
    ) -> None:
        self.metadata = metadata
        self.format: str = metadata["format"]
        self.task: str = metadata["task"]
        self.feature_names: list[str] = list(metadata.get("feature_names") or [])
        self.categorical_features: list[str] = []
        self.classes: list[Any] | None = None
        size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
        # The child's interpreter and libraries cost far more than the model file itself.
        self.approx_bytes = 2 * size + 100 * 1024**2
        self._dir = model_dir
        self._python = python or sys.executable
        self._start_timeout = start_timeout
        self._request_timeout = request_timeout
        self._lock = threading.Lock()
        self._sequence = 0
        self._child: _Child | None = None
        self._finalizer: weakref.finalize | None = None
        with self._lock:
            self._start()

    @property
    def pid(self) -> int | None:
        """The child's process id (for tests and diagnostics)."""
        child = self._child
        return child.process.pid if child is not None and child.alive() else None

    def predict(self, rows: list[dict[str, Any]]) -> PredictionOutput:
        with self._lock:
            reply = self._call(rows)
            if reply is _DIED:
                # A worker killed between requests (OOM killer, an operator) is replaced and
                # the request tried once more; one that dies again on it is the request's fault.
                log.warning("model worker for %s died; starting a new one", self._dir)
                reply = self._call(rows)
            if not isinstance(reply, dict):
                detail = self._child.last_error() if self._child is not None else ""
                self._stop()
                what = "timed out" if reply is _TIMED_OUT else "crashed"
                raise Unavailable(
                    f"the isolated model worker {what} while predicting; it is restarted on "
                    f"the next request{f' ({detail})' if detail else ''}"
                )
        if "error" in reply:
            raise InvalidInput(f"the model could not predict these rows: {reply['error']}")
        return PredictionOutput(
            reply["predictions"], reply.get("probabilities"), reply.get("classes")
        )

    def _call(self, rows: list[dict[str, Any]]) -> dict[str, Any] | object:
        if self._child is None or not self._child.alive():
            self._stop()
            self._start()
        assert self._child is not None
        self._sequence += 1
        reply = self._child.call({"id": self._sequence, "rows": rows}, self._request_timeout)
        if reply is _TIMED_OUT:
            return reply
        if reply is _DIED or reply.get("id") != self._sequence:
            # Gone, or out of step with the protocol: either way this worker is done.
            self._stop()
            return _DIED
        return reply

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _start(self) -> None:
        child = _Child(self._dir, self._python)
        # Registered before waiting: a child that hangs while loading is still killed.
        self._set_child(child)
        ready = child.wait(self._start_timeout)
        if not isinstance(ready, dict) or ready.get("type") != "ready":
            message = ready.get("message") if isinstance(ready, dict) else None
            message = message or child.last_error() or "no reply"
            if ready is _TIMED_OUT:
                message = f"it did not load within {self._start_timeout:g} seconds"
            self._stop()
            raise InvalidInput(f"the model could not be loaded in the isolated worker: {message}")
        self.classes = ready.get("classes")

    def _set_child(self, child: _Child) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
        self._child = child
        self._finalizer = weakref.finalize(self, _kill, child.process, child.scratch)

    def _stop(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # kills once; later calls are no-ops
            self._finalizer = None
        self._child = None
