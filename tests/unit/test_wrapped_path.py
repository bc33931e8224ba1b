"""find's file column: paths broken after a separator, long names at their spaces, nothing
lost or longer than the column."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vidsearch.display import wrapped_path

names = st.text(st.sampled_from("abcdefgh ."), min_size=1, max_size=50).filter(
    lambda name: name.strip() == name)


@settings(max_examples=300, deadline=None)
@given(st.lists(names, min_size=1, max_size=5), st.integers(8, 40))
def test_every_line_fits_and_only_spaces_at_breaks_are_dropped(parts, width):
    path = "/".join(parts)
    lines = wrapped_path(path, width).plain.split("\n")
    assert all(0 < len(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == path.replace(" ", "")


def test_a_long_name_breaks_at_its_spaces():
    lines = wrapped_path("~/Videos/trip/hike with a long name for wrapping tests.mp4",
                         33).plain.split("\n")
    assert lines == ["~/Videos/trip/", "hike with a long name for", "wrapping tests.mp4"]


def test_a_name_without_spaces_is_cut_only_when_it_must_be():
    lines = wrapped_path("~/x/" + "a" * 30 + ".mp4", 20).plain.split("\n")
    assert lines == ["~/x/", "a" * 20, "a" * 10 + ".mp4"]
