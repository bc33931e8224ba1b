"""Model cards: builtin cards, lookup order, TOML round trip, clear errors, no torch import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.tiny_model import make_tiny_card
from vidsearch import config
from vidsearch.errors import UsageError
from vidsearch.model.cards import (
    ModelCard,
    card_from_toml,
    card_to_toml,
    list_cards,
    load_card,
    write_card,
)

REPO = Path(__file__).resolve().parents[2]
BUILTIN = ("clip4clip-webvid150k", "clip-vit-b-32-openai", "pe-core-b16", "xlm-roberta-vit-b-32")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDSEARCH_HOME", str(tmp_path / "home"))


def test_builtin_cards_are_listed_and_valid():
    names = [card.name for card in list_cards()]
    assert set(BUILTIN) <= set(names)
    default = load_card(config.DEFAULT_MODEL)
    assert (default.arch, default.weights_source, default.weights_layout) == ("ViT-B-32", "hf", "hf_clip")
    assert default.hf_repo == "Searchium-ai/clip4clip-webvid150k"
    assert (default.header, default.patch, default.frames_per_clip, default.embed_dim) == ("meanP", "2d", 12, 512)


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_cards_name_real_open_clip_architectures(name):
    import open_clip

    card = load_card(name)
    model_config = open_clip.get_model_config(card.arch)
    assert model_config is not None and model_config["embed_dim"] == card.embed_dim
    if card.weights_source == "open_clip":
        assert (card.arch, card.pretrained) in open_clip.list_pretrained()


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_cards_round_trip(name):
    card = load_card(name)
    again = card_from_toml(card_to_toml(card))
    assert again == card


def test_round_trip_keeps_nested_configs_and_awkward_strings():
    card = make_tiny_card(name="odd")
    card.description = 'quotes " and \\ backslashes, tabs\t, newline\n, ünïcödé, del \x7f'
    card.extra = {"metrics": {"r@1": 12.5, "mdr": 3}, "when": "2026-01-01", "tags": ["a", "b"],
                  "ok": True, "nested": {"deeper": {"x": -1e-9}}}
    card.base = "clip4clip-webvid150k"
    text = card_to_toml(card)
    assert card_from_toml(text) == card


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(UsageError) as caught:
        load_card("no-such-model")
    message = str(caught.value)
    assert "no-such-model" in message
    for name in BUILTIN:
        assert name in message


def test_user_card_shadows_the_builtin_of_the_same_name():
    card = load_card("clip-vit-b-32-openai")
    card.description = "my own copy"
    write_card(card, config.models_dir() / card.name)
    assert load_card(card.name).description == "my own copy"
    assert [c.description for c in list_cards() if c.name == card.name] == ["my own copy"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('name = "bad"\narch = "ViT-B-32"\nheader = "maxP"\npretrained = "openai"\n', "header"),
        ('name = "bad"\narch = "ViT-B-32"\nheder = "meanP"\npretrained = "openai"\n', "heder"),
        ('name = "bad"\n', "arch"),
        ('name = "bad"\narch = "ViT-B-32"\nframes_per_clip = 0\npretrained = "openai"\n', "frames_per_clip"),
        ('name = "bad"\narch = "ViT-B-32"\nweights_source = "hf"\n', "hf_repo"),
        ('name = "bad"\narch = "ViT-B-32"\n', "pretrained"),
        ("name = = \n", "not a valid model card"),
    ],
)
def test_bad_card_files_name_the_file(text, problem):
    folder = config.models_dir() / "bad"
    folder.mkdir(parents=True)
    (folder / "card.toml").write_text(text)
    with pytest.raises(UsageError) as caught:
        load_card("bad")
    assert str(folder / "card.toml") in str(caught.value)
    assert problem in str(caught.value)


def test_a_card_stored_under_another_name_is_refused():
    write_card(make_tiny_card(name="alpha"), config.models_dir() / "beta")
    with pytest.raises(UsageError, match="stored as 'beta'"):
        load_card("beta")


@pytest.mark.parametrize("name", ["../escape", "", "a/b", ".hidden"])
def test_model_names_cannot_leave_the_models_folder(name):
    with pytest.raises(UsageError, match="not a valid model name"):
        load_card(name)


def test_card_knows_its_folder_and_index_header():
    card = make_tiny_card(header="tightTransf")
    assert card.index_header == "meanP"
    assert make_tiny_card(header="seqLSTM").index_header == "seqLSTM"
    path = write_card(card, config.models_dir() / card.name)
    assert load_card(card.name).folder == path.parent
    assert isinstance(load_card(card.name), ModelCard)


def test_importing_the_model_package_does_not_import_torch():
    code = ("import sys, vidsearch.model as m; m.list_cards(); m.load_card('pe-core-b16'); "
            "import vidsearch.model.weights, vidsearch.model.locate, vidsearch.model.hf_text; "
            "sys.exit(1 if 'torch' in sys.modules or 'open_clip' in sys.modules else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
