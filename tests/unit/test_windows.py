import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from vidsearch.windows import Span, merge_overlapping, plan_windows


def one_fps(duration: float) -> np.ndarray:
    return np.arange(0.0, duration, 1.0)


def test_default_windows_overlap_by_half_and_cover_the_end():
    windows = plan_windows(one_fps(23), duration=23.0)
    assert [(w.start, w.end) for w in windows] == [(0, 10), (5, 15), (10, 20), (15, 23)]
    assert list(windows[0].frame_indices) == list(range(0, 10))
    assert list(windows[-1].frame_indices) == list(range(15, 23))


def test_video_shorter_than_a_window_is_one_clip():
    windows = plan_windows(one_fps(4), duration=3.6)
    assert len(windows) == 1
    assert (windows[0].start, windows[0].end) == (0.0, 3.6)
    assert list(windows[0].frame_indices) == [0, 1, 2, 3]


def test_windows_skip_gaps_without_frames():
    times = np.array([0.0, 1.0, 2.0, 30.0, 31.0])
    windows = plan_windows(times, duration=32.0)
    assert all(w.frame_indices.size for w in windows)
    assert windows[-1].end == 32.0


def test_no_frames_no_windows():
    assert plan_windows(np.zeros(0), duration=5.0) == []


@pytest.mark.parametrize("window,stride", [(0, 5), (10, 0), (-1, 1)])
def test_bad_window_settings_are_refused(window, stride):
    with pytest.raises(ValueError):
        plan_windows(one_fps(10), 10.0, window, stride)


@pytest.mark.slow
@given(
    duration=st.floats(min_value=0.1, max_value=600),
    window=st.floats(min_value=1, max_value=60),
    stride_fraction=st.floats(min_value=0.1, max_value=1.0),
)
@example(duration=146.2287, window=1.1, stride_fraction=1.0)  # a frame fell between windows
def test_every_frame_lands_in_some_window(duration, window, stride_fraction):
    times = np.arange(0.0, duration, 1.0)
    windows = plan_windows(times, duration, window, window * stride_fraction)
    covered = np.zeros(len(times), bool)
    for w in windows:
        assert w.end - w.start <= window + 1e-9
        assert np.all(times[w.frame_indices] >= w.start)
        assert np.all(times[w.frame_indices] <= w.end)
        covered[w.frame_indices] = True
    assert covered.all()
    assert windows[-1].end >= times[-1]
    assert windows[-1].end <= max(duration, times[-1]) + 1e-9


def test_merge_joins_windows_overlapping_the_best_one_and_keeps_its_score():
    spans = [Span(1, 0, 10, 0.5), Span(1, 5, 15, 0.9), Span(1, 30, 40, 0.7), Span(2, 5, 15, 0.8)]
    merged = merge_overlapping(spans)
    assert [(s.video_id, s.start, s.end, s.score) for s in merged] == [
        (1, 0, 15, 0.9), (2, 5, 15, 0.8), (1, 30, 40, 0.7)]


def test_a_video_matching_everywhere_does_not_become_one_giant_hit():
    spans = [Span(1, start, start + 10, 0.5 + 0.001 * (start == 50)) for start in range(0, 100, 5)]
    merged = merge_overlapping(spans)
    assert (merged[0].start, merged[0].end) == (45, 65)
    assert all(m.end - m.start <= 20 for m in merged)


@pytest.mark.slow
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 100), st.integers(1, 20),
                          st.floats(-1, 1)), min_size=1, max_size=40))
def test_merged_hits_never_overlap_and_cover_every_input(raw):
    spans = [Span(v, float(s), float(s + length), score) for v, s, length, score in raw]
    merged = merge_overlapping(spans)
    for video in {s.video_id for s in merged}:
        mine = sorted((s for s in merged if s.video_id == video), key=lambda s: s.start)
        for left, right in zip(mine, mine[1:]):
            assert left.end <= right.start
    for span in spans:
        assert any(m.video_id == span.video_id and m.start < span.end and span.start < m.end
                   and m.score >= span.score for m in merged)
    assert [m.score for m in merged] == sorted((m.score for m in merged), reverse=True)
