"""A real server's request records reach the database through its background flusher."""

from __future__ import annotations

import time

import httpx

from tests.e2e.conftest import Server

REQUESTS = 25


def api_availability(server: Server, headers: dict[str, str]) -> dict:
    response = httpx.get(f"{server.url}/api/v1/slos/api-availability", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_api_requests_are_counted_by_the_running_server(server: Server, root_token: str):
    headers = {"Authorization": f"Bearer {root_token}"}
    before = api_availability(server, headers)["total_requests"]
    for _ in range(REQUESTS):
        assert httpx.get(f"{server.url}/api/v1/tenants", headers=headers).status_code == 200

    deadline = time.monotonic() + 60  # the flusher writes every 5 s
    found = before
    while time.monotonic() < deadline:
        found = api_availability(server, headers)["total_requests"]
        if found - before >= REQUESTS:
            break
        time.sleep(1)
    assert found - before >= REQUESTS, server.log_tail()
