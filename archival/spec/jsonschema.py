"""JSON Schema (draft 2020-12) generated from the Cerberus rules, for editors (yaml-language-server)
and for `archival schema`. The committed copies under schemas/ are tested to be current."""

from __future__ import annotations

import json
from typing import Any

from archival.spec import values as v
from archival.spec.rules import DOMAIN, PROJECT, Rule

_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
          "list": "array", "dict": "object", "date": "string", "datetime": "string"}
# check_with rules become patterns where a pattern says the same thing; the rest stay prose.
_CHECK_PATTERNS = {"duration": v.DURATION_PATTERN, "quiet_hours": v.QUIET_HOURS_PATTERN,
                   "secret_ref": v.SECRET_REF_PATTERN, "master_key": v.MASTER_KEY_PATTERN,
                   "column_type": v.COLUMN_TYPE_PATTERN,
                   "instant": v.INSTANT_PATTERN,
                   "column_ref": v.NAME_PATTERN[:-1] + r"\." + v.IDENTIFIER_PATTERN[1:]}


def _convert(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {}
    meta = rule.get("meta", {})
    if "doc" in meta:
        out["description"] = meta["doc"]
    if "default" in meta:
        out["default"] = meta["default"]
    if "example" in meta:
        out["examples"] = [meta["example"]]
    kinds = rule.get("type")
    if isinstance(kinds, list):
        names = list(dict.fromkeys(_TYPES[k] for k in kinds))
        out["type"] = names if len(names) > 1 else names[0]
    elif kinds:
        out["type"] = _TYPES[kinds]
    if "allowed" in rule and kinds != "list":
        out["enum"] = list(rule["allowed"])
    if "regex" in rule:
        out["pattern"] = rule["regex"]
    if rule.get("check_with") in _CHECK_PATTERNS:
        out["pattern"] = _CHECK_PATTERNS[rule["check_with"]]
    if rule.get("empty") is False and kinds == "string":
        out["minLength"] = 1
    for cerberus_key, json_key in (("min", "minimum"), ("max", "maximum")):
        if cerberus_key in rule:
            out[json_key] = rule[cerberus_key]
    if "minlength" in rule:
        out["minItems" if kinds == "list" else "minProperties"] = rule["minlength"]
    if kinds == "dict" or "valuesrules" in rule:
        if "schema" in rule:
            out.update(_object(rule["schema"]))
        if "valuesrules" in rule:
            out["additionalProperties"] = _convert(rule["valuesrules"])
        if "keysrules" in rule and "regex" in rule["keysrules"]:
            out["propertyNames"] = {"pattern": rule["keysrules"]["regex"]}
    elif "schema" in rule:  # list items
        out["items"] = _convert(rule["schema"])
    return out


def _object(schema: dict[str, Rule]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "additionalProperties": False,
                           "properties": {k: _convert(r) for k, r in schema.items()}}
    required = [k for k, r in schema.items() if r.get("required")]
    if required:
        out["required"] = required
    return out


def json_schema(kind: str) -> dict[str, Any]:
    rules, title = {"project": (PROJECT, "archival project file (archival.yaml)"),
                    "domain": (DOMAIN, "archival domain spec (specs/<domain>.yaml)")}[kind]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://archival.example/schemas/{kind}.schema.json", "title": title,
            "x-spec-version": 1, **_object(rules)}


def json_schema_text(kind: str) -> str:
    return json.dumps(json_schema(kind), indent=2, ensure_ascii=False) + "\n"
