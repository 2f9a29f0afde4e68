"""The S3 store against moto's server on 127.0.0.1 over real HTTP: create-only writes (412 on an
existing key), adoption of identical objects, loud conflicts, multipart uploads that appear only
when complete and are aborted on failure, storage classes, and a whole export + deep verify through
a prefect-aws credentials block."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from archival.archive import s3 as s3_module
from archival.archive.s3 import S3Store
from archival.archive.store import ArchiveConflict, LocalStore
from archival.demo.helpdesk import generate
from archival.verify.check import verify_archive
from tests.conftest import write_project
from tests.run.helpers import run_units


@pytest.fixture
def bucket(moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    name = f"archive-{datetime.now(UTC).strftime('%H%M%S%f')}"
    client.create_bucket(Bucket=name)
    return client, name


def test_put_new_is_create_only(bucket):
    client, name = bucket
    store = S3Store(client, name, "lowcode")
    assert store.put_new("a/b.json", b"one") is True
    assert store.put_new("a/b.json", b"one") is False  # identical: already done
    with pytest.raises(ArchiveConflict):
        store.put_new("a/b.json", b"two")
    assert store.read_bytes("a/b.json") == b"one"
    assert store.list("a") == ["a/b.json"] and store.uri("a/b.json") == f"s3://{name}/lowcode/a/b.json"


def test_a_listing_after_a_key_starts_there(bucket, tmp_path):
    """What the audit chain's head is found with (archive/audit_log.py): S3 starts the listing after
    the key, so only the entries appended since are listed; the local store answers the same."""
    client, name = bucket
    for store in (S3Store(client, name, "lowcode"), LocalStore(tmp_path / "archive")):
        for i in range(1, 6):
            store.put_new(f"_audit/{i:010d}.json", b"{}")
        assert store.list("_audit", after="_audit/0000000003.json") == ["_audit/0000000004.json",
                                                                       "_audit/0000000005.json"]
        assert store.list("_audit", after="_audit/0000000005.json") == []
        assert len(store.list("_audit")) == 5


def test_multipart_put_file_and_storage_class(bucket, tmp_path, monkeypatch):
    client, name = bucket
    monkeypatch.setattr(s3_module, "PART_BYTES", 5 * 1024 * 1024)
    local = tmp_path / "big.bin"
    local.write_bytes(b"x" * (11 * 1024 * 1024))
    store = S3Store(client, name)
    import hashlib

    sha = hashlib.sha256(local.read_bytes()).hexdigest()
    assert store.put_file("t/period=full/part-00000-abc.parquet", local, sha, tier="cool") is True
    head = client.head_object(Bucket=name, Key="t/period=full/part-00000-abc.parquet")
    assert head["ContentLength"] == local.stat().st_size and head["StorageClass"] == "STANDARD_IA"
    assert store.put_file("t/period=full/part-00000-abc.parquet", local, sha) is False


def test_failed_multipart_upload_is_aborted_and_invisible(bucket, tmp_path, monkeypatch):
    client, name = bucket
    monkeypatch.setattr(s3_module, "PART_BYTES", 5 * 1024 * 1024)
    local = tmp_path / "big.bin"
    local.write_bytes(b"y" * (11 * 1024 * 1024))
    calls = {"n": 0}
    real_upload = client.upload_part

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionResetError("connection reset by peer")
        return real_upload(**kwargs)

    monkeypatch.setattr(client, "upload_part", flaky)
    with pytest.raises(ConnectionResetError):
        S3Store(client, name).put_file("t/x.parquet", local, "0" * 64)
    assert "Contents" not in client.list_objects_v2(Bucket=name, Prefix="t/")
    assert not client.list_multipart_uploads(Bucket=name).get("Uploads")


def _shop(folder: Path, targets: str = "") -> Path:
    """A small demo database and one window table of it; `targets`: more target lines."""
    generate(folder / "data" / "app.db", scale=0.005)
    return write_project(folder, "  app: {type: sqlite, path: data/app.db}", {"shop": """domain: shop
owner: o@example.com
source: app
tables:
  comments: {relation: ticket_comments, primary_key: [id], mode: window, cursor: created_at, period: quarter}
