"""Safe extraction of model archives: the attack corpus is refused and nothing is written."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.ml.archives import ArchiveLimits, extract_archive, is_archive

SMALL = ArchiveLimits(max_members=20, max_bytes=64 * 1024 * 1024, max_ratio=100)


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return path


def zip_with_mode(path: Path, name: str, mode: int, data: bytes = b"target") -> Path:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr(info, data)
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo], data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as bundle:
        for info in members:
            payload = io.BytesIO(data) if info.isreg() else None
            if info.isreg():
                info.size = len(data)
            bundle.addfile(info, payload)
    return path


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def zip_symlink(p: Path) -> Path:
    return zip_with_mode(p, "model.pkl", 0o120777, b"/etc/passwd")


def zip_dotdot(p: Path) -> Path:
    return make_zip(p, {"../evil.pkl": b"x"})


def zip_absolute(p: Path) -> Path:
    return make_zip(p, {"/tmp/evil.pkl": b"x"})


def zip_backslash(p: Path) -> Path:
    return make_zip(p, {"model\\..\\..\\evil.pkl": b"x"})


def zip_nul(p: Path) -> Path:
    # zipfile cuts names at NUL when writing, so patch the bytes of a same-length name.
    make_zip(p, {"modelXevil.pkl": b"x"})
    p.write_bytes(p.read_bytes().replace(b"modelXevil", b"model\x00evil"))
    return p


def zip_duplicate(p: Path) -> Path:
    with pytest.warns(UserWarning), zipfile.ZipFile(p, "w") as bundle:
        bundle.writestr("model.pkl", b"one")
        bundle.writestr("model.pkl", b"two")
    return p


def zip_case_duplicate(p: Path) -> Path:
    return make_zip(p, {"Model.pkl": b"one", "model.PKL": b"two"})


def zip_bomb(p: Path) -> Path:
    return make_zip(p, {"model.pkl": bytes(20 * 1024 * 1024)})


def zip_too_many(p: Path) -> Path:
    return make_zip(p, {f"part-{i}.bin": b"x" for i in range(SMALL.max_members + 1)})


def zip_non_canonical(p: Path) -> Path:
    # NFD "u" + combining diaeresis: canonicalises (NFC) to a different name.
    return make_zip(p, {"mu\u0308del.pkl": b"x"})


def zip_device(p: Path) -> Path:
    return zip_with_mode(p, "dev", 0o020666)


def zip_file_and_folder(p: Path) -> Path:
    return make_zip(p, {"model": b"x", "model/inner.pkl": b"y"})


def tar_symlink(p: Path) -> Path:
    return make_tar(p, [tar_member("model.pkl", tarfile.SYMTYPE, "/etc/passwd")])


def tar_hardlink(p: Path) -> Path:
    return make_tar(p, [tar_member("model.pkl", tarfile.LNKTYPE, "/etc/passwd")])


def tar_dotdot(p: Path) -> Path:
    return make_tar(p, [tar_member("a/../../evil.pkl")])


def tar_absolute(p: Path) -> Path:
    return make_tar(p, [tar_member("/etc/cron.d/evil")])


def tar_device(p: Path) -> Path:
    return make_tar(p, [tar_member("dev", tarfile.CHRTYPE)])


def tar_fifo(p: Path) -> Path:
    return make_tar(p, [tar_member("pipe", tarfile.FIFOTYPE)])


def tar_bomb(p: Path) -> Path:
    return make_tar(p, [tar_member("model.pkl")], data=bytes(20 * 1024 * 1024))


def tar_duplicate(p: Path) -> Path:
    return make_tar(p, [tar_member("model.pkl"), tar_member("model.pkl")])


def tar_too_many(p: Path) -> Path:
    return make_tar(p, [tar_member(f"f{i}") for i in range(SMALL.max_members + 1)])


ATTACKS: dict[str, tuple[str, Callable[[Path], Path], str]] = {
    "zip symlink": ("a.zip", zip_symlink, "symbolic link"),
    "zip ../ member": ("a.zip", zip_dotdot, "unsafe name"),
    "zip absolute path": ("a.zip", zip_absolute, "unsafe name"),
    "zip backslashes": ("a.zip", zip_backslash, "backslashes"),
    "zip NUL in name": ("a.zip", zip_nul, "NUL"),
    "zip duplicate names": ("a.zip", zip_duplicate, "more than once"),
    "zip names differing in case": ("a.zip", zip_case_duplicate, "more than once"),
    "zip bomb ratio": ("a.zip", zip_bomb, "zip bomb"),
    "zip too many files": ("a.zip", zip_too_many, "more than 20 members"),
    "zip non-canonical name": ("a.zip", zip_non_canonical, "canonical form"),
    "zip device file": ("a.zip", zip_device, "device file"),
    "zip file and folder of one name": ("a.zip", zip_file_and_folder, "both a file"),
    "tar symlink": ("a.tar.gz", tar_symlink, "symbolic link"),
    "tar hardlink": ("a.tgz", tar_hardlink, "hard link"),
    "tar ../ member": ("a.tar.gz", tar_dotdot, "unsafe name"),
    "tar absolute path": ("a.tar.gz", tar_absolute, "unsafe name"),
    "tar device file": ("a.tar.gz", tar_device, "device file"),
    "tar fifo": ("a.tar.gz", tar_fifo, "FIFO"),
    "tar bomb ratio": ("a.tar.gz", tar_bomb, "bomb"),
    "tar duplicate names": ("a.tar.gz", tar_duplicate, "more than once"),
    "tar too many files": ("a.tar.gz", tar_too_many, "more than 20 members"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_malicious_archive_is_refused_and_nothing_is_written(tmp_path: Path, attack: str):
    filename, build, reason = ATTACKS[attack]
    archive = build(tmp_path / filename)
    target = tmp_path / "out"

    with pytest.raises(InvalidInput) as refused:
        extract_archive(archive, filename, target, SMALL)

    assert reason in refused.value.detail
    assert list(target.iterdir()) == []
    assert not (tmp_path / "evil.pkl").exists()


def test_a_normal_zip_extracts_files_and_folders(tmp_path: Path):
    members = {"model/MLmodel": b"flavors: {}", "model/model.pkl": b"p"}
    archive = make_zip(tmp_path / "m.zip", members)

    names = extract_archive(archive, "m.zip", tmp_path / "out", SMALL)

    assert sorted(names) == ["model/MLmodel", "model/model.pkl"]
    assert (tmp_path / "out" / "model" / "model.pkl").read_bytes() == b"p"


def test_a_normal_tar_gz_extracts(tmp_path: Path):
    archive = make_tar(tmp_path / "m.tar.gz", [tar_member("model", tarfile.DIRTYPE),
                                               tar_member("model/model.txt")], data=b"tree")

    names = extract_archive(archive, "m.tar.gz", tmp_path / "out", SMALL)

    assert names == ["model/model.txt"]
    assert (tmp_path / "out" / "model" / "model.txt").read_bytes() == b"tree"


def test_actual_bytes_are_counted_not_the_declared_sizes(tmp_path: Path):
    archive = make_zip(tmp_path / "m.zip", {"a.bin": bytes(range(256)) * 4096})
    limits = ArchiveLimits(max_members=5, max_bytes=1000, max_ratio=1000)

    with pytest.raises(InvalidInput, match="more than 1000 bytes"):
        extract_archive(archive, "m.zip", tmp_path / "out", limits)
    assert list((tmp_path / "out").iterdir()) == []


def test_corrupt_archives_and_unknown_suffixes_are_refused(tmp_path: Path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")

    with pytest.raises(InvalidInput, match="not a readable zip"):
        extract_archive(junk, "junk.zip", tmp_path / "a")
    with pytest.raises(InvalidInput, match="not a readable .tar.gz"):
        extract_archive(junk, "junk.tar.gz", tmp_path / "b")
    assert is_archive("m.TGZ") and is_archive("m.zip") and not is_archive("m.pkl")
