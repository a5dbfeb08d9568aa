"""Run search over HTTP: filters, ordering, cursor pages, errors, views and tenancy.

Thirty runs with known values are created once; every expectation is computed from the
same table in Python and compared as exact, ordered id lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.factories import Actors, make_tenant

RUNS = "/api/v1/runs"
N = 30
START = 1_000_000


@dataclass
class Known:
    i: int
    id: str
    acc: float | None
    loss: float
    depth: str
    model: str
    team: str
    status: str

    @property
    def start_time(self) -> int:
        return START + self.i


@dataclass
class Corpus:
    actors: Actors
    experiment_id: str
    runs: list[Known]

    def ids(self, runs: list[Known]) -> list[str]:
        return [run.id for run in runs]

    def newest_first(self, runs: list[Known]) -> list[Known]:
        return sorted(runs, key=lambda r: -r.start_time)


def _values(i: int) -> dict:
    return {
        "acc": None if i % 5 == 0 else round(i / N, 4),
        "loss": float((7 * i) % 11),
        "depth": str((i % 3) * 5),
        "model": "rf" if i % 2 == 0 else "RF-big",
        "team": "a" if i % 3 != 1 else "b",
        "status": "FINISHED" if i % 4 == 0 else "RUNNING",
    }


@pytest.fixture(scope="module")
def corpus(client: TestClient, root_token: str) -> Corpus:
    actors = make_tenant(client, root_token)
    headers = actors.headers("data_scientist")
    experiment = client.post("/api/v1/experiments", json={}, headers=headers).json()
    runs = []
    for i in range(N):
        values = _values(i)
        run = client.post(RUNS, headers=headers, json={
            "experiment_id": experiment["id"], "name": f"run-{i:02d}",
            "start_time": START + i, "tags": {"team": values["team"]},
        }).json()
        metrics = [{"key": "loss", "value": values["loss"]}]
        if values["acc"] is not None:
            metrics.append({"key": "acc", "value": values["acc"]})
        params = [{"key": "depth", "value": values["depth"]},
                  {"key": "model", "value": values["model"]}]
        batch = client.post(f"{RUNS}/{run['id']}/batch", headers=headers,
                            json={"metrics": metrics, "params": params})
        assert batch.status_code == 200, batch.text
        if values["status"] != "RUNNING":
            client.patch(f"{RUNS}/{run['id']}", json={"status": values["status"]},
                         headers=headers)
        runs.append(Known(i=i, id=run["id"], **values))
    return Corpus(actors, experiment["id"], runs)


def search(client: TestClient, corpus: Corpus, **params: object) -> list[str]:
    """Every id the search returns, following cursors."""
    params = {"experiment_id": corpus.experiment_id, "limit": 1000, **params}
    ids, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(RUNS, params=query, headers=corpus.actors.headers("viewer"))
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [run["id"] for run in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def test_combined_filter_on_metrics_params_tags_and_attributes(client, corpus: Corpus):
    got = search(client, corpus, filter=(
        "metrics.acc > 0.1 and params.depth = '10' and tags.team = 'a' "
        "and attributes.status = 'FINISHED'"
    ))
    expected = [r for r in corpus.runs if r.acc is not None and r.acc > 0.1
                and r.depth == "10" and r.team == "a" and r.status == "FINISHED"]
    assert expected and got == corpus.ids(corpus.newest_first(expected))


@pytest.mark.parametrize("descending", [True, False])
def test_order_by_metric_puts_runs_without_it_last(client, corpus: Corpus, descending: bool):
    got = search(client, corpus, order_by=f"metrics.acc {'DESC' if descending else 'ASC'}")
    having = sorted((r for r in corpus.runs if r.acc is not None),
                    key=lambda r: (-r.acc if descending else r.acc, -r.start_time))
    lacking = corpus.newest_first([r for r in corpus.runs if r.acc is None])
    assert got == corpus.ids(having + lacking)


def test_order_by_several_keys_then_start_time(client, corpus: Corpus):
    got = search(client, corpus, order_by=["params.model ASC", "metrics.loss DESC"])
    expected = sorted(corpus.runs, key=lambda r: (r.model, -r.loss, -r.start_time))
    assert got == corpus.ids(expected)
    by_name = search(client, corpus, order_by=["attributes.run_name DESC"])
    assert by_name == corpus.ids(sorted(corpus.runs, key=lambda r: -r.i))


@pytest.mark.parametrize(("text", "keep"), [
    ("params.model LIKE 'rf%'", lambda r: r.model == "rf"),
    ("params.model ILIKE 'rf%'", lambda r: True),
    ("params.model LIKE '%big'", lambda r: r.model == "RF-big"),
    ("attributes.run_name LIKE 'run-1_'", lambda r: 10 <= r.i <= 19),
    ("params.depth != '0'", lambda r: r.depth != "0"),
    ("tags.team != 'a'", lambda r: r.team != "a"),
    ("attributes.status IN ('FINISHED', 'KILLED')", lambda r: r.status == "FINISHED"),
    ("attributes.status NOT IN ('FINISHED')", lambda r: r.status != "FINISHED"),
    ("attributes.start_time >= 1000020", lambda r: r.i >= 20),
    ("metrics.loss <= 3 and metrics.loss != 0", lambda r: 0 < r.loss <= 3),
    ("metrics.acc = 0.4", lambda r: r.acc == 0.4),
    ("params.missing = 'x'", lambda r: False),
])
def test_filter_operators(client, corpus: Corpus, text: str, keep):
    expected = corpus.newest_first([r for r in corpus.runs if keep(r)])
    assert search(client, corpus, filter=text) == corpus.ids(expected)


def test_filter_by_run_id_list(client, corpus: Corpus):
    chosen = [corpus.runs[3].id, corpus.runs[17].id]
    got = search(client, corpus, filter=f"attributes.run_id IN ('{chosen[0]}', '{chosen[1]}')")
    assert got == [chosen[1], chosen[0]]


def test_cursor_pages_cover_every_run_once_in_order(client, corpus: Corpus):
    full = search(client, corpus, order_by="metrics.acc DESC")
    headers = corpus.actors.headers("viewer")
    params = {"experiment_id": corpus.experiment_id, "order_by": "metrics.acc DESC", "limit": 7}
    pages, cursor = [], None
    while True:
        page = client.get(RUNS, params={**params, **({"cursor": cursor} if cursor else {})},
                          headers=headers).json()
        pages.append([run["id"] for run in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    assert sum(pages, []) == full


def test_cursor_from_another_query_is_rejected(client, corpus: Corpus):
    headers = corpus.actors.headers("viewer")
    base = {"experiment_id": corpus.experiment_id, "limit": 5}
    first = client.get(RUNS, params={**base, "order_by": "metrics.acc DESC"}, headers=headers)
    cursor = first.json()["next_cursor"]
    assert cursor
    other = client.get(RUNS, headers=headers, params={
        **base, "order_by": "metrics.loss DESC", "cursor": cursor})
    assert other.status_code == 422 and "different search" in other.json()["detail"]
    garbage = client.get(RUNS, params={**base, "cursor": "!!notatoken"}, headers=headers)
    assert garbage.status_code == 422


def test_post_search_matches_get(client, corpus: Corpus):
    body = {"experiment_ids": [corpus.experiment_id], "filter": "tags.team = 'b'",
            "order_by": ["metrics.loss ASC"], "limit": 4}
    headers = corpus.actors.headers("viewer")
    ids, cursor = [], None
    while True:
        page = client.post(f"{RUNS}/search", json={**body, "cursor": cursor}, headers=headers)
        assert page.status_code == 200, page.text
        ids += [run["id"] for run in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    expected = search(client, corpus, filter="tags.team = 'b'", order_by="metrics.loss ASC")
    assert ids == expected and len(ids) == sum(r.team == "b" for r in corpus.runs)
    first = page.json()["items"][0]
    assert set(first) >= {"params", "metrics", "tags"} and first["params"]["model"]


@pytest.mark.parametrize(("text", "token"), [
    ("metrics.acc > 'high'", "'high'"),
    ("metric.acc >> 1", ">"),
    ("colour.acc = 1", "colour"),
    ("attributes.nope = 'x'", "nope"),
    ("params.depth = 10", "10"),
    ("metrics.acc > 1 or metrics.acc < 0", "OR"),
    ("attributes.artifact_uri = 'x'", "artifact_uri"),
])
def test_invalid_filter_is_422_naming_the_token(client, corpus: Corpus, text: str, token: str):
    response = client.get(RUNS, params={"filter": text}, headers=corpus.actors.headers("viewer"))
    assert response.status_code == 422, text
    assert token in response.json()["detail"]


def test_invalid_order_by_is_422(client, corpus: Corpus):
    response = client.get(RUNS, params={"order_by": "metrics.acc SIDEWAYS"},
                          headers=corpus.actors.headers("viewer"))
    assert response.status_code == 422 and "SIDEWAYS" in response.json()["detail"]


def test_nan_sorts_after_numbers_and_before_missing(client: TestClient, tenant: Actors):
    headers = tenant.headers("data_scientist")
    experiment = client.post("/api/v1/experiments", json={}, headers=headers).json()["id"]
    values = {"low": 0.3, "nan": "NaN", "high": 0.9, "none": None}
    ids = {}
    for offset, (name, value) in enumerate(values.items()):
        run = client.post(RUNS, json={"experiment_id": experiment, "name": name,
                                      "start_time": START + offset}, headers=headers).json()
        ids[name] = run["id"]
        if value is not None:
            client.post(f"{RUNS}/{run['id']}/metrics", json={"key": "acc", "value": value},
                        headers=headers)
    view = Corpus(tenant, experiment, [])
    asc = search(client, view, order_by="metrics.acc ASC")
    desc = search(client, view, order_by="metrics.acc DESC")
    assert asc == [ids["low"], ids["high"], ids["nan"], ids["none"]]
    assert desc == [ids["high"], ids["low"], ids["nan"], ids["none"]]
    assert search(client, view, filter="metrics.acc > 0") == [ids["high"], ids["low"]]
    assert search(client, view, filter="metrics.acc != 0.3") == [ids["high"], ids["nan"]]


def test_deleted_runs_and_runs_of_deleted_experiments_leave_default_searches(
    client: TestClient, tenant: Actors
):
    headers = tenant.headers("data_scientist")
    experiment = client.post("/api/v1/experiments", json={}, headers=headers).json()["id"]
    kept, dropped = (client.post(RUNS, json={"experiment_id": experiment, "start_time": t},
                                 headers=headers).json()["id"] for t in (2, 1))
    client.delete(f"{RUNS}/{dropped}", headers=headers)
    view = Corpus(tenant, experiment, [])
    assert search(client, view) == [kept]
    assert search(client, view, view="deleted") == [dropped]
    assert search(client, view, view="all") == [kept, dropped]
    client.delete(f"/api/v1/experiments/{experiment}", headers=headers)
    assert search(client, view) == []
    assert search(client, view, view="deleted") == [kept, dropped]


def test_searches_never_show_another_tenants_runs(
    client: TestClient, corpus: Corpus, tenant: Actors
):
    headers = tenant.headers("tenant_admin")
    theirs = client.get(RUNS, params={"experiment_id": corpus.experiment_id},
                        headers=headers)
    assert theirs.status_code == 200 and theirs.json()["items"] == []
    everything = client.get(RUNS, params={"limit": 1000, "view": "all"}, headers=headers)
    assert not {r["id"] for r in everything.json()["items"]} & set(corpus.ids(corpus.runs))
    by_id = client.post(f"{RUNS}/search", headers=headers, json={
        "filter": f"attributes.run_id = '{corpus.runs[0].id}'", "view": "all"})
    assert by_id.json()["items"] == []


def test_search_without_experiment_ids_covers_every_experiment_of_the_tenant(
    client, corpus: Corpus
):
    for body in ({"experiment_ids": [], "filter": "params.depth = '5'"},
                 {"filter": "params.depth = '5'"}):
        response = client.post(f"{RUNS}/search", headers=corpus.actors.headers("viewer"),
                               json={**body, "limit": 1000})
        assert response.status_code == 200, response.text
        got = {item["id"] for item in response.json()["items"]}
        assert got == {r.id for r in corpus.runs if r.depth == "5"}
