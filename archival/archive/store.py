"""Storage backends. The archive is write-once (WORM-friendly): objects are created, never changed,
appended to or overwritten; `put_new` refuses an existing name unless the bytes are identical."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol


class ArchiveConflict(Exception):
    """An object already exists under a deterministic name with different content."""


class ArchiveStore(Protocol):
    def list(self, prefix: str) -> list[str]: ...
    def read_bytes(self, path: str) -> bytes: ...
    def exists(self, path: str) -> bool: ...
    def put_new(self, path: str, data: bytes) -> bool: ...
    def describe(self) -> str: ...


class LocalStore:
    """A folder. Writes go to a temp name in the same folder, are fsynced, then linked into place,
    so no reader ever sees a partial file under a final name."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def describe(self) -> str:
        return str(self.root)

    def _full(self, path: str) -> Path:
        if path.startswith("/") or ".." in Path(path).parts:
            raise ValueError(f"archive path escapes the archive root: {path}")
        return self.root / path

    def list(self, prefix: str) -> list[str]:
        base = self._full(prefix) if prefix else self.root
        if not base.is_dir():
            return []
        found = []
        for folder, _, files in os.walk(base):
            for name in files:
                if name.startswith(".tmp-"):
                    continue  # an interrupted write; never part of the archive
                found.append((Path(folder) / name).relative_to(self.root).as_posix())
        return sorted(found)

    def read_bytes(self, path: str) -> bytes:
        return self._full(path).read_bytes()

    def exists(self, path: str) -> bool:
        return self._full(path).is_file()

    def put_new(self, path: str, data: bytes) -> bool:
        """Create `path` with `data`. True if written, False if identical bytes were already there."""
        target = self._full(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".tmp-{target.name}-{os.getpid()}"
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
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


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
