"""The main screen after a search, compared with the stored SVG snapshot.

Deterministic by construction: a fake backend (fixed hits, facts, picture, paths), a fixed
terminal size, the Unicode image renderer pinned in conftest, and focus in the results (no
blinking cursor). After an intended change to the layout, look at the new picture and accept
it with `pytest tests/tui/test_snapshot.py --snapshot-update`.
"""

from __future__ import annotations

import pytest

from tests.tui.conftest import search


# A small laptop terminal (preview hidden), the usual size, and a wide screen.
@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)], ids=lambda s: "%dx%d" % s)
@pytest.mark.slow
def test_main_screen_after_a_search(snap_compare, make_app, monkeypatch, size):
    monkeypatch.setenv("HOME", "/nonexistent-home")  # paths are never shortened to ~

    async def run_before(pilot) -> None:
        await search(pilot.app, pilot, "dog on a beach")
        await pilot.press("down")

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
