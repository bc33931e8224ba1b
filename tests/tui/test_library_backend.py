"""The TUI over a real library: the tiny model, generated videos, the real store and decoder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tui.conftest import SIZE, only_mpv, search, settle
from tests.tui.screen_text import screen_text
from vidsearch import config, search as search_api
from vidsearch.store import open_store, writer_lock
from vidsearch.tui.app import create_app
from vidsearch.store import writer_is_active
from vidsearch.tui.backend import LibraryBackend
from vidsearch.tui.widgets.results import ResultsTable


@pytest.fixture
def indexed_db(tiny_model, library) -> Path:
    from vidsearch.indexer import Indexer, IndexOptions
    from vidsearch.model import load_model

    db = config.default_db_path()
    model = load_model(tiny_model, device="cpu")
    with open_store(db) as store:
        report = Indexer(store, model, IndexOptions(decode_workers=2)).sync([library])
    assert len(report.indexed) == 3 and not report.failed
    return db


def make_real_app(db: Path, launched: list, **kwargs):
    app = create_app(db, device="cpu", player_template=[], run_player=launched.append,
                     which=only_mpv, k=5, **kwargs)
    app.animation_level = "none"
    return app


async def test_search_flow_end_to_end_on_a_tiny_library(indexed_db, library, tiny_model):
    launched: list = []
    app = make_real_app(indexed_db, launched)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "3 videos" in screen_text(app).splitlines()[-2]
        assert not app.backend.model_loaded()  # loaded on the first search, not at start
        await pilot.press(*"a red square", "enter")
        await settle(app, pilot)
        assert app.backend.model_loaded()
        table = app.screen.query_one(ResultsTable)
        # The same hits `find` gives: the TUI has no search logic of its own.
        from vidsearch.model import load_model

        with open_store(indexed_db, create=False) as store:
            expected = search_api.search_text(store, load_model(tiny_model, device="cpu"),
                                              "a red square", k=5)
        assert table.hits == expected and table.row_count == len(expected) > 0
        names = {os.path.basename(h.path) for h in expected}
        text = screen_text(app)
        assert all(name in text for name in names)
        best = expected[0]
        # The preview decoded the real frame at the best moment and read the video's facts.
        assert app.screen.query_one("#thumbnail").image is not None
        assert "resolution" in text and "duration" in text
        await pilot.press("enter")
        await pilot.pause()
        assert launched == [["mpv", f"--start={best.best_moment:g}", best.path]]
        assert best.path.startswith(str(library))


async def test_missing_weights_on_a_real_library_is_a_message(isolated_home):
    db = config.default_db_path()
    open_store(db).close()  # an empty library
    app = make_real_app(db, [], model="clip-vit-b-32-openai")  # no weights, offline
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "The library is empty" in screen_text(app)
        await search(app, pilot, "a dog")
        text = screen_text(app)
        assert app.is_running
        assert "The search could not run" in text
        assert "no weights for model 'clip-vit-b-32-openai'" in text
        assert "--weights FILE" in text


def test_status_of_a_missing_or_foreign_database_names_the_problem(tmp_path):
    missing = LibraryBackend(tmp_path / "none.db").status()
    assert "no library here yet" in missing.problem.message
    foreign = tmp_path / "photo.db"
    foreign.write_bytes(b"\x89PNG not a database at all" * 100)
    problem = LibraryBackend(foreign).status().problem
    assert "not a vidsearch library" in problem.message
    assert foreign.read_bytes().startswith(b"\x89PNG")  # and it was left alone


def test_writer_lock_held_by_another_process_is_seen(tmp_path):
    db = tmp_path / "library.db"
    assert not writer_is_active(db)
    with writer_lock(db):
        assert writer_is_active(db)
    assert not writer_is_active(db)  # released, though the lock file and its pid remain
    Path(str(db) + ".lock").write_text("999999999")  # a pid that is not running
    assert not writer_is_active(db)


def test_writer_in_a_subprocess_is_seen(tmp_path):
    db = tmp_path / "library.db"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from vidsearch.store import writer_lock\n"
         "with writer_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(30)",
         str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert writer_is_active(db)
    finally:
        holder.kill()
        holder.wait()
    assert not writer_is_active(db)


def test_status_counts_are_read_again_only_when_the_library_changed(tmp_path, monkeypatch):
    db = tmp_path / "library.db"
    open_store(db).close()
    backend = LibraryBackend(db)
    reads = []
    real = LibraryBackend._read_status
    monkeypatch.setattr(LibraryBackend, "_read_status",
                        lambda self: reads.append(1) or real(self))
    assert backend.status().videos == 0
    backend.status()
    assert len(reads) == 1
    with open_store(db) as store:  # a write lands (what an indexer or watch does)
        store.prepare_for_model("fp", "tiny", 4)
    assert backend.status().model == "tiny"
    assert len(reads) == 2
