"""Running ``python -m maestro_ml.ml.training_process`` for a job, and nothing else.

The child gets the request on stdin and answers JSON lines on stdout (progress, log, then
result or error); its stderr is library chatter and tracebacks. Both are read by threads so
neither pipe can fill up and stall the child, while this thread watches the job context and
kills the child's whole process group the moment the job is cancelled, taken over, shut
down or out of time. Exit 2 is the user's mistake (permanent); any other failure is a crash
worth retrying.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import IO, Any

from maestro_ml.domain.errors import ERRORS_BY_CODE, RetryableError, TrainingError

from .context import JobContext, JobInterrupted

TRAINING_MODULE = "maestro_ml.ml.training_process"
USER_ERROR_EXIT = 2  # maestro_ml.ml.training_process.USER_ERROR_EXIT, without importing sklearn
MAX_STDERR_LOG_LINES = 200
STDERR_TAIL_LINES = 15
_POLL_SECONDS = 0.2


def run_training_process(
    spec: dict[str, Any], dataset_path: Path, output_dir: Path, ctx: JobContext
) -> dict[str, Any]:
    """Train in a child process; return its result dict or raise.

    Raises ``JobInterrupted`` when the context says stop, ``TrainingError`` (or the domain
    error the child named) for exit 2, ``RetryableError`` for a crash.
    """
    request = {"spec": spec, "dataset_path": str(dataset_path), "output_dir": str(output_dir)}
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
        [sys.executable, "-m", TRAINING_MODULE],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, encoding="utf-8", errors="replace",
        start_new_session=True,  # its own process group, so a kill takes its helpers too
    )
    try:
        lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        readers = [_read_lines(child.stdout, "out", lines), _read_lines(child.stderr, "err", lines)]
        _send_request(child, request)
        events = _Events(ctx)
        open_streams = len(readers)
        while open_streams:
            _stop_if_asked(child, ctx)
            try:
                stream, line = lines.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if line is None:
                open_streams -= 1
            elif stream == "out":
                events.handle_stdout(line)
            else:
                events.handle_stderr(line)
        while child.poll() is None:
            _stop_if_asked(child, ctx)
            ctx.wait(0.05)
        return events.outcome(child.returncode)
    finally:
        if child.poll() is None:
            _kill(child)


class _Events:
    """Turns the child's lines into progress and logs, and its end into a result or error."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._stderr_logged = 0
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.result: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None

    def handle_stdout(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            self._ctx.log(line.rstrip()[:2000], "debug")
            return
        kind = event.get("type")
        if kind == "progress":
            self._ctx.progress(_fraction(event.get("progress")), str(event.get("message") or ""))
        elif kind == "log":
            self._ctx.log(str(event.get("message", "")), str(event.get("level") or "info"))
        elif kind == "result" and isinstance(event.get("result"), dict):
            self.result = event["result"]
        elif kind == "error":
            self.error = event

    def handle_stderr(self, line: str) -> None:
        text = line.rstrip()
        if not text:
            return
        self._stderr_tail.append(text)
        self._stderr_logged += 1
        if self._stderr_logged <= MAX_STDERR_LOG_LINES:
            self._ctx.log(text[:2000], "debug")
        elif self._stderr_logged == MAX_STDERR_LOG_LINES + 1:
            self._ctx.log("(further output of the training process is not logged)", "debug")

    def outcome(self, returncode: int) -> dict[str, Any]:
        message = str(self.error.get("message")) if self.error else ""
        if returncode == 0 and self.result is not None:
            return self.result
        if returncode == USER_ERROR_EXIT and self.error is not None:
            error_class = ERRORS_BY_CODE.get(str(self.error.get("code")), TrainingError)
            raise error_class(message or "training failed")
        if returncode < 0:
            cause = f"was killed by signal {-returncode}" + (
                " (out of memory?)" if -returncode == signal.SIGKILL else ""
            )
        else:
            cause = f"crashed (exit code {returncode})"
        detail = message or "\n".join(self._stderr_tail) or "no output"
        raise RetryableError(f"the training process {cause}: {detail}")


def _read_lines(
    stream: IO[str] | None, name: str, sink: queue.Queue[tuple[str, str | None]]
) -> threading.Thread:
    def pump() -> None:
        assert stream is not None
        with stream:
            for line in stream:
                sink.put((name, line))
        sink.put((name, None))

    thread = threading.Thread(target=pump, name=f"training-{name}", daemon=True)
    thread.start()
    return thread


def _send_request(child: subprocess.Popen[str], request: dict[str, Any]) -> None:
    assert child.stdin is not None
    try:
        with child.stdin:
            child.stdin.write(json.dumps(request))
    except BrokenPipeError:
        pass  # the child died at start-up; its exit code and stderr tell why


def _stop_if_asked(child: subprocess.Popen[str], ctx: JobContext) -> None:
    reason = ctx.stop_reason
    if reason is not None:
        _kill(child)
        raise JobInterrupted(reason)


def _kill(child: subprocess.Popen[str]) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        child.kill()
    child.wait()


def _fraction(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
