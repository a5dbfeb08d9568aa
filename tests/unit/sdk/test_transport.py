"""Retries, backoff, Retry-After and token refresh of the SDK transport (httpx.MockTransport
stands in for the network; the logic under test is the client's own)."""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx
import pytest

from maestro_ml.domain import errors as domain
from maestro_ml.sdk.credentials import ApiKeyCredentials, PasswordCredentials
from maestro_ml.sdk.transport import RetryPolicy, Transport

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Answers requests from a script and records what was sent and slept."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def transport(self, credentials=None, retry: RetryPolicy | None = None) -> Transport:  # type: ignore[no-untyped-def]
        return Transport(
            "http://maestro.test", credentials or ApiKeyCredentials("mk_test"),
            retry=retry or RetryPolicy(max_retries=3), http_transport=httpx.MockTransport(self),
            sleep=self.sleeps.append, rng=random.Random(7),
        )


def problem(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"type": "x", "title": "t", "status": status, "detail": code, "code": code}
    return httpx.Response(status, json=body, headers=headers)


def test_429_is_retried_after_the_seconds_retry_after_asks_for() -> None:
    recorder = Recorder(
        problem(429, "rate_limited", {"Retry-After": "2"}), httpx.Response(200, json={"ok": 1})
    )

    body = recorder.transport().json("POST", "/api/v1/runs", json={"experiment_id": "e"})

    assert body == {"ok": 1}
    assert len(recorder.requests) == 2
    assert len(recorder.sleeps) == 1
    assert 2.0 <= recorder.sleeps[0] <= 3.0
    assert recorder.requests[1].read() == recorder.requests[0].read()


def test_503_without_retry_after_backs_off_exponentially_with_jitter() -> None:
    recorder = Recorder(
        problem(503, "unavailable"), problem(503, "unavailable"), problem(503, "unavailable"),
        httpx.Response(200, json={}),
    )
    policy = RetryPolicy(max_retries=3, backoff_base=1.0, backoff_max=30.0)

    recorder.transport(retry=policy).json("GET", "/api/v1/models")

    first, second, third = recorder.sleeps
    assert 0.5 <= first <= 1.0
    assert 1.0 <= second <= 2.0
    assert 2.0 <= third <= 4.0


def test_the_error_is_raised_when_retries_are_spent() -> None:
    recorder = Recorder(*[problem(429, "rate_limited", {"Retry-After": "1"})] * 4)

    with pytest.raises(domain.RateLimited) as caught:
        recorder.transport().json("GET", "/api/v1/models")

    assert len(recorder.requests) == 4
    assert caught.value.status == 429
    assert caught.value.retry_after == 1.0


def test_a_retry_after_longer_than_the_cap_is_raised_not_slept() -> None:
    recorder = Recorder(problem(503, "unavailable", {"Retry-After": "3600"}))

    with pytest.raises(domain.Unavailable):
        recorder.transport().json("GET", "/api/v1/models")

    assert recorder.sleeps == []


def test_connection_errors_are_retried_for_idempotent_methods() -> None:
    recorder = Recorder(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"),
                        httpx.Response(200, json={"id": "m"}))

    assert recorder.transport().json("GET", "/api/v1/models/m") == {"id": "m"}
    assert len(recorder.requests) == 3


def test_a_post_is_not_resent_after_a_connection_error() -> None:
    recorder = Recorder(httpx.ReadError("connection reset"), httpx.Response(201, json={}))

    with pytest.raises(domain.Unavailable) as caught:
        recorder.transport().json("POST", "/api/v1/models", json={"name": "m"})

    assert len(recorder.requests) == 1
    assert "could not reach" in caught.value.detail


def test_streamed_bodies_are_rebuilt_for_each_attempt() -> None:
    recorder = Recorder(problem(503, "unavailable", {"Retry-After": "0"}),
                        httpx.Response(201, json={"path": "a.txt"}))

    def body() -> list[bytes]:
        return [b"hello ", b"world"]

    recorder.transport().json("PUT", "/api/v1/runs/r/artifacts/a.txt", content=body,
                              headers={"Content-Length": "11"})

    assert [r.read() for r in recorder.requests] == [b"hello world", b"hello world"]


def test_errors_other_than_429_and_503_are_not_retried() -> None:
    recorder = Recorder(problem(404, "not_found"))

    with pytest.raises(domain.NotFound):
        recorder.transport().json("GET", "/api/v1/models/nope")

    assert len(recorder.requests) == 1


def test_api_key_is_sent_as_a_bearer_token() -> None:
    recorder = Recorder(httpx.Response(200, json={}))

    recorder.transport().json("GET", "/api/v1/auth/me")

    assert recorder.requests[0].headers["Authorization"] == "Bearer mk_test"


def test_pages_are_fetched_lazily_following_the_cursor() -> None:
    recorder = Recorder(
        httpx.Response(200, json={"items": [{"id": 1}, {"id": 2}], "next_cursor": "c2"}),
        httpx.Response(200, json={"items": [{"id": 3}], "next_cursor": None}),
    )
    pages = recorder.transport().paginate("/api/v1/runs", {"experiment_id": "e"}, page_size=2)

    assert next(pages) == {"id": 1}
    assert len(recorder.requests) == 1
    assert [item["id"] for item in pages] == [2, 3]
    assert recorder.requests[1].url.params["cursor"] == "c2"
    assert recorder.requests[1].url.params["experiment_id"] == "e"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token(access: str, refresh: str, expires_in: int = 900) -> httpx.Response:
    return httpx.Response(200, json={"access_token": access, "refresh_token": refresh,
                                     "token_type": "bearer", "expires_in": expires_in})


def test_password_login_refreshes_the_access_token_when_it_expires() -> None:
    clock = Clock()
    recorder = Recorder(
        token("a1", "r1"), httpx.Response(200, json={}),
        token("a2", "r2"), httpx.Response(200, json={}),
    )
    transport = recorder.transport(PasswordCredentials("ds@example.com", "pw", clock=clock))

    transport.json("GET", "/api/v1/auth/me")
    clock.now += 900
    transport.json("GET", "/api/v1/auth/me")

    paths = [r.url.path for r in recorder.requests]
    assert paths == ["/api/v1/auth/token", "/api/v1/auth/me", "/api/v1/auth/refresh",
                     "/api/v1/auth/me"]
    assert recorder.requests[2].read() == b'{"refresh_token":"r1"}'
    assert recorder.requests[3].headers["Authorization"] == "Bearer a2"


def test_a_401_on_a_live_token_refreshes_once_and_resends() -> None:
    recorder = Recorder(
        token("a1", "r1"), problem(401, "unauthenticated"),
        problem(401, "unauthenticated"),  # refresh token refused too: log in again
        token("a2", "r2"), httpx.Response(200, json={"ok": True}),
    )
    transport = recorder.transport(PasswordCredentials("ds@example.com", "pw", clock=Clock()))

    assert transport.json("GET", "/api/v1/models") == {"ok": True}
    assert [r.url.path for r in recorder.requests] == [
        "/api/v1/auth/token", "/api/v1/models", "/api/v1/auth/refresh", "/api/v1/auth/token",
        "/api/v1/models",
    ]


def test_wrong_password_raises_unauthenticated_with_the_server_detail() -> None:
    recorder = Recorder(problem(401, "unauthenticated"))
    transport = recorder.transport(PasswordCredentials("ds@example.com", "bad", clock=Clock()))

    with pytest.raises(domain.Unauthenticated):
        transport.json("GET", "/api/v1/models")
