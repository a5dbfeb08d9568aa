"""OIP v2 tensors <-> rows: JSON and binary data, both input layouts, clear refusals."""

from __future__ import annotations

import struct

import numpy as np
import orjson
import pytest

from maestro_ml.compat.inference_v2.tensors import (
    output_tensors,
    parse_infer_request,
    render_infer_response,
    rows_from_tensors,
)
from maestro_ml.domain.errors import InvalidInput

FEATURES = ["a", "b"]


def binary_request(header: dict, *chunks: bytes) -> tuple[bytes, str]:
    head = orjson.dumps(header)
    return head + b"".join(chunks), str(len(head))


def test_a_json_matrix_becomes_rows_in_signature_order() -> None:
    body = orjson.dumps({"inputs": [
        {"name": "x", "datatype": "FP64", "shape": [2, 2], "data": [[1, 2], [3, 4]]}]})

    request = parse_infer_request(body, None)

    assert rows_from_tensors(request.inputs, FEATURES) == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]


def test_binary_tensors_per_feature_including_bytes() -> None:
    numbers = np.array([1.5, 2.5], dtype="<f4").tobytes()
    words = b"".join(struct.pack("<I", len(w)) + w for w in (b"red", b"blue"))
    body, length = binary_request({"inputs": [
        {"name": "a", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}},
        {"name": "b", "datatype": "BYTES", "shape": [2, 1],
         "parameters": {"binary_data_size": len(words)}},
    ]}, numbers, words)

    request = parse_infer_request(body, length)

    assert rows_from_tensors(request.inputs, FEATURES) == [
        {"a": 1.5, "b": "red"}, {"a": 2.5, "b": "blue"}]


def test_outputs_are_binary_when_asked_and_json_otherwise() -> None:
    body = orjson.dumps({"id": "7", "inputs": [
        {"name": "x", "datatype": "INT64", "shape": [1, 2], "data": [1, 2]}],
        "outputs": [{"name": "predictions", "parameters": {"binary_data": True}},
                    {"name": "probabilities"}]})
    request = parse_infer_request(body, None)
    outputs = output_tensors(["yes"], [[0.25, 0.75]])

    content, header_length = render_infer_response("m", 3, request, outputs)

    assert header_length is not None
    header = orjson.loads(content[:header_length])
    assert header["id"] == "7" and header["model_version"] == "3"
    predictions, probabilities = header["outputs"]
    assert predictions["datatype"] == "BYTES"
    assert content[header_length:] == struct.pack("<I", 3) + b"yes"
    assert probabilities["data"] == [0.25, 0.75] and probabilities["shape"] == [1, 2]


@pytest.mark.parametrize(("body", "words"), [
    ({"inputs": []}, "non-empty list"),
    ({"inputs": [{"name": "x", "datatype": "FP9", "shape": [1, 2], "data": [1, 2]}]},
     "datatype"),
    ({"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 2], "data": [1]}]},
     "needs 2"),
    ({"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 3], "data": [1, 2, 3]}]},
     "expected [n, 2]"),
    ({"inputs": [{"name": "a", "datatype": "FP64", "shape": [1], "data": [1]},
                 {"name": "zz", "datatype": "FP64", "shape": [1], "data": [1]}]},
     "not a feature"),
])
def test_bad_requests_name_the_problem(body: dict, words: str) -> None:
    with pytest.raises(InvalidInput, match=None) as error:
        rows_from_tensors(parse_infer_request(orjson.dumps(body), None).inputs, FEATURES)
    assert words in str(error.value)


def test_binary_sizes_must_fit_the_body() -> None:
    body, length = binary_request({"inputs": [
        {"name": "a", "datatype": "FP64", "shape": [1], "parameters": {"binary_data_size": 16}},
    ]}, b"\x00" * 8)
    with pytest.raises(InvalidInput, match="outside the binary data"):
        parse_infer_request(body, length)
    with pytest.raises(InvalidInput, match="Inference-Header-Content-Length"):
        parse_infer_request(body, "999999")
