"""Which model serves which query (`QueryModels`): the one rule `find` and the TUI follow."""

from __future__ import annotations

import threading

import pytest

import vidsearch.model
from vidsearch.model import query_text
from vidsearch.model.text_query import TextQueryModel
from vidsearch.model.video_text import VideoTextModel
from vidsearch.query import Part
from vidsearch.query_models import QueryModels, needs_vision


@pytest.fixture
def loads(monkeypatch) -> dict:
    """How often each kind of model was built (each still built for real)."""
    counts = {"full": 0, "text": 0}
    real_full, real_text = vidsearch.model.load_model, query_text.load_query_text_model

    def full(*args, **kwargs):
        counts["full"] += 1
        return real_full(*args, **kwargs)

    def text(*args, **kwargs):
        counts["text"] += 1
        return real_text(*args, **kwargs)

    monkeypatch.setattr(vidsearch.model, "load_model", full)
    monkeypatch.setattr(query_text, "load_query_text_model", text)
    return counts


def test_a_text_query_gets_the_text_tower_alone_once(tiny_model, loads):
    models = QueryModels(tiny_model, device="cpu")
    assert not models.loaded()
    first = models.for_query([Part("a dog")])
    assert isinstance(first, TextQueryModel)
    assert models.for_query([Part("a cat"), Part("people", -1)]) is first
    assert loads == {"full": 0, "text": 1}
    assert models.loaded() and not models.loaded(vision=True)


def test_rerank_and_pictures_get_the_full_model_loaded_once(tiny_model, loads, tmp_path):
    models = QueryModels(tiny_model, device="cpu")
    full = models.for_query([Part("a dog")], rerank=True)
    assert isinstance(full, VideoTextModel)
    picture = str(tmp_path / "dog.png")
    assert needs_vision([Part("a dog"), Part(picture, 1, True)])
    assert models.for_query([Part("a dog"), Part(picture, 1, True)]) is full
    assert models.for_query(image=True) is full
    assert loads["full"] == 1 and models.loaded(vision=True)


def test_threads_asking_at_once_share_one_load(tiny_model, loads):
    models = QueryModels(tiny_model, device="cpu")
    got = []
    threads = [threading.Thread(target=lambda: got.append(models.for_text())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 4 and all(model is got[0] for model in got)
    assert loads["text"] == 1


def test_the_query_thread_count_is_set_in_the_thread_that_asks(tiny_model):
    import torch

    from vidsearch.model.threads import threads_for

    models = QueryModels(tiny_model, device="cpu")
    models.full()
    seen = []

    def ask():
        torch.set_num_threads(threads_for("query") + 1)  # what other work left here
        models.for_image()
        seen.append(torch.get_num_threads())

    thread = threading.Thread(target=ask)
    thread.start()
    thread.join()
    assert seen == [threads_for("query")]
