"""Artifact key canonicalisation and the resolved-path fence."""

from __future__ import annotations

import unicodedata

import pytest

from maestro_ml.domain.errors import InvalidInput, InvalidPath
from maestro_ml.domain.paths import (
    MAX_KEY_BYTES,
    MAX_SEGMENT_BYTES,
    canonical_key,
    is_within,
    join_key,
)

VALID_KEYS = [
    "model/model.skops",
    "a b/c-d_e.txt",
    "metrics/ümlaut.json",
    "x/y/z.parquet",
    "model.pkl",
    ".hidden/config",
    "file.tar.gz",
    "data/日本語/ファイル.csv",
    "plots/loss~backup.png",
    "100%.txt",
    "report%2",
    "a/b..c/d",
    "a/..b",
    "a/b../c",
    "weights@v1/+x=y,z!(1)[2]{3}&$'.bin",
    "space in name/ leading and trailing ",
    "emoji/🚀.txt",
    "a" * MAX_SEGMENT_BYTES,
]

HOSTILE_KEYS = [
    # empty and invisible
    "",
    "a/\x00/b",
    "model\x00.pkl",
    "a\nb",
    "a\rb",
    "a\tb",
    "\x1b[31mred",
    "a\x7fb",
    "a\u0085b",
    "evil\u202etxt.exe",
    "zero\u200bwidth",
    "line\u2028sep",
    # absolute, home, drives, schemes
    "/etc/passwd",
    "//server/share",
    "~/.ssh/id_rsa",
    "~root/x",
    "C:",
    "C:\\Windows\\system32",
    "c:/windows",
    "file:///etc/passwd",
    "s3://bucket/key",
    "http://evil.example/x",
    "gs://b/o",
    "hdfs://nn/x",
    "simplecache::s3://b/k",
    "a/b:stream",
    # separators and URL syntax
    "..\\..\\windows",
    "a\\b",
    "a;b",
    "a#frag",
    "a?query=1",
    # dot segments
    "..",
    ".",
    "../etc/passwd",
    "a/../../etc/passwd",
    "a/..",
    "a/./b",
    "./a",
    "a/.",
    "...",
    "a/.. /b",
    "a/. . /b",
    "a/ /b",
    # empty segments
    "a//b",
    "a/b//",
    "/",
    # percent-encoded
    "%2e%2e/etc/passwd",
    "%2E%2E/etc",
    "a/%2e%2e/b",
    "%2e%2e%2fetc%2fpasswd",
    "..%2fetc",
    "a%2fb",
    "a%5cb",
    "%2fetc/passwd",
    "%00",
    "a%0ab",
    "%3a",
    "file%3a%2f%2f%2fetc",
    "a%3bb",
    "a%23b",
    "a%3fb",
    "%7eroot",
    "%252e%252e/etc",
    "%25252e%25252e/etc",
    "a/%252f/b",
    "%c0%ae%c0%ae/etc",
    "%C0%AE%C0%AE%C0%AF",
    "%e0%80%ae%e0%80%ae/x",
    "%c0%af",
    "%c1%9c",
    "%ff",
    "%u002e%u002e/etc",
    "%%32%65%%32%65/etc",
    "%ef%bc%8e%ef%bc%8e%ef%bc%8f",
    # lookalikes
    "．．／etc",
    "．．/etc",
    "a／b",
    "a＼b",
    "a\u2215b",
    "a\u2044b",
    "\u2024\u2024/etc",
    "\u2025/etc",
    "～/x",
    "ｃ：/x",
    "a\u037eb",  # GREEK QUESTION MARK, canonically ';'
    "a\ufe16b",  # PRESENTATION FORM FOR VERTICAL QUESTION MARK
    "a％2e％2e",
    # sizes
    "a" * (MAX_SEGMENT_BYTES + 1),
    "é" * 128,  # 256 bytes in one segment
    "/".join(["abcdefghi"] * 103),  # 1029 bytes
    "x" * 100_000,
]


def test_the_hostile_corpus_is_big():
    assert len(HOSTILE_KEYS) >= 40


@pytest.mark.parametrize("raw", HOSTILE_KEYS)
def test_hostile_keys_are_refused(raw):
    with pytest.raises(InvalidPath) as caught:
        canonical_key(raw)
    assert caught.value.detail.startswith("Invalid artifact key")
    assert caught.value.extra["reason"]


