"""The audit chain's head without re-reading what this process wrote: after its own append, the next
append and a manifest's `audit_after` ask the store nothing (a unit's manifest and audit entry asked
it 8 times, each a round trip on S3, then 4, now 2: the entry and the manifest). An entry another
process appended is found by the create-only write's conflict, read, and the chain still links
whichever process wrote last."""

from __future__ import annotations

import hashlib
from collections import Counter

from archival.archive import audit_log
from archival.archive.audit_log import head, length, read_chain
from archival.archive.store import LocalStore
from archival.record import audit


class CountedStore(LocalStore):
    def __init__(self, root) -> None:
        super().__init__(root)
        self.calls: Counter = Counter()

    def exists(self, path: str) -> bool:
        self.calls["exists"] += 1
        return super().exists(path)

    def read_bytes(self, path: str) -> bytes:
        self.calls["read"] += 1
        return super().read_bytes(path)


def test_after_its_own_append_the_head_costs_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(audit_log, "_KNOWN", {})
    store = CountedStore(tmp_path / "archive")
    audit.append(store, {"action": "first"})
    store.calls.clear()
    assert length(store) == 1 and not store.calls  # a lower bound is all `audit_after` needs
    audit.append(store, {"action": "second"})
    assert not store.calls  # the head it wrote, and entry 1's sha256, were kept
    assert head(store) == (2, hashlib.sha256(read_chain(store)[1][1]).hexdigest())
    assert store.calls["exists"] == 1  # asked to look, it looks: is there a third entry? no
    [(_, first, _), (_, _, second)] = read_chain(store)
    assert second["previous_sha256"] == hashlib.sha256(first).hexdigest()


def test_an_append_behind_another_process_finds_it_by_the_conflict(tmp_path, monkeypatch):
    monkeypatch.setattr(audit_log, "_KNOWN", {})
    store = CountedStore(tmp_path / "archive")
    audit.append(store, {"action": "ours"})
    known = dict(audit_log._KNOWN)
    monkeypatch.setattr(audit_log, "_KNOWN", {})  # another process appends twice
    audit.append(store, {"action": "theirs"})
    audit.append(store, {"action": "theirs again"})
    monkeypatch.setattr(audit_log, "_KNOWN", known)  # ours still holds entry 1 as the head
    assert length(store) == 1  # a lower bound: their entries come after it, which is all it says
    audit.append(store, {"action": "ours again"})
    chain = read_chain(store)
    assert [e["action"] for _, _, e in chain] == ["ours", "theirs", "theirs again", "ours again"]
    assert [e["previous_sha256"] for _, _, e in chain[1:]] == [hashlib.sha256(raw).hexdigest()
                                                               for _, raw, _ in chain[:-1]]


def test_an_entry_another_process_appended_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(audit_log, "_KNOWN", {})
    store = CountedStore(tmp_path / "archive")
    audit.append(store, {"action": "ours"})
    known = dict(audit_log._KNOWN)
    monkeypatch.setattr(audit_log, "_KNOWN", {})  # another process: it knows nothing of ours
    audit.append(store, {"action": "theirs"})
    monkeypatch.setattr(audit_log, "_KNOWN", known)  # back in ours, which saw only its own entry
    store.calls.clear()
    sequence, sha = head(store)
    assert store.calls["read"] == 1  # their entry, once
    assert sequence == 2 and sha == hashlib.sha256(read_chain(store)[1][1]).hexdigest()
    audit.append(store, {"action": "ours again"})
    chain = read_chain(store)
    assert [e["previous_sha256"] for _, _, e in chain[1:]] == [hashlib.sha256(raw).hexdigest()
                                                               for _, raw, _ in chain[:-1]]


class ListedStore(CountedStore):
    def list(self, prefix: str, hidden: bool = False, after: str | None = None) -> list[str]:
        found = super().list(prefix, hidden, after)
        self.calls[f"listed {prefix} after {after}"] += len(found)
        return found


def test_a_seeded_length_lists_only_the_entries_after_it(tmp_path, monkeypatch):
    """The project's anchor (its last command's head) seeds a new process: the first look for the
    head lists what came after, not the whole chain (one page per 1,000 entries on S3)."""
    from archival.archive.audit_log import seed_from_anchor
    from archival.record.anchor import record_head

    monkeypatch.setattr(audit_log, "_KNOWN", {})
    store = ListedStore(tmp_path / "archive")
    for i in range(5):
        audit.append(store, {"action": f"e{i}"})
    record_head(store, tmp_path, "p")  # the anchor: 5
    audit.append(store, {"action": "another process"})
    monkeypatch.setattr(audit_log, "_KNOWN", {})  # a new process
    monkeypatch.setattr(audit_log, "_SEEN", {})
    seed_from_anchor(store, tmp_path)
    store.calls.clear()
    sequence, sha = head(store)
    assert store.calls["listed _audit after _audit/0000000005.json"] == 1  # entry 6, the one found
    assert [k for k in store.calls if k.startswith("listed")] == ["listed _audit after _audit/0000000005.json"]
    assert sequence == 6 and sha == hashlib.sha256(read_chain(store)[5][1]).hexdigest()


def test_a_seed_longer_than_the_chain_lists_it_whole(tmp_path, monkeypatch):
    """The archive was started over where the old one was (or cut): the anchor is longer than it."""
    monkeypatch.setattr(audit_log, "_KNOWN", {})
    monkeypatch.setattr(audit_log, "_SEEN", {})
    store = ListedStore(tmp_path / "archive")
    audit.append(store, {"action": "one"})
    audit.append(store, {"action": "two"})
    monkeypatch.setattr(audit_log, "_KNOWN", {})
    audit_log.seed(store, 500)
    store.calls.clear()
    assert head(store)[0] == 2 and store.calls["listed _audit after None"] == 2
    audit.append(store, {"action": "three"})
    assert [e["sequence"] for _, _, e in read_chain(store)] == [1, 2, 3]


def test_an_unreadable_anchor_is_no_hint(tmp_path, monkeypatch):
    from archival.archive.audit_log import anchor_file, seed_from_anchor

    monkeypatch.setattr(audit_log, "_SEEN", {})
    store = LocalStore(tmp_path / "archive")
    path = anchor_file(tmp_path, store)
    path.parent.mkdir(parents=True)
    for text in ("{ not json", "[]", '{"sequence": "7"}'):
        path.write_text(text)
        seed_from_anchor(store, tmp_path)
        assert audit_log._SEEN == {}
