"""Resolve secret references. Values are wrapped in `Secret`, whose repr never shows them, and every
error says where the secret was looked for without printing any part of it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from archival.spec.values import SecretRef


class SecretError(Exception):
    """A secret could not be resolved. The message names the reference, never a value."""


@dataclass(frozen=True)
class Secret:
    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def resolve(ref: SecretRef, purpose: str) -> Secret:
    if ref.kind == "env":
        value = os.environ.get(ref.name)
        if not value:
            raise SecretError(f"{purpose}: environment variable {ref.name} is not set "
                              f"(looked for env:{ref.name}; set it, or point the spec at a Prefect Secret)")
        return Secret(value)
    if ref.kind == "prefect-secret":
        from prefect.blocks.system import Secret as PrefectSecret

        try:
            return Secret(str(PrefectSecret.load(ref.name).get()))
        except ValueError as exc:
            raise SecretError(f"{purpose}: Prefect Secret block '{ref.name}' was not found "
                              f"(looked for prefect-secret:{ref.name} on the configured Prefect API)") from exc
    block = load_block(ref, purpose)
    for getter in ("get", "get_secret_value"):
        if hasattr(block, getter):
            return Secret(str(getattr(block, getter)()))
    raise SecretError(f"{purpose}: block {ref.name} holds no single secret value")


def load_block(ref: SecretRef, purpose: str):
    """A Prefect block named `TYPE/NAME` (e.g. aws-credentials/archive)."""
    from prefect.blocks.core import Block

    try:
        return Block.load(ref.name)
    except (ValueError, KeyError) as exc:
        raise SecretError(f"{purpose}: Prefect block '{ref.name}' was not found "
                          f"(looked for prefect-block:{ref.name}; create it with `prefect block create`)") from exc


def scrub(text: str, *secrets: Secret | str | None) -> str:
    """Remove secret values (and the password part of any DSN among them) from a message."""
    for secret in secrets:
        value = secret.value if isinstance(secret, Secret) else secret
        if not value:
            continue
        text = text.replace(value, "***")
        for part in _password_parts(value):
            text = text.replace(part, "***")
    return text


def _password_parts(dsn: str) -> list[str]:
    parts = []
    for word in dsn.replace(";", " ").split():
        key, sep, val = word.partition("=")
        if sep and key.lower() in ("password", "pwd", "passwd") and val:
            parts.append(val)
    if "://" in dsn and "@" in dsn:
        creds = dsn.split("://", 1)[1].rsplit("@", 1)[0]
        if ":" in creds:
            parts.append(creds.split(":", 1)[1])
    return [p for p in parts if len(p) >= 3]
