"""What an uploaded model is, decided from names, magic bytes and text — never by unpickling.

An upload (one file, or the files of an extracted archive) is one of::

    format          recognised by
    maestro         a Maestro model directory (maestro-model.json + its safe model file)
    skops           a zip holding skops' schema.json (usually *.skops)
    xgboost-json    JSON with a "learner" object;  xgboost-ubj: *.ubj (converted to JSON)
    lightgbm-text   text starting "tree" with a "version=" line
    pickle          *.pkl / *.pickle / *.joblib, or bytes starting with a pickle opcode
    mlflow-pyfunc   an MLmodel YAML (read with yaml.safe_load) whose flavors point at a
                    pickled scikit-learn model (loader_module mlflow.sklearn)

Only ``pickle`` and ``mlflow-pyfunc`` execute code when loaded (:data:`PICKLE_FORMATS`);
they load only where the tenant allows it, in the isolated worker.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from maestro_ml.domain.errors import InvalidInput, InvalidPath
from maestro_ml.domain.paths import canonical_key

MAESTRO = "maestro"
SKOPS = "skops"
XGBOOST_JSON = "xgboost-json"
XGBOOST_UBJ = "xgboost-ubj"
LIGHTGBM_TEXT = "lightgbm-text"
PICKLE = "pickle"
MLFLOW_PYFUNC = "mlflow-pyfunc"
PICKLE_FORMATS = frozenset({PICKLE, MLFLOW_PYFUNC})
MLMODEL_FILE = "MLmodel"
MAESTRO_METADATA = "maestro-model.json"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav")
MLFLOW_SKLEARN_LOADER = "mlflow.sklearn"
# Magic numbers of joblib's compressed containers (zlib, gzip, bz2, xz, lzma, lz4).
_JOBLIB_MAGICS = (
    b"ZF", b"\x78", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x5d\x00", b"\x04\x22\x4d\x18",
)
_SNIFF_BYTES = 4096


@dataclass(frozen=True)
class DetectedModel:
    """``model_file`` is relative to the upload's root; ``root`` is the folder that holds it."""

    format: str
    framework: str
    root: Path
    model_file: str
    serialization: str | None = None
    signature: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_pickle(self) -> bool:
        return self.format in PICKLE_FORMATS


def pickle_policy_error(tenant_id: str) -> InvalidInput:
    """The 422 for a pickle-based model in a tenant whose policy does not allow them."""
    return InvalidInput(
        "the tenant policy forbids pickle-based models (pickle, joblib, MLflow pyfunc): "
        "loading them runs code from the file. A tenant admin can allow them, loaded only in "
        f"an isolated worker process, with PATCH /api/v1/tenants/{tenant_id}/settings "
        '{"allow_pickle_models": true}',
        setting="allow_pickle_models",
    )


def detect_model(upload_dir: Path) -> DetectedModel:
    """Classify the files under ``upload_dir`` (what one upload unpacked to)."""
    root = _content_root(upload_dir)
    if (root / MLMODEL_FILE).is_file():
        return _detect_mlflow(root)
    if (root / MAESTRO_METADATA).is_file():
        return _detect_maestro(root)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    if len(files) != 1:
        raise InvalidInput(
            "file: could not tell which model this is: an archive must hold an MLflow model "
            f"({MLMODEL_FILE}), a Maestro model ({MAESTRO_METADATA}) or exactly one model file",
            field="file",
        )
    path = files[0]
    return DetectedModel(*sniff_file(path), root=root, model_file=path.relative_to(root).as_posix())


def sniff_file(path: Path) -> tuple[str, str]:
    """``(format, framework)`` of a single model file, from its name and first bytes."""
    name = path.name.lower()
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if name.endswith(PICKLE_SUFFIXES) or _looks_pickled(head):
        return PICKLE, "sklearn"
    if head.startswith(b"PK") and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as bundle:
            if "schema.json" in bundle.namelist():
                return SKOPS, "sklearn"
    if name.endswith(".ubj"):
        return XGBOOST_UBJ, "xgboost"
    stripped = head.lstrip()
    if stripped.startswith(b"{") and _is_xgboost_json(path):
        return XGBOOST_JSON, "xgboost"
    if stripped.startswith(b"tree") and b"version=" in head:
        return LIGHTGBM_TEXT, "lightgbm"
    raise InvalidInput(
        f"file: '{path.name}' is not a model format Maestro knows: upload a skops file, an "
        "XGBoost JSON/UBJ model, a LightGBM text model, a pickle/joblib file or an MLflow "
        "model directory (zipped)", field="file",
    )


