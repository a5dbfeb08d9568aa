"""Run artifacts over HTTP: streamed round trip with checksums, listing, replacement,
path traversal in every encoding, tenancy and roles."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from maestro_ml.bootstrap import Container
from tests.factories import Actors, unique

RUNS = "/api/v1/runs"

# Raw request paths, sent byte for byte (httpx would resolve the dot segments itself).
HOSTILE_PATHS = [
    "../{marker}",
    "a/../../{marker}",
    "./{marker}",
    "%2e%2e/{marker}",
    "%2E%2E%2F%2E%2E%2F{marker}",
    "%252e%252e/{marker}",
    "..%2f{marker}",
    "..%5c{marker}",
    "a\\..\\{marker}",
    "%2Fetc%2F{marker}",
    "/etc/{marker}",
    "C:%5C{marker}",
    "%c0%ae%c0%ae/{marker}",
    "file:%2F%2F%2Ftmp%2F{marker}",
    "..%00/{marker}",
    ".%2e/{marker}",
    "%u002e%u002e/{marker}",
    "a//{marker}",
    "~/{marker}",
    "%EF%BC%8E%EF%BC%8E/{marker}",  # fullwidth dots
]


def make_run(client: TestClient, actors: Actors) -> dict:
    headers = actors.headers("data_scientist")
    experiment = client.post("/api/v1/experiments", json={}, headers=headers).json()
    response = client.post(RUNS, json={"experiment_id": experiment["id"]}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def send_raw(client: TestClient, method: str, raw_path: str, headers: dict[str, str],
             body: bytes = b"") -> tuple[int, bytes]:
    """One request straight into the ASGI app with ``raw_path`` exactly as given."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": method, "scheme": "http", "root_path": "", "query_string": b"",
        "path": unquote(raw_path), "raw_path": raw_path.encode("latin-1"),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"content-length", str(len(body)).encode()), (b"host", b"testserver")],
        "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
    }
    sent: list[dict] = []
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        return pending.pop() if pending else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(client.app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def stored_files(container: Container, tenant_id: str) -> list[Path]:
    root = Path(container.artifacts.root) / "tenants" / tenant_id
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_upload_download_round_trip_with_sha256(client: TestClient, tenant: Actors):
    run = make_run(client, tenant)
    headers = tenant.headers("data_scientist")
    payload = os.urandom(3 * 1024 * 1024 + 17)  # several chunks
    digest = hashlib.sha256(payload).hexdigest()
    url = f"{RUNS}/{run['id']}/artifacts/model/weights.bin"
    uploaded = client.put(url, content=payload, headers=headers)
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json() == {"path": "model/weights.bin", "size_bytes": len(payload),
                               "sha256": digest}

    downloaded = client.get(url, headers=tenant.headers("viewer"))
    assert downloaded.status_code == 200
    assert downloaded.content == payload
    assert downloaded.headers["x-checksum-sha256"] == digest
    assert int(downloaded.headers["content-length"]) == len(payload)
    assert downloaded.headers["content-type"] == "application/octet-stream"

    text = client.put(f"{RUNS}/{run['id']}/artifacts/report.json", content=b"{}",
                      headers=headers)
    assert text.status_code == 201
    got = client.get(f"{RUNS}/{run['id']}/artifacts/report.json", headers=headers)
    assert got.headers["content-type"].startswith("application/json")


def test_reupload_replaces_and_listing_filters_by_prefix(client: TestClient, tenant: Actors):
    run = make_run(client, tenant)
    headers = tenant.headers("data_scientist")
    base = f"{RUNS}/{run['id']}/artifacts"
    for path in ("plots/roc.png", "plots/pr.png", "plots2/x.txt", "model.skops"):
        assert client.put(f"{base}/{path}", content=path.encode(), headers=headers).status_code \
            == 201
    replaced = client.put(f"{base}/plots/roc.png", content=b"new bytes", headers=headers).json()
    assert replaced["sha256"] == hashlib.sha256(b"new bytes").hexdigest()

    listed = client.get(base, headers=tenant.headers("viewer")).json()["items"]
    assert [a["path"] for a in listed] == ["model.skops", "plots/pr.png", "plots/roc.png",
                                           "plots2/x.txt"]
    roc = next(a for a in listed if a["path"] == "plots/roc.png")
    assert roc["size_bytes"] == len(b"new bytes") and roc["sha256"] == replaced["sha256"]
    assert client.get(f"{base}/plots/roc.png", headers=headers).content == b"new bytes"

    plots = client.get(base, params={"prefix": "plots/"}, headers=headers).json()["items"]
    assert [a["path"] for a in plots] == ["plots/pr.png", "plots/roc.png"]
    paged = client.get(base, params={"limit": 3}, headers=headers).json()
    rest = client.get(base, params={"cursor": paged["next_cursor"]}, headers=headers).json()
    assert [a["path"] for a in paged["items"] + rest["items"]] == [a["path"] for a in listed]
    bad_prefix = client.get(base, params={"prefix": "../"}, headers=headers)
    assert bad_prefix.status_code == 400


def test_missing_artifact_is_404(client: TestClient, tenant: Actors):
    run = make_run(client, tenant)
    response = client.get(f"{RUNS}/{run['id']}/artifacts/nothing.txt",
                          headers=tenant.headers("viewer"))
    assert response.status_code == 404


@pytest.mark.parametrize("method", ["PUT", "GET"])
def test_traversal_in_any_encoding_is_400_and_writes_nothing(
    client: TestClient, tenant: Actors, container: Container, settings, method: str
):
    run = make_run(client, tenant)
    headers = tenant.headers("data_scientist")
    marker = unique("pwned")
    for template in HOSTILE_PATHS:
        raw = f"{RUNS}/{run['id']}/artifacts/{template.format(marker=marker)}"
        status, body = send_raw(client, method, raw, headers, b"evil")
        assert status == 400, (template, status, body)
        assert b'"code":"invalid_path"' in body, (template, body)
    listed = client.get(f"{RUNS}/{run['id']}/artifacts", headers=headers).json()["items"]
    assert listed == []
    assert stored_files(container, tenant.tenant_id) == []
    assert not [p for p in Path(settings.data_dir).parent.rglob(f"*{marker}*")]


def test_another_tenants_run_artifacts_are_404_and_untouched(
    client: TestClient, tenant: Actors, other_tenant: Actors, container: Container
):
    theirs = make_run(client, other_tenant)
    base = f"{RUNS}/{theirs['id']}/artifacts"
    own = other_tenant.headers("data_scientist")
    assert client.put(f"{base}/secret.txt", content=b"secret", headers=own).status_code == 201
    headers = tenant.headers("tenant_admin")
    attempts = [
        client.put(f"{base}/secret.txt", content=b"overwritten", headers=headers),
        client.put(f"{base}/new.txt", content=b"planted", headers=headers),
        client.get(f"{base}/secret.txt", headers=headers),
        client.get(base, headers=headers),
    ]
    assert [r.status_code for r in attempts] == [404] * len(attempts)
    assert client.get(f"{base}/secret.txt", headers=own).content == b"secret"
    assert [a["path"] for a in client.get(base, headers=own).json()["items"]] == ["secret.txt"]
    assert stored_files(container, tenant.tenant_id) == []


def test_viewer_cannot_upload_and_deleted_runs_refuse_uploads(
    client: TestClient, tenant: Actors, container: Container
):
    run = make_run(client, tenant)
    url = f"{RUNS}/{run['id']}/artifacts/a.txt"
    assert client.put(url, content=b"x", headers=tenant.headers("viewer")).status_code == 403
    headers = tenant.headers("data_scientist")
    client.delete(f"{RUNS}/{run['id']}", headers=headers)
    assert client.put(url, content=b"x", headers=headers).status_code == 409
    assert stored_files(container, tenant.tenant_id) == []


def test_a_symlink_planted_in_a_tenant_root_cannot_reach_another_tenant(container):
    """Even a link on disk (say, restored from a bad backup) cannot cross tenant roots."""
    import os

    import pytest

    from maestro_ml.domain.errors import InvalidPath

    store = container.artifacts
    victim = store.tenant_key("victim-tenant", "runs/r1/artifacts/secret.txt")
    store.write_stream(victim, iter([b"secret"]))
    attacker_root = os.path.join(store.root, "tenants", "attacker-tenant", "runs")
    os.makedirs(attacker_root, exist_ok=True)
    os.symlink(os.path.join(store.root, "tenants", "victim-tenant"),
               os.path.join(attacker_root, "link"))
    through_link = store.tenant_key("attacker-tenant", "runs/link/runs/r1/artifacts/secret.txt")
    with pytest.raises(InvalidPath):
        store.open_read(through_link)
