"""`find`'s filters, combined queries and --like, end to end: a library of generated videos
with known recording dates in known folders, indexed with the tiny model."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from tests.conftest import REPO
from tests.fixtures.videos import make_video, second_mosaic
from vidsearch.cli import main


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def find(capsys, *args: str) -> dict:
    code, out, err = cli(capsys, "find", *args, "--json", "-k", "20")
    assert code == 0, err
    return json.loads(out)


def local(*parts) -> float:
    return datetime.datetime(*parts).astimezone().timestamp()


def utc(*parts) -> float:
    return datetime.datetime(*parts, tzinfo=datetime.UTC).timestamp()


@pytest.fixture
def dated_library(tmp_path, tiny_model, capsys):
    """2023/a.mp4 (creation_time), 2024/b.mov (Apple's date), 2024/c.mkv (no tags: its
    modification time, 2022), indexed."""
    root = tmp_path / "Videos"
    (root / "2023").mkdir(parents=True)
    (root / "2024").mkdir()
    videos = {
        "a": make_video(root / "2023" / "a.mp4", seconds=40, fps=2, seed=1,
                        tags={"creation_time": "2023-05-01T12:00:00Z"}),
        "b": make_video(root / "2024" / "b.mov", seconds=6, fps=5, seed=2,
                        tags={"com.apple.quicktime.creationdate": "2024-07-15T18:30:00+0200"}),
        "c": make_video(root / "2024" / "c.mkv", seconds=6, fps=5, seed=3),
    }
    mtime = local(2022, 1, 10, 9)
    os.utime(videos["c"], (mtime, mtime))
    code, _out, err = cli(capsys, "index", str(root))
    assert code == 0, err
    return root, {name: str(path) for name, path in videos.items()}


def paths(document: dict) -> set[str]:
    return {hit["path"] for hit in document["hits"]}


@pytest.mark.slow
def test_filters_return_exactly_the_videos_they_should(dated_library, capsys):
    root, v = dated_library
    assert paths(find(capsys, "a dog")) == set(v.values())
    assert paths(find(capsys, "a dog", "--in", str(root / "2024"))) == {v["b"], v["c"]}
    assert paths(find(capsys, "a dog", "--in", str(root / "2023"), "--in", v["c"])) == {
        v["a"], v["c"]}
    assert paths(find(capsys, "a dog", "--after", "2024")) == {v["b"]}
    assert paths(find(capsys, "a dog", "--before", "2022")) == {v["c"]}
    assert paths(find(capsys, "a dog", "--after", "2023-05", "--before", "2023-05")) == {v["a"]}
    assert paths(find(capsys, "a dog", "--after", "2022-01-11", "--in", str(root / "2024"))
                 ) == {v["b"]}
    document = find(capsys, "a dog")
    recorded = {hit["path"]: datetime.datetime.fromisoformat(hit["recorded_at"]).timestamp()
                for hit in document["hits"]}
    assert recorded == {v["a"]: utc(2023, 5, 1, 12), v["b"]: utc(2024, 7, 15, 16, 30),
                        v["c"]: local(2022, 1, 10, 9)}


@pytest.mark.slow
def test_videos_indexed_before_dates_were_read_get_them_without_re_embedding(
        dated_library, capsys, monkeypatch):
    from vidsearch import config, video
    from vidsearch.store import open_store

    root, v = dated_library
    with open_store(config.default_db_path()) as store:
        dated = store.recording_times(range(1, 4))
        # As migration m005 left a library indexed before it: every video dated by its file's
        # modification time, the tags never read.
        store.conn.execute("UPDATE videos SET recorded_at = mtime_ns / 1e9, recorded_from = NULL")
    assert paths(find(capsys, "a dog", "--before", "2023")) == {v["c"]}  # a: 2026 now
    reads = []
    real = video.recorded_at
    monkeypatch.setattr(video, "recorded_at", lambda path: reads.append(path) or real(path))
    code, out, err = cli(capsys, "index", str(root), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["indexed"] == [] and report["frames_encoded"] == 0  # nothing re-embedded
    assert sorted(reads) == sorted(v.values())
    with open_store(config.default_db_path()) as store:
        assert store.recording_times(range(1, 4)) == dated
        assert store.undated_paths() == set()
    assert paths(find(capsys, "a dog", "--before", "2023")) == {v["a"], v["c"]}
    reads.clear()
    assert cli(capsys, "index", str(root))[0] == 0
    assert reads == []  # read once: the next run only compares files


@pytest.mark.slow
def test_a_folder_filter_keeps_k_and_per_video_caps_a_long_video(dated_library, capsys):
    root, v = dated_library
    only_a = find(capsys, "a dog", "--in", str(root / "2023"))
    assert paths(only_a) == {v["a"]} and len(only_a["hits"]) >= 2  # 40 s: several hits
    capped = find(capsys, "a dog", "--per-video", "1")
    assert sorted(hit["path"] for hit in capped["hits"]) == sorted(v.values())


@pytest.mark.slow
def test_bad_filters_are_one_line_usage_errors(dated_library, capsys, tmp_path):
    root, _v = dated_library
    code, _out, err = cli(capsys, "find", "a dog", "--in", str(tmp_path / "elsewhere"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--in" in err and str(root / "2023") in err and str(root / "2024") in err
    code, _out, err = cli(capsys, "find", "a dog", "--after", "2024-13")
    assert code == 2 and "--after/--before" in err and "2024-06-01" in err
    code, _out, err = cli(capsys, "find", "a dog", "--per-video", "0")
    assert code == 2 and "--per-video" in err
    code, _out, err = cli(capsys, "find", "--like", str(root / "2023" / "a.mp4"), "a dog")
    assert code == 2 and "not a QUERY and --like" in err
    code, _out, err = cli(capsys, "find", "--like", str(tmp_path / "new.mp4"))
    assert code == 2 and f"{tmp_path / 'new.mp4'}: not in the library" in err
    assert "vidsearch index" in err and len(err.strip().splitlines()) == 1
    code, _out, err = cli(capsys, "find", "--like", str(root / "2023" / "a.mp4"), "--at", "99")
    assert code == 2 and "99 s is outside the video" in err
    code, _out, err = cli(capsys, "find", "a dog", "--at", "3")
    assert code == 2 and "--at needs --like" in err


@pytest.mark.slow
def test_combined_queries_take_texts_and_images(dated_library, capsys, tmp_path):
    _root, v = dated_library
    picture = tmp_path / "frame.png"
    Image.fromarray(second_mosaic(3, 96, 64, seed=1)).save(picture)
    document = find(capsys, "a dog", "--add", "sunset", "--add", str(picture),
                    "--subtract", "people")
    assert document["add"] == ["sunset", str(picture)] and document["subtract"] == ["people"]
    assert paths(document) == set(v.values())
    code, _out, err = cli(capsys, "find", "a dog", "--subtract", "a dog")
    assert code == 2 and "cancel" in err


@pytest.mark.slow
def test_like_answers_from_stored_vectors_without_torch(dated_library):
    _root, v = dated_library
    script = (
        "import json, sys\n"
        "from vidsearch.cli import main\n"
        f"code = main(['find', '--like', {v['a']!r}, '--at', '12', '--json', '-k', '20'])\n"
        "assert 'torch' not in sys.modules and 'open_clip' not in sys.modules, 'a model loaded'\n"
        "assert 'av' not in sys.modules and 'decord' not in sys.modules, 'a decoder loaded'\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, env=dict(os.environ), timeout=300)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    source = document["like"]
    assert source["path"] == v["a"] and source["start"] <= 12 <= source["end"]
    assert document["model"] == "tiny"
    assert {v["b"], v["c"]} <= paths(document)
    for hit in document["hits"]:
        if hit["path"] == v["a"]:  # the source clip and the windows overlapping it: never
            assert hit["end"] <= source["start"] or hit["start"] >= source["end"]


@pytest.mark.slow
def test_status_shows_each_videos_recording_date(dated_library, capsys):
    from vidsearch import dates
    from vidsearch.display import home_relative

    _root, videos = dated_library
    code, out, err = cli(capsys, "status", "--videos", "--json")
    assert code == 0, err
    document = json.loads(out)
    listed = [(v["path"], v["recorded_at"]) for v in document["video_list"]]
    # Oldest first: c's file time (2022), a's creation_time (2023), b's Apple date (2024).
    assert listed == [(videos["c"], dates.format_time(local(2022, 1, 10, 9))),
                      (videos["a"], dates.format_time(utc(2023, 5, 1, 12))),
                      (videos["b"], dates.format_time(utc(2024, 7, 15, 16, 30)))]
    assert (document["recorded_from"], document["recorded_to"]) == (listed[0][1], listed[-1][1])
    code, out, err = cli(capsys, "status", "--videos")
    assert code == 0, err
    assert "recorded:     2022-01-10 to 2024-07-15" in out
    assert f"  2023-05-01  0:00:40  {home_relative(videos['a'])}" in out  # as find shows it
