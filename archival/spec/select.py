"""Selectors as in dbt: `domain:NAME`, `table:DOMAIN.TABLE`, `tag:NAME` (shell-style wildcards
allowed). Several selectors select the union; none selects everything."""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass
from typing import Literal

from archival.spec.model import Project, Table

SelectorKind = Literal["domain", "table", "tag"]
KINDS: tuple[SelectorKind, ...] = ("domain", "table", "tag")


class SelectorError(ValueError):
    """A selector that is malformed or matches nothing (bad usage: exit status 2)."""


@dataclass(frozen=True)
class Selector:
    kind: SelectorKind
    pattern: str

    def matches(self, table: Table, domain_tags: tuple[str, ...]) -> bool:
        if self.kind == "domain":
            return fnmatch.fnmatchcase(table.domain, self.pattern)
        if self.kind == "table":
            return fnmatch.fnmatchcase(table.qualified_name, self.pattern)
        return any(fnmatch.fnmatchcase(tag, self.pattern) for tag in (*table.tags, *domain_tags))

    def __str__(self) -> str:
        return f"{self.kind}:{self.pattern}"


def parse_selectors(raw: list[str] | None) -> list[Selector]:
    selectors = []
    for item in raw or []:
        for word in item.replace(",", " ").split():
            kind, sep, pattern = word.partition(":")
            if not sep or kind not in KINDS or not pattern:
                raise SelectorError(f"bad selector '{word}': write domain:NAME, table:DOMAIN.TABLE or tag:NAME")
            if kind == "table" and "." not in pattern and "*" not in pattern:
                raise SelectorError(f"bad selector '{word}': a table selector names its domain, "
                                    f"e.g. table:sales.{pattern}")
            selectors.append(Selector(kind, pattern))  # type: ignore[arg-type]
    return selectors


def select_tables(project: Project, selectors: list[Selector]) -> list[Table]:
    """Tables matching any selector, in domain and spec order. Raises when a selector matches nothing."""
    chosen = []
    hits = dict.fromkeys(selectors, 0)
    for domain in project.domains:
        for table in domain.tables:
            matched = [s for s in selectors if s.matches(table, domain.tags)]
            for s in matched:
                hits[s] += 1
            if matched or not selectors:
                chosen.append(table)
    unmatched = [s for s, n in hits.items() if n == 0]
    if unmatched:
        s = unmatched[0]
        names = {"domain": [d.name for d in project.domains],
                 "table": [t.qualified_name for d in project.domains for t in d.tables],
                 "tag": sorted({tag for d in project.domains for t in d.tables for tag in (*d.tags, *t.tags)})}[s.kind]
        close = difflib.get_close_matches(s.pattern, names, n=1, cutoff=0.6)
        hint = f"did you mean '{s.kind}:{close[0]}'? " if close else ""
        raise SelectorError(f"selector '{s}' matches nothing; {hint}known {s.kind}s: {', '.join(names) or 'none'}")
    return chosen
