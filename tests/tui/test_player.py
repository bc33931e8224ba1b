"""The argv that opens a video at a moment: mpv, VLC, the user's template, the OS opener."""

from __future__ import annotations

import subprocess

import pytest

from vidsearch import player
from vidsearch.errors import CannotRunError


def having(*names: str):
    return lambda name: f"/usr/bin/{name}" if name in names else None


def test_mpv_comes_first_and_starts_at_the_moment():
    argv = player.build_argv("/v/a b.mp4", 75.0, which=having("mpv", "vlc", "xdg-open"))
    assert argv == ["mpv", "--start=75", "/v/a b.mp4"]


def test_vlc_when_there_is_no_mpv():
    argv = player.build_argv("/v/a.mkv", 12.5, which=having("vlc", "xdg-open"))
    assert argv == ["vlc", "--start-time=12.5", "/v/a.mkv"]


@pytest.mark.parametrize(("platform", "opener"), [("linux", "xdg-open"), ("darwin", "open")])
def test_the_os_opener_when_there_is_no_player(platform, opener):
    argv = player.build_argv("/v/a.mp4", 30, which=having("xdg-open", "open"), platform=platform)
    assert argv == [opener, "/v/a.mp4"]


def test_no_player_at_all_says_what_to_install_and_where_the_settings_are(isolated_home):
    from vidsearch import config

    with pytest.raises(CannotRunError) as caught:
        player.build_argv("/v/a.mp4", 3, which=having())
    assert "no video player found" in caught.value.message
    assert "mpv" in caught.value.hint
    assert f"in {config.settings_path()}" in caught.value.hint  # the file, not just its name


def test_a_template_overrides_detection_and_fills_both_placeholders():
    template = ["celluloid", "--mpv-start={seconds}", "--", "{path}"]
    argv = player.build_argv("/v/a.mp4", 61.25, template, which=having("mpv"))
    assert argv == ["celluloid", "--mpv-start=61.25", "--", "/v/a.mp4"]


def test_a_template_without_path_gets_the_path_appended():
    assert player.build_argv("/v/a.mp4", 5, ["myplayer", "-t", "{seconds}"]) == [
        "myplayer", "-t", "5", "/v/a.mp4"]


def test_placeholders_inside_the_path_are_not_expanded_and_braces_are_kept():
    path = "/v/{seconds} {x} $(rm -rf ~); 'q'.mp4"
    argv = player.build_argv(path, 9, ["p", "--opt={other}", "{path}"])
    assert argv == ["p", "--opt={other}", path]


def test_relative_paths_become_absolute_so_they_never_look_like_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = player.build_argv("-x.mp4", 1, which=having("mpv"))
    assert argv == ["mpv", "--start=1", str(tmp_path / "-x.mp4")]


@pytest.mark.parametrize(("seconds", "text"), [(0, "0"), (-3, "0"), (12.0, "12"),
                                               (12.5, "12.5"), (3600.1234, "3600.123")])
def test_seconds_are_plain_decimals(seconds, text):
    assert player.format_seconds(seconds) == text


def test_launch_runs_the_argv_without_a_shell_detached(monkeypatch):
    calls = []

    class FakePopen:
        def __init__(self, argv, **kwargs):
            calls.append((argv, kwargs))

    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    player.launch(["mpv", "--start=3", "/v/a;b.mp4"])
    (argv, kwargs), = calls
    assert argv == ["mpv", "--start=3", "/v/a;b.mp4"]
    assert not kwargs.get("shell")
    assert kwargs["start_new_session"] is True
    assert kwargs["stdin"] is subprocess.DEVNULL


def test_launch_failure_is_a_user_error(tmp_path):
    with pytest.raises(CannotRunError) as caught:
        player.launch([str(tmp_path / "no-such-player"), "/v/a.mp4"])
    assert "cannot start the player" in caught.value.message
