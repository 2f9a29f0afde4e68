"""S3 (and S3-compatible) archive store through boto3 clients from prefect-aws credentials.

Objects appear under their final key only when complete (a single PUT, or a multipart upload that
is completed last) and only if the key is free: `If-None-Match: *` makes S3 answer 412 when the key
exists; then the object's recorded sha256 decides between "already done" and a loud conflict.
Transient errors (5xx, 429, dropped connections) are retried by botocore with backoff; a failed
multipart upload is aborted so no parts linger."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from archival.archive.encryption import ArchiveKeys, plain_keys
from archival.archive.store import ArchiveConflict, ArchiveUnavailable, ObjectInfo
from archival.archive.uploads import UploadJournal
from archival.failpoints import failpoint

PART_BYTES = 64 * 1024 * 1024
STORAGE_CLASSES = {"hot": "STANDARD", "cool": "STANDARD_IA", "cold": "GLACIER_IR"}
RETRIES = Config(retries={"max_attempts": 8, "mode": "standard"}, connect_timeout=10, read_timeout=60)


_REFUSALS = {"NoSuchBucket": "the bucket does not exist", "AccessDenied": "access is denied",
             "AllAccessDisabled": "access is denied",
             "InvalidAccessKeyId": "the access key is not known to the endpoint",
             "SignatureDoesNotMatch": "the secret key does not match the access key",
             "ExpiredToken": "the credentials have expired"}


class _Client:
    """The boto3 client, with the failures an operator must fix (no credentials, a missing bucket,
    access denied, an endpoint that does not answer) raised as ArchiveUnavailable naming the bucket;
    every other error (404, 412, throttling) passes unchanged to the code that handles it."""

    def __init__(self, client: Any, where: str):
        self._client, self._where = client, where

    def get_paginator(self, name: str) -> _Paginator:
        return _Paginator(self._client.get_paginator(name), self._where)

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if not callable(call):
            return call

        def guarded(*args: Any, **kwargs: Any) -> Any:
            with _translated(self._where):
                return call(*args, **kwargs)
        return guarded


class _Paginator:
    def __init__(self, paginator: Any, where: str):
        self._paginator, self._where = paginator, where

    def paginate(self, **kwargs: Any) -> Iterator[Any]:
        with _translated(self._where):
            yield from self._paginator.paginate(**kwargs)


@contextmanager
def _translated(where: str) -> Iterator[None]:
    try:
        yield
    except NoCredentialsError:
        raise ArchiveUnavailable(f"{where}: no AWS credentials were found: give the target `credentials: "
                                 "prefect-block:aws-credentials/NAME`, or set AWS_ACCESS_KEY_ID and "
                                 "AWS_SECRET_ACCESS_KEY") from None
    except EndpointConnectionError as exc:
        raise ArchiveUnavailable(f"{where}: the endpoint does not answer ({exc.kwargs.get('endpoint_url', '')}); "
                                 "check the target's endpoint_url and the network") from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _REFUSALS:
            raise ArchiveUnavailable(f"{where}: {_REFUSALS[code]} ({code}); check the target's bucket and "
                                     "credentials") from None
        raise


RETRIEVAL_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})  # not readable until restored (retrieved)


class S3Store:
    def __init__(self, client: Any, bucket: str, prefix: str | None = None, classes: dict[str, str] | None = None,
                 object_lock: str | None = None, sse_kms_key: str | None = None, keys: ArchiveKeys | None = None,
                 journal: UploadJournal | None = None):
        self.keys = keys or plain_keys()
        self.journal = journal  # open multipart uploads, so a failed one resumes (archive/uploads.py)
        self.client, self.bucket = _Client(client, f"s3://{bucket}"), bucket
        self.prefix = (prefix or "").strip("/")
        self.classes = {**STORAGE_CLASSES, **(classes or {})}  # tier -> storage class
        self.object_lock = object_lock  # GOVERNANCE | COMPLIANCE: data files are locked until their planned expiry
        # SSE-KMS on every write (puts, multipart uploads, copies), and each answer checked for it
        self.sse = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": sse_kms_key} if sse_kms_key else {}

    def _encrypted(self, answer: dict[str, Any], key: str) -> None:
        """ArchiveUnavailable when SSE-KMS was asked for and the object came back without it: nothing
        more is written to a bucket that stores archive objects unencrypted."""
        if self.sse and answer.get("ServerSideEncryption") != "aws:kms":
            raise ArchiveUnavailable(f"s3://{self.bucket}/{key} was stored without SSE-KMS although the target asks "
                                     "for it: refusing to write unencrypted archive objects; check the bucket's and "
                                     "the endpoint's encryption support")

    def locked_until(self, path: str) -> datetime | None:
        head = self.client.head_object(Bucket=self.bucket, Key=self._key(path))
        return head.get("ObjectLockRetainUntilDate")

    def purge(self, path: str) -> None:
        """Every version of the object (a versioned bucket keeps them after a plain delete): expiry
        means the bytes are gone. A locked version makes S3 refuse, and the error names it."""
        key = self._key(path)
        versions = self.client.list_object_versions(Bucket=self.bucket, Prefix=key)
        found = [v for v in [*versions.get("Versions", []), *versions.get("DeleteMarkers", [])] if v["Key"] == key]
        if not found:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        for version in found:
            self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=version["VersionId"])

    def tier_of(self, storage_class: str) -> str:
        """The tier a storage class stands for here (a class no tier names counts as cold)."""
        return next((t for t, c in self.classes.items() if c == storage_class), "cold")

    def needs_retrieval(self, path: str) -> bool:
        """An object in GLACIER or DEEP_ARCHIVE that has no finished restore (a temporary readable copy)."""
        head = self.client.head_object(Bucket=self.bucket, Key=self._key(path))
        if head.get("StorageClass", "STANDARD") not in RETRIEVAL_CLASSES:
            return False
        return 'ongoing-request="false"' not in (head.get("Restore") or "")

    def head_sha256(self, path: str) -> str | None:
        """The sha256 archival stored with the object at upload (readable without a retrieval)."""
        return self.client.head_object(Bucket=self.bucket, Key=self._key(path)).get("Metadata", {}).get("sha256")

    def retrieve(self, path: str, days: int) -> None:
        try:
            self.client.restore_object(Bucket=self.bucket, Key=self._key(path),
                                       RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": "Standard"}})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "RestoreAlreadyInProgress":
                raise

    def _key(self, path: str) -> str:
        if path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"archive path escapes the archive root: {path}")
        return f"{self.prefix}/{path}" if self.prefix else path

    def describe(self) -> str:
        return self.uri()

    def uri(self, path: str = "") -> str:
        key = self._key(path) if path else self.prefix
        return f"s3://{self.bucket}/{key}".rstrip("/")

    def list(self, prefix: str, hidden: bool = False, after: str | None = None) -> list[str]:
        """Every object under `prefix` (S3 has no hidden objects; archival never writes temp keys);
        `after`: only keys after it, which S3 starts the listing at (one page per 1,000 of those)."""
        full = self._key(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        out = []
        start = {"StartAfter": self._key(after)} if after else {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full, **start):
            out += [o["Key"][strip:] for o in page.get("Contents", [])]
        return sorted(out)

    def list_info(self, prefix: str, hidden: bool = False) -> list[ObjectInfo]:
        full = self._key(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        out = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            out += [ObjectInfo(o["Key"][strip:], int(o["Size"]), o["LastModified"].timestamp())
                    for o in page.get("Contents", [])]
        return sorted(out, key=lambda o: o.path)

    def info(self, path: str) -> ObjectInfo:
        head = self.client.head_object(Bucket=self.bucket, Key=self._key(path))
        return ObjectInfo(path, int(head["ContentLength"]), head["LastModified"].timestamp())

    def move(self, path: str, new_path: str) -> None:
        """Copy, then delete the original (in a bucket with Object Lock the delete leaves a marker)."""
        answer = self.client.copy_object(Bucket=self.bucket, Key=self._key(new_path),
                                         CopySource={"Bucket": self.bucket, "Key": self._key(path)}, **self.sse)
        self._encrypted(answer, self._key(new_path))
        self.client.delete_object(Bucket=self.bucket, Key=self._key(path))

    def remove_dead_temp(self, path: str) -> bool:
        return False  # objects appear whole under their final key: S3 has no temp files of ours

    def replace(self, path: str, data: bytes) -> None:
        self._encrypted(self.client.put_object(Bucket=self.bucket, Key=self._key(path), Body=data, **self.sse),
                        self._key(path))

    def delete(self, path: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(path))

    def storage_class(self, path: str) -> str:
        return self.client.head_object(Bucket=self.bucket, Key=self._key(path)).get("StorageClass", "STANDARD")

    def set_storage_class(self, path: str, storage_class: str) -> None:
        """In place: the same key, bytes and metadata (the sha256), another class. Objects over 5 GiB
        would need a multipart copy; archival's parts are far smaller."""
        key = self._key(path)
        answer = self.client.copy_object(Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": key},
                                         StorageClass=storage_class, MetadataDirective="COPY", **self.sse)
        self._encrypted(answer, key)
        current = answer.get("VersionId")
        if current:  # a versioned bucket keeps the earlier version, in its old class: the copy has the same bytes
            versions = self.client.list_object_versions(Bucket=self.bucket, Prefix=key).get("Versions", [])
            for version in versions:
                if version["Key"] == key and version["VersionId"] != current:
                    self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=version["VersionId"])

    def read_bytes(self, path: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(path))["Body"].read()

    def exists(self, path: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(path))
            return True
        except ClientError as exc:
            if _not_found(exc):
                return False
            raise

    @contextmanager
    def local_copy(self, path: str) -> Iterator[Path]:
        """Download to a temp file (DuckDB cannot fetch its httpfs extension here)."""
        with tempfile.TemporaryDirectory(prefix="archival-read-") as folder:
            local = Path(folder) / path.rsplit("/", 1)[-1]
            self.client.download_file(self.bucket, self._key(path), str(local))
            yield local

    def size(self, path: str) -> int:
        return int(self.client.head_object(Bucket=self.bucket, Key=self._key(path))["ContentLength"])

    def _existing_sha(self, key: str) -> str | None:
        head = self.client.head_object(Bucket=self.bucket, Key=key)
        return head.get("Metadata", {}).get("sha256")

    def _holds(self, key: str, sha256: str) -> bool:
        """Whether `key` holds these bytes (False: no such object); ArchiveConflict for other bytes."""
        try:
            self._conflict_or_done(key, sha256)
        except ClientError as exc:
            if _not_found(exc):
                return False
            raise
        return True

    def _conflict_or_done(self, key: str, sha256: str) -> bool:
        if self._existing_sha(key) == sha256:
            return False
        raise ArchiveConflict(f"s3://{self.bucket}/{key} exists with different content; archived objects are "
                              "never overwritten")

    def put_new(self, path: str, data: bytes) -> bool:
        import hashlib

        key, sha = self._key(path), hashlib.sha256(data).hexdigest()
        try:
            self._encrypted(self.client.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*",
                                                   Metadata={"sha256": sha}, **self.sse), key)
            return True
        except ClientError as exc:
            if _precondition_failed(exc):
                return self._conflict_or_done(key, sha)
            raise

    def put_file(self, path: str, local: Path, sha256: str, tier: str | None = None,
                 lock_until: datetime | None = None, expected: bool = False) -> bool:
        """`expected`: the caller's manifest names these bytes here already (an unchanged snapshot),
        so a HEAD comes first: a create-only PUT would send the whole body only to hear 412."""
        key = self._key(path)
        if expected and self._holds(key, sha256):
            return False
        extra: dict[str, Any] = {"Metadata": {"sha256": sha256},
                                 "StorageClass": self.classes.get(tier or "hot", "STANDARD"), **self.sse}
        if self.object_lock and lock_until is not None:
            extra |= {"ObjectLockMode": self.object_lock, "ObjectLockRetainUntilDate": lock_until}
        size = local.stat().st_size
        try:
            if size <= PART_BYTES:
                with open(local, "rb") as body:
                    self._encrypted(self.client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*",
                                                           **extra), key)
            else:
                self._multipart(key, local, extra)
            return True
        except ClientError as exc:
            if _precondition_failed(exc):
                return self._conflict_or_done(key, sha256)
            raise

    def _multipart(self, key: str, local: Path, extra: dict[str, Any]) -> None:
        """With a journal, an upload that fails stays open and is resumed by the next attempt at the
        same bytes (a unit's retry, or the next run after a crash): parts S3 already holds are not
        sent again. Without one, it is aborted."""
        sha256 = extra["Metadata"]["sha256"]
        size = local.stat().st_size
        resumed = self.journal.resume(self.client, self.bucket, key, sha256, size, PART_BYTES) \
            if self.journal else None
        if resumed is None:
            resumed = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)["UploadId"], {}
        upload, done = resumed
        if self.journal and not done and self.journal.entry(self.bucket, key) is None:
            self.journal.begin(self.bucket, key, upload, sha256, size, PART_BYTES)
        try:
            parts = []
            with open(local, "rb") as handle:
                for number, chunk in enumerate(iter(lambda: handle.read(PART_BYTES), b""), start=1):
                    if number in done:
                        parts.append({"ETag": done[number], "PartNumber": number})
                        continue
                    answer = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload,
                                                     PartNumber=number, Body=chunk)
                    parts.append({"ETag": answer["ETag"], "PartNumber": number})
                    failpoint("s3:part", key)
            self._encrypted(self.client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload,
                                                                  MultipartUpload={"Parts": parts}, IfNoneMatch="*"),
                            key)
        except BaseException as exc:  # always re-raised: only decides whether the upload stays open
            if self.journal is None or _precondition_failed(exc):
                # a failing abort must not replace the upload's own error; the bucket rule ends what stays open
                with contextlib.suppress(ClientError, BotoCoreError):
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
                if self.journal:
                    self.journal.end(self.bucket, key)
            raise
        if self.journal:
            self.journal.end(self.bucket, key)


def _not_found(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def _precondition_failed(exc: BaseException) -> bool:
    if not isinstance(exc, ClientError):
        return False
    return exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412") or \
        exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412
