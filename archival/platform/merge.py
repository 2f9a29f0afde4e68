"""A generated spec merged into the one on disk: what the reviewer edited stays as it is; tables,
fields and links that are new in the app are added; tables the app no longer has are named, not
removed (their archive stays; a person decides). Like `archival deployments`, through ruamel, so
comments and order survive."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from archival.spec.roundtrip import round_trip_yaml


@dataclass
class Merged:
    text: str
    added: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)



def merge_spec(current: str, generated: str) -> Merged:
    yaml = round_trip_yaml()
    mine, theirs = yaml.load(current), yaml.load(generated)
    result = Merged("")
    tables = mine.setdefault("tables", CommentedMap())
    for name, table in theirs["tables"].items():
        if name not in tables:
            tables[name] = table
            result.added.append(f"table {name}")
            continue
        ours = tables[name]
        theirs_columns = table.get("columns") or {}
        result.gone += [f"field {name}.{c}" for c in ours.get("columns") or {} if theirs_columns and
                        c not in theirs_columns]
        for column, entry in theirs_columns.items():
            columns = ours.setdefault("columns", CommentedMap())
            if column not in columns:
                columns[column] = entry
                result.added.append(f"field {name}.{column}")
    relations = {relation_key(r) for r in theirs.get("relations") or []}
    known = {relation_key(r) for r in mine.get("relations") or []}
    for relation in theirs.get("relations") or []:
        if relation_key(relation) not in known:
            mine.setdefault("relations", CommentedSeq()).append(relation)
            result.added.append(f"relation {relation['from']} -> {relation['to']}")
    result.gone += [f"table {name}" for name in tables if name not in theirs["tables"]]
    result.gone += [f"relation {a} -> {b}" for a, b in sorted(known - relations)]
    out = io.StringIO()
    yaml.dump(mine, out)
    result.text = out.getvalue()
    return result


def relation_key(relation: dict) -> tuple[str, str]:
    return str(relation["from"]), str(relation["to"])


def add_source(project_yaml: str, name: str, entry: dict) -> str:
    """archival.yaml with a source added under `sources:` (comments kept)."""
    yaml = round_trip_yaml()
    doc = yaml.load(project_yaml)
    flow = CommentedMap(entry)
    flow.fa.set_flow_style()
    doc["sources"][name] = flow
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()
