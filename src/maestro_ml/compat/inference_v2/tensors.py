"""Open Inference Protocol v2 tensors <-> Maestro's feature rows, JSON and binary.

Requests carry either one tensor ``[n, features]`` whose columns follow the signature's
order, or one tensor per feature named as the feature (shape ``[n]`` or ``[n, 1]``). Tensor
data comes as JSON (``data``, flat or nested, row-major) or, with the binary tensor data
extension, as raw little-endian bytes after the JSON header (``binary_data_size``); BYTES
elements are 4-byte length-prefixed. Answers are ``predictions`` and, for classifiers,
``probabilities [n, classes]``, each JSON or binary as the client asked.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from maestro_ml.domain.errors import InvalidInput

HEADER_LENGTH = "inference-header-content-length"

NUMPY_OF = {
    "BOOL": np.bool_, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
}
DATATYPE_OF_COLUMN = {
    "long": "INT64", "integer": "INT32", "double": "FP64", "float": "FP32",
    "boolean": "BOOL", "string": "BYTES", "datetime": "BYTES",
}


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str
    shape: list[int]
    values: list[Any]
    """Row-major, flattened."""


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    inputs: list[Tensor]
    binary_outputs: dict[str, bool]
    """Requested outputs -> whether each wants binary data; empty: every output, as JSON."""
    binary_default: bool


def parse_infer_request(body: bytes, header_length: str | None) -> InferRequest:
    """Read an infer request body (JSON, or a JSON header followed by binary tensor data)."""
    json_part, binary = _split_body(body, header_length)
    try:
        document = orjson.loads(json_part)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the inference request is not valid JSON: {exc}") from None
    if not isinstance(document, Mapping):
        raise InvalidInput("the inference request must be a JSON object with 'inputs'")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("'inputs' must be a non-empty list of tensors")
    offset = 0
    tensors = []
    for index, spec in enumerate(inputs):
        tensor, offset = _read_tensor(spec, index, binary, offset)
        tensors.append(tensor)
    if offset != len(binary):
        raise InvalidInput(f"{len(binary) - offset} bytes of binary data belong to no input")
    parameters = _mapping(document.get("parameters"), "parameters")
    default = parameters.get("binary_data_output") is True
    outputs: dict[str, bool] = {}
    for spec in document.get("outputs") or []:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise InvalidInput("each of 'outputs' must be an object with a 'name'")
        wanted = _mapping(spec.get("parameters"), "outputs.parameters").get("binary_data")
        outputs[spec["name"]] = default if wanted is None else wanted is True
    request_id = document.get("id")
    return InferRequest(
        str(request_id) if request_id is not None else None, tensors, outputs, default
    )


def rows_from_tensors(tensors: Sequence[Tensor], features: Sequence[str]) -> list[dict]:
    """Feature rows from one ``[n, features]`` tensor or from one tensor per feature."""
    if len(tensors) == 1 and tensors[0].name not in features:
        return _rows_from_matrix(tensors[0], features)
    by_name = {tensor.name: tensor for tensor in tensors}
    unknown = sorted(set(by_name) - set(features))
    if unknown:
        raise InvalidInput(
            f"input '{unknown[0]}' is not a feature of this model; send one tensor per feature "
            f"({', '.join(features)}) or one [n, {len(features)}] tensor"
        )
    lengths = {len(tensor.values) for tensor in tensors}
    if len(lengths) != 1:
        raise InvalidInput("the feature tensors hold different numbers of rows")
    for tensor in tensors:
        if len(tensor.shape) > 2 or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            raise InvalidInput(f"input '{tensor.name}' must have shape [n] or [n, 1]")
    count = lengths.pop()
    names = [tensor.name for tensor in tensors]
    columns = [tensor.values for tensor in tensors]
    return [{name: column[i] for name, column in zip(names, columns, strict=True)}
            for i in range(count)]


def _rows_from_matrix(tensor: Tensor, features: Sequence[str]) -> list[dict]:
    width = len(features)
    shape = tensor.shape
    if len(shape) == 1 and shape[0] == width:
        shape = [1, width]
    if len(shape) != 2 or shape[1] != width:
        raise InvalidInput(
            f"input '{tensor.name}' has shape {tensor.shape}; expected [n, {width}] with the "
            f"columns {', '.join(features)} (or one tensor per feature, named as the feature)"
        )
    values = tensor.values
    return [dict(zip(features, values[i * width:(i + 1) * width], strict=True))
            for i in range(shape[0])]


def output_tensors(
    predictions: list[Any], probabilities: list[list[float]] | None
) -> list[tuple[str, str, list[int], np.ndarray | list[Any]]]:
    """(name, datatype, shape, values) of the answer's outputs."""
    outputs: list[tuple[str, str, list[int], np.ndarray | list[Any]]] = []
    datatype = _datatype_of_values(predictions)
    values: np.ndarray | list[Any] = (
        [str(v) for v in predictions] if datatype == "BYTES"
        else np.asarray(predictions, dtype=NUMPY_OF[datatype])
    )
    outputs.append(("predictions", datatype, [len(predictions)], values))
    if probabilities is not None:
        matrix = np.asarray(probabilities, dtype=np.float64).reshape(len(probabilities), -1)
        outputs.append(("probabilities", "FP64", list(matrix.shape), matrix))
    return outputs


