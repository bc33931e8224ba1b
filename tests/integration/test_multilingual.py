"""Other languages, offline: a tiny XLM-R-shaped text tower and a tokenizer trained in the test,
installed in the real layout; index generated videos, then search in Korean and in English."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.tiny_multilingual import SPECIALS, install_tiny_ml_model
from vidsearch import config
from vidsearch.cli import main

KOREAN = "강아지가 원반을 잡는다"
ENGLISH = "a dog catches a frisbee"


@pytest.fixture
def tiny_ml_model(isolated_home, monkeypatch) -> str:
    name = install_tiny_ml_model(config.models_dir())
    monkeypatch.setenv("VIDSEARCH_MODEL", name)
    return name


@pytest.fixture
def tower_inputs(monkeypatch) -> list:
    """The token ids each call of the Hugging Face text tower receives."""
    from transformers import XLMRobertaModel

    seen: list = []
    real = XLMRobertaModel.forward

    def recording(self, input_ids=None, *args, **kwargs):
        seen.append(input_ids.tolist())
        return real(self, input_ids, *args, **kwargs)

    monkeypatch.setattr(XLMRobertaModel, "forward", recording)
    return seen


def _tokenizer_ids(model: str, text: str) -> list[int]:
    """The ids the trained tokenizer itself gives, read with `tokenizers` alone."""
    from tokenizers import Tokenizer

    from vidsearch.model.cards import load_card
    from vidsearch.model.hf_text import text_folder

    tokenizer = Tokenizer.from_file(str(text_folder(load_card(model)) / "tokenizer.json"))
    return tokenizer.encode(text).ids


@pytest.mark.slow
def test_korean_and_english_queries_reach_the_text_tower_with_the_tokenizers_ids(
        tiny_ml_model, library, tower_inputs, capsys):
    assert main(["index", str(library)]) == 0
    capsys.readouterr()
    assert tower_inputs == []  # indexing never runs the text tower
    for query in (KOREAN, ENGLISH):
        tower_inputs.clear()
        assert main(["find", query, "-k", "2", "--json"]) == 0
        document = json.loads(capsys.readouterr().out)
        assert document["model"] == tiny_ml_model
        assert len(document["hits"]) == 2
        assert all(hit["path"].startswith(str(library)) for hit in document["hits"])
        (row,) = tower_inputs[0]
        want = _tokenizer_ids(tiny_ml_model, query)
        assert row[:len(want)] == want
        assert set(row[len(want):]) == {SPECIALS.index("<pad>")}
    korean, english = _tokenizer_ids(tiny_ml_model, KOREAN), _tokenizer_ids(tiny_ml_model, ENGLISH)
    # Korean is in the vocabulary, not unknown pieces, and the two queries differ.
    assert SPECIALS.index("<unk>") not in korean
    assert korean != english


@pytest.mark.slow
def test_the_text_only_query_path_falls_back_to_the_full_model_silently(tiny_ml_model, library,
                                                                         capsys):
    from vidsearch.model.query_text import load_query_text_model

    assert load_query_text_model(tiny_ml_model) is None
    assert main(["index", str(library)]) == 0
    capsys.readouterr()
    assert main(["find", KOREAN, "-k", "1"]) == 0
    out, err = capsys.readouterr()
    assert "alpha.mp4" in out or "beta.mp4" in out or "gamma.mp4" in out
    assert err.strip() == ""


@pytest.mark.slow
def test_an_offline_first_run_names_the_text_files_to_fetch_and_where(tiny_ml_model, library,
                                                                      capsys):
    import shutil

    from vidsearch.model.cards import load_card
    from vidsearch.model.hf_text import text_folder

    card = load_card(tiny_ml_model)
    folder = text_folder(card)
    shutil.rmtree(folder)
    shutil.rmtree(card.folder / "text")  # the saved model's own copy
    assert main(["index", str(library)]) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert f"not in {folder}" in err
    for name in ("config.json", "tokenizer.json"):
        assert f"https://huggingface.co/vidsearch-tests/tiny-xlm-roberta/resolve/main/{name}" in err
    # `models import` checks a file against the tower built from those files: the same line.
    weights = card.folder / "model.safetensors"
    assert main(["models", "import", tiny_ml_model, str(weights)]) == 3
    assert capsys.readouterr().err.strip() == err.strip()


@pytest.mark.slow
def test_vidsearch_find_in_korean_from_the_command_line(tiny_ml_model, library):
    from tests.conftest import run_cli

    assert main(["index", str(library)]) == 0
    result = run_cli("find", KOREAN, "-k", "1", "--json",
                     env_extra={"LC_ALL": "C", "LANG": "C"})  # no UTF-8 locale
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["query"] == KOREAN
    assert len(document["hits"]) == 1
