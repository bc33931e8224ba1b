"""`find --timeline`: hits written as an OpenTimelineIO timeline or a CMX 3600 EDL and read
back with OpenTimelineIO: one clip per hit, in rank order, with its file and in/out points."""

from __future__ import annotations

import json

import opentimelineio as otio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidsearch.cli import main
from vidsearch.errors import UsageError
from vidsearch.search import Hit
from vidsearch.timeline import DEFAULT_RATE, check_suffix, edl_rate, write_hits, write_timeline

# As the store keeps them (PyAV's average rate), the NTSC ones exactly 24000/1001 and so on.
RATES = [24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 50.0, 60.0, 10.0, 15.0, 7.0, 120.0]
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
                max_size=20).filter(lambda n: "/" not in n and n not in (".", ".."))


@st.composite
def hit_lists(draw, name_strategy=names):
    count = draw(st.integers(1, 6))
    hits = []
    for rank in range(count):
        start = draw(st.floats(0, 7200, allow_nan=False))
        length = draw(st.floats(0.5, 60))
        name = draw(name_strategy)
        hits.append(Hit(f"/media/videos/{name}.mp4", rank + 1, start, start + length,
                        start + length / 2, 0.5 - rank / 100))
    return hits


def seconds(time: otio.opentime.RationalTime) -> float:
    return time.to_seconds()


@settings(max_examples=20)
@given(hits=hit_lists(), rate=st.sampled_from(RATES + [None]))
def test_an_otio_timeline_reads_back_with_each_hits_file_and_times(tmp_path_factory, hits,
                                                                   rate):
    path = tmp_path_factory.mktemp("otio") / "hits.otio"
    write_hits(hits, {hit.video_id: rate for hit in hits}, path)
    clips = list(otio.adapters.read_from_file(str(path)).find_clips())
    assert len(clips) == len(hits)
    frame = 1 / (rate or DEFAULT_RATE)
    for clip, hit in zip(clips, hits):
        assert clip.media_reference.target_url == hit.path
        in_point = clip.source_range.start_time
        assert seconds(in_point) == pytest.approx(hit.start, abs=frame / 2 + 1e-9)
        assert seconds(clip.source_range.end_time_exclusive()) == pytest.approx(
            hit.end, abs=frame + 1e-9)
        assert clip.metadata["vidsearch"]["best_moment"] == pytest.approx(hit.best_moment)


ascii_names = st.text("abcdefghijklmnopqrstuvwxyz0123456789 _-", min_size=1, max_size=16)


@settings(max_examples=20)
@given(hits=hit_lists(ascii_names), rate=st.sampled_from(RATES))
def test_an_edl_reads_back_with_each_hits_file_and_times(tmp_path_factory, hits, rate):
    path = tmp_path_factory.mktemp("edl") / "hits.edl"
    write_hits(hits, {hit.video_id: rate for hit in hits}, path)
    timeline = otio.adapters.read_from_file(str(path), rate=edl_rate(rate))
    clips = list(timeline.find_clips())
    assert [clip.media_reference.target_url for clip in clips] == [hit.path for hit in hits]
    frame = 1 / edl_rate(rate)
    for clip, hit in zip(clips, hits):
        assert seconds(clip.source_range.start_time) == pytest.approx(hit.start,
                                                                      abs=frame + 1e-6)
        assert seconds(clip.source_range.duration) == pytest.approx(hit.end - hit.start,
                                                                    abs=2 * frame + 1e-6)


@pytest.mark.parametrize("rate, expected", [(24000 / 1001, 24000 / 1001), (25.0, 25.0),
                                            (10.0, 30.0), (12.0, 24.0), (120.0, 60.0),
                                            (100.0, 50.0), (7.0, DEFAULT_RATE)])
def test_edls_count_in_a_timecode_rate_that_holds_the_videos_frames(rate, expected):
    chosen = edl_rate(rate)
    assert chosen == pytest.approx(expected)
    assert otio.opentime.RationalTime.is_valid_timecode_rate(chosen)


