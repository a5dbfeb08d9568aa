"""``POST /api/v1/datasets/import``: the SSRF corpus is refused (422 naming why, no dataset
row), a CSV served locally imports when private fetches are allowed, and every redirect hop
is re-vetted (resolver injected; the transport is httpx's own MockTransport)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from maestro_ml.api.app import create_app
from maestro_ml.bootstrap import Container, build_container
from maestro_ml.config import Settings
from maestro_ml.domain.errors import InvalidInput, PayloadTooLarge
from maestro_ml.storage.remote_files import RemoteFileFetcher
from tests.factories import Actors, make_tenant, unique

CSV = b"age,income,churned\n34,52000,0\n51,61000,1\n29,38000,0\n"

SSRF_CORPUS = [
    "http://127.0.0.1/data.csv",
    "http://127.0.0.1:8000/api/v1/datasets",
    "http://127.1/data.csv",
    "http://127.0.1/data.csv",
    "http://2130706433/data.csv",
    "http://0x7f000001/data.csv",
    "http://0x7f.1/data.csv",
    "http://0177.0.0.1/data.csv",
    "http://017700000001/data.csv",
    "http://localhost/data.csv",
    "http://LOCALHOST:8000/data.csv",
    "http://api.localhost/data.csv",
    "http://[::1]/data.csv",
    "http://[::ffff:127.0.0.1]/data.csv",
    "http://[::ffff:7f00:1]/data.csv",
    "http://[0:0:0:0:0:0:0:1]/data.csv",
    "http://10.0.0.1/data.csv",
    "http://10.255.255.254/data.csv",
    "http://172.16.0.1/data.csv",
    "http://172.31.255.1/data.csv",
    "http://192.168.0.1/data.csv",
    "http://169.254.169.254/latest/meta-data/",
    "http://0xa9fea9fe/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://100.64.0.1/data.csv",
    "http://0.0.0.0/data.csv",
    "http://0/data.csv",
    "http://[::]/data.csv",
    "http://224.0.0.1/data.csv",
    "http://[fe80::1]/data.csv",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "ftp://example.com/data.csv",
    "dict://127.0.0.1:11211/stats",
    "http://evil@127.0.0.1/data.csv",
    "http://user:pass@example.com/data.csv",
    "http://example.com@127.0.0.1/data.csv",
    "http://127.0.0.1\\@example.com/data.csv",
    "http:///data.csv",
    "http://1.2.3.4.5/data.csv",
    "http://256.0.0.1/data.csv",
    "//127.0.0.1/data.csv",
    "data.csv",
    "http://no-such-host.invalid/data.csv",
]


@pytest.fixture(scope="module")
def corpus_tenant(client: TestClient, root_token: str) -> Actors:
    return make_tenant(client, root_token)


@pytest.mark.parametrize("url", SSRF_CORPUS)
def test_internal_and_malformed_urls_are_refused_and_create_nothing(
    client: TestClient, corpus_tenant: Actors, url: str
):
    tenant = corpus_tenant
    name = unique("ssrf")
    response = client.post("/api/v1/datasets/import", headers=tenant.headers("data_scientist"),
                           json={"name": name, "url": url})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == "url"
    assert body["reason"] in {
        "loopback", "private", "cloud_metadata", "link_local", "carrier_grade_nat",
        "unspecified", "multicast", "scheme", "userinfo", "malformed", "unresolvable",
    }
    assert "refused to fetch" in body["detail"]
    assert client.get(f"/api/v1/datasets?name={name}",
                      headers=tenant.headers("viewer")).json()["items"] == []


def test_loopback_in_every_spelling_is_named_as_loopback(client: TestClient, tenant: Actors):
    for url in ["http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/", "http://127.1/",
                "http://[::ffff:127.0.0.1]/", "http://localhost/", "http://evil.localhost/"]:
        response = client.post("/api/v1/datasets/import", headers=tenant.headers(),
                               json={"name": unique("ssrf"), "url": url})
        assert response.json()["reason"] == "loopback", url


def test_import_needs_datasets_write(client: TestClient, tenant: Actors):
    response = client.post("/api/v1/datasets/import", headers=tenant.headers("viewer"),
                           json={"name": unique("ds"), "url": "http://example.com/a.csv"})
    assert response.status_code == 403


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/data.csv":
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(CSV)))
            self.end_headers()
            self.wfile.write(CSV)
        elif self.path == "/export":
            self.send_response(200)
            self.send_header("Content-Type", "text/csv; charset=utf-8")
            self.end_headers()
            self.wfile.write(CSV)
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/data.csv")
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def csv_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def private_client(settings: Settings, container: Container) -> Iterator[TestClient]:
    """A second app over the same database whose fetcher may reach private addresses."""
    lenient = build_container(settings.model_copy(
        update={"fetch_allow_private": True, "run_worker": False}
    ))
    with TestClient(create_app(lenient), raise_server_exceptions=False) as client:
        yield client
    lenient.close()


def test_csv_from_a_local_server_imports_when_private_fetches_are_allowed(
    private_client: TestClient, client: TestClient, tenant: Actors, csv_server: str
):
    name = unique("imported")
    response = private_client.post(
        "/api/v1/datasets/import", headers=tenant.headers("data_scientist"),
        json={"name": name, "url": f"{csv_server}/moved", "description": "from a URL"},
    )
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert (dataset["name"], dataset["version"], dataset["format"]) == (name, 1, "csv")
    assert dataset["row_count"] == 3
    assert [c["name"] for c in dataset["columns"]] == ["age", "income", "churned"]
    assert dataset["size_bytes"] == len(CSV)
    content = client.get(f"/api/v1/datasets/{dataset['id']}/content", headers=tenant.headers())
    assert content.content == CSV

    again = private_client.post(
        "/api/v1/datasets/import", headers=tenant.headers("data_scientist"),
        json={"name": name, "url": f"{csv_server}/export"},
    )
    assert again.status_code == 201, again.text
    assert again.json()["version"] == 2  # format from Content-Type, next version of the name


def test_the_default_app_refuses_the_same_local_server(
    client: TestClient, tenant: Actors, csv_server: str
):
    response = client.post("/api/v1/datasets/import", headers=tenant.headers(),
                           json={"name": unique("ds"), "url": f"{csv_server}/data.csv"})
    assert response.status_code == 422
    assert response.json()["reason"] == "loopback"


def test_upstream_error_and_unknown_format_are_422(
    private_client: TestClient, tenant: Actors, csv_server: str
):
    missing = private_client.post("/api/v1/datasets/import", headers=tenant.headers(),
                                  json={"name": unique("ds"), "url": f"{csv_server}/nope"})
    assert missing.status_code == 422
    assert missing.json()["reason"] == "http_error"


# -- the fetcher itself, with an injected resolver and httpx's MockTransport --------------
PUBLIC = {"files.example": ["93.184.216.34"], "cdn.example": ["2606:4700::1111"],
          "evil.example": ["127.0.0.1"], "mixed.example": ["93.184.216.35", "10.0.0.7"],
          "meta.example": ["169.254.169.254"]}


def fake_resolver(host: str, port: int) -> list[str]:
    if host not in PUBLIC:
        raise OSError("unknown host")
    return PUBLIC[host]


def fetcher_with(handler, **kwargs) -> tuple[RemoteFileFetcher, list[httpx.Request]]:  # type: ignore[no-untyped-def]
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    fetcher = RemoteFileFetcher(resolver=fake_resolver, transport=httpx.MockTransport(record),
                                **kwargs)
    return fetcher, seen


def test_requests_go_to_the_vetted_ip_with_the_original_host_and_sni(tmp_path: Path):
    fetcher, seen = fetcher_with(lambda r: httpx.Response(200, content=CSV))
    fetched = fetcher.fetch("https://files.example/d/data.csv?x=1", 10_000, tmp_path)
    assert fetched.path.read_bytes() == CSV
    assert str(seen[0].url) == "https://93.184.216.34/d/data.csv?x=1"
    assert seen[0].headers["host"] == "files.example"
    assert seen[0].extensions["sni_hostname"] == "files.example"


@pytest.mark.parametrize(("location", "reason"), [
    ("http://evil.example/data.csv", "loopback"),
    ("http://127.0.0.1:9000/admin", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "cloud_metadata"),
    ("http://meta.example/", "cloud_metadata"),
    ("http://mixed.example/data.csv", "private"),
    ("http://[::ffff:10.0.0.1]/", "private"),
    ("file:///etc/passwd", "scheme"),
    ("http://user@files.example/", "userinfo"),
])
def test_a_redirect_to_a_forbidden_target_is_refused(tmp_path: Path, location: str, reason: str):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": location})

    fetcher, seen = fetcher_with(handler)
    with pytest.raises(InvalidInput) as caught:
        fetcher.fetch("http://files.example/start", 10_000, tmp_path)
    assert caught.value.extra["reason"] == reason
    assert len(seen) == 1  # the forbidden hop was never requested
    assert list(tmp_path.iterdir()) == []


def test_redirects_between_public_hosts_are_followed_relative_and_absolute(tmp_path: Path):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/a":
            return httpx.Response(301, headers={"Location": "/b"})
        if request.url.path == "/b":
            return httpx.Response(307, headers={"Location": "https://cdn.example/c.csv"})
        return httpx.Response(200, content=CSV)

    fetcher, seen = fetcher_with(handler)
    fetched = fetcher.fetch("http://files.example/a", 10_000, tmp_path)
    assert fetched.url == "https://cdn.example/c.csv"
    assert [str(r.url) for r in seen] == [
        "http://93.184.216.34/a", "http://93.184.216.34/b",
        "https://[2606:4700::1111]/c.csv",
    ]
    assert seen[2].headers["host"] == "cdn.example"


def test_more_than_five_redirects_are_refused(tmp_path: Path):
    fetcher, seen = fetcher_with(lambda r: httpx.Response(302, headers={"Location": "/again"}))
    with pytest.raises(InvalidInput) as caught:
        fetcher.fetch("http://files.example/loop", 10_000, tmp_path)
    assert caught.value.extra["reason"] == "too_many_redirects"
    assert len(seen) == 6


def test_a_body_over_the_limit_stops_the_download_and_leaves_no_file(tmp_path: Path):
    def stream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([b"x" * 600, b"y" * 600]))

    fetcher, _ = fetcher_with(stream)
    with pytest.raises(PayloadTooLarge) as caught:
        fetcher.fetch("http://files.example/big.csv", 1000, tmp_path)
    assert caught.value.extra["limit"] == 1000
    assert list(tmp_path.iterdir()) == []


def test_one_private_record_among_public_ones_refuses_the_host(tmp_path: Path):
    fetcher, seen = fetcher_with(lambda r: httpx.Response(200, content=CSV))
    with pytest.raises(InvalidInput) as caught:
        fetcher.fetch("http://mixed.example/data.csv", 10_000, tmp_path)
    assert "10.0.0.7" in caught.value.detail
    assert seen == []
