"""`vidsearch tui`: arguments reach the app, errors before the screen opens are CLI errors."""

from __future__ import annotations

import logging

import pytest

import vidsearch.tui.app
from vidsearch.cli import main
from vidsearch.tui.backend import LibraryBackend


@pytest.fixture
def started(monkeypatch):
    """Records what `vidsearch tui` would start, instead of taking over the terminal."""
    calls = []

    class Recorder:
        def run(self):
            calls[-1]["log_handlers"] = list(logging.getLogger().handlers)

    def fake_create_app(db_path, **kwargs):
        calls.append({"db": db_path, **kwargs, "warming_up": list(warm_ups)})
        return Recorder()

    warm_ups = []
    monkeypatch.setattr(LibraryBackend, "start_warm_up", lambda self: warm_ups.append(self))
    monkeypatch.setattr(vidsearch.tui.app, "create_app", fake_create_app)
    return calls


def test_tui_passes_library_model_and_k_to_the_app(started, tmp_path, isolated_home):
    db = tmp_path / "lib.db"
    assert main(["tui", "--db", str(db), "--model", "tiny", "--device", "cpu", "-k", "7"]) == 0
    (call,) = started
    backend = call["backend"]
    assert (call["db"], backend.db_path, backend.model_name, backend._models.device, call["k"]) == \
        (db, db, "tiny", "cpu", 7)
    # The model starts loading before the app (and Textual) is even imported.
    assert call["warming_up"] == [backend]
    # While the screen is up, log lines go to a file, never to the terminal.
    assert [type(h) for h in call["log_handlers"]] == [logging.FileHandler]
    assert call["log_handlers"][0].baseFilename == str(isolated_home / "cache" / "tui.log")
    assert call["log_handlers"][0] not in logging.getLogger().handlers  # and back afterwards


def test_bad_k_is_a_usage_error(started, capsys):
    assert main(["tui", "-k", "0"]) == 2
    assert "-k must be at least 1" in capsys.readouterr().err
    assert started == []


def test_a_broken_settings_file_is_reported_before_the_screen_opens(started, isolated_home,
                                                                    capsys):
    settings = isolated_home / "config" / "settings.toml"
    settings.parent.mkdir(parents=True)
    settings.write_text("player = [unclosed\n")
    assert main(["tui"]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert started == []
