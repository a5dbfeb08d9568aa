"""Path traversal: the corpus against artifact upload, download and listing, and datasets.

Paths go to the app exactly as a server would decode them (raw ASGI, so nothing collapses
``..`` on the way). Every escape attempt is refused with 400/404/422, and afterwards every
file that appeared on disk lies under the attacker tenant's own artifact root.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from fastapi.testclient import TestClient

from maestro_ml.config import Settings
from tests.integration.tenant_world import tiny_csv

from .conftest import Tally, World
from .corpora import TRAVERSAL
from .probing import raw_request

REFUSED = {400, 404, 405, 422}
# FastAPI's trailing-slash redirect ("/datasets/../" -> "/datasets/..") resolves nothing.
REDIRECTS = {307, 308}
# A payload free of these is an odd but harmless file name, which may be stored (inside).
MARKERS = ("..", "%", "\\", ";", "#", ":", "\x00", "\uff0e", "\u2215")


def files_under(root: Path) -> set[str]:
    return {os.path.realpath(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs}


def escapes(payload: str) -> bool:
    return payload.startswith("/") or any(marker in payload for marker in MARKERS)


def test_artifact_routes_refuse_every_traversal(
    client: TestClient, world: World, settings: Settings, tally: Tally
):
    h = world.attacker.headers()
    run = world.attacker.ids["run_id"]
    before = files_under(settings.data_dir.parent)
    tried, violations = 0, []
    for payload in TRAVERSAL:
        path = f"/api/v1/runs/{run}/artifacts/{payload}"
        status, _, _ = raw_request(client, "PUT", path, h, body=b"escaped")
        tried += 1
        if status not in REFUSED and not (status == 201 and not escapes(payload)):
            violations.append(f"PUT {payload!r}: {status}")
        status, _, body = raw_request(client, "GET", path, h)
        tried += 1
        if status not in REFUSED and not (status == 200 and body == b"escaped"):
            violations.append(f"GET {payload!r}: {status} {body[:80]!r}")
        listing = client.get(f"/api/v1/runs/{run}/artifacts", headers=h,
                             params={"prefix": payload})
        tried += 1
        if listing.status_code not in REFUSED | {200}:
            violations.append(f"list prefix={payload!r}: {listing.status_code}")
        history = raw_request(client, "GET", f"/api/v1/runs/{run}/metrics/{payload}/history", h)
        tried += 1
        if history[0] >= 500:
            violations.append(f"metric history {payload!r}: {history[0]}")
    own_root = os.path.realpath(
        os.path.join(settings.resolved_artifact_root, "tenants", world.attacker.ids["tenant_id"]))
    outside = [f for f in files_under(settings.data_dir.parent) - before
               if not f.startswith(own_root + os.sep) and "escaped" in Path(f).read_bytes()
               .decode(errors="ignore")]
    violations += [f"written outside the tenant root: {f}" for f in outside]
    tally.record("traversal", tried, violations)
    assert violations == []


def test_dataset_routes_refuse_every_traversal(
    client: TestClient, world: World, settings: Settings, tally: Tally
):
    h = world.attacker.headers()
    before = files_under(settings.data_dir.parent)
    tried, violations = 0, []
    marker = b"x1,x2,label\n9,9,1\n" + b"7,7,0\n" * 10
    for payload in TRAVERSAL:
        upload = client.post("/api/v1/datasets", headers=h, data={"name": "traversal"},
                             files={"file": (payload, io.BytesIO(marker), "text/csv")})
        tried += 1
        if upload.status_code >= 500:
            violations.append(f"upload filename={payload!r}: {upload.status_code}")
        named = client.post("/api/v1/datasets", headers=h, data={"name": payload},
                            files={"file": ("d.csv", io.BytesIO(tiny_csv()), "text/csv")})
        tried += 1
        if named.status_code >= 500:
            violations.append(f"upload name={payload!r}: {named.status_code}")
        for suffix in ("", "/content"):
            status, _, _ = raw_request(client, "GET", f"/api/v1/datasets/{payload}{suffix}", h)
            tried += 1
            if status not in REFUSED | REDIRECTS:
                violations.append(f"GET dataset {payload!r}{suffix}: {status}")
    own_root = os.path.realpath(
        os.path.join(settings.resolved_artifact_root, "tenants", world.attacker.ids["tenant_id"]))
    outside = [f for f in files_under(settings.data_dir.parent) - before
               if not f.startswith(own_root + os.sep) and b"9,9,1" in Path(f).read_bytes()]
    violations += [f"written outside the tenant root: {f}" for f in outside]
    tally.record("traversal", tried, violations)
    assert violations == []
