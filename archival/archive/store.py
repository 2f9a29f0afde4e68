"""Storage backends. The archive is write-once (WORM-friendly): objects are created, never changed,
appended to or overwritten; `put_new` refuses an existing name unless the bytes are identical."""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from archival.archive.encryption import ArchiveKeys, plain_keys


class ArchiveConflict(Exception):
    """An object already exists under a deterministic name with different content."""


class ArchiveUnavailable(Exception):
    """The archive cannot be written or reached (a read-only folder, a full disk, a missing bucket, no
    credentials): the message names the place and what to do."""


_WRITE_HINTS = {errno.EROFS: "its file system is mounted read-only", errno.EACCES: "this user may not write there",
                errno.EPERM: "this user may not write there",
                errno.ENOSPC: "the disk is full: free space and run again; nothing past this file was published",
                errno.EDQUOT: "the disk quota is exhausted: free space and run again"}


def _writes(method):
    """A write of the local store: an OSError becomes ArchiveUnavailable naming the file and the cause."""
    @functools.wraps(method)
    def write(self, path, *args, **kwargs):
        try:
            return method(self, path, *args, **kwargs)
        except OSError as exc:
            hint = _WRITE_HINTS.get(exc.errno, exc.strerror or str(exc))
            raise ArchiveUnavailable(f"cannot write {self.root / path} in the archive: {hint}") from None
    return write


@dataclass(frozen=True)
class ObjectInfo:
    path: str
    size: int
    modified: float  # seconds since the epoch, by the store's own clock


class ArchiveStore(Protocol):
    keys: ArchiveKeys  # what new Parquet files are encrypted with, and how encrypted files are read

    def list(self, prefix: str, hidden: bool = False, after: str | None = None) -> list[str]: ...
    def list_info(self, prefix: str, hidden: bool = False) -> list[ObjectInfo]: ...
    def info(self, path: str) -> ObjectInfo: ...
    def move(self, path: str, new_path: str) -> None: ...
    def remove_dead_temp(self, path: str) -> bool: ...
    def replace(self, path: str, data: bytes) -> None: ...  # locks only: archive objects are never replaced
    def delete(self, path: str) -> None: ...  # locks, and files of expired periods (archival lifecycle)
    def read_bytes(self, path: str) -> bytes: ...
    def exists(self, path: str) -> bool: ...
    def put_new(self, path: str, data: bytes) -> bool: ...
    def put_file(self, path: str, local: Path, sha256: str, tier: str | None = None,
                 lock_until: datetime | None = None, expected: bool = False) -> bool: ...
    def size(self, path: str) -> int: ...
    def uri(self, path: str = "") -> str: ...
    def describe(self) -> str: ...
    def local_copy(self, path: str) -> AbstractContextManager[Path]: ...


