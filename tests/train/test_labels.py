"""labels.csv: parsing, every problem at once with its line, splits by video, fuzzing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.videos import make_video
from vidsearch.cli import main
from vidsearch.errors import UsageError
from vidsearch.train.labels import (LabelsError, format_seconds, load_labels, load_split,
                                    parse_labels, parse_time, split_by_video)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """A folder with two short videos (one in a subfolder) and a fake one."""
    folder = tmp_path_factory.mktemp("labelled")
    (folder / "trips").mkdir()
    make_video(folder / "party.mp4", seconds=8, fps=5, size=(64, 48), seed=1)
    make_video(folder / "trips" / "beach.mp4", seconds=5, fps=5, size=(64, 48), seed=2)
    (folder / "notes.mp4").write_text("not a video", encoding="utf-8")
    return folder


def write(folder: Path, text: str, name: str = "labels.csv", encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(LabelsError) as caught:
        load_labels(path)
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize(("text", "seconds"), [
    ("75", 75.0), ("75.5", 75.5), (".5", 0.5), ("1:15", 75.0), ("01:15.25", 75.25),
    ("0:01:15", 75.0), ("1:00:00.5", 3600.5), ("90:00", 5400.0), (" 12 ", 12.0),
])
def test_times_in_seconds_or_clock_form(text, seconds):
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["-1", "1:60", "1:75:00", "1,5", "12s", "inf", "nan", "1e3",
                                  "٣", "1::2", "=1+2", "9" * 40])
def test_bad_times_are_refused(text):
    with pytest.raises(ValueError, match="seconds"):
        parse_time(text)


def test_format_seconds_reads_back():
    for seconds in (0, 5.5, 59.96, 75.5, 3725):
        assert parse_time(format_seconds(seconds)) == pytest.approx(seconds, abs=0.05)


def test_a_good_file_groups_rows_into_clips(clips):
    path = write(clips, "\ufeffVideo, Caption ,start,END\n"
                        "party.mp4,grandma blowing out candles,0:02,0:05\n"
                        "party.mp4,candles on a cake,2,5\n"
                        "\n"
                        "trips/beach.mp4,\"waves, sand and a dog\",,\n"
                        f"{clips / 'party.mp4'},the whole party,,\n"
                        "party.mp4,from six seconds on,6,\n"
                        ",,,\n")
    labels = load_labels(path)
    spans = [(c.span.video.name, c.span.start, c.span.end, c.captions) for c in labels.clips]
    assert spans == [
        ("party.mp4", 2.0, 5.0, ["grandma blowing out candles", "candles on a cake"]),
        ("beach.mp4", 0.0, pytest.approx(5.0, abs=0.3), ["waves, sand and a dog"]),
        ("party.mp4", 0.0, pytest.approx(8.0, abs=0.3), ["the whole party"]),
        ("party.mp4", 6.0, pytest.approx(8.0, abs=0.3), ["from six seconds on"]),
    ]
    assert labels.clips[0].lines == [2, 3]
    assert len(labels.pairs) == 5 and len(labels.videos) == 2


def test_semicolons_and_missing_optional_columns(clips):
    path = write(clips, "video;caption\nparty.mp4;a party\n")
    [clip] = load_labels(path).clips
    assert (clip.span.start, clip.captions) == (0.0, ["a party"])


def test_every_problem_is_listed_with_its_line(clips):
    path = write(clips, "video,caption,start,end\n"
                        "party.mp4,fine,1,2\n"                    # 2: fine
                        "missing.mp4,a lost file,,\n"             # 3
                        "notes.mp4,not a video,,\n"               # 4
                        "party.mp4,backwards,0:05,0:03\n"         # 5
                        "party.mp4,too late,0:30,\n"              # 6
                        "party.mp4,,1,2\n"                        # 7
                        "party.mp4,bad time,1.2.3,\n"             # 8
                        "party.mp4,too,many,fields,here\n"        # 9
                        "party.mp4,\"open quote\n"                # 10-11: a quote closed late
                        "still open\",1,2\n"
                        ",no video,,\n"                           # 12
                        "party.mp4,fine again,3,4\n")             # 13: fine
    found = problems_of(path)
    assert [p.split(":")[1] for p in found] == ["3", "4", "5", "6", "7", "8", "9", "10", "12"]
    assert all(p.startswith(f"{path}:") for p in found)
    text = "\n".join(found)
    for expected in ("missing.mp4: no such file", "notes.mp4: cannot open as a video",
                     "end 0:03 is not after start 0:05", "start 0:30 is past the end of party.mp4",
                     "empty caption", "'1.2.3' is not a time", "5 fields where the header has 4",
                     "10: a quote left open: the quote opened on this line is closed only on "
                     "line 11", "empty video path"):
        assert expected in text


def test_a_quote_never_closed_is_reported_where_it_opened(clips):
    # The reader swallows every line after the quote into one cell: two fields on line 3.
    path = write(clips, "video,caption,start,end\n"
                        "party.mp4,fine,1,2\n"
                        "party.mp4,\"grandma's cake,3,4\n"
                        "party.mp4,the candles,5,6\n")
    assert problems_of(path) == [
        f"{path}:3: a quote left open: the quote opened on this line is never closed (it runs "
        "to the end of the file); a label must fit on one line"]


def test_header_problems(clips):
    assert problems_of(write(clips, "video,caption,comment,start,start\n")) == [
        f"{clips / 'labels.csv'}:1: column 'start' appears twice",
        f"{clips / 'labels.csv'}:1: unknown column(s) 'comment'; known columns: "
        "video, caption, start, end, negative",
    ]
    [missing] = problems_of(write(clips, "party.mp4,a party\n"))
    assert ":1: missing column(s) video, caption" in missing
    [empty] = problems_of(write(clips, ""))
    assert "empty file" in empty
    [no_rows] = problems_of(write(clips, "video,caption\n\n"))
    assert "no data rows" in no_rows


def test_encodings_other_than_utf8_are_named(clips):
    [latin] = problems_of(write(clips, "video,caption\nparty.mp4,café\n", encoding="latin-1"))
    assert ":2: not UTF-8" in latin
    [utf16] = problems_of(write(clips, "video,caption\nparty.mp4,a\n", encoding="utf-16"))
    assert "UTF-16" in utf16


def test_a_terminal_escape_in_a_value_is_shown_escaped(clips):
    [problem] = problems_of(write(clips, "video,caption,start\nparty.mp4,x,\x1b[31m\n"))
    assert "\x1b" not in problem and "\\x1b" in problem


def test_missing_labels_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        load_labels(tmp_path / "nope.csv")
    with pytest.raises(UsageError, match="is a folder"):
        load_labels(tmp_path)


def test_the_split_keeps_each_video_on_one_side(tmp_path):
    rows = ["video,caption,start,end"]
    for video in range(10):
        make_or_touch = tmp_path / f"v{video}.mp4"
        make_or_touch.write_bytes(b"x")
        rows += [f"v{video}.mp4,clip {video}-{k},{k},{k + 1}" for k in range(3)]
    path = write(tmp_path, "\n".join(rows) + "\n")
    train, val = load_split(path, None, 0.2, seed=3, probe_duration=lambda _: 10.0)
    assert not set(train.videos) & set(val.videos)
    assert len(train.clips) + len(val.clips) == 30
    assert 6 <= len(val.clips) <= 9
    again = load_split(path, None, 0.2, seed=3, probe_duration=lambda _: 10.0)[1]
    assert again.videos == val.videos  # seeded
    assert load_split(path, None, 0.0, seed=3, probe_duration=lambda _: 10.0)[1] is None


def test_one_video_cannot_be_split(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    path = write(tmp_path, "video,caption,start,end\na.mp4,x,0,1\na.mp4,y,1,2\n")
    labels = load_labels(path, probe_duration=lambda _: 10.0)
    with pytest.raises(UsageError, match="only|one video"):
        split_by_video(labels, 0.1, 0)


def test_a_video_in_both_files_is_refused(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    train = write(tmp_path, "video,caption\na.mp4,x\n", name="train.csv")
    val = write(tmp_path, "video,caption,start,end\na.mp4,y,0,1\n", name="val.csv")
    with pytest.raises(UsageError, match="both the training and the validation"):
        load_split(train, val, 0.1, 0, probe_duration=lambda _: 10.0)


def test_problems_of_both_files_come_together(tmp_path):
    train = write(tmp_path, "video,caption\nnope.mp4,x\n", name="train.csv")
    val = write(tmp_path, "video,caption\n,y\n", name="val.csv")
    with pytest.raises(LabelsError) as caught:
        load_split(train, val, 0.1, 0)
    assert [Path(p.source).name for p in caught.value.problems] == ["train.csv", "val.csv"]


def test_check_through_the_cli_lists_every_line_and_exits_2(clips, capsys):
    path = write(clips, "video,caption,start,end\nmissing.mp4,x,,\nparty.mp4,,1,2\n"
                        "party.mp4,y,5,1\n")
    assert main(["finetune", str(path), "--check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[:3] == [f"{path}:2: {clips / 'missing.mp4'}: no such file",
                       f"{path}:3: empty caption", f"{path}:4: end 0:01 is not after start 0:05"]
    assert err[3].startswith("vidsearch: error:") and "3 problems" in err[3]
    assert "Traceback" not in "\n".join(err)


def test_check_on_good_labels_says_what_it_found(clips, capsys):
    path = write(clips, "video,caption\nparty.mp4,a\ntrips/beach.mp4,b\n")
    assert main(["finetune", str(path), "--check", "--val-fraction", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "training labels: 1 clip" in out and "validation labels: 1 clip," in out


# --- fuzzing: whatever the bytes, the answer is rows or a UsageError -------------------------

CELLS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["a.mp4", "A.MP4", "~nobody_here/a.mp4", "/", "..", "a.mp4\0", "1:30", "0",
                     "=cmd|' /C calc'!A0", "+1", "@SUM(1)", "-2", "\"", "\r\n", "\x1b[2J",
                     "1e309", "99999999999", "12:34:56.789", "video", "caption", "x" * 200_000]),
)
ROWS = st.lists(st.lists(CELLS, min_size=0, max_size=6), max_size=8)
HEADERS = st.lists(st.sampled_from(["video", "caption", "start", "end", "Video", " END ", "x",
                                    ""]), max_size=6)


def _load(folder: Path, data: bytes) -> None:
    path = folder / "fuzz.csv"
    path.write_bytes(data)
    try:
        labels = load_labels(path, probe_duration=lambda _: 10.0)
    except UsageError:
        return
    for clip in labels.clips:
        assert clip.captions and 0 <= clip.span.start < clip.span.end
        assert math.isfinite(clip.span.end)


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "a.mp4").write_bytes(b"x")
    return folder


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400))
def test_random_bytes_never_raise_anything_but_usage_errors(fuzz_folder, data):
    _load(fuzz_folder, data)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=HEADERS, rows=ROWS, delimiter=st.sampled_from([",", ";", "\t"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
def test_csv_shaped_input_never_raises_anything_but_usage_errors(fuzz_folder, header, rows,
                                                                 delimiter, encoding):
    lines = [delimiter.join(header)] + [delimiter.join(row) for row in rows]
    _load(fuzz_folder, "\n".join(lines).encode(encoding, errors="replace"))


def test_formula_like_captions_are_plain_text(fuzz_folder):
    path = write(fuzz_folder, "video,caption\na.mp4,=cmd|' /C calc'!A0\n", name="formula.csv")
    [clip] = load_labels(path, probe_duration=lambda _: 10.0).clips
    assert clip.captions == ["=cmd|' /C calc'!A0"]


def test_parse_never_raises_on_bytes():
    rows, problems = parse_labels(b"video,caption\n\xff\xfe\x00,\x00\n", Path("x.csv"))
    assert rows == [] and problems


def ten_seconds(_video) -> float:
    return 10.0


def test_negative_rows_are_wrong_answers_and_the_later_mark_wins(tmp_path):
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"x")
    path = write(tmp_path, "video,caption,start,end,negative\n"
                           "a.mp4,a dog,0,4,0\n"
                           "a.mp4,a cat,0,4,1\n"
                           "b.mp4,a dog,0,4,1\n"
                           "b.mp4,a dog,0,4,\n"   # changed one's mind: right after all
                           "b.mp4,a cat,4,8,yes\n")
    labels = load_labels(path, probe_duration=ten_seconds)
    assert [(c.span.video.name, c.captions, c.negatives) for c in labels.clips] == [
        ("a.mp4", ["a dog"], ["a cat"]), ("b.mp4", ["a dog"], []), ("b.mp4", [], ["a cat"])]
    assert labels.pairs == [(0, "a dog"), (1, "a dog")]
    assert labels.negative_pairs == [(0, "a cat"), (2, "a cat")]
    assert labels.describe() == "3 clips, 2 captions, 2 wrong answers from 2 videos"
    one = load_labels(write(tmp_path, "video,caption\na.mp4,a dog\n", "one.csv"),
                      probe_duration=ten_seconds)
    assert one.describe() == "1 clip, 1 caption from 1 video"


def test_wrong_answers_alone_are_refused_and_a_bad_negative_cell_named(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    only_wrong = write(tmp_path, "video,caption,negative\na.mp4,a dog,1\n")
    with pytest.raises(LabelsError) as caught:
        load_labels(only_wrong, probe_duration=ten_seconds)
    assert "every row marks a wrong answer" in str(caught.value.problems[0])
    bad = write(tmp_path, "video,caption,negative\na.mp4,a dog,2\n", name="bad.csv")
    with pytest.raises(LabelsError) as caught:
        load_labels(bad, probe_duration=ten_seconds)
    assert [str(p) for p in caught.value.problems] == [
        f"{bad}:2: negative: '2' is neither 1 (a wrong answer to the caption) nor 0 or empty "
        "(a right one)"]


def test_a_video_with_wrong_answers_only_always_trains(tmp_path):
    rows = ["video,caption,start,end,negative"]
    for video in range(4):
        (tmp_path / f"v{video}.mp4").write_bytes(b"x")
        rows.append(f"v{video}.mp4,clip {video},0,1,0")
    (tmp_path / "wrong.mp4").write_bytes(b"x")
    rows.append("wrong.mp4,clip 0,0,1,1")
    path = write(tmp_path, "\n".join(rows) + "\n")
    labels = load_labels(path, probe_duration=ten_seconds)
    for seed in range(8):
        train, val = split_by_video(labels, 0.5, seed)
        assert tmp_path / "wrong.mp4" in train.videos and val.pairs


def test_two_files_read_as_one_merge_their_spans(tmp_path):
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"x")
    first = write(tmp_path, "video,caption,start,end\na.mp4,a dog,0,4\nb.mp4,a cat,0,4\n",
                  name="labels.csv")
    second = write(tmp_path, "video,caption,start,end,negative\na.mp4,a puppy,0,4,0\n"
                             "b.mp4,a cat,0,4,1\n", name="feedback.csv")
    train, val = load_split([first, second], None, 0.0, 0, probe_duration=ten_seconds)
    assert val is None and train.source == first
    assert [(c.captions, c.negatives) for c in train.clips] == [
        (["a dog", "a puppy"], []), ([], ["a cat"])]  # the later file's mark wins
