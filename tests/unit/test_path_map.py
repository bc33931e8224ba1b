"""A worker's path for a driver's file: mapped prefixes, whole components, longest first."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vidsearch.cluster.paths import PathMap
from vidsearch.errors import UsageError

names = st.text(st.characters(blacklist_characters="/=\0", blacklist_categories=("Cs",)),
                min_size=1, max_size=8)
paths = st.lists(names, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))


@given(source=paths, target=paths, rest=st.lists(names, max_size=3))
def test_a_path_under_the_source_moves_under_the_target(source, target, rest):
    mapping = PathMap.parse([f"{source}={target}"])
    tail = "/".join(rest)
    assert mapping.apply(f"{source}/{tail}" if tail else source) == (
        f"{target}/{tail}" if tail else target)


@given(source=paths, target=paths, suffix=names)
def test_a_sibling_with_the_same_prefix_is_left_alone(source, target, suffix):
    mapping = PathMap.parse([f"{source}={target}"])
    assert mapping.apply(f"{source}{suffix}/x") == f"{source}{suffix}/x"


def test_the_longest_prefix_and_then_the_worker_own_map_win():
    run = PathMap.parse(["/mnt=/m", "/mnt/nas=/Volumes/nas"])
    assert run.apply("/mnt/nas/a.mp4") == "/Volumes/nas/a.mp4"
    assert run.apply("/mnt/usb/a.mp4") == "/m/usb/a.mp4"
    mine = run.then(PathMap.parse(["/mnt/nas=/srv/nas"]))
    assert mine.apply("/mnt/nas/a.mp4") == "/srv/nas/a.mp4"


@pytest.mark.parametrize("entry", ["/mnt/nas", "=/x", "/x=", ""])
def test_a_malformed_entry_is_named(entry):
    with pytest.raises(UsageError) as caught:
        PathMap.parse([entry])
    assert repr(entry) in caught.value.message