class LocalStore:
    """A folder. Writes go to a temp name in the same folder, are fsynced, then linked into place,
    so no reader ever sees a partial file under a final name."""

    def __init__(self, root: Path, tiers: dict[str, Path] | None = None, keys: ArchiveKeys | None = None):
        self.root = Path(root)
        self.keys = keys or plain_keys()
        self.tiers = {tier: Path(folder) for tier, folder in (tiers or {}).items()}  # cool/cold roots

    def describe(self) -> str:
        return str(self.root)

    def tier_root(self, tier: str) -> Path:
        return self.tiers.get(tier, self.root) if tier != "hot" else self.root

    def _full(self, path: str) -> Path:
        """Where `path` is: the root, else the tier folder that holds it (a moved period's files)."""
        if path.startswith("/") or ".." in Path(path).parts:
            raise ValueError(f"archive path escapes the archive root: {path}")
        main = self.root / path
        if self.tiers and not main.exists():
            for root in self.tiers.values():
                if (root / path).exists():
                    return root / path
        return main

    def copies(self, path: str) -> list[str]:
        """The tiers whose folder holds a copy of `path` (hot: the root)."""
        return [t for t in ("hot", *self.tiers) if (self.tier_root(t) / path).is_file()]

    @_writes
    def copy_to_tier(self, path: str, tier: str, sha256: str) -> None:
        """A copy of `path` in the tier's folder: to a temp name, fsynced, linked into place, its sha256
        checked; an existing copy with the right sha256 counts as done."""
        target = self.tier_root(tier) / path
        if target.is_file() and file_sha256(target) == sha256:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / _temp_name(target)
        try:
            shutil.copyfile(self._full(path), tmp)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            if file_sha256(tmp) != sha256:
                raise ArchiveConflict(f"{path}: the copy in the {tier} folder does not have the manifest's sha256")
            target.unlink(missing_ok=True)  # a copy with other bytes (a torn write) is replaced
            os.link(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(target.parent)

    @_writes
    def remove_other_copies(self, path: str, tier: str) -> int:
        """Removes the copies of `path` outside the tier's folder (after its copy was checked)."""
        removed = 0
        for other in self.copies(path):
            if other != tier:
                (self.tier_root(other) / path).unlink()
                _fsync_dir((self.tier_root(other) / path).parent)
                removed += 1
        return removed

    def list(self, prefix: str, hidden: bool = False, after: str | None = None) -> list[str]:
        """Objects under `prefix` (`after`: only those whose path sorts after it). Dot-folders (scratch
        space) and `.tmp-` names (writes in progress or interrupted) are not the archive and are left
        out, unless `hidden` asks for everything (`verify` reports what does not belong: glob readers
        would see such files too)."""
        found: list[str] = []
        for root in (self.root, *self.tiers.values()):
            found += self._list(root, prefix, hidden)
        return sorted(p for p in set(found) if after is None or p > after)

    def _list(self, root: Path, prefix: str, hidden: bool) -> list[str]:
        if prefix.startswith("/") or ".." in Path(prefix).parts:
            raise ValueError(f"archive path escapes the archive root: {prefix}")
        base = root / prefix if prefix else root
        if not base.is_dir():
            return []
        found = []
        for folder, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if hidden or not d.startswith("."))
            for name in files:
                if name.startswith(".tmp-") and not hidden:
                    continue
                found.append((Path(folder) / name).relative_to(root).as_posix())
        return found

    def list_info(self, prefix: str, hidden: bool = False) -> list[ObjectInfo]:
        return [self.info(p) for p in self.list(prefix, hidden)]

    def info(self, path: str) -> ObjectInfo:
        stat = self._full(path).stat()
        return ObjectInfo(path, stat.st_size, stat.st_mtime)

    @_writes
    def move(self, path: str, new_path: str) -> None:
        """Take a file out of its folder (an orphan a crash left): rename, same file system."""
        target = self._full(new_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(self._full(path), target)
        _fsync_dir(target.parent)
        _fsync_dir(self._full(path).parent)

    @_writes
    def remove_dead_temp(self, path: str) -> bool:
        """Remove a `.tmp-` file whose writer (the pid in its name) is no longer running on this host;
        a live writer's file stays. True if it was removed."""
        name = path.rsplit("/", 1)[-1]
        parts = name.split("-")
        if not name.startswith(".tmp-") or len(parts) < 3 or not parts[-2].isdigit():
            return False
        if _alive(int(parts[-2])):
            return False
        self._full(path).unlink(missing_ok=True)
        return True

    @_writes
    def replace(self, path: str, data: bytes) -> None:
        target = self._full(path)
        tmp = _temp_name(target)
        try:
            tmp.write_bytes(data)
            os.replace(tmp, target)
        finally:  # a write cut short (a full disk) leaves no temp file behind
            tmp.unlink(missing_ok=True)

    @_writes
    def delete(self, path: str) -> None:
        self._full(path).unlink(missing_ok=True)

    def read_bytes(self, path: str) -> bytes:
        return self._full(path).read_bytes()

    def size(self, path: str) -> int:
        return self._full(path).stat().st_size

    def uri(self, path: str = "") -> str:
        return (self.root.resolve() / path).as_uri() if path else self.root.resolve().as_uri()

    @contextmanager
    def local_copy(self, path: str) -> Iterator[Path]:
        yield self._full(path)

    def work_dir(self) -> Path:
        """Scratch space on the archive's own file system, so publishing is a link, not a copy."""
        return self.root / ".work"

    @_writes
    def put_file(self, path: str, local: Path, sha256: str, tier: str | None = None,
                 lock_until: datetime | None = None, expected: bool = False) -> bool:
        """Publish a complete local file under `path`, create-only. True if written, False if a file
        with the same sha256 was already there (a rerun); ArchiveConflict if different bytes are.
        `expected` (the bytes are likely there) changes nothing here: a link copies no bytes."""
        target = self._full(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(local, target)  # atomic, create-only, and no copy when on the same file system
        except FileExistsError:
            if file_sha256(target) != sha256:
                raise ArchiveConflict(f"{path} exists with different content; archived objects are never "
                                      "overwritten") from None
            return False
        except OSError:  # another file system: copy to a temp name beside the target, then link
            tmp = target.parent / _temp_name(target)
            try:
                shutil.copyfile(local, tmp)
                with open(tmp, "rb") as handle:
                    os.fsync(handle.fileno())
                return self.put_file(path, tmp, sha256)
            finally:  # also when the copy is cut short (a full disk)
                tmp.unlink(missing_ok=True)
        _fsync_dir(target.parent)
        return True

    def exists(self, path: str) -> bool:
        return self._full(path).is_file()

    @_writes
    def put_new(self, path: str, data: bytes) -> bool:
        """Create `path` with `data`. True if written, False if identical bytes were already there."""
        target = self._full(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / _temp_name(target)
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(tmp, target)  # atomic create-only: fails if the name exists
        except FileExistsError:
            same = hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
            if not same:
                raise ArchiveConflict(f"{path} exists with different content; archived objects are "
                                      "never overwritten") from None
            return False
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(target.parent)
        return True


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _temp_name(target: Path) -> Path:
    """Beside the target, unique per writer: threads of one process may write the same name at once."""
    return target.parent / f".tmp-{target.name}-{os.getpid()}-{secrets.token_hex(4)}"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
