"""The search core's filters, combined queries and "more like this", on a store written by
hand (known vectors, folders and dates) and a fake model: exact answers, no torch."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidsearch import search
from vidsearch.errors import UsageError
from vidsearch.query import Part
from vidsearch.query_models import needs_vision
from vidsearch.search import Filters
from vidsearch.store import VideoMeta, open_store
from vidsearch.store.vectors import stored

DIM = 8
DAY = 86_400.0


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def add_video(store, path, seed, *, clips=4, recorded_at=None, mtime_ns=7):
    """A video of `clips` 10-s windows every 5 s, each clip vector `unit(seed * 100 + i)`."""
    seconds = 5 * clips + 5
    times = np.arange(seconds, dtype=float)
    frames = np.stack([unit(seed * 100 + 50 + i) for i in range(seconds)])
    spans = [(5.0 * i, 5.0 * i + 10) for i in range(clips)]
    vectors = np.stack([unit(seed * 100 + i) for i in range(clips)])
    return store.write_video(path, size=seed, mtime_ns=mtime_ns, content_hash=None,
                             meta=VideoMeta(float(seconds), 1.0, 8, 8), frame_times=times,
                             frame_vectors=frames, clip_spans=spans, clip_vectors=vectors,
                             recorded_at=recorded_at)


class FakeModel:
    """Texts and images with fixed vectors; counts what it embeds."""

    card = SimpleNamespace(name="fake", header="meanP")
    fingerprint = "fp"
    embed_dim = DIM
    can_rerank = False

    def __init__(self, texts: dict[str, np.ndarray], image: np.ndarray | None = None) -> None:
        self.texts = texts
        self.image = image
        self.calls: list[list[str]] = []

    def embed_texts(self, texts):
        self.calls.append(list(texts))
        return np.stack([self.texts[t] for t in texts])

    def embed_image(self, _image):
        return self.image


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "lib.db") as opened:
        opened.prepare_for_model("fp", "fake", DIM)
        yield opened


# Folders and dates: 2020 and 2021 under /lib/old, 2022 and 2023 under /lib/new, one in /other.
LIBRARY = [("/lib/old/a.mp4", 2020), ("/lib/old/b.mp4", 2021), ("/lib/new/c.mp4", 2022),
           ("/lib/new/deep/d.mp4", 2023), ("/other/e.mp4", 2024)]


def year(y: int) -> float:
    return (y - 1970) * 365.25 * DAY


@pytest.fixture
def library(store):
    ids = {path: add_video(store, path, seed=n + 1, recorded_at=year(y) + 100 * DAY)
           for n, (path, y) in enumerate(LIBRARY)}
    return store, ids


def test_video_ids_matching_is_sorted_and_exact(library):
    store, ids = library
    assert store.video_ids_matching().tolist() == sorted(ids.values())
    assert store.video_ids_matching(["/lib/new"]).tolist() == sorted(
        [ids["/lib/new/c.mp4"], ids["/lib/new/deep/d.mp4"]])
    assert store.video_ids_matching(["/lib/ne"]).size == 0  # a name prefix is not a folder
    assert store.video_ids_matching(["/lib/old/a.mp4"]).tolist() == [ids["/lib/old/a.mp4"]]
    assert store.video_ids_matching(after=year(2021), before=year(2023)).tolist() == [
        ids["/lib/old/b.mp4"], ids["/lib/new/c.mp4"]]
    assert store.video_ids_matching(["/lib/old", "/other"], after=year(2021)).tolist() == [
        ids["/lib/old/b.mp4"], ids["/other/e.mp4"]]
    assert store.indexed_folders() == ["/lib/new", "/lib/old", "/other"]


def test_a_video_without_a_recording_date_is_dated_by_its_file(store):
    video_id = add_video(store, "/v/x.mp4", 1, mtime_ns=5 * 10**18)
    assert store.recording_times([video_id]) == {video_id: 5e9}


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(allowed=st.sets(st.sampled_from([p for p, _ in LIBRARY])), seed=st.integers(0, 1000),
       k=st.integers(1, 25))
def test_within_keeps_exactly_the_allowed_videos_before_the_top_k(library, allowed, seed, k):
    store, ids = library
    within = np.array(sorted(ids[p] for p in allowed), dtype=np.int64)
    query = unit(10_000 + seed)
    found = store.nearest_clips(query, k, within=within)
    # brute force over every allowed clip: the same clips, best first
    everything = store.nearest_clips(query, 1000)
    expected = [m.clip_id for m in everything if m.video_id in set(within.tolist())][:k]
    assert [m.clip_id for m in found] == expected
    frames = store.nearest_frames(query, k, within=within)
    all_frames = [m for m in store.nearest_frames(query, 1000)
                  if m.video_id in set(within.tolist())][:k]
    assert [m.frame_id for m in frames] == [m.frame_id for m in all_frames]
    assert [m.score for m in frames] == pytest.approx([m.score for m in all_frames], abs=1e-5)


def test_filters_return_exactly_the_videos_they_should_and_k_of_them(library):
    store, ids = library
    model = FakeModel({"q": unit(3)})
    # every video has 4 clips (2 hits when windows overlap least); ask for more than one has
    hits = search.search_text(store, model, "q", k=10, filters=Filters.create(["/lib/new"]))
    assert {h.path for h in hits} == {"/lib/new/c.mp4", "/lib/new/deep/d.mp4"}
    dated = search.search_text(store, model, "q", k=10,
                               filters=Filters(after=year(2021), before=year(2023)))
    assert {h.path for h in dated} == {"/lib/old/b.mp4", "/lib/new/c.mp4"}
    assert all(year(2021) <= h.recorded_at < year(2023) for h in dated)
    none = search.search_text(store, model, "q", filters=Filters(after=year(2030)))
    assert none == []


def test_a_filter_does_not_cost_hits_another_video_would_have_taken(store):
    # 30 videos that match the query better than the one folder asked for
    query = unit(999)
    for n in range(30):
        add_video(store, f"/loud/{n}.mp4", seed=n + 1)
    store.conn.execute("UPDATE clips SET embedding = ?", (stored(query, "clip").tobytes(),))
    quiet = add_video(store, "/quiet/q.mp4", seed=77, clips=12)
    model = FakeModel({"q": query})
    hits = search.search_text(store, model, "q", k=3, filters=Filters.create(["/quiet"]))
    assert len(hits) == 3 and {h.video_id for h in hits} == {quiet}


def test_per_video_limits_hits_and_asks_for_more_to_fill_k(store):
    ids = [add_video(store, f"/v/{n}.mp4", seed=n + 1, clips=20) for n in range(3)]
    model = FakeModel({"q": unit(2 * 100 + 7)})  # clip 7 of the second video, exactly
    hits = search.search_text(store, model, "q", k=3, filters=Filters(per_video=1))
    assert sorted(h.video_id for h in hits) == sorted(ids)
    assert hits[0].video_id == ids[1] and hits[0].score == pytest.approx(1.0, abs=1e-5)
    many = search.search_text(store, model, "q", k=6, filters=Filters(per_video=2))
    assert len(many) == 6
    assert all(sum(h.video_id == i for h in many) == 2 for i in ids)


def test_a_folder_never_indexed_is_a_usage_error_naming_the_indexed_ones(library):
    store, _ids = library
    with pytest.raises(UsageError, match="no indexed video is under") as caught:
        search.search_text(store, FakeModel({"q": unit(1)}), "q",
                           filters=Filters.create(["/elsewhere"]))
    assert "/lib/new, /lib/old, /other" in caught.value.hint


def test_combined_queries_search_by_the_hand_computed_vector(library, tmp_path):
    store, _ids = library
    beach, sunset, people = unit(201), unit(302) * 3, unit(403) * 0.5
    picture = tmp_path / "pic.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(picture)
    image_vector = unit(104) * 2
    model = FakeModel({"beach": beach, "sunset": sunset, "people": people}, image_vector)
    parts = search.parts_from("beach", ["sunset", str(picture)], ["people"])
    assert parts[2] == Part(str(picture), 1, True) and needs_vision(parts)
    by_hand = beach + sunset / 3 + image_vector / 2 - people / 0.5
    by_hand /= np.linalg.norm(by_hand)
    np.testing.assert_allclose(search.embed_parts(model, parts), by_hand, rtol=1e-5, atol=1e-6)
    assert model.calls[-1] == ["beach", "sunset", "people"]  # texts in one batch
    hits = search.search_parts(store, model, parts, k=3)
    best = store.nearest_clips(by_hand, 1)[0]
    assert hits[0].video_id == best.video_id and hits[0].score == pytest.approx(best.score)


def test_one_text_part_ranks_and_scores_as_a_text_search(library):
    store, _ids = library
    model = FakeModel({"q": unit(5) * 7})
    combined = search.search_parts(store, model, search.parse_box("q"), k=5)
    plain = search.search_text(store, model, "q", k=5)
    assert [(h.video_id, h.start, h.end, h.best_moment) for h in combined] == \
        [(h.video_id, h.start, h.end, h.best_moment) for h in plain]
    assert [h.score for h in combined] == pytest.approx([h.score for h in plain], abs=1e-6)


def test_more_like_this_excludes_the_source_and_its_overlapping_windows(store):
    source_id = add_video(store, "/v/src.mp4", seed=1, clips=6)  # windows every 5 s
    other = add_video(store, "/v/other.mp4", seed=2)
    # a clip of another video equal to the source clip: the best hit there is
    clips = store.clips_of_video(source_id)
    middle = next(c for c in clips if c[1] <= 17.5 <= c[2] and abs((c[1] + c[2]) / 2 - 17.5) < 3)
    vector = store.clip_vector(middle[0])
    store.conn.execute("UPDATE clips SET embedding = ? WHERE id = ?",
                       (stored(vector, "clip").tobytes(), store.clips_of_video(other)[2][0]))
    source = search.like_source(store, "/v/src.mp4")  # the middle of 35 s
    assert (source.clip_id, source.start, source.end) == middle
    hits = search.search_like(store, source, k=10)
    assert hits[0].video_id == other and hits[0].score == pytest.approx(1.0, abs=1e-5)
    for hit in hits:
        if hit.video_id == source_id:  # nothing overlapping the source clip comes back
            assert hit.end <= source.start or hit.start >= source.end
    at = search.like_source(store, "/v/src.mp4", at=2.0)
    assert (at.start, at.end) == (0.0, 10.0)


def test_more_like_this_of_a_file_not_indexed_or_a_time_outside_says_so(library):
    store, _ids = library
    with pytest.raises(UsageError, match="not in the library"):
        search.like_source(store, "/nowhere.mp4")
    with pytest.raises(UsageError, match="outside the video"):
        search.like_source(store, "/lib/old/a.mp4", at=1e6)


def test_image_searches_take_the_same_filters(library):
    store, ids = library
    frame = store.frame_vectors(ids["/other/e.mp4"], 7, 7)[1][0]  # a frame of /other/e.mp4
    model = FakeModel({}, image=frame)
    image = np.zeros((4, 4, 3), np.uint8)
    unfiltered = search.search_image(store, model, image, k=3)
    assert unfiltered[0].path == "/other/e.mp4" and unfiltered[0].best_moment == 7.0
    inside = search.search_image(store, model, image, k=20, filters=Filters.create(["/lib/old"]))
    assert {h.path for h in inside} == {"/lib/old/a.mp4", "/lib/old/b.mp4"}
    one_each = search.search_image(store, model, image, k=20, filters=Filters(per_video=1))
    assert sorted(h.path for h in one_each) == sorted(p for p, _ in LIBRARY)


def test_the_box_filters_reach_the_search_as_find_flags_do(library, tmp_path, monkeypatch):
    store, _ids = library
    monkeypatch.setenv("HOME", "/lib")
    parts, filters = search.parse_box_query("q in:~/new after:2022 before:2022 per-video:1")
    assert parts == [Part("q")]
    assert filters == Filters.create(["/lib/new"], "2022", "2022", 1)
    hits = search.search_parts(store, FakeModel({"q": unit(3)}), parts, k=10, filters=filters)
    assert [h.path for h in hits] == ["/lib/new/c.mp4"]
