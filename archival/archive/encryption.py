"""Parquet modular encryption of archived files (envelope encryption, as the Parquet spec's key tools
do it): every file gets a fresh 256-bit data key; footer and columns are encrypted with it (AES-GCM,
uniform encryption); the data key is stored in the footer wrapped by a master key, and the footer's
key material names that master key by its reference (`env:NAME`, `prefect-secret:NAME`, or `kms:KEY`
for AWS KMS). So a reader needs no list of keys: each file says which key unwraps it, and rotating the
master key means new files name the new one while old files keep naming theirs.

Readers unwrap a file's data key once (pyarrow opens the footer through `MasterKeys`) and hand it to
DuckDB by name (`PRAGMA add_parquet_key`), which reads uniformly encrypted files written by Arrow.
Single wrapping (no key-encryption keys) is what makes that possible: the master key unwraps the data
key itself."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe
from botocore.exceptions import BotoCoreError, ClientError

ENCRYPTED_MAGIC = b"PARE"  # a Parquet file with an encrypted footer ends with it (plain files: PAR1)
_LOCAL_AAD = b"archival parquet data key"  # binds a locally wrapped data key to its purpose
_KMS_CONTEXT = {"archival": "parquet-data-key"}


class KeyUnavailable(Exception):
    """A master key cannot be used: the message names the file and the key reference, never a key."""


@dataclass(frozen=True)
class ParquetKey:
    """A file's unwrapped data key, under the name DuckDB knows it by."""

    name: str
    value: str = field(repr=False)  # base64


def is_encrypted(path: Path | str | bytes) -> bool:
    """`path`: a file, or a whole file's bytes."""
    if isinstance(path, bytes):
        return path.endswith(ENCRYPTED_MAGIC)
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() < 4:
            return False
        handle.seek(-4, os.SEEK_END)
        return handle.read(4) == ENCRYPTED_MAGIC


class MasterKeys:
    """Wraps and unwraps data keys with master keys named by reference. `secret(ref)` gives a local
    master key (base64 of 32 bytes); `kms()` gives a boto3 KMS client for `kms:` references."""

    def __init__(self, secret: Callable[[str], str], kms: Callable[[], Any] | None = None):
        self._secret, self._kms = secret, kms
        self._local: dict[str, bytes] = {}

    def wrap(self, data_key: bytes, ref: str) -> str:
        if ref.startswith("kms:"):
            answer = self._kms_client(ref).encrypt(KeyId=ref[4:], Plaintext=data_key, EncryptionContext=_KMS_CONTEXT)
            return base64.b64encode(answer["CiphertextBlob"]).decode()
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(12)
        return base64.b64encode(nonce + AESGCM(self._local_key(ref)).encrypt(nonce, data_key, _LOCAL_AAD)).decode()

    def unwrap(self, wrapped: str, ref: str) -> bytes:
        raw = base64.b64decode(wrapped)
        if ref.startswith("kms:"):
            return self._kms_client(ref).decrypt(CiphertextBlob=raw, EncryptionContext=_KMS_CONTEXT)["Plaintext"]
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            return AESGCM(self._local_key(ref)).decrypt(raw[:12], raw[12:], _LOCAL_AAD)
        except InvalidTag:
            raise KeyUnavailable(f"key {ref} does not unwrap this file's data key (another key is stored under "
                                 "that reference now: keep a rotated key under its old name)") from None

    def _kms_client(self, ref: str) -> Any:
        if self._kms is None:
            raise KeyUnavailable(f"key {ref} is an AWS KMS key, and this target configures no KMS client "
                                 "(encryption.parquet.kms_key_id)")
        return self._kms()

    def _local_key(self, ref: str) -> bytes:
        if ref not in self._local:
            try:
                key = base64.b64decode(self._secret(ref), validate=True)
            except ValueError:
                key = b""
            if len(key) != 32:
                raise KeyUnavailable(f"key {ref} is not a base64-encoded 256-bit key (make one with "
                                     "`openssl rand -base64 32`)")
            self._local[ref] = key
        return self._local[ref]


class _Client(pe.KmsClient):
    """pyarrow's view of MasterKeys; remembers the data keys it unwraps for the opener to pick up."""

    def __init__(self, keys: MasterKeys, unwrapped: list[bytes]):
        super().__init__()
        self.keys, self.unwrapped = keys, unwrapped

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        return self.keys.wrap(key_bytes, master_key_identifier)

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        try:
            key = self.keys.unwrap(wrapped_key, master_key_identifier)
        except (ClientError, BotoCoreError, ValueError) as exc:  # KMS refused or unreachable; a garbled wrapped key
            raise KeyUnavailable(f"key {master_key_identifier} cannot be used: {_reason(exc)}") from None
        self.unwrapped.append(key)
        return key


