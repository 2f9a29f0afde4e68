"""YAML that a person also edits, read and written back with its comments and order kept (ruamel):
prefect.yaml (`archival deployments`), archival.yaml and the specs (`archival init`)."""

from __future__ import annotations

from ruamel.yaml import YAML


def round_trip_yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 120
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml
