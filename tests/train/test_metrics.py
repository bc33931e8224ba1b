"""R@K, MdR, MnR from a similarity matrix."""

from __future__ import annotations

import numpy as np
import pytest

from vidsearch.metrics import (BothWays, build_relevance, compute_ranks, retrieval_metrics,
                               summarise_ranks)


def test_a_perfect_diagonal_ranks_everything_first():
    metrics = retrieval_metrics(np.eye(12) + 0.01)
    for way in (metrics.t2v, metrics.v2t):
        assert (way.r1, way.r5, way.r10, way.median_rank, way.mean_rank) == (1, 1, 1, 1, 1)
        assert way.queries == 12


def test_ranks_count_the_candidates_that_beat_the_right_one():
    similarity = np.array([[0.1, 0.9, 0.5],   # right answer (col 0) is 3rd
                           [0.2, 0.8, 0.1],   # right answer (col 1) is 1st
                           [0.7, 0.3, 0.5]])  # right answer (col 2) is 2nd
    ranks = compute_ranks(similarity, np.eye(3, dtype=bool))
    assert ranks.tolist() == [3, 1, 2]
    summary = summarise_ranks(ranks)
    assert summary.r1 == pytest.approx(1 / 3)
    assert summary.r5 == summary.r10 == 1.0
    assert (summary.median_rank, summary.mean_rank) == (2.0, 2.0)


def test_ties_count_against_the_query():
    metrics = retrieval_metrics(np.zeros((20, 20)))
    assert metrics.t2v.r1 == 0 and metrics.t2v.r10 == 0
    assert metrics.t2v.median_rank == 20 and metrics.v2t.mean_rank == 20


def test_r_at_k_matches_a_hand_count():
    rng = np.random.default_rng(0)
    similarity = rng.normal(size=(50, 50))
    ranks = compute_ranks(similarity, np.eye(50, dtype=bool))
    by_hand = [1 + int((row > row[i]).sum()) for i, row in enumerate(similarity)]
    assert ranks.tolist() == by_hand
    summary = summarise_ranks(ranks)
    assert summary.r5 == pytest.approx(np.mean(np.array(by_hand) <= 5))
    assert summary.median_rank == np.median(by_hand)


def test_several_right_answers_take_the_best_one():
    # Caption 0 describes clips 0 and 2; clip 1 scores highest, clip 2 second.
    similarity = np.array([[0.1, 0.9, 0.5], [0.0, 1.0, 0.0]])
    relevant = build_relevance([0, 0, 1], [0, 2, 1], captions=2, clips=3)
    both = retrieval_metrics(similarity, relevant)
    assert compute_ranks(similarity, relevant).tolist() == [2, 1]
    assert both.v2t.queries == 3  # every clip asks for its captions


def test_bad_input_is_a_value_error():
    with pytest.raises(ValueError):
        retrieval_metrics(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        compute_ranks(np.zeros((2, 2)), np.zeros((2, 2), dtype=bool))
    with pytest.raises(ValueError):
        compute_ranks(np.full((2, 2), np.nan), np.eye(2, dtype=bool))


def test_round_trip_through_a_dict():
    metrics = retrieval_metrics(np.eye(4))
    assert BothWays.from_dict(metrics.to_dict()) == metrics


def test_a_clip_no_caption_describes_is_a_distractor_only():
    # Clip 2 is a wrong answer only: caption 0 ranks it (above its right clip), and it asks
    # nothing of the captions.
    similarity = np.array([[0.5, 0.1, 0.9], [0.2, 0.8, 0.0]])
    relevant = build_relevance([0, 1], [0, 1], captions=2, clips=3)
    both = retrieval_metrics(similarity, relevant)
    assert both.t2v.queries == 2 and both.t2v.mean_rank == pytest.approx(1.5)
    assert both.v2t.queries == 2 and both.v2t.r1 == 1.0
