"""YAML loading that keeps the position of every key and value.

PyYAML's composer gives nodes with marks; we construct plain Python values ourselves so that we can
(1) remember where each value came from, (2) refuse duplicate keys, which PyYAML silently overwrites,
(3) bound the work an alias bomb can cause, and (4) avoid YAML 1.1 surprises (`no` -> False,
`12:30` -> 750, unquoted dates -> datetime): only `true`/`false` are booleans and dates stay strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from archival.spec.errors import SpecError

MAX_FILE_BYTES = 1_000_000  # a domain spec is a few KiB; anything this large is a mistake or an attack
MAX_NODES = 50_000  # counts alias expansions too, so an alias bomb stops after a bounded amount of work
MAX_DEPTH = 40

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    col: int  # 1-based
    width: int = 1


@dataclass
class YamlDocument:
    """A parsed file: its data and where each key and value stands in the text."""

    file: str
    text: str
    data: Any
    values: dict[Path_, Position] = field(default_factory=dict)
    keys: dict[Path_, Position] = field(default_factory=dict)

    def line_text(self, line: int) -> str | None:
        lines = self.text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else None

    def position(self, path: Path_, *, key: bool = False) -> Position:
        """Best position for a path: the key or value itself, else the nearest enclosing one."""
        table = self.keys if key else self.values
        probe = tuple(path)
        if probe in table:
            return table[probe]
        while probe:
            probe = probe[:-1]
            if probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe]
        return Position(1, 1)

    def error(self, path: Path_, message: str, hint: str | None = None, *, key: bool = False,
              redact: bool = False) -> SpecError:
        pos = self.position(path, key=key)
        snippet = self.line_text(pos.line)
        width = pos.width
        if redact and snippet is not None:
            # the value may be a password: show the line with the value itself blanked out
            snippet = snippet[: pos.col - 1] + "***" + snippet[pos.col - 1 + pos.width:]
            width = 3
        return SpecError(self.file, pos.line, pos.col, message, hint, snippet, width)


class _Limits(Exception):
    def __init__(self, message: str, node: yaml.Node, hint: str):
        self.message, self.node, self.hint = message, node, hint


def _mark(node: yaml.Node) -> Position:
    start, end = node.start_mark, node.end_mark
    width = end.column - start.column if end.line == start.line and end.column > start.column else 1
    return Position(start.line + 1, start.column + 1, width)


_COLLECTION_TAGS = ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")
_SAFE = yaml.SafeLoader("")  # only used for its scalar constructors, never to load a document


def _scalar(node: yaml.ScalarNode) -> Any:
    tag, text = node.tag, node.value
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        low = text.lower()
        return {"true": True, "false": False}.get(low, text)  # yes/no/on/off stay strings
    if tag == "tag:yaml.org,2002:int":
        return text if ":" in text else _SAFE.construct_yaml_int(node)
    if tag == "tag:yaml.org,2002:float":
        return text if ":" in text else _SAFE.construct_yaml_float(node)
    if tag in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"):
        return text
    raise _Limits(f"YAML tag {tag!r} is not allowed in a spec", node,
                  "specs hold plain values only: remove the explicit '!tag'")


class _Builder:
    def __init__(self, doc: YamlDocument):
        self.doc = doc
        self.count = 0
        self.duplicates: list[SpecError] = []

    def build(self, node: yaml.Node, path: Path_, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _Limits(f"document expands to more than {MAX_NODES} values", node,
                          "this looks like an alias bomb (nested '*alias' references); write values out")
        if depth > MAX_DEPTH:
            raise _Limits(f"document nests deeper than {MAX_DEPTH} levels", node,
                          "specs are a few levels deep; check the indentation")
        self.doc.values.setdefault(path, _mark(node))
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _COLLECTION_TAGS:
            raise _Limits(f"YAML tag {node.tag!r} is not allowed in a spec", node,
                          "specs hold plain values only: remove the explicit '!tag'")
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        raise _Limits("unsupported YAML node", node, "use mappings, lists and plain values")

    def _mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Position] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Limits("YAML merge keys ('<<') are not allowed in a spec", key_node,
                              "write the keys out; a spec should read the same as it runs")
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Limits("a mapping key must be a plain name", key_node, "use a name such as 'orders'")
            key = key_node.value  # keys are names: keep their exact text (`on`, `1`, `null` included)
            key_pos = _mark(key_node)
            if key in first_seen:
                earlier = first_seen[key]
                self.duplicates.append(SpecError(
                    self.doc.file, key_pos.line, key_pos.col, f"duplicate key '{key}'",
                    f"'{key}' is already set on line {earlier.line}; YAML would silently keep only the last one",
                    self.doc.line_text(key_pos.line), key_pos.width))
                continue
            first_seen[key] = key_pos
            self.doc.keys[(*path, key)] = key_pos
            result[key] = self.build(value_node, (*path, key), depth + 1)
        return result


def parse_yaml(text: str, file: str) -> tuple[YamlDocument | None, list[SpecError]]:
    """Parse one YAML document. Returns the document (None if unusable) and the errors found."""
    doc = YamlDocument(file=file, text=text, data=None)
    if len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        return None, [SpecError(file, 0, 0, f"file is larger than {MAX_FILE_BYTES:,} bytes",
                                "a spec is a few KiB; split it or check that the right file is named")]
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if mark and exc.context_mark and doc.line_text(mark.line + 1) is None:
            mark = exc.context_mark  # the file ended: point at what was left open
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        message = f"invalid YAML: {exc.problem or exc.context}"
        if exc.context and exc.problem:
            message += f" ({exc.context})"
        return None, [SpecError(file, line, col, message, _syntax_hint(exc), doc.line_text(line))]
    except yaml.YAMLError as exc:
        return None, [SpecError(file, 0, 0, f"invalid YAML: {exc}")]
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        return None, [SpecError(file, 0, 0, "file is empty", "a spec starts with 'domain: <name>'")]
    if len(nodes) > 1:
        m = nodes[1].start_mark
        return None, [SpecError(file, m.line + 1, m.column + 1, "more than one YAML document in a spec file",
                                "put one domain per file; remove the '---' separator", doc.line_text(m.line + 1))]
    builder = _Builder(doc)
    try:
        doc.data = builder.build(nodes[0], (), 0)
    except _Limits as exc:
        pos = _mark(exc.node)
        return None, [SpecError(file, pos.line, pos.col, exc.message, exc.hint, doc.line_text(pos.line), pos.width)]
    if not isinstance(doc.data, dict):
        return None, [doc.error((), "a spec file must be a mapping of keys to values",
                                "start with 'domain: <name>' (or 'project: <name>' in archival.yaml)")]
    return doc, builder.duplicates


def _syntax_hint(exc: yaml.MarkedYAMLError) -> str:
    problem = f"{exc.problem or ''} {exc.context or ''}".lower()
    if "tab" in problem or "'\\t'" in problem:
        return "YAML indents with spaces, never tabs"
    if "alias" in problem or "anchor" in problem:
        return "'*' starts an alias in YAML; quote values such as cron expressions: \"0 2 * * *\""
    if "mapping values are not allowed" in problem:
        return "a value containing ': ' must be quoted"
    return "check indentation and quoting near this position"


def read_yaml(path: Path, display: str) -> tuple[YamlDocument | None, list[SpecError]]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [SpecError(display, 0, 0, f"file is larger than {MAX_FILE_BYTES:,} bytes",
                                    "a spec is a few KiB; check that the right file is named")]
        raw = path.read_bytes()
    except OSError as exc:
        return None, [SpecError(display, 0, 0, f"cannot read file: {exc.strerror}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [SpecError(display, line, 1, "file is not valid UTF-8", "save the spec as UTF-8")]
    return parse_yaml(text, display)
