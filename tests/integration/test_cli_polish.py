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


def test_status_and_find_into_a_closed_pipe_end_quietly(tiny_model, library, capsys):
    indexed(library, capsys)
    for args in (["status"], ["find", "a red square"], ["find", "a red square", "--json"]):
        result = run_into_closed_pipe(*args)
        assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, args
        assert result.stderr == "", args
        # 141 is ours (what a shell shows for SIGPIPE); rich's own console exits 1 the same way.
        assert result.returncode in (1, 141), args


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
    assert "indexed 1 video (" in out and "8 frames" in out
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
    assert "re-embeds" in capsys.readouterr().out  # no library yet: the next index embeds
    indexed(library, capsys)
    assert main(["models", "use", tiny_model]) == 0
    out = capsys.readouterr().out
    assert "already uses it" in out and "re-embeds" not in out
    assert main(["models", "use", "clip-vit-b-32-openai"]) == 0
    assert "re-embeds" in capsys.readouterr().out


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
