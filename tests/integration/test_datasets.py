"""Datasets over HTTP: upload (CSV, Parquet), versions, profile, download, delete, limits."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from maestro_ml.bootstrap import Container
from maestro_ml.domain.errors import PayloadTooLarge
from maestro_ml.services.datasets import DatasetService
from tests.factories import Actors, unique
from tests.integration.training_setup import (
    breast_cancer_csv,
    breast_cancer_parquet,
    principal_of,
    upload,
)


def dataset_files(container: Container, tenant_id: str) -> list[Path]:
    root = Path(container.artifacts.root) / "tenants" / tenant_id / "datasets"
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def test_csv_upload_is_stored_hashed_and_profiled(client: TestClient, tenant: Actors):
    content = breast_cancer_csv()

    response = upload(client, tenant, content, "breast cancer.csv", description="UCI")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["version"] == 1 and body["format"] == "csv" and body["description"] == "UCI"
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size_bytes"] == len(content)
    assert body["row_count"] == 569
    assert len(body["columns"]) == 31
    assert {"name": "target", "type": "long"} in body["columns"]
    assert {"name": "mean radius", "type": "double"} in body["columns"]
    assert len(body["preview"]) == 10 and body["preview"][0]["mean radius"] == 17.99


def test_parquet_upload_keeps_the_schema(client: TestClient, tenant: Actors):
    response = upload(client, tenant, breast_cancer_parquet(), "cancer.parquet")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["format"] == "parquet" and body["row_count"] == 569
    assert {"name": "target", "type": "long"} in body["columns"]


def test_same_name_adds_a_version_and_list_filters_by_name(client: TestClient, tenant: Actors):
    name = unique("churn")
    first = upload(client, tenant, b"a,b\n1,2\n", "v1.csv", name=name).json()
    second = upload(client, tenant, b"a,b\n1,2\n3,4\n", "v2.csv", name=name).json()
    upload(client, tenant, b"a,b\n1,2\n", "other.csv")

    listed = client.get("/api/v1/datasets", params={"name": name},
                        headers=tenant.headers("viewer"))

    assert (first["version"], second["version"]) == (1, 2)
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()["items"]] == [second["id"], first["id"]]
    assert second["row_count"] == 2


def test_content_downloads_the_uploaded_bytes(client: TestClient, tenant: Actors):
    content = breast_cancer_csv()
    dataset = upload(client, tenant, content).json()

    response = client.get(f"/api/v1/datasets/{dataset['id']}/content",
                          headers=tenant.headers("viewer"))

    assert response.status_code == 200
    assert response.content == content
    assert response.headers["x-checksum-sha256"] == dataset["sha256"]
    assert "cancer.csv" in response.headers["content-disposition"]
    assert response.headers["content-type"].startswith("text/csv")


@pytest.mark.parametrize(("filename", "content", "fragment"), [
    ("broken.parquet", b"this is not parquet at all", "could not be read as Parquet"),
    ("empty.csv", b"", "empty"),
    ("table.xlsx", b"a,b\n1,2\n", ".csv"),
])
def test_unreadable_file_is_422_and_leaves_nothing_behind(
    client: TestClient, tenant: Actors, container: Container, filename: str, content: bytes,
    fragment: str,
):
    name = unique("bad")

    response = upload(client, tenant, content, filename, name=name)

    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"]
    listed = client.get("/api/v1/datasets", params={"name": name}, headers=tenant.headers())
    assert listed.json()["items"] == []
    assert dataset_files(container, tenant.tenant_id) == []


def test_upload_over_the_limit_is_refused_naming_it_and_leaves_nothing(
    client: TestClient, tenant: Actors, container: Container
):
    small = DatasetService(container.uow, container.artifacts, max_upload_bytes=1000)
    principal = principal_of(client, tenant)

    with pytest.raises(PayloadTooLarge, match="limit of 1000 bytes"):
        small.upload(principal, name=unique("big"), filename="big.csv",
                     content=io.BytesIO(breast_cancer_csv()))

    assert dataset_files(container, tenant.tenant_id) == []
    listed = client.get("/api/v1/datasets", headers=tenant.headers())
    assert listed.json()["items"] == []


def test_delete_removes_row_and_file(client: TestClient, tenant: Actors, container: Container):
    dataset = upload(client, tenant, breast_cancer_csv()).json()
    assert len(dataset_files(container, tenant.tenant_id)) == 1

    deleted = client.delete(f"/api/v1/datasets/{dataset['id']}", headers=tenant.headers())

    assert deleted.status_code == 204
    assert client.get(f"/api/v1/datasets/{dataset['id']}",
                      headers=tenant.headers()).status_code == 404
    assert client.get(f"/api/v1/datasets/{dataset['id']}/content",
                      headers=tenant.headers()).status_code == 404
    assert dataset_files(container, tenant.tenant_id) == []


def test_another_tenant_cannot_read_download_or_delete(
    client: TestClient, tenant: Actors, other_tenant: Actors
):
    dataset = upload(client, tenant, b"a,b\n1,2\n").json()
    base = f"/api/v1/datasets/{dataset['id']}"
    stranger = other_tenant.headers()

    assert client.get(base, headers=stranger).status_code == 404
    assert client.get(f"{base}/content", headers=stranger).status_code == 404
    assert client.delete(base, headers=stranger).status_code == 404
    assert client.get("/api/v1/datasets", headers=stranger).json()["items"] == []
    assert client.get(base, headers=tenant.headers("viewer")).status_code == 200


def test_viewer_cannot_upload_or_delete(client: TestClient, tenant: Actors):
    assert upload(client, tenant, b"a,b\n1,2\n", role="viewer").status_code == 403
    dataset = upload(client, tenant, b"a,b\n1,2\n").json()
    response = client.delete(f"/api/v1/datasets/{dataset['id']}",
                             headers=tenant.headers("viewer"))
    assert response.status_code == 403
