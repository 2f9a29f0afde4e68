"""docs/specs.md generated from the rules, so the reference can never drift from validation."""

from __future__ import annotations

import json

from archival.spec.rules import DOMAIN, PROJECT, Rule

INTRO = """# Spec language v1 — reference

Generated from `archival/spec/rules.py` by `archival schema --docs`; do not edit by hand (a test checks
that this file is current). Editors autocomplete specs through the JSON Schemas in `schemas/`
(each example spec starts with a `yaml-language-server` modeline).

Every key is checked. Unknown keys, wrong types, duplicate keys, bad durations, cron or time zones,
invalid names and literal secrets end as `file:LINE:COL: message` with a hint, exit status 2, and
nothing runs. Names of domains, tables, sources and targets are `[a-z][a-z0-9_]{0,62}`: they become
folder names and SQL identifiers. Physical names (`relation`, columns) may use mixed case, `_` and `$`,
and are always quoted by archival.

Durations: a whole number and a unit, `30s 15m 1h 1d 2w 1y` (1y = 365 days).
Secrets: never literal. `env:NAME`, `prefect-secret:NAME` or `prefect-block:TYPE/NAME`.

Defaults resolve in this order: the table's own key, the domain's `defaults:` block, the source's
setting (for `timezone`), the default below.
"""


def _type(rule: Rule) -> str:
    kind = rule.get("type", "")
    kinds = kind if isinstance(kind, list) else [kind]
    words = {"dict": "mapping", "list": "list", "string": "text", "integer": "integer", "boolean": "bool",
             "number": "number"}
    text = " or ".join(words.get(k, k) for k in kinds)
    if "allowed" in rule and kind != "list":
        text += ": " + " \\| ".join(f"`{a}`" for a in rule["allowed"])
    return text


def _rows(rules: dict[str, Rule], prefix: str) -> list[str]:
    rows = []
    for key, rule in rules.items():
        meta = rule.get("meta", {})
        path = f"{prefix}{key}"
        default = f"`{meta['default']}`" if "default" in meta else ("required" if rule.get("required") else "")
        example = f"`{json.dumps(meta['example'], ensure_ascii=False)}`" if "example" in meta else ""
        doc = meta.get("doc", "").replace("|", "\\|")
        rows.append(f"| `{path}` | {_type(rule)} | {default} | {doc} | {example} |")
        if rule.get("type") == "dict" and isinstance(rule.get("schema"), dict):
            rows += _rows(rule["schema"], f"{path}.")
        if "valuesrules" in rule:
            inner = rule["valuesrules"]
            if isinstance(inner.get("schema"), dict):
                rows += _rows(inner["schema"], f"{path}.<name>.")
        if rule.get("type") == "list" and isinstance(rule.get("schema", {}).get("schema"), dict):
            rows += _rows(rule["schema"]["schema"], f"{path}[].")
    return rows


def _table(title: str, rules: dict[str, Rule], prefix: str = "") -> str:
    head = ["| key | type | default | meaning | example |", "|---|---|---|---|---|"]
    return f"## {title}\n\n" + "\n".join(head + _rows(rules, prefix)) + "\n"


def specs_markdown() -> str:
    return "\n".join([INTRO, _table("Project file `archival.yaml`", PROJECT),
                      _table("Domain spec `specs/<domain>.yaml`", DOMAIN)])
