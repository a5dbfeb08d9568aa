"""The Open Inference Protocol v2 against a live server, driven by tritonclient's HTTP client."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.e2e.conftest import TARGET, Seeded, Server
from tests.factories import Actors


@pytest.fixture(scope="module")
def oip(server: Server) -> triton.InferenceServerClient:
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def auth(actors: Actors) -> Callable[[str], dict[str, str]]:
    return lambda role: {"Authorization": f"Bearer {actors.keys[role]}"}


def features_of(seeded: Seeded) -> list[str]:
    return [c for c in seeded.frame.columns if c != TARGET]


def native_predictions(server: Server, actors: Actors, seeded: Seeded, x: np.ndarray) -> dict:
    body = {"columns": features_of(seeded), "data": x.tolist()}
    response = httpx.post(f"{server.url}/api/v1/deployments/{seeded.deployment.name}/predict",
                          json=body, headers={"Authorization": f"Bearer {actors.keys['viewer']}"})
    assert response.status_code == 200, response.text
    return response.json()


def test_health_and_metadata(oip: triton.InferenceServerClient, auth, seeded: Seeded) -> None:
    name = seeded.deployment.name
    headers = auth("viewer")

    assert oip.is_server_live(headers=headers) and oip.is_server_ready(headers=headers)
    assert "binary_tensor_data" in oip.get_server_metadata(headers=headers)["extensions"]
    assert oip.is_model_ready(name, headers=headers)
    assert oip.is_model_ready(name, model_version="1", headers=headers)
    assert not oip.is_model_ready(name, model_version="99", headers=headers)

    metadata = oip.get_model_metadata(name, headers=headers)
    assert metadata["name"] == name and metadata["versions"] == ["1"]
    assert [i["name"] for i in metadata["inputs"]] == features_of(seeded)
    assert {o["name"] for o in metadata["outputs"]} == {"predictions", "probabilities"}
    assert oip.get_model_metadata(name, model_version="1", headers=headers)["name"] == name


@pytest.mark.parametrize("binary", [True, False])
def test_one_matrix_tensor_gives_the_native_answers(
    oip: triton.InferenceServerClient, auth, server: Server, actors: Actors, seeded: Seeded,
    binary: bool,
) -> None:
    x = seeded.frame[features_of(seeded)].to_numpy(dtype=np.float64)[:25]
    tensor = triton.InferInput("input", list(x.shape), "FP64")
    tensor.set_data_from_numpy(x, binary_data=binary)
    outputs = [triton.InferRequestedOutput("predictions", binary_data=binary),
               triton.InferRequestedOutput("probabilities", binary_data=binary)]

    result = oip.infer(seeded.deployment.name, [tensor], outputs=outputs,
                       headers=auth("viewer"), request_id="req-1")

    native = native_predictions(server, actors, seeded, x)
    assert result.as_numpy("predictions").tolist() == native["predictions"]
    np.testing.assert_allclose(result.as_numpy("probabilities"), native["probabilities"])
    assert result.get_response()["model_version"] == "1"
    assert result.get_response()["id"] == "req-1"


def test_one_tensor_per_feature_with_a_pinned_version(
    oip: triton.InferenceServerClient, auth, server: Server, actors: Actors, seeded: Seeded
) -> None:
    features = features_of(seeded)
    x = seeded.frame[features].to_numpy(dtype=np.float32)[:7]
    inputs = []
    for index, feature in enumerate(features):
        tensor = triton.InferInput(feature, [len(x)], "FP32")
        tensor.set_data_from_numpy(x[:, index], binary_data=index % 2 == 0)  # mixed on purpose
        inputs.append(tensor)

    result = oip.infer(seeded.deployment.name, inputs, model_version="1",
                       headers=auth("viewer"))

    native = native_predictions(server, actors, seeded, x.astype(np.float64))
    assert result.as_numpy("predictions").tolist() == native["predictions"]
    assert result.as_numpy("probabilities").shape == (7, 2)


def test_errors_come_in_the_protocol_format(
    oip: triton.InferenceServerClient, auth, server: Server, seeded: Seeded
) -> None:
    name = seeded.deployment.name
    x = np.zeros((1, len(features_of(seeded))))
    tensor = triton.InferInput("input", list(x.shape), "FP64")
    tensor.set_data_from_numpy(x)

    with pytest.raises(InferenceServerException) as missing_version:
        oip.infer(name, [tensor], model_version="99", headers=auth("viewer"))
    with pytest.raises(InferenceServerException) as unknown_model:
        oip.infer("no-such-model", [tensor], headers=auth("viewer"))
    with pytest.raises(InferenceServerException) as anonymous:
        oip.infer(name, [tensor])
    narrow = triton.InferInput("input", [1, 3], "FP64")
    narrow.set_data_from_numpy(np.zeros((1, 3)))
    with pytest.raises(InferenceServerException) as wrong_shape:
        oip.infer(name, [narrow], headers=auth("viewer"))

    assert missing_version.value.status() == "404" and "version 99" in str(missing_version.value)
    assert unknown_model.value.status() == "404"
    assert anonymous.value.status() == "401"
    assert wrong_shape.value.status() == "422" and "expected [n, 30]" in str(wrong_shape.value)
    raw = httpx.post(f"{server.url}/v2/models/{name}/infer", content=b"{nope",
                     headers=auth("viewer"))
    assert raw.status_code == 422 and "not valid JSON" in raw.json()["error"]
