"""Reading and profiling dataset files, and the signature inferred from a frame."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.ml.datasets import detect_format, profile_table, read_table
from maestro_ml.ml.signature import infer_signature


@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": np.array([1, 2, 3], dtype=np.int64),
            "score": [0.5, np.nan, 2.0],
            "active": [True, False, True],
            "plan": ["free", None, "pro"],
            "joined": pd.to_datetime(["2024-01-01", "2024-02-01", None]),
        }
    )


def test_parquet_profile_has_types_count_and_json_safe_preview(tmp_path, mixed_frame):
    path = tmp_path / "users.parquet"
    mixed_frame.to_parquet(path)

    profile = profile_table(path, "parquet", preview_rows=2)

    assert profile.schema == [
        {"name": "id", "type": "long"},
        {"name": "score", "type": "double"},
        {"name": "active", "type": "boolean"},
        {"name": "plan", "type": "string"},
        {"name": "joined", "type": "datetime"},
    ]
    assert profile.row_count == 3
    assert profile.preview[1] == {
        "id": 2,
        "score": None,
        "active": False,
        "plan": None,
        "joined": "2024-02-01T00:00:00",
    }
    json.dumps(profile.preview, allow_nan=False)  # raises on NaN or numpy values
    assert type(profile.preview[0]["id"]) is int


def test_csv_is_read_with_string_column_names(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("1,b\n2,x\n")

    frame = read_table(path, "csv")

    assert list(frame.columns) == ["1", "b"]


@pytest.mark.parametrize(
    ("name", "content", "fmt", "message"),
    [
        ("empty.csv", b"", "csv", "empty"),
        ("broken.csv", b'a,b\n"1,2\n', "csv", "could not be read as CSV"),
        ("latin1.csv", b"a\n\xff\xfe\x00\n", "csv", "could not be read as CSV"),
        ("empty.parquet", b"", "parquet", "empty"),
        ("fake.parquet", b"a,b\n1,2\n", "parquet", "could not be read as Parquet"),
    ],
)
def test_unreadable_files_are_invalid_input(tmp_path, name, content, fmt, message):
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(InvalidInput, match=message):
        read_table(path, fmt)


def test_parquet_without_columns_is_invalid_input(tmp_path):
    path = tmp_path / "nothing.parquet"
    pd.DataFrame(index=[0, 1]).to_parquet(path)

    with pytest.raises(InvalidInput, match="no columns"):
        read_table(path, "parquet")


@pytest.mark.parametrize(
    ("filename", "fmt"),
    [("a.csv", "csv"), ("A.CSV", "csv"), ("a.csv.gz", "csv"), ("a.parquet", "parquet"),
     ("a.pq", "parquet")],
)  # fmt: skip
def test_format_is_detected_from_the_extension(filename, fmt):
    assert detect_format(filename) == fmt


def test_unknown_extension_is_invalid_input():
    with pytest.raises(InvalidInput, match="data.xlsx"):
        detect_format("data.xlsx")


def test_signature_lists_inputs_in_order_and_the_target_as_output(mixed_frame):
    signature = infer_signature(mixed_frame, "active")

    assert [column["name"] for column in signature["inputs"]] == ["id", "score", "plan", "joined"]
    assert signature["outputs"] == [{"name": "active", "type": "boolean"}]
