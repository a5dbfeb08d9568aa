"""The SDK rebuilds the server's problem+json documents into the domain's error classes."""

from __future__ import annotations

import httpx
import pytest

from maestro_ml.domain import errors as domain
from maestro_ml.sdk.errors import error_from_problem, error_from_response, parse_retry_after


def problem_response(status: int, code: str, detail: str, **extra: object) -> httpx.Response:
    body = {"type": f"https://maestro-ml.dev/problems/{code}", "title": "t", "status": status,
            "detail": detail, "code": code, **extra}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


@pytest.mark.parametrize("cls", domain.all_error_classes()[1:])
def test_every_domain_error_round_trips_through_its_code(cls: type[domain.MaestroError]) -> None:
    error = error_from_response(problem_response(418, cls.code, "what went wrong"))

    assert type(error) is cls
    assert error.detail == "what went wrong"
    assert error.status == 418
    assert error.problem["code"] == cls.code


def test_rebuilt_error_keeps_status_problem_body_and_extra_fields() -> None:
    errors = [{"field": "features.tenure", "message": "expected a number"}]
    error = error_from_response(
        problem_response(422, "invalid_input", "features.tenure: expected a number", errors=errors)
    )

    assert isinstance(error, domain.InvalidInput)
    assert error.status == 422
    assert error.extra["errors"] == errors
    assert error.problem["detail"] == "features.tenure: expected a number"
    assert str(error) == "features.tenure: expected a number"


def test_subclass_codes_are_still_caught_by_their_parent_class() -> None:
    error = error_from_response(problem_response(422, "training_error", "target has one class"))

    assert isinstance(error, domain.TrainingError)
    assert isinstance(error, domain.InvalidInput)


def test_rate_limited_carries_the_retry_after_header() -> None:
    response = problem_response(429, "rate_limited", "slow down")
    response.headers["Retry-After"] = "7"

    error = error_from_response(response)

    assert isinstance(error, domain.RateLimited)
    assert error.retry_after == 7.0


def test_unknown_code_falls_back_to_the_class_of_the_status() -> None:
    not_allowed = error_from_problem(404, {"code": "route_gone", "detail": "no route"})
    internal = error_from_problem(500, {"code": "internal_error", "detail": "boom"})

    assert type(not_allowed) is domain.NotFound
    assert type(internal) is domain.MaestroError
    assert internal.status == 500


def test_non_json_error_bodies_become_errors_with_the_text_as_detail() -> None:
    response = httpx.Response(502, text="<html>Bad Gateway</html>")

    error = error_from_response(response)

    assert isinstance(error, domain.Unavailable)
    assert error.status == 502
    assert "Bad Gateway" in error.detail


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
