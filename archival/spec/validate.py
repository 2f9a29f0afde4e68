"""Run the Cerberus rules over a parsed document and turn every failure into a SpecError that points
at the bad key or value, says what was expected, and gives a hint."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from typing import Any

import cerberus
from cerberus import errors as ce

from archival.spec import values as v
from archival.spec.errors import SpecError
from archival.spec.rules import Rule
from archival.spec.yaml_source import YamlDocument

SECRET_KEYS = frozenset({"dsn", "credentials", "hash_key"})  # values never echoed in messages


def _custom(message: str, hint: str | None = None, redact: bool = False) -> str:
    return json.dumps({"message": message, "hint": hint, "redact": redact})


class SpecValidator(cerberus.Validator):
    """Cerberus with the spec's value languages as `check_with` rules."""

    def _check_with_duration(self, field: str, value: Any) -> None:
        try:
            v.parse_duration(value)
        except ValueError as exc:
            self._error(field, _custom(f"{exc} for '{field}'", v.DURATION_HINT))

    def _check_with_instant(self, field: str, value: Any) -> None:
        try:
            v.parse_instant(value)
        except ValueError as exc:
            self._error(field, _custom(f"{exc} for '{field}'", v.INSTANT_HINT))

    def _check_with_cron(self, field: str, value: Any) -> None:
        try:
            v.check_cron(value)
        except ValueError as exc:
            self._error(field, _custom(str(exc), v.CRON_HINT))

    def _check_with_timezone(self, field: str, value: Any) -> None:
        try:
            v.check_timezone(value)
        except ValueError as exc:
            close = difflib.get_close_matches(value, v.timezone_names(), n=3, cutoff=0.6)
            hint = f"did you mean {_quoted(close)}?" if close else "use an IANA zone name such as UTC or Europe/Berlin"
            self._error(field, _custom(str(exc), hint))

    def _check_with_quiet_hours(self, field: str, value: Any) -> None:
        try:
            v.parse_quiet_hours(value)
        except ValueError as exc:
            self._error(field, _custom(f"{exc}: quiet hours are HH:MM-HH:MM",
                                       'e.g. "07:00-20:00"; a range may wrap midnight: "22:00-06:00"'))

    def _check_with_secret_ref(self, field: str, value: Any) -> None:
        if not v.is_secret_ref(value):
            self._error(field, _custom(f"'{field}' must be a secret reference, not a literal value",
                                       v.SECRET_HINT, redact=True))

    def _check_with_master_key(self, field: str, value: Any) -> None:
        if not re.match(v.MASTER_KEY_PATTERN, str(value)):
            self._error(field, _custom(f"'{field}' must name a master key, not hold one",
                                       "kms:KEY (an AWS KMS key id, ARN or alias) or a reference to a base64 256-bit "
                                       "key: env:NAME, prefect-secret:NAME", redact=True))

    def _check_with_dsn(self, field: str, value: Any) -> None:
        if v.looks_like_secret_ref(value):
            if not v.is_secret_ref(value):
                self._error(field, _custom(f"malformed secret reference in '{field}'", v.SECRET_HINT, redact=True))
        elif v.dsn_has_password(value):
            self._error(field, _custom(f"literal password in '{field}'", "keep the DSN in a secret: " + v.SECRET_HINT,
                                       redact=True))

    def _check_with_column_type(self, field: str, value: Any) -> None:
        if re.match(r"^decimal\(\d+$", str(value)):
            # YAML split `{type: decimal(12,2), ...}` at the comma
            self._error(field, _custom(f"column type '{value}' was cut at a comma",
                                       'inside {...} quote it: type: "decimal(12,2)"'))
        elif not re.match(v.COLUMN_TYPE_PATTERN, str(value)):
            self._error(field, _custom(f"unknown column type '{value}'", v.TYPE_HINT))

    def _check_with_regex(self, field: str, value: Any) -> None:
        try:
            re.compile(value)
        except re.error as exc:
            self._error(field, _custom(f"'regex' does not compile: {exc}", "use Python regular expression syntax"))

    def _check_with_column_ref(self, field: str, value: Any) -> None:
        table, dot, column = str(value).partition(".")
        if not dot or not re.match(v.NAME_PATTERN, table) or not re.match(v.IDENTIFIER_PATTERN, column):
            self._error(field, _custom(f"'{value}' is not a table.column reference", "e.g. orders.customer_id"))


_NAME_HINT = ("names are lowercase letters, digits and '_', start with a letter, at most 63 characters "
              "(they become folder names and SQL identifiers)")
_IDENT_HINT = ("write the column's physical name as the source spells it (at most 63 characters, no control "
               "characters, no leading or trailing blanks); archival quotes it itself")
_RELATION_HINT = ("write `table` or `schema.table`: letters, digits, '_' and '$', at most 63 characters per part; "
                  "archival quotes them itself, so write them without quotes")
_PATTERN_HINTS = {v.NAME_PATTERN: _NAME_HINT, v.IDENTIFIER_PATTERN: _IDENT_HINT,
                  v.RELATION_PATTERN: _RELATION_HINT,
                  v.PROJECT_PATTERN: "lowercase letters, digits, '_' and '-', starting with a letter"}
