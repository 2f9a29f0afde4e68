"""`archival lifecycle --emit-s3-rules`: the bucket lifecycle configuration that moves each table's
objects through the same storage classes, for teams that prefer bucket rules
(`aws s3api put-bucket-lifecycle-configuration --lifecycle-configuration file://rules.json`).

Where they differ from `archival lifecycle`: bucket rules age objects by their creation, not by the
data's time (a period archived late moves late); they cannot skip held periods; and a prefix rule
cannot leave the manifests out, so no expiration is emitted: expiry must write its record first,
which only `archival lifecycle` does (a bucket rule would delete manifests and `verify` would report
the loss)."""

from __future__ import annotations

import sys
from typing import Any

from archival.archive import layout
from archival.archive.s3 import STORAGE_CLASSES
from archival.spec.model import Project, Table


def _prefix(project: Project, target: str | None, table: Table) -> str:
    name = target or project.default_target
    base = (project.targets[name].prefix or "").strip("/")
    path = layout.table_prefix(table.domain, table.name) + "/"
    return f"{base}/{path}" if base else path


def s3_rules(project: Project, tables: list[Table], target: str | None = None) -> dict[str, Any]:
    target_ = project.targets[target or project.default_target]
    classes = {**STORAGE_CLASSES, **target_.storage_classes}
    rules = []
    for table in tables:
        r, days = table.retention, 0
        transitions = []
        for tier, duration in (("cool", r.hot), ("cold", r.cool)):
            if duration is None:
                continue
            days += max(1, round(duration.seconds / 86400))
            if tier != table.tier and (table.tier != "cold"):
                transitions.append({"Days": days, "StorageClass": classes[tier]})
        if transitions:
            rules.append({"ID": f"archival-{table.domain}-{table.name}", "Status": "Enabled",
                          "Filter": {"Prefix": _prefix(project, target, table)}, "Transitions": transitions})
        if r.then == "delete":
            print(f"{table.qualified_name}: `then: delete` is not emitted as a bucket expiration (it would delete the "
                  "manifests without a record); run `archival lifecycle` for expiry", file=sys.stderr)
    base = (target_.prefix or "").strip("/")
    # an upload a crash left open is resumed by the next run (archive/uploads.py); one never resumed
    # (its bytes changed, or the project's journal is gone) is removed by S3 after a week
    rules.append({"ID": "archival-abort-incomplete-uploads", "Status": "Enabled",
                  "Filter": {"Prefix": f"{base}/" if base else ""},
                  "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}})
    return {"Rules": rules}