def _looks_pickled(head: bytes) -> bool:
    # Protocol 2+ pickles start with PROTO (0x80) and a protocol number.
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    return head.startswith(_JOBLIB_MAGICS) and not head.startswith(b"PK")


def _is_xgboost_json(path: Path) -> bool:
    try:
        document = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(document, dict) and isinstance(document.get("learner"), dict)


def _content_root(upload_dir: Path) -> Path:
    """The upload folder, or its only entry when that is a folder (a zipped directory)."""
    entries = list(upload_dir.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return upload_dir


def _detect_maestro(root: Path) -> DetectedModel:
    try:
        metadata = json.loads((root / MAESTRO_METADATA).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"file: {MAESTRO_METADATA} is not valid JSON: {exc}") from exc
    if not isinstance(metadata, dict):
        raise InvalidInput(f"file: {MAESTRO_METADATA} must hold a JSON object")
    from maestro_ml.ml.model_io import MODEL_FILES

    fmt = metadata.get("format")
    if fmt not in MODEL_FILES:
        # Never trust a metadata file to declare a pickle: pickles are detected, not claimed.
        raise InvalidInput(
            f"file: {MAESTRO_METADATA} declares format {fmt!r}; a Maestro model directory "
            f"must be one of: {', '.join(MODEL_FILES)}"
        )
    model_file = MODEL_FILES[fmt]
    if not (root / model_file).is_file():
        raise InvalidInput(f"file: the Maestro model directory has no {model_file}")
    signature = metadata.get("signature") if isinstance(metadata.get("signature"), dict) else None
    framework = {SKOPS: "sklearn", XGBOOST_JSON: "xgboost", LIGHTGBM_TEXT: "lightgbm"}[fmt]
    return DetectedModel(
        fmt, framework, root, model_file, signature=signature, metadata=metadata
    )


def _detect_mlflow(root: Path) -> DetectedModel:
    try:
        document = yaml.safe_load((root / MLMODEL_FILE).read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"file: {MLMODEL_FILE} is not valid YAML: {exc}", field="file") from exc
    flavors = document.get("flavors") if isinstance(document, dict) else None
    if not isinstance(flavors, dict):
        raise InvalidInput(f"file: {MLMODEL_FILE} has no 'flavors' mapping", field="file")
    pyfunc = _mapping(flavors.get("python_function"))
    sklearn = _mapping(flavors.get("sklearn"))
    loader = pyfunc.get("loader_module")
    if loader not in (None, MLFLOW_SKLEARN_LOADER) or (not sklearn and not pyfunc):
        raise InvalidInput(
            f"file: MLflow models with loader_module {loader!r} are not supported; upload a "
            f"scikit-learn model logged with {MLFLOW_SKLEARN_LOADER} (flavor 'sklearn')",
            field="file",
        )
    relative = sklearn.get("pickled_model") or pyfunc.get("model_path") or pyfunc.get("data")
    if not isinstance(relative, str):
        raise InvalidInput(
            f"file: {MLMODEL_FILE} names no model file (sklearn.pickled_model or "
            "python_function.model_path)", field="file",
        )
    try:
        model_file = canonical_key(relative)
    except InvalidPath as exc:
        raise InvalidInput(
            f"file: {MLMODEL_FILE} names an unsafe model path: {exc.detail}", field="file"
        ) from exc
    if not (root / model_file).is_file():
        raise InvalidInput(
            f"file: {MLMODEL_FILE} names '{model_file}', which is not in the upload", field="file"
        )
    serialization = sklearn.get("serialization_format") or "pickle"
    if serialization not in ("pickle", "cloudpickle"):
        raise InvalidInput(
            f"file: MLflow serialization_format {serialization!r} is not supported; use "
            "pickle or cloudpickle", field="file",
        )
    return DetectedModel(
        MLFLOW_PYFUNC, "mlflow", root, model_file, serialization=serialization,
        signature=mlflow_signature(document.get("signature")),
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def mlflow_signature(raw: Any) -> dict[str, Any] | None:
    """An MLmodel ``signature`` (whose inputs/outputs are JSON text) as a plain dict."""
    if not isinstance(raw, dict):
        return None
    signature: dict[str, Any] = {}
    for part in ("inputs", "outputs"):
        value = raw.get(part)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise InvalidInput(f"file: MLmodel signature {part} is not JSON: {exc}") from exc
        if value is not None:
            signature[part] = value
    return signature if signature.get("inputs") else None