_TYPE_WORDS = {"string": "text", "list": "a list", "dict": "a mapping", "integer": "a whole number",
               "boolean": "true or false", "number": "a number"}


def _quoted(items: list[str]) -> str:
    return ", ".join(f"'{i}'" for i in items)


def _printable(value: Any) -> str:
    """A value for a one-line message: control characters escaped (a tab must not look like a blank)."""
    text = str(value)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def _type_words(constraint: Any) -> str:
    kinds = constraint if isinstance(constraint, list) else [constraint]
    return " or ".join(_TYPE_WORDS.get(k, k) for k in kinds)


def _yaml_kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "a mapping"}.get(type(value), type(value).__name__)


def rule_at(rules: dict[str, Rule], path: tuple) -> Rule | None:
    """The rule that governs `path`, following schema / valuesrules / list item schemas."""
    rule: Rule | None = {"type": "dict", "schema": rules}
    for part in path:
        if rule is None:
            return None
        if isinstance(part, int):
            rule = rule.get("schema") if rule.get("type") in ("list", ["string", "list"]) else None
        elif isinstance(rule.get("schema"), dict) and rule.get("type") == "dict":
            rule = rule["schema"].get(part)
        elif "valuesrules" in rule:
            rule = rule["valuesrules"]
        else:
            return None
    return rule


def _leaves(errors: list[ce.ValidationError], in_keys: bool = False) -> Iterator[tuple[ce.ValidationError, bool]]:
    for error in errors:
        keys = in_keys or error.rule == "keysrules"
        if error.is_group_error:
            yield from _leaves(list(error.child_errors or []), keys)
        else:
            yield error, keys


def _where(path: tuple) -> str:
    parent = ".".join(str(p) for p in path[:-1])
    return f" in {parent}" if parent else ""


def validate_document(doc: YamlDocument, rules: dict[str, Rule]) -> list[SpecError]:
    validator = SpecValidator(rules)
    if validator.validate(doc.data):
        return []
    return [_to_spec_error(doc, rules, error, in_keys) for error, in_keys in _leaves(validator._errors)]


def _to_spec_error(doc: YamlDocument, rules: dict[str, Rule], error: ce.ValidationError,
                   in_keys: bool) -> SpecError:
    path = tuple(error.document_path)
    field = str(path[-1]) if path else "document"
    key_name = next((str(p) for p in reversed(path) if isinstance(p, str)), field)
    secret = key_name in SECRET_KEYS
    rule = rule_at(rules, path) or {}
    example = rule.get("meta", {}).get("example")
    example_hint = f"e.g. {key_name}: {json.dumps(example)}" if example is not None else None

    if in_keys:
        # the key itself broke a keysrules rule: point at the key
        hint = _PATTERN_HINTS.get(error.constraint, _NAME_HINT)
        return doc.error(path, f"'{field}' is not a valid name{_where(path)}", hint, key=True)
    code = error.code
    if code == ce.CUSTOM.code:
        info = json.loads(error.info[0])
        return doc.error(path, info["message"], info["hint"], redact=info["redact"])
    if code == ce.UNKNOWN_FIELD.code:
        parent = rule_at(rules, path[:-1]) or {}
        valid = sorted((parent.get("schema") or {}).keys()) if parent.get("type") == "dict" else []
        close = difflib.get_close_matches(field, valid, n=1, cutoff=0.6)
        hint = (f"did you mean '{close[0]}'? " if close else "") + f"valid keys here: {', '.join(valid)}"
        return doc.error(path, f"unknown key '{field}'{_where(path)}", hint, key=True)
    if code == ce.REQUIRED_FIELD.code:
        parent_path = path[:-1]
        where = ".".join(str(p) for p in parent_path) or "the top level"
        return doc.error(parent_path, f"missing required key '{field}' in {where}", example_hint, key=True)
    if code == ce.BAD_TYPE.code:
        return doc.error(path, f"'{key_name}' must be {_type_words(error.constraint)}, "
                               f"got {_yaml_kind(error.value)}", example_hint, redact=secret)
    if code == ce.UNALLOWED_VALUE.code:
        allowed = [str(a) for a in error.constraint]
        close = difflib.get_close_matches(str(error.value), allowed, n=1, cutoff=0.5)
        hint = (f"did you mean '{close[0]}'? " if close else "") + f"allowed: {', '.join(allowed)}"
        return doc.error(path, f"'{key_name}' cannot be '{error.value}'", hint)
    if code == ce.REGEX_MISMATCH.code:
        value = "***" if secret else _printable(error.value)
        return doc.error(path, f"'{value}' is not a valid {key_name}",
                         _PATTERN_HINTS.get(error.constraint, example_hint))
    if code in (ce.EMPTY_NOT_ALLOWED.code, ce.MIN_LENGTH.code):
        return doc.error(path, f"'{key_name}' must not be empty", example_hint)
    if code == ce.MIN_VALUE.code:
        return doc.error(path, f"'{key_name}' must be at least {error.constraint}, got {error.value}", example_hint)
    if code == ce.MAX_VALUE.code:
        return doc.error(path, f"'{key_name}' must be at most {error.constraint}, got {error.value}", example_hint)
    message = error.info[0] if error.info else f"rule '{error.rule}' failed"
    return doc.error(path, f"'{key_name}': {message}", example_hint, redact=secret)
