"""Safe extraction of uploaded model archives (``.zip``, ``.tar.gz`` / ``.tgz``).

Every member is checked before a single byte is written, and the checks refuse rather than
repair: only regular files and directories (no symlinks, hardlinks, devices or FIFOs); names
that are relative, free of NUL, backslashes, ``..`` and anything else
``domain.paths.canonical_key`` refuses, and already in their canonical form (a name that
would canonicalise to something else names a different file than it appears to); no name
twice, not even differing only in letter case or as both a file and a folder; at most
``max_members`` members and ``max_bytes`` uncompressed, with no member compressed more than
``max_ratio`` times (zip bombs). The declared sizes are then not trusted: extraction counts
the bytes it actually writes and stops at the limit.

Any refusal is an ``InvalidInput`` (422) naming the member and the rule, and leaves nothing
in the target directory.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from maestro_ml.domain.errors import InvalidInput, InvalidPath
from maestro_ml.domain.paths import canonical_key

ZIP_SUFFIXES = (".zip",)
TAR_SUFFIXES = (".tar.gz", ".tgz")
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 10_000
    max_bytes: int = 4 * 1024**3
    # Real model files compress 2-10x; a zip bomb compresses thousands of times.
    max_ratio: float = 200.0


@dataclass(frozen=True)
class _Member:
    name: str
    is_dir: bool
    size: int


def is_archive(filename: str) -> bool:
    lowered = filename.lower()
    return lowered.endswith(ZIP_SUFFIXES + TAR_SUFFIXES)


def extract_archive(
    archive: Path, filename: str, target: Path, limits: ArchiveLimits | None = None
) -> list[str]:
    """Extract ``archive`` (named ``filename`` by the client) into the empty ``target``.

    Returns the extracted file names (canonical keys). On any refusal ``target`` is emptied.
    """
    limits = limits or ArchiveLimits()
    target.mkdir(parents=True, exist_ok=True)
    try:
        if filename.lower().endswith(ZIP_SUFFIXES):
            return _extract_zip(archive, target, limits)
        if filename.lower().endswith(TAR_SUFFIXES):
            return _extract_tar(archive, target, limits)
    except BaseException:
        _empty(target)
        raise
    raise InvalidInput(
        f"file: '{filename}' is not a supported archive; use .zip, .tar.gz or .tgz", field="file"
    )


def _extract_zip(archive: Path, target: Path, limits: ArchiveLimits) -> list[str]:
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _refuse(f"the file is not a readable zip archive ({exc})") from exc
    with bundle:
        infos = bundle.infolist()
        _check_count(len(infos), limits)
        members = []
        for info in infos:
            # zipfile cuts names at the first NUL; orig_filename keeps what the archive says.
            _check_raw_name(info.orig_filename)
            mode = info.external_attr >> 16
            # Zips from Windows tools or zipfile.writestr carry no file-type bits: a file.
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise _refuse(
                    f"member '{_shown(info.filename)}' is not a regular file ({_kind(mode)})"
                )
            if info.flag_bits & 0x1:
                raise _refuse(f"member '{_shown(info.filename)}' is encrypted")
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > _CHUNK and ratio > limits.max_ratio:
                raise _refuse(
                    f"member '{_shown(info.filename)}' expands {ratio:.0f} times (more than "
                    f"{limits.max_ratio:.0f}): refusing a likely zip bomb"
                )
            members.append(_Member(info.filename, info.is_dir(), info.file_size))
        names = _check_members(members, limits)
        written = 0
        for info, name in zip(infos, names, strict=True):
            if info.is_dir():
                (target / name).mkdir(parents=True, exist_ok=True)
                continue
            with bundle.open(info) as source:
                written = _copy(source, target / name, written, limits)
    return [name for name, member in zip(names, members, strict=True) if not member.is_dir]


def _extract_tar(archive: Path, target: Path, limits: ArchiveLimits) -> list[str]:
    try:
        bundle = tarfile.open(archive, mode="r:gz")  # noqa: SIM115 (closed by the with below)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise _refuse(f"the file is not a readable .tar.gz archive ({exc})") from exc
    with bundle:
        infos: list[tarfile.TarInfo] = []
        try:
            # Iterated, not getmembers(): an archive of a million entries stops at the limit.
            for info in bundle:
                infos.append(info)
                _check_count(len(infos), limits)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise _refuse(f"the archive is corrupt ({exc})") from exc
        members = []
        for info in infos:
            _check_raw_name(info.name)
            if not (info.isreg() or info.isdir()):
                raise _refuse(
                    f"member '{_shown(info.name)}' is not a regular file ({_tar_kind(info)})"
                )
            members.append(_Member(info.name, info.isdir(), info.size))
        declared = sum(member.size for member in members)
        compressed = max(archive.stat().st_size, 1)
        if declared > _CHUNK and declared / compressed > limits.max_ratio:
            raise _refuse(
                f"the archive expands {declared / compressed:.0f} times (more than "
                f"{limits.max_ratio:.0f}): refusing a likely archive bomb"
            )
        names = _check_members(members, limits)
        written = 0
        for info, name in zip(infos, names, strict=True):
            if info.isdir():
                (target / name).mkdir(parents=True, exist_ok=True)
                continue
            source = bundle.extractfile(info)
            if source is None:
                raise _refuse(f"member '{_shown(info.name)}' has no content")
            with source:
                written = _copy(source, target / name, written, limits)
    return [name for name, member in zip(names, members, strict=True) if not member.is_dir]


def _check_count(count: int, limits: ArchiveLimits) -> None:
    if count > limits.max_members:
        raise _refuse(f"the archive has more than {limits.max_members} members")


def _check_raw_name(name: str) -> None:
    if "\x00" in name:
        raise _refuse(f"member '{_shown(name)}' has a NUL character in its name")
    if "\\" in name:
        raise _refuse(f"member '{_shown(name)}' uses backslashes; use '/' between folders")


def _check_members(members: list[_Member], limits: ArchiveLimits) -> list[str]:
    """The canonical names of ``members``, after every name and size rule."""
    names: list[str] = []
    seen: set[str] = set()
    files: set[str] = set()
    folders: set[str] = set()
    total = 0
    for member in members:
        name = _canonical(member.name)
        folded = name.casefold()
        if folded in seen:
            raise _refuse(f"member '{_shown(member.name)}' appears more than once")
        seen.add(folded)
        parents = folded.split("/")[:-1]
        for depth in range(1, len(parents) + 1):
            folders.add("/".join(parents[:depth]))
        if member.is_dir:
            folders.add(folded)
        else:
            files.add(folded)
            total += member.size
            if total > limits.max_bytes:
                raise _refuse(f"the archive holds more than {limits.max_bytes} bytes uncompressed")
        names.append(name)
    clash = files & folders
    if clash:
        raise _refuse(f"'{sorted(clash)[0]}' is both a file and a folder in the archive")
    return names


def _canonical(raw: str) -> str:
    name = raw[:-1] if raw.endswith("/") else raw
    try:
        key = canonical_key(name)
    except InvalidPath as exc:
        raise _refuse(f"member '{_shown(raw)}' has an unsafe name: {exc.detail}") from exc
    if key != name:
        raise _refuse(
            f"member '{_shown(raw)}' is not in canonical form (it would be stored as '{key}')"
        )
    return key


def _copy(source: IO[bytes], path: Path, written: int, limits: ArchiveLimits) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    # "xb": a name that somehow resolves to an existing file is an error, never an overwrite.
    with path.open("xb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > limits.max_bytes:
                raise _refuse(f"the archive holds more than {limits.max_bytes} bytes uncompressed")
            out.write(chunk)
    return written


def _empty(target: Path) -> None:
    for child in target.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _refuse(reason: str) -> InvalidInput:
    return InvalidInput(f"file: unsafe or unreadable archive: {reason}", field="file")


def _shown(name: str) -> str:
    return name.replace("\x00", "\\x00")[:200]


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "a special file"


def _tar_kind(info: tarfile.TarInfo) -> str:
    if info.issym():
        return "a symbolic link"
    if info.islnk():
        return "a hard link"
    if info.ischr() or info.isblk():
        return "a device file"
    if info.isfifo():
        return "a FIFO"
    return "a special member"