"""}, extra=targets)


def test_export_to_s3_with_prefect_credentials_block(bucket, moto_endpoint, tmp_path, prefect_server):
    from prefect_aws import AwsCredentials
    from pydantic import SecretStr

    client, name = bucket
    block = f"moto-{name}"
    AwsCredentials(aws_access_key_id="testing", aws_secret_access_key=SecretStr("canary-aws-S3cret"),
                   region_name="us-east-1").save(block, overwrite=True)
    folder = _shop(tmp_path)
    text = (folder / "archival.yaml").read_text().replace(
        "    local: {type: local, path: ./archive}",
        f"    local: {{type: local, path: ./archive}}\n    s3: {{type: s3, bucket: {name}, prefix: lowcode, "
        f"endpoint_url: '{moto_endpoint}', "
        f"allow_http: true, region: us-east-1, credentials: 'prefect-block:aws-credentials/{block}'}}")
    (folder / "archival.yaml").write_text(text)
    ctx, results = run_units(folder, datetime(2026, 12, 1, tzinfo=UTC), target="s3")
    assert results and {r.outcome for r in results} == {"written"}
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"]]
    assert any(k.startswith("lowcode/shop/comments/period=2025-Q1/part-00000-") for k in keys)
    assert any(k.startswith("lowcode/_audit/") for k in keys) and any("/_lineage/" in f"/{k}" for k in keys)
    report = verify_archive(ctx.store, deep=True)
    assert report.ok and report.rows_checked == sum(r.rows for r in results)
    for key in keys:  # the credentials never travel into the archive
        assert b"canary-aws-S3cret" not in client.get_object(Bucket=name, Key=key)["Body"].read()
    _, again = run_units(folder, datetime(2026, 12, 1, tzinfo=UTC), target="s3")
    assert again == []  # closed periods already archived: nothing due
    shutil.rmtree(Path(folder) / "archive", ignore_errors=True)


def test_sse_kms_on_every_object_and_a_bucket_that_ignores_it_is_refused(tmp_path, moto_endpoint, monkeypatch):
    """`encryption: {sse_kms_key_id}`: every object the export writes (parts, manifests, audit, lineage,
    run record) is stored with SSE-KMS under the key (moto's S3 and KMS over HTTP); a store whose
    answers come back unencrypted is refused before anything more is written."""
    import os
    import time

    from archival.archive.store import ArchiveUnavailable

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    key = boto3.client("kms", endpoint_url=moto_endpoint, region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    bucket = f"sse-{os.getpid()}-{time.monotonic_ns()}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    folder = _shop(tmp_path, f"    s3: {{type: s3, bucket: {bucket}, endpoint_url: '{moto_endpoint}', "
                             f"allow_http: true, encryption: {{sse_kms_key_id: '{key}'}}}}\n")
    _, results = run_units(folder, datetime(2026, 12, 1, tzinfo=UTC), target="s3")
    assert results and {r.outcome for r in results} == {"written"}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert any("/period=" in k for k in keys) and any(k.startswith("_audit/") for k in keys)
    for object_key in keys:
        head = s3.head_object(Bucket=bucket, Key=object_key)
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key, object_key

    class Unencrypting:  # an endpoint that drops the encryption: its answers say so
        def __getattr__(self, name):
            call = getattr(s3, name)

            def stripped(*args, **kwargs):
                kwargs.pop("ServerSideEncryption", None)
                kwargs.pop("SSEKMSKeyId", None)
                return call(*args, **kwargs)
            return stripped

    store = S3Store(Unencrypting(), bucket, None, sse_kms_key=key)
    with pytest.raises(ArchiveUnavailable, match="without SSE-KMS although the target asks for it"):
        store.put_new("probe/x.json", b"{}")


def test_parquet_sealed_with_aws_kms_and_read_back_through_s3(tmp_path, moto_endpoint, monkeypatch, capsys):
    """`encryption.parquet.key: kms:...` on an S3 target (moto's S3 and KMS over HTTP): each file's data
    key is wrapped by KMS; the objects are also SSE-KMS; verify --deep and query read them (the query
    fetches encrypted objects, whose keys are in their footers); a KMS that cannot unwrap the key fails
    in one line naming it."""
    import json
    import os
    import time

    from archival import cli
    from archival.archive.encryption import is_encrypted

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    kms = boto3.client("kms", endpoint_url=moto_endpoint, region_name="us-east-1")
    made = kms.create_key()["KeyMetadata"]
    key = made["Arn"]
    bucket = f"sealed-{os.getpid()}-{time.monotonic_ns()}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    folder = _shop(tmp_path, f"    s3: {{type: s3, bucket: {bucket}, endpoint_url: '{moto_endpoint}', "
                             f"allow_http: true, encryption: {{sse_kms_key_id: '{key}', parquet: {{key: 'kms:{key}', "
                             f"kms_endpoint_url: '{moto_endpoint}'}}}}}}\n")
    _, results = run_units(folder, datetime(2026, 12, 1, tzinfo=UTC), target="s3")
    assert results and {r.outcome for r in results} == {"written"}
    parts = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"] if o["Key"].endswith(".parquet")]
    assert parts
    for object_key in parts:
        local = tmp_path / "fetched.parquet"
        local.write_bytes(s3.get_object(Bucket=bucket, Key=object_key)["Body"].read())
        assert is_encrypted(local), object_key
        assert s3.head_object(Bucket=bucket, Key=object_key)["ServerSideEncryption"] == "aws:kms"

    assert cli.main(["verify", "--deep", "--target", "s3", "--project-dir", str(folder)]) == 0
    capsys.readouterr()
    assert cli.main(["query", "--target", "s3", "--project-dir", str(folder), "--format", "json", "--sql",
                     "SELECT count(*) AS n FROM shop.comments WHERE id > 0"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["n"] == sum(r.rows for r in results)

    project = folder / "archival.yaml"  # a KMS that does not hold the key (another region's)
    project.write_text(project.read_text().replace("kms_endpoint_url:", "kms_region: eu-west-1, kms_endpoint_url:"))
    assert cli.main(["verify", "--deep", "--target", "s3", "--project-dir", str(folder)]) == 1
    err = capsys.readouterr().err
    assert f"key kms:{key} cannot be used" in err and "Traceback" not in err


def _puts(client) -> list[str]:
    """The keys of every PutObject and CreateMultipartUpload `client` sends from now on."""
    sent: list[str] = []
    for operation in ("PutObject", "CreateMultipartUpload"):
        client.meta.events.register(f"before-parameter-build.s3.{operation}",
                                    lambda params, **_: sent.append(params["Key"]))
    return sent


def test_a_file_the_caller_expects_is_looked_at_before_it_is_sent(bucket, tmp_path):
    """`expected`: the caller's manifest names these bytes at this path (an unchanged snapshot). A
    HEAD comes first: a create-only PUT of an existing object sends its whole body to hear 412."""
    import hashlib

    client, name = bucket
    store, local = S3Store(client, name), tmp_path / "part.parquet"
    local.write_bytes(b"rows" * 1000)
    sha = hashlib.sha256(local.read_bytes()).hexdigest()
    assert store.put_file("t/period=full/part-00000-aa.parquet", local, sha) is True
    sent = _puts(client)
    assert store.put_file("t/period=full/part-00000-aa.parquet", local, sha, expected=True) is False
    assert sent == []  # no body sent again
    assert store.put_file("t/period=full/part-00001-bb.parquet", local, sha, expected=True) is True  # not there
    assert sent == ["t/period=full/part-00001-bb.parquet"]
    other = tmp_path / "other.parquet"
    other.write_bytes(b"other")
    with pytest.raises(ArchiveConflict):
        store.put_file("t/period=full/part-00000-aa.parquet", other, hashlib.sha256(b"other").hexdigest(),
                       expected=True)


def test_an_unchanged_full_table_sends_no_file_again(bucket, moto_endpoint, tmp_path, monkeypatch):
    client, name = bucket
    target = f"    s3: {{type: s3, bucket: {name}, endpoint_url: '{moto_endpoint}', allow_http: true}}\n"
    folder = _shop(tmp_path, target)
    spec = folder / "specs" / "shop.yaml"
    spec.write_text(spec.read_text() + "  agents: {relation: agents, primary_key: [id], mode: full}\n")
    _, first = run_units(folder, datetime(2026, 12, 1, tzinfo=UTC), target="s3")
    assert {r.unit_id: r.outcome for r in first}["shop.agents/full"] == "written"
    sent: list[list[str]] = []
    built = S3Store.__init__

    def counting(self, client, *args, **kwargs):  # the run's own client counts what it sends
        built(self, client, *args, **kwargs)
        sent.append(_puts(client))

    monkeypatch.setattr(S3Store, "__init__", counting)
    ctx, again = run_units(folder, datetime(2026, 12, 1, tzinfo=UTC), target="s3")
    assert {r.unit_id: r.outcome for r in again} == {"shop.agents/full": "unchanged"}
    keys = [k for keys in sent for k in keys]
    assert keys and not [k for k in keys if "/period=" in k and "/_manifests/" not in k], keys  # no data file
    assert verify_archive(ctx.store, deep=True).ok
    shutil.rmtree(Path(folder) / "archive", ignore_errors=True)
