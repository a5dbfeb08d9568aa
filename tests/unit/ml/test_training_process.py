"""The training subprocess speaks JSON lines on stdout and signals failures by exit code."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(request: dict) -> tuple[int, list[dict]]:
    completed = subprocess.run(
        [sys.executable, "-m", "maestro_ml.ml.training_process"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Every stdout line must be an event: anything else would break the worker's reader.
    return completed.returncode, [json.loads(line) for line in completed.stdout.splitlines()]


def test_subprocess_streams_progress_then_the_result(tmp_path, breast_cancer_csv):
    request = {
        "spec": {
            "target": "diagnosis",
            "estimator": "lightgbm",
            "hyperparameters": {"n_estimators": 10},
        },
        "dataset_path": str(breast_cancer_csv),
        "output_dir": str(tmp_path / "model"),
    }

    code, events = _run(request)

    assert code == 0
    assert any(event["type"] == "progress" for event in events)
    assert events[-1]["type"] == "result"
    result = events[-1]["result"]
    assert result["estimator"] == "LGBMClassifier"
    assert result["metrics"]["accuracy"] > 0.9
    assert sorted(result["files"]) == sorted(p.name for p in (tmp_path / "model").iterdir())


def test_subprocess_exits_2_with_an_error_event_for_a_missing_target(tmp_path, churn_csv):
    request = {
        "spec": {"target": "nope", "estimator": "RandomForestClassifier"},
        "dataset_path": str(churn_csv),
        "output_dir": str(tmp_path / "model"),
    }

    code, events = _run(request)

    assert code == 2
    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == "training_error"
    assert "'nope'" in events[-1]["message"]


def test_subprocess_exits_1_naming_the_exception_for_an_unexpected_failure(tmp_path):
    request = {
        "spec": {"target": "y", "estimator": "Ridge"},
        "dataset_path": str(tmp_path / "vanished.csv"),
        "output_dir": str(tmp_path / "model"),
    }

    code, events = _run(request)

    assert code == 1
    assert events[-1]["type"] == "error"
    assert events[-1]["message"].startswith("FileNotFoundError")


def test_subprocess_exits_2_for_a_malformed_request():
    completed = subprocess.run(
        [sys.executable, "-m", "maestro_ml.ml.training_process"],
        input="{not json",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 2
    assert json.loads(completed.stdout)["code"] == "invalid_input"
