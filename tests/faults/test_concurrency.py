"""Two writers and readers at once: one writer at a time, told who holds the library; readers
never wait for it."""

from __future__ import annotations

import json

import pytest

from tests.faults.conftest import assert_one_clean_line, cli, default_db, wait_for
from tests.fixtures.videos import make_video


def without_score(hit: dict) -> dict:
    return {key: value for key, value in hit.items() if key != "score"}


@pytest.mark.slow
def test_second_writer_is_refused_and_readers_work_while_a_writer_writes(
        zygote, tiny_model, library, tmp_path, capsys):
    assert cli(capsys, "index", library)[0] == 0
    before = json.loads(cli(capsys, "find", "a dog", "--json", "-k", "3")[1])["hits"]
    # New content, the same length and shape: a mere touch would be skipped as unchanged.
    make_video(library / "alpha.mp4", seconds=23, fps=10, size=(96, 64), seed=11)

    # The writer re-indexes alpha and stops inside its write transaction: alpha's old rows
    # are deleted, new ones half inserted, nothing committed.
    paused, release = tmp_path / "paused", tmp_path / "release"
    writer = zygote.run("index", library, logs=tmp_path / "logs",
                        pause={"statement": 12, "paused": str(paused), "release": str(release)})
    try:
        wait_for(lambda: paused.exists() or writer.poll() is not None, what="the writer")
        assert writer.poll() is None, writer.err

        code, _, err = cli(capsys, "index", library)
        assert code == 3
        line = assert_one_clean_line(err)
        assert f"pid {writer.pid}" in line and "busy" in line

        code, out, err = cli(capsys, "find", "a dog", "--json", "-k", "3")
        assert code == 0, err
        # The last committed state, alpha included. The first query ran on torch (and exported
        # the text tower); this one runs on the export: the same hits, scores within 1e-5.
        after = json.loads(out)["hits"]
        assert [without_score(h) for h in after] == [without_score(h) for h in before]
        assert [h["score"] for h in after] == pytest.approx([h["score"] for h in before],
                                                            abs=1e-5)
        code, out, err = cli(capsys, "status", "--json")
        assert code == 0, err
        assert json.loads(out)["videos"] == 3
    finally:
        release.touch()
    assert writer.wait() == 0, writer.err
    assert "indexed 1 video (" in writer.out

    # The lock went with the writer: the next writer runs.
    code, out, err = cli(capsys, "index", library)
    assert code == 0, err
    assert "skipped 3 unchanged" in out
    assert default_db().exists()
