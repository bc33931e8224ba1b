"""A new user's first hour: pipes, usage errors, output that reads well at 80 columns."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from vidsearch.cli import main


def run_into_closed_pipe(*args: str) -> subprocess.CompletedProcess:
    """The CLI writing to a reader that has already gone (`| head` after its lines): the read
    end is closed before the process starts, so every write fails, deterministically."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "vidsearch", *args], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=300)
    finally:
        os.close(write_end)


def indexed(library, capsys) -> None:
    assert main(["index", str(library)]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("args", [["--help"], ["find", "--help"]])
def test_help_into_a_closed_pipe_ends_quietly(args):
    # argparse already swallows the write error; this guards the flush added around it.
    result = run_into_closed_pipe(*args)
    assert result.stderr == ""
    assert result.returncode in (0, 141)


@pytest.mark.slow
def test_status_and_find_into_a_closed_pipe_end_quietly(tiny_model, library, capsys):
    indexed(library, capsys)
    for args in (["status"], ["find", "a red square"], ["find", "a red square", "--json"]):
        result = run_into_closed_pipe(*args)
        assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, args
        assert result.stderr == "", args
        # 141 is ours (what a shell shows for SIGPIPE); rich's own console exits 1 the same way.
        assert result.returncode in (1, 141), args


@pytest.mark.slow
def test_index_summary_counts_right_and_times_the_whole_command(tiny_model, tmp_path,
                                                                 video_cache, monkeypatch, capsys):
    import time

    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "beta.mp4").write_bytes((video_cache / "beta.mp4").read_bytes())
    from vidsearch import indexer

    original = indexer.Indexer.sync

    def slow_start(self, roots):
        time.sleep(1.5)  # before the indexer's own clock starts: the user still waits
        return original(self, roots)

    monkeypatch.setattr(indexer.Indexer, "sync", slow_start)
    assert main(["index", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "indexed 1 video (0:00:08 of video, 8 frames sampled, 8 encoded)" in out  # beta is 7.5 s long
    seconds = float(out.split(" in ")[-1].split(" s")[0])
    assert seconds >= 1.5


def test_index_json_lists_every_outcome_with_the_run_numbers(tiny_model, library, capsys):
    import json

    assert main(["index", str(library), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert sorted(first["indexed"]) == sorted(str(p) for p in library.rglob("*.mp4"))
    assert first["skipped"] == [] and first["moved"] == [] and first["failed"] == []
    assert first["frames_sampled"] == 23 + 8 + 4
    assert first["frames_encoded"] == 23 + 8 + 4
    assert first["video_seconds"] == pytest.approx(23 + 7.5 + 4, abs=0.5)
    assert first["wall_seconds"] > 0
    (library / "alpha.mp4").rename(library / "renamed.mp4")
    (library / "trip" / "gamma.mp4").unlink()
    (library / "broken.mp4").write_bytes(b"not a video")
    assert main(["index", str(library), "--json"]) == 1
    second = json.loads(capsys.readouterr().out)
    assert second["skipped"] == [str(library / "trip" / "beta.mp4")]
    assert second["moved"] == [{"from": str(library / "alpha.mp4"),
                                "to": str(library / "renamed.mp4")}]
    assert second["removed"] == [str(library / "trip" / "gamma.mp4")]
    assert [f["path"] for f in second["failed"]] == [str(library / "broken.mp4")]
    assert second["failed"][0]["reason"]
    assert second["frames_encoded"] == 0


def test_using_the_model_the_library_already_uses_says_so(tiny_model, library, capsys):
    assert main(["models", "use", tiny_model]) == 0
    # No library yet: nothing to re-embed, so nothing said about it.
    assert capsys.readouterr().out.strip() == f"default model: {tiny_model}"
    indexed(library, capsys)
    assert main(["models", "use", tiny_model]) == 0
    out = capsys.readouterr().out
    assert "already uses it" in out and "re-embeds" not in out
    assert main(["models", "use", "clip-vit-b-32-openai"]) == 0
    assert f"re-embeds the library, now indexed with {tiny_model}" in capsys.readouterr().out


def test_after_use_the_list_marks_only_the_new_default(capsys, monkeypatch):
    from vidsearch.model import cards

    # This checkout's cards, whichever checkout the editable install points at.
    monkeypatch.setattr(cards, "_builtin_cards_dir", lambda: REPO / "models")
    assert main(["models", "use", "clip-vit-b-32-openai"]) == 0
    capsys.readouterr()
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "the default" not in out
    marked = [line for line in out.splitlines() if line.strip().startswith("*")]
    assert len(marked) == 1 and "clip-vit-b-32-ope" in marked[0]


def run_counting_imports(*args: str) -> tuple[int, str, bool]:
    """The CLI in a fresh process: (exit code, stderr, whether torch was imported)."""
    script = ("import sys\nfrom vidsearch.cli import main\ncode = main(sys.argv[1:])\n"
              "print('torch' in sys.modules)\nsys.exit(code)\n")
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                            text=True, cwd=REPO, timeout=120, env=dict(os.environ))
    return result.returncode, result.stderr, result.stdout.strip().endswith("True")


@pytest.mark.parametrize("args, says", [
    (["find", "--image", "nope.png"], "nope.png: no such file"),
    (["find", "x", "--rerank", "5"], "--rerank needs a model with a tightTransf header"),
    (["find", "x", "-k", "0"], "-k 0: must be at least 1"),
    (["finetune", "labels.csv", "--header", "meanP", "--freeze-backbone"],
     "--freeze-backbone with header meanP leaves nothing to train"),
])
def test_usage_errors_come_before_any_model_load(tiny_model, library, capsys, args, says):
    indexed(library, capsys)  # a library to search, so only the flags are wrong
    code, err, torch_imported = run_counting_imports(*args)
    assert code == 2, err
    assert says in err
    assert "JPEG" not in err
    assert not torch_imported


@pytest.fixture
def deep_library(tmp_path, video_cache):
    import shutil

    folder = tmp_path / "Videos" / "holidays-in-the-mountains-2024" / "second-week-by-the-lake"
    folder.mkdir(parents=True)
    shutil.copy2(video_cache / "alpha.mp4", folder / "a-long-walk-along-the-shore.mp4")
    shutil.copy2(video_cache / "beta.mp4", folder / "beta.mp4")
    shutil.copy2(video_cache / "beta.mp4", folder / "the dogs running along the shore at dawn.mp4")
    return tmp_path / "Videos"


@pytest.mark.slow
def test_find_at_80_columns_breaks_paths_only_at_separators(tiny_model, deep_library, capsys):
    from tests.conftest import run_cli

    indexed(deep_library, capsys)
    result = run_cli("find", "a red square")  # piped: rich lays it out at 80 columns
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for name in ("holidays-in-the-mountains-2024", "second-week-by-the-lake",
                 "a-long-walk-along-the-shore.mp4", "beta.mp4"):
        assert any(name in line for line in lines), (name, result.stdout)
    # A name too long for the column breaks at its spaces, never inside a word.
    words = [word for line in lines for word in line.split()]
    for word in "the dogs running along the shore at dawn.mp4".split():
        assert word in words, (word, result.stdout)


def fake_program(folder, name: str):
    folder.mkdir(exist_ok=True)
    program = folder / name
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)


@pytest.mark.slow
def test_the_open_hint_names_only_a_player_that_is_there(tiny_model, library, tmp_path, capsys):
    from tests.conftest import run_cli
    from vidsearch import config

    indexed(library, capsys)
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    result = run_cli("find", "a red square", env_extra={"PATH": str(bare)})
    assert result.returncode == 0, result.stderr
    assert "open the best hit" not in result.stdout and "mpv" not in result.stdout
    with_mpv = tmp_path / "mpv-bin"
    fake_program(with_mpv, "mpv")
    result = run_cli("find", "a red square", env_extra={"PATH": str(with_mpv)})
    assert "open the best hit: mpv --start=" in result.stdout
    config.save_setting("player", ["celluloid", "--mpv-start={seconds}", "{path}"])
    result = run_cli("find", "a red square", env_extra={"PATH": str(with_mpv)})
    assert "open the best hit: celluloid --mpv-start=" in result.stdout


@pytest.mark.slow
def test_one_log_policy_quiet_by_default_info_with_v(tiny_model, library, tmp_path, capsys):
    from PIL import Image

    from tests.conftest import run_cli

    indexed(library, capsys)
    picture = tmp_path / "frame.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(picture)
    for args in (["find", "a red square"], ["find", "--image", str(picture)],
                 ["index", str(library)], ["status"]):
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
        assert result.stderr == "", args  # piped or not: only warnings and errors
    # New content (a touch alone keeps the vectors, so nothing would be indexed).
    (library / "alpha.mp4").write_bytes((library / "trip" / "beta.mp4").read_bytes())
    verbose = run_cli("index", str(library), "-v")
    assert " INFO " in verbose.stderr and "indexing 1 video" in verbose.stderr
    assert " INFO " in run_cli("find", "--image", str(picture), "-v").stderr


def test_models_at_80_columns_never_breaks_a_name(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    for name in ("clip-vit-b-32-openai", "clip4clip-webvid150k", "pe-core-b16",
                 "xlm-roberta-vit-b-32"):
        assert name in out, out  # whole, on one line: the name the user types next
    # Each card on a line of its own, its description wrapped at full width under it: two
    # or three lines a card, where a description column of a few words a line took six.
    names = [line for line in out.splitlines() if "weights " in line]
    assert len(names) >= 4 and len(out.splitlines()) <= 3 * len(names), out
    flowing = " ".join(line.strip() for line in out.splitlines())
    assert "fine-tune of OpenAI CLIP ViT-B/32 on 150k WebVid clips" in flowing


def test_models_on_a_wide_terminal_is_a_table(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["models"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert [word for word in header if word.isalpha()] == [
        "default", "name", "header", "patch", "weights", "description"]


@pytest.mark.slow
def test_find_shows_paths_from_home_and_json_keeps_them_whole(tiny_model, library, capsys):
    import json

    from tests.conftest import run_cli

    indexed(library, capsys)
    home = str(library.parent)  # the videos lie under it, as ~/Videos does for a user
    wide = {"HOME": home, "COLUMNS": "200"}  # no wrapping: each path on one line
    table = run_cli("find", "a red square", env_extra=wide)
    assert table.returncode == 0, table.stderr
    assert "~/Videos/alpha.mp4" in table.stdout and "~/Videos/trip/beta.mp4" in table.stdout
    assert home not in table.stdout, table.stdout
    as_json = run_cli("find", "a red square", "--json", env_extra=wide)
    assert as_json.returncode == 0, as_json.stderr
    paths = {hit["path"] for hit in json.loads(as_json.stdout)["hits"]}
    assert paths == {str(path) for path in library.rglob("*.mp4")}


@pytest.fixture
def restored_log_levels():
    import logging

    loggers = [logging.getLogger(name) for name in ("vidsearch", "vidsearch.progress")]
    levels = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, levels):
        logger.setLevel(level)


@pytest.mark.parametrize("quiet, verbose, progress_shows", [
    (True, 0, False), (False, 0, True), (False, 2, True)])
def test_quiet_silences_progress_lines_too(restored_log_levels, quiet, verbose, progress_shows):
    import argparse
    import logging

    from vidsearch.cli.common import configure_logging

    configure_logging(argparse.Namespace(quiet=quiet, verbose=verbose))
    assert logging.getLogger("vidsearch.progress").isEnabledFor(logging.INFO) == progress_shows