def _reason(exc: BaseException) -> str:
    """A KMS error's code (AccessDeniedException, NotFoundException, ...), else the first line."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{code} ({text})" if code else text


class ArchiveKeys:
    """What a target encrypts new Parquet files with (`writing`: a master key reference, or None for
    plain files), and the means to read any encrypted file whose key reference resolves here."""

    def __init__(self, master: MasterKeys, writing: str | None = None):
        self.master, self.writing = master, writing
        self._lock = threading.Lock()  # one footer opened at a time: the unwrapped key is that file's
        self._unwrapped: list[bytes] = []
        self._factory = pe.CryptoFactory(lambda _config: _Client(self.master, self._unwrapped))
        self._config = pe.KmsConnectionConfig()
        self._opened: dict[str, ParquetKey] = {}

    def encryption_properties(self) -> Any | None:
        """Properties for one new file (each call: a fresh data key), or None when files stay plain."""
        if self.writing is None:
            return None
        config = pe.EncryptionConfiguration(footer_key=self.writing, uniform_encryption=True, double_wrapping=False,
                                            data_key_length_bits=256, internal_key_material=True)
        try:
            return self._factory.file_encryption_properties(self._config, config)
        except KeyUnavailable:
            raise
        except OSError as exc:  # pyarrow re-raises the KmsClient's error as an OSError
            raise KeyUnavailable(_clean(str(exc), self.writing)) from None

    def decryption_properties(self) -> Any:
        return self._factory.file_decryption_properties(self._config, pe.DecryptionConfiguration())

    def open(self, path: Path | str | bytes, shown: str | None = None) -> pq.ParquetFile:
        """A Parquet file (a path, or its bytes), decrypted when it is encrypted; KeyUnavailable names
        the file and the key."""
        source = pa.BufferReader(path) if isinstance(path, bytes) else path
        if not is_encrypted(path):
            return pq.ParquetFile(source)
        try:
            return pq.ParquetFile(source, decryption_properties=self.decryption_properties())
        except KeyUnavailable as exc:
            raise KeyUnavailable(f"{shown or path}: {exc}") from None
        except OSError as exc:
            raise KeyUnavailable(f"{shown or path}: {_clean(str(exc), None)}") from None

    def read_table(self, path: Path | str | bytes, shown: str | None = None) -> pa.Table:
        return self.open(path, shown).read()

    def unlock(self, path: Path | str, shown: str | None = None) -> ParquetKey | None:
        """The data key DuckDB reads an encrypted file with (None for a plain file)."""
        if not is_encrypted(path):
            return None
        with self._lock:
            self._unwrapped.clear()
            self.open(path, shown)
            if not self._unwrapped:
                raise KeyUnavailable(f"{shown or path}: its data key was not unwrapped (a file written with "
                                     "double wrapping or column keys, which archival does not write)")
            key = self._unwrapped[-1]
        name = "archival_" + hashlib.sha256(key).hexdigest()[:24]
        return self._opened.setdefault(name, ParquetKey(name, base64.b64encode(key).decode()))


def _clean(message: str, ref: str | None) -> str:
    """pyarrow wraps a KmsClient error in its own text: keep the first line that says what happened."""
    for line in message.splitlines():
        if "key " in line and ("cannot" in line or "does not" in line or "not a base64" in line or "KMS" in line):
            return line[line.index("key "):]
    first = message.splitlines()[0] if message else "unreadable"
    return f"key {ref} cannot be used: {first}" if ref else f"cannot be decrypted: {first}"


def register_keys(con: Any, keys: list[ParquetKey]) -> None:
    """Make `keys` known to a DuckDB connection (read_parquet names them in encryption_config).

    DuckDB 1.5.5 reads an encrypted file's pages wrongly when a filter is pushed into its scan (an "AES
    tag differs" error, or an internal error for a join's filter): a connection that reads encrypted
    files plans without filter pushdown. Slower, never a wrong answer: the failure was always loud."""
    if not keys:
        return
    for key in {k.name: k for k in keys}.values():
        con.execute(f"PRAGMA add_parquet_key('{key.name}', '{key.value}')")
    con.execute("SET disabled_optimizers = 'filter_pushdown,join_filter_pushdown'")


def resolve_secret(ref: str) -> str:
    """A local master key by its reference, resolved like every other secret of the project."""
    from archival.source.secrets import SecretError, resolve
    from archival.spec.values import parse_secret_ref

    try:
        return resolve(parse_secret_ref(ref), f"key {ref}").value
    except ValueError:
        raise KeyUnavailable(f"key {ref} is not a key reference (env:NAME, prefect-secret:NAME or kms:KEY)") from None
    except SecretError as exc:
        raise KeyUnavailable(str(exc)) from None


def plain_keys() -> ArchiveKeys:
    """A target that writes plain files; it still reads encrypted ones whose key reference resolves."""
    return ArchiveKeys(MasterKeys(resolve_secret))
