from archival.spec.yaml_source import MAX_FILE_BYTES, parse_yaml


def test_positions_of_keys_and_values():
    doc, errors = parse_yaml("a: 1\nb:\n  c: [x, y]\n", "f.yaml")
    assert not errors
    assert doc.keys[("b", "c")].line == 3 and doc.keys[("b", "c")].col == 3
    assert doc.values[("b", "c", 1)].line == 3 and doc.values[("b", "c", 1)].col == 10


def test_yaml_11_surprises_stay_strings():
    doc, _ = parse_yaml("a: no\nb: on\nc: 12:30\nd: 2026-01-01\ne: true\nf: 0x10\n", "f.yaml")
    assert doc.data == {"a": "no", "b": "on", "c": "12:30", "d": "2026-01-01", "e": True, "f": 16}


def test_keys_keep_their_text():
    doc, _ = parse_yaml("on: 1\nnull: 2\n3: x\n", "f.yaml")
    assert doc.data == {"on": 1, "null": 2, "3": "x"}


def test_duplicate_keys_all_reported():
    doc, errors = parse_yaml("a: 1\nb: 2\na: 3\nb: 4\n", "f.yaml")
    assert [(e.line, e.message) for e in errors] == [(3, "duplicate key 'a'"), (4, "duplicate key 'b'")]
    assert doc.data == {"a": 1, "b": 2}  # the first value is kept, never silently the last


def test_alias_bomb_fails_fast():
    import time

    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    started = time.perf_counter()
    doc, errors = parse_yaml("\n".join(lines), "bomb.yaml")
    assert doc is None and "alias bomb" in errors[0].hint
    assert time.perf_counter() - started < 2


def test_huge_document_refused_before_parsing():
    doc, errors = parse_yaml("a: " + "x" * (MAX_FILE_BYTES + 1), "big.yaml")
    assert doc is None and "larger than" in errors[0].message


def test_deep_nesting_refused():
    doc, errors = parse_yaml("a: " + "[" * 60 + "]" * 60, "deep.yaml")
    assert doc is None and "nests deeper" in errors[0].message
