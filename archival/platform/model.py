"""An app's tables as its metadata describes them, the same shape for every platform."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["key", "created", "updated", "link", "system", "data"]


@dataclass(frozen=True)
class AppField:
    column: str  # the physical column
    title: str  # what the app's users call it
    kind: str  # the platform's field type (NocoDB uidt, Directus interface/special)
    role: Role
    data_type: str  # the database's type name (information_schema)
    description: str | None = None


@dataclass(frozen=True)
class AppTable:
    relation: str  # schema.table
    name: str  # a spec table name (lower case, the platform's prefixes taken off)
    title: str
    fields: tuple[AppField, ...]
    primary_key: tuple[str, ...]
    junction: bool = False  # a many-to-many link table the platform made
    description: str | None = None

    def role(self, role: Role) -> AppField | None:
        return next((f for f in self.fields if f.role == role), None)

    def field(self, column: str) -> AppField | None:
        return next((f for f in self.fields if f.column == column), None)


@dataclass(frozen=True)
class AppLink:
    """A link field: `child.column` holds the key `parent.column`."""

    child: str  # AppTable.relation
    child_column: str
    parent: str
    parent_column: str


@dataclass(frozen=True)
class AppBase:
    platform: str
    version: str  # what the metadata says of the platform's version
    title: str
    schema: str
    tables: tuple[AppTable, ...]
    links: tuple[AppLink, ...] = field(default=())

    def table(self, relation: str) -> AppTable | None:
        return next((t for t in self.tables if t.relation == relation), None)


class PlatformError(Exception):
    """The metadata cannot be read or does not say what is needed: one line, naming what."""