@pytest.mark.parametrize("raw", VALID_KEYS)
def test_valid_keys_are_returned_unchanged(raw):
    assert canonical_key(raw) == raw


def test_invalid_path_is_invalid_input():
    with pytest.raises(InvalidInput):
        canonical_key("../x")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "empty"),
        ("../etc", "'..' segments"),
        ("a/./b", "'.' segments"),
        ("/etc", "absolute"),
        ("~/x", "'~'"),
        ("C:\\x", "drive"),
        ("s3://b/k", "URL schemes"),
        ("a\\b", "backslash"),
        ("a//b", "empty path segments"),
        ("a\x00b", "U+0000"),
        ("%2e%2e/x", "percent-encoded '.'"),
        ("%c0%ae", "overlong"),
        ("．．／x", "U+FF0E"),
        ("a" * 256, "255 bytes"),
        ("a/" * 600, "1024 bytes"),
    ],
)
def test_messages_say_what_is_wrong(raw, fragment):
    with pytest.raises(InvalidPath) as caught:
        canonical_key(raw)
    assert fragment in caught.value.detail


def test_key_is_returned_in_nfc():
    decomposed = "metrics/u\u0308mlaut.json"
    assert canonical_key(decomposed) == "metrics/\u00fcmlaut.json"
    assert unicodedata.is_normalized("NFC", canonical_key(decomposed))


def test_one_trailing_slash_is_stripped():
    assert canonical_key("plots/") == "plots"
    assert canonical_key("a/b/") == "a/b"


def test_harmless_percent_escapes_are_kept_as_written():
    assert canonical_key("report%202024.txt") == "report%202024.txt"
    assert canonical_key("a%25b") == "a%25b"


def test_control_character_in_message_is_escaped():
    with pytest.raises(InvalidPath) as caught:
        canonical_key("a\nb")
    assert "\n" not in caught.value.detail


def test_long_keys_are_shortened_in_messages():
    with pytest.raises(InvalidPath) as caught:
        canonical_key("../" + "a" * 5000)
    assert len(caught.value.detail) < 300


def test_key_at_the_byte_limit_is_accepted():
    key = "/".join(["a" * 204] * 5)
    assert len(key.encode()) == MAX_KEY_BYTES
    assert canonical_key(key) == key


def test_non_string_is_refused():
    with pytest.raises(InvalidPath):
        canonical_key(b"a/b")  # type: ignore[arg-type]


def test_join_key_canonicalises_each_part():
    assert join_key("runs/abc", "artifacts/", "model.skops") == "runs/abc/artifacts/model.skops"
    assert join_key("u\u0308") == "\u00fc"


@pytest.mark.parametrize(
    "parts",
    [(), ("runs", ""), ("runs", "../x"), ("runs", "/etc"), ("a", "%2e%2e"), ("a" * 600, "b" * 600)],
)
def test_join_key_refuses_bad_parts(parts):
    with pytest.raises(InvalidPath):
        join_key(*parts)


@pytest.mark.parametrize(
    ("root", "candidate", "inside"),
    [
        ("/srv/art", "/srv/art", True),
        ("/srv/art", "/srv/art/", True),
        ("/srv/art/", "/srv/art/run/model.pkl", True),
        ("/srv/art", "/srv/art/run/../run2/x", True),
        ("/srv/art", "/srv/art/../art/x", True),
        ("/srv//art", "/srv/art/x", True),
        ("//srv/art", "/srv/art/x", True),
        ("/", "/anything", True),
        ("data", "data/x", True),
        ("/srv/art", "/srv/art-evil/x", False),
        ("/srv/art", "/srv/artx", False),
        ("/srv/art", "/srv/art/../secret", False),
        ("/srv/art", "/srv/art/x/../../secret", False),
        ("/srv/art", "/etc/passwd", False),
        ("/srv/art", "/srv", False),
        ("/srv/art", "srv/art/x", False),
        ("data", "/data/x", False),
        ("data", "../data/x", False),
        ("/srv/art", "", False),
        ("", "/srv/art", False),
        ("/srv/art", "/srv/art/\x00", False),
    ],
)
def test_is_within(root, candidate, inside):
    assert is_within(root, candidate) is inside
