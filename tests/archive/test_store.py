import hashlib

import pytest

from archival.archive.store import ArchiveConflict, LocalStore


def test_local_put_is_create_only(tmp_path):
    store = LocalStore(tmp_path)
    assert store.put_new("d/t/x.json", b"a") is True
    assert store.put_new("d/t/x.json", b"a") is False
    with pytest.raises(ArchiveConflict):
        store.put_new("d/t/x.json", b"b")
    assert (tmp_path / "d/t/x.json").read_bytes() == b"a"
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]


def test_local_put_file_adopts_identical_and_refuses_different(tmp_path):
    store = LocalStore(tmp_path / "root")
    one, two = tmp_path / "one", tmp_path / "two"
    one.write_bytes(b"same rows")
    two.write_bytes(b"other rows")
    sha = hashlib.sha256(b"same rows").hexdigest()
    assert store.put_file("d/t/period=full/part-00000-x.parquet", one, sha) is True
    assert store.put_file("d/t/period=full/part-00000-x.parquet", one, sha) is False
    with pytest.raises(ArchiveConflict):
        store.put_file("d/t/period=full/part-00000-x.parquet", two, hashlib.sha256(b"other rows").hexdigest())


def test_paths_cannot_escape_the_root(tmp_path):
    with pytest.raises(ValueError):
        LocalStore(tmp_path).put_new("../outside.json", b"x")


def test_work_and_temp_files_are_not_listed(tmp_path):
    (tmp_path / ".work" / "run").mkdir(parents=True)
    (tmp_path / ".work" / "run" / "part.tmp").write_bytes(b"x")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".tmp-a.json-1").write_bytes(b"x")
    (tmp_path / "d" / "a.json").write_bytes(b"x")
    assert LocalStore(tmp_path).list("") == ["d/a.json"]


def test_threads_creating_one_name_at_once_never_trip_over_each_other(tmp_path):
    """Units on threads may write the same lineage name at the same moment: exactly one creates it,
    the others see identical bytes, and none fails on another's temp file."""
    import threading

    store = LocalStore(tmp_path)

    def put(name: str, start: threading.Barrier, results: list, errors: list) -> None:
        start.wait()
        try:
            results.append(store.put_new(name, b'{"same": true}'))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    for i in range(40):
        start, results, errors = threading.Barrier(4), [], []
        threads = [threading.Thread(target=put, args=(f"_lineage/{i:04d}.json", start, results, errors))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors and sorted(results) == [False, False, False, True]
    assert not list(tmp_path.rglob(".tmp-*"))