def test_an_edl_of_videos_at_different_rates_counts_in_the_commonest(tmp_path):
    hits = [Hit("/v/a.mp4", 1, 10.0, 20.0, 12.0, 0.4), Hit("/v/b.mp4", 2, 3.0, 13.0, 4.0, 0.3),
            Hit("/v/c.mp4", 3, 5.0, 9.0, 6.0, 0.2)]
    path = write_hits(hits, {1: 30.0, 2: 25.0, 3: 25.0}, tmp_path / "hits.edl")
    clips = list(otio.adapters.read_from_file(str(path), rate=25).find_clips())
    assert [seconds(c.source_range.start_time) for c in clips] == [10.0, 3.0, 5.0]
    assert [seconds(c.source_range.duration) for c in clips] == [10.0, 10.0, 4.0]


@pytest.mark.parametrize("name, words", [("hits.txt", "no timeline writer for .txt"),
                                         ("hits", "no suffix")])
def test_a_file_type_without_a_timeline_writer_is_refused(tmp_path, name, words):
    with pytest.raises(UsageError, match=words) as caught:
        check_suffix(tmp_path / name)
    assert caught.value.path == str(tmp_path / name)


@pytest.mark.slow
def test_find_writes_its_hits_as_a_timeline(tiny_model, library, tmp_path, capsys):
    assert main(["index", str(library)]) == 0
    capsys.readouterr()
    timeline = tmp_path / "out" / "hits.otio"
    timeline.parent.mkdir()
    assert main(["find", "a red square", "-k", "4", "--json", "--timeline", str(timeline)]) == 0
    document = json.loads(capsys.readouterr().out)
    hits = document["hits"]
    assert hits and document["timeline"] == str(timeline)
    clips = list(otio.adapters.read_from_file(str(timeline)).find_clips())
    assert [clip.media_reference.target_url for clip in clips] == [hit["path"] for hit in hits]
    for clip, hit in zip(clips, hits):
        rate = clip.source_range.start_time.rate
        fps = {"alpha.mp4": 10, "beta.mp4": 25}.get(hit["path"].rsplit("/", 1)[-1])
        if fps:  # gamma is variable-rate: whatever its average says
            assert rate == pytest.approx(fps)
        assert seconds(clip.source_range.start_time) == pytest.approx(hit["start"],
                                                                      abs=0.5 / rate)
        assert seconds(clip.source_range.end_time_exclusive()) == pytest.approx(
            hit["end"], abs=1 / rate)
    assert sorted(p.name for p in timeline.parent.iterdir()) == ["hits.otio"]
    # The table says what it wrote, under the hits.
    assert main(["find", "a red square", "-k", "4", "--timeline", str(timeline), "--force"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == f"wrote the timeline {timeline} ({len(hits)} clips)"


def test_find_refuses_a_timeline_type_before_searching(tmp_path, capsys):
    # No library and no model here: the suffix is checked before either is needed.
    assert main(["find", "a dog", "--timeline", str(tmp_path / "hits.doc")]) == 2
    error = capsys.readouterr().err
    assert "hits.doc" in error and ".otio" in error and "Traceback" not in error


def test_find_refuses_an_existing_timeline_before_searching_unless_forced(tmp_path, capsys):
    existing = tmp_path / "hits.otio"
    existing.write_text("the editor's own")
    # No library and no model: refused before either is needed, the file as it was.
    assert main(["find", "a dog", "--timeline", str(existing)]) == 2
    error = capsys.readouterr().err
    assert str(existing) in error and "already exists" in error and "--force" in error
    assert existing.read_text() == "the editor's own"
    with pytest.raises(UsageError, match="already exists"):
        write_hits([Hit("/v/a.mp4", 1, 0.0, 5.0, 2.0, 0.3)], {1: 25.0}, existing)
    write_hits([Hit("/v/a.mp4", 1, 0.0, 5.0, 2.0, 0.3)], {1: 25.0}, existing, overwrite=True)
    clips = list(otio.adapters.read_from_file(str(existing)).find_clips())
    assert [clip.media_reference.target_url for clip in clips] == ["/v/a.mp4"]


def test_a_timeline_that_appears_while_writing_is_kept(tmp_path, monkeypatch):
    path = tmp_path / "hits.otio"
    real_write = otio.adapters.write_to_file

    def racing_write(timeline, name, *args, **kwargs):
        path.write_text("written meanwhile")
        return real_write(timeline, name, *args, **kwargs)
    monkeypatch.setattr(otio.adapters, "write_to_file", racing_write)
    timeline = otio.schema.Timeline(name="hits")
    with pytest.raises(UsageError, match="already exists"):
        write_timeline(timeline, path)
    assert path.read_text() == "written meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hits.otio"]
