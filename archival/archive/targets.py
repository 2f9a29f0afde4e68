"""Open the store of a configured target."""

from __future__ import annotations

import secrets
from typing import Any

from archival.archive.audit_log import seed_from_anchor
from archival.archive.encryption import ArchiveKeys, MasterKeys, resolve_secret
from archival.archive.store import ArchiveStore, LocalStore
from archival.spec.model import Project


class TargetError(Exception):
    pass


def target_name(project: Project, name: str | None) -> str:
    chosen = name or project.default_target
    if chosen not in project.targets:
        raise TargetError(f"unknown target '{chosen}'; archival.yaml declares: {', '.join(sorted(project.targets))}")
    return chosen


def open_store(project: Project, name: str | None = None) -> ArchiveStore:
    """The target's store; the audit chain's reader learns the head the project's last command left."""
    target = project.targets[target_name(project, name)]
    if target.type == "local":
        assert target.path is not None
        store: ArchiveStore = LocalStore((project.root / target.path).resolve(),
                                         {tier: (project.root / folder).resolve()
                                          for tier, folder in target.tiers.items()}, target_keys(target))
    else:
        store = _s3_store(target, project.root)
    seed_from_anchor(store, project.root)
    return store


def target_keys(target) -> ArchiveKeys:
    """The target's Parquet keys: it writes with `encryption.parquet.key` (if any) and reads any file
    whose key reference resolves here; `kms:` keys through the target's AWS credentials."""
    clients: list[Any] = []
    arn = (target.parquet_key or "").split(":")
    region = target.kms_region or (arn[4] if arn[1:3] == ["arn", "aws"] and len(arn) > 4 else target.region)

    def kms() -> Any:
        if not clients:
            clients.append(s3_session(target).client("kms", endpoint_url=target.kms_endpoint_url,
                                                     region_name=region or "us-east-1"))
        return clients[0]

    return ArchiveKeys(MasterKeys(resolve_secret, kms), target.parquet_key)


def s3_session(target) -> Any:
    """boto3 session from the target's credentials block (prefect-aws AwsCredentials), else boto3's own
    chain (environment, instance profile)."""
    import boto3

    from archival.source.secrets import SecretError, load_block

    if target.credentials is None:
        return boto3.session.Session()
    if target.credentials.kind != "prefect-block":
        raise TargetError(f"target '{target.name}': credentials must be a prefect-block (AwsCredentials)")
    try:
        return load_block(target.credentials, f"target '{target.name}'").get_boto3_session()
    except SecretError as exc:
        raise TargetError(str(exc)) from None


def _s3_store(target, root) -> ArchiveStore:
    """The endpoint may point at an S3-compatible store. Open multipart uploads are journaled in the
    project's .archival/uploads, so an interrupted one resumes (archive/uploads.py)."""
    from archival.archive.s3 import RETRIES, S3Store
    from archival.archive.uploads import UploadJournal

    client = s3_session(target).client("s3", endpoint_url=target.endpoint_url, region_name=target.region,
                                       config=RETRIES)
    assert target.bucket is not None
    return S3Store(client, target.bucket, target.prefix, target.storage_classes, target.object_lock,
                   target.sse_kms_key_id, target_keys(target), UploadJournal(root / ".archival" / "uploads"))


def probe_writable(store: ArchiveStore) -> None:
    """Create and remove a small object: ArchiveUnavailable (naming the place and the fix) when the
    target cannot be written, a bucket is missing or credentials are refused."""
    path = f"_locks/.probe-{secrets.token_hex(4)}"
    store.put_new(path, b"archival validate --connect\n")
    store.delete(path)