def render_infer_response(
    model: str, version: int, request: InferRequest,
    outputs: list[tuple[str, str, list[int], np.ndarray | list[Any]]],
) -> tuple[bytes, int | None]:
    """The response body and, when it carries binary data, the JSON header's length."""
    wanted = request.binary_outputs
    if wanted:
        unknown = sorted(set(wanted) - {name for name, *_ in outputs})
        if unknown:
            raise InvalidInput(f"unknown output '{unknown[0]}'; this model has: "
                               f"{', '.join(name for name, *_ in outputs)}")
        outputs = [output for output in outputs if output[0] in wanted]
    documents, chunks = [], []
    for name, datatype, shape, values in outputs:
        document: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
        if wanted.get(name, request.binary_default):
            chunk = _to_bytes(datatype, values)
            document["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            flat = values.reshape(-1).tolist() if isinstance(values, np.ndarray) else values
            document["data"] = flat
        documents.append(document)
    header: dict[str, Any] = {
        "model_name": model, "model_version": str(version), "outputs": documents,
    }
    if request.id is not None:
        header["id"] = request.id
    head = orjson.dumps(header)
    if not chunks:
        return head, None
    return head + b"".join(chunks), len(head)


def _split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    try:
        length = int(header_length)
    except ValueError:
        raise InvalidInput("Inference-Header-Content-Length must be an integer") from None
    if not 0 < length <= len(body):
        raise InvalidInput("Inference-Header-Content-Length is outside the request body")
    return body[:length], body[length:]


def _read_tensor(spec: Any, index: int, binary: bytes, offset: int) -> tuple[Tensor, int]:
    where = f"inputs[{index}]"
    if not isinstance(spec, Mapping):
        raise InvalidInput(f"'{where}' must be an object with name, datatype, shape, data")
    name, datatype, shape = spec.get("name"), spec.get("datatype"), spec.get("shape")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"'{where}.name' must be a non-empty string")
    if datatype != "BYTES" and datatype not in NUMPY_OF:
        raise InvalidInput(f"'{where}.datatype' must be one of BYTES, {', '.join(NUMPY_OF)}")
    if (not isinstance(shape, list) or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise InvalidInput(f"'{where}.shape' must be a non-empty list of sizes")
    count = int(np.prod(shape))
    size = _mapping(spec.get("parameters"), f"{where}.parameters").get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise InvalidInput(f"'{where}' binary_data_size is outside the binary data")
        values = _from_bytes(datatype, binary[offset:offset + size], where)
        offset += size
    else:
        if "data" not in spec:
            raise InvalidInput(f"'{where}' has no 'data' (and no binary_data_size)")
        values = _flatten(spec["data"])
    if len(values) != count:
        raise InvalidInput(f"'{where}' holds {len(values)} values but its shape {shape} "
                           f"needs {count}")
    return Tensor(name, datatype, list(shape), values), offset


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(item, list) for item in data):
        return data
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item))
    return flat


def _from_bytes(datatype: str, chunk: bytes, where: str) -> list[Any]:
    if datatype == "BYTES":
        values, position = [], 0
        while position < len(chunk):
            if position + 4 > len(chunk):
                raise InvalidInput(f"'{where}' BYTES data is truncated")
            (length,) = struct.unpack_from("<I", chunk, position)
            position += 4
            if position + length > len(chunk):
                raise InvalidInput(f"'{where}' BYTES data is truncated")
            values.append(chunk[position:position + length].decode("utf-8", "replace"))
            position += length
        return values
    dtype = np.dtype(NUMPY_OF[datatype]).newbyteorder("<")
    if len(chunk) % dtype.itemsize:
        raise InvalidInput(f"'{where}' binary data is not a whole number of {datatype} values")
    return np.frombuffer(chunk, dtype=dtype).tolist()


def _to_bytes(datatype: str, values: np.ndarray | list[Any]) -> bytes:
    if datatype == "BYTES":
        parts = []
        for value in values:
            encoded = str(value).encode()
            parts.append(struct.pack("<I", len(encoded)) + encoded)
        return b"".join(parts)
    array = np.asarray(values, dtype=np.dtype(NUMPY_OF[datatype]).newbyteorder("<"))
    return array.tobytes()


def _datatype_of_values(values: list[Any]) -> str:
    if all(isinstance(v, bool | np.bool_) for v in values):
        return "BOOL"
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        return "INT64"
    if all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values):
        return "FP64"
    return "BYTES"


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"'{where}' must be an object")
    return value
