"""The journal of open multipart uploads: one small JSON file per object being uploaded, written
(and fsynced) when its upload is created and removed when it completes. An upload that a crash, a kill
or a network fault interrupts stays open in S3; the next attempt at the same object with the same
bytes (sha256, size and part size as journaled) asks S3 which parts it holds and sends only the rest.

Same bytes is what makes skipping safe: archival names objects by their content and writes a unit's
files byte-identically on a rerun (plain Parquet; an encrypted file differs on every write, so its
rerun is a new object and the old upload is left to the bucket's AbortIncompleteMultipartUpload
rule). Parts are checked by number and size; S3 checked each part's checksum when it received it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError


class UploadJournal:
    def __init__(self, folder: Path):
        self.folder = folder

    def _path(self, bucket: str, key: str) -> Path:
        return self.folder / (hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:32] + ".json")

    def begin(self, bucket: str, key: str, upload_id: str, sha256: str, size: int, part_bytes: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        entry = {"bucket": bucket, "key": key, "upload_id": upload_id, "sha256": sha256, "size": size,
                 "part_bytes": part_bytes}
        path = self._path(bucket, key)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as handle:
            json.dump(entry, handle)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)

    def end(self, bucket: str, key: str) -> None:
        self._path(bucket, key).unlink(missing_ok=True)

    def entry(self, bucket: str, key: str) -> dict[str, Any] | None:
        path = self._path(bucket, key)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:  # a torn write of a journal entry: start that object's upload again
            path.unlink(missing_ok=True)
            return None

    def resume(self, client: Any, bucket: str, key: str, sha256: str, size: int,
               part_bytes: int) -> tuple[str, dict[int, str]] | None:
        """(upload id, part number -> ETag of the parts S3 holds) of this object's open upload of these
        bytes, or None: no entry, other bytes (that upload is aborted), or S3 no longer has it."""
        entry = self.entry(bucket, key)
        if entry is None:
            return None
        if (entry["sha256"], entry["size"], entry["part_bytes"]) != (sha256, size, part_bytes):
            _abort(client, bucket, key, entry["upload_id"])
            self.end(bucket, key)
            return None
        held: dict[int, str] = {}
        try:
            for page in client.get_paginator("list_parts").paginate(Bucket=bucket, Key=key,
                                                                   UploadId=entry["upload_id"]):
                for part in page.get("Parts", []):
                    expected = min(part_bytes, size - (part["PartNumber"] - 1) * part_bytes)
                    if part["Size"] == expected:
                        held[part["PartNumber"]] = part["ETag"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchUpload", "404", "NotFound"):
                self.end(bucket, key)  # completed, aborted or expired since: a new upload
                return None
            raise
        return entry["upload_id"], held


def _abort(client: Any, bucket: str, key: str, upload_id: str) -> None:
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("NoSuchUpload", "404", "NotFound"):
            raise
