"""The key census holds only for the exact set of current manifests it was written for."""

from __future__ import annotations

from types import SimpleNamespace

from archival.write.departures import Departures, census_basis, next_census, valid_census


def _stored(path: str, census=None):
    """What valid_census reads of a stored manifest: its path and its census."""
    return SimpleNamespace(path=path, manifest=SimpleNamespace(key_census=census))


def test_a_census_holds_only_for_the_manifests_it_names():
    others = ["t/_manifests/period=2026-01/v0001.json", "t/_manifests/period=2026-02/v0003.json"]
    carrier = "t/_manifests/period=2026-03/v0002.json"
    census = next_census(Departures(None, 41), reversed(others))  # order does not matter
    current = [_stored(carrier, census), *(_stored(p) for p in others)]
    assert valid_census(current) == 41
    republished = [_stored(carrier, census), _stored(others[0]), _stored(others[1].replace("v0003", "v0004"))]
    assert valid_census(republished) is None
    assert valid_census([*current, _stored("t/_manifests/period=2026-04/v0001.json")]) is None  # a new period
    assert valid_census([_stored(p) for p in others]) is None  # the carrier was replaced by one without it
    assert next_census(Departures(None, None), others) is None  # nothing was counted: no census
    assert census.basis == census_basis(others)
