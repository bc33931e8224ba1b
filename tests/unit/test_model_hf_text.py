"""Hugging Face text towers: where their config and tokenizer come from, and building them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.fixtures.tiny_multilingual import (TINY_ML_REPO, install_tiny_ml_model,
                                              make_tiny_ml_card, write_text_files)
from vidsearch import config
from vidsearch.errors import CannotRunError
from vidsearch.model import hf_text
from vidsearch.model.cards import load_card
from vidsearch.model.hf_text import (architecture_config, ensure_text_files, find_text_files,
                                     hf_text_repo, rebuild_embedding_ids, text_folder)

CARD = "xlm-roberta-vit-b-32"
# xlm-roberta-base's config.json as the hub serves it (the fields that shape the tower).
XLM_R_BASE = {
    "model_type": "xlm-roberta", "architectures": ["XLMRobertaForMaskedLM"],
    "vocab_size": 250002, "hidden_size": 768, "num_hidden_layers": 12,
    "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 514,
    "type_vocab_size": 1, "layer_norm_eps": 1e-05, "pad_token_id": 1, "bos_token_id": 0,
    "eos_token_id": 2, "hidden_act": "gelu",
}


@pytest.fixture(scope="module")
def text_files(tmp_path_factory) -> Path:
    """A tiny XLM-R's config and tokenizer, trained once for the module."""
    return write_text_files(tmp_path_factory.mktemp("tiny-xlmr"))


def test_the_multilingual_card_names_its_weights_and_its_text_tower():
    from vidsearch.model.hub import hub_files
    from vidsearch.model.text_spec import plain_text_config

    card = load_card(CARD)
    assert (card.arch, card.pretrained, card.embed_dim) == (
        "xlm-roberta-base-ViT-B-32", "laion5b_s13b_b90k", 512)
    files = hub_files(card)
    assert files.repo == "laion/CLIP-ViT-B-32-xlm-roberta-base-laion5B-s13B-b90k"
    assert hf_text_repo(architecture_config(card)) == "xlm-roberta-base"
    # The plain-CLIP text path does not reproduce an XLM-R tower: queries use the full model.
    assert plain_text_config(card) is None
    assert hf_text_repo(architecture_config(load_card("clip-vit-b-32-openai"))) is None
    assert ensure_text_files(load_card("clip-vit-b-32-openai")) is None


def test_offline_without_the_files_says_which_to_fetch_and_where():
    card = load_card(CARD)
    with pytest.raises(CannotRunError) as caught:
        ensure_text_files(card, offline=True)
    message = str(caught.value)
    assert f"not in {text_folder(card)}" in message
    assert "https://huggingface.co/xlm-roberta-base/resolve/main/config.json" in message
    assert "https://huggingface.co/xlm-roberta-base/resolve/main/tokenizer.json" in message
    assert "\n" not in message


def test_an_unreachable_hub_is_one_error_naming_the_files(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(hf_text, "check_hub_reachable", refuse)
    with pytest.raises(CannotRunError, match="cannot be reached .*network is unreachable.*"
                                             "resolve/main/config.json"):
        ensure_text_files(load_card(CARD), offline=False)


def test_files_in_the_hugging_face_cache_are_used_where_they_are(text_files, tmp_path,
                                                                monkeypatch):
    # The layout transformers leaves: hub/models--ORG--NAME/{refs/main, snapshots/REV/...}.
    repo_folder = tmp_path / "hf-cache" / "models--xlm-roberta-base"
    snapshot = repo_folder / "snapshots" / ("0" * 40)
    shutil.copytree(text_files, snapshot)
    (repo_folder / "refs").mkdir()
    (repo_folder / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(repo_folder.parent))
    assert ensure_text_files(load_card(CARD), offline=True) == snapshot


def test_a_download_fetches_the_config_and_one_tokenizer_into_the_cache(text_files, monkeypatch):
    from huggingface_hub.errors import EntryNotFoundError

    asked: list[tuple[str, str]] = []

    def fake_download(repo, filename, local_dir):
        asked.append((repo, filename))
        source = text_files / filename
        if not source.is_file():
            raise EntryNotFoundError(f"{filename} not in {repo}")
        target = Path(local_dir) / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return str(target)

    monkeypatch.setattr(hf_text, "check_hub_reachable", lambda *args, **kwargs: None)
    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    card = load_card(CARD)
    folder = ensure_text_files(card, offline=False)
    assert folder == text_folder(card) == config.weights_cache_dir() / CARD / "text"
    assert [name for _, name in asked] == ["config.json", "tokenizer.json",
                                           "tokenizer_config.json", "special_tokens_map.json"]
    assert {repo for repo, _ in asked} == {"xlm-roberta-base"}
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        p.name for p in text_files.iterdir())  # the staging folder is gone
    # Found from now on: a second run asks the hub for nothing.
    asked.clear()
    assert ensure_text_files(card, offline=True) == folder and asked == []
    # The weights resolution never takes the text folder for a weights file.
    from vidsearch.model.weights import cached_weights

    assert cached_weights(CARD) is None


def test_embedding_id_buffers_are_rebuilt_as_transformers_builds_them():
    from transformers import XLMRobertaConfig
    from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaEmbeddings

    built = XLMRobertaEmbeddings(XLMRobertaConfig(vocab_size=10, hidden_size=8,
                                                  max_position_embeddings=12))
    for name in ("position_ids", "token_type_ids"):
        buffer = getattr(built, name)
        rebuilt = rebuild_embedding_ids(f"text.transformer.embeddings.{name}",
                                        torch.empty_like(buffer, device="meta"))
        assert torch.equal(rebuilt, buffer) and rebuilt.dtype == buffer.dtype
    assert rebuild_embedding_ids("text.other_ids", torch.empty(1, 4, dtype=torch.long)) is None
    assert rebuild_embedding_ids("x.position_ids", torch.empty(4, dtype=torch.long)) is None


@pytest.mark.slow
def test_loading_from_a_file_builds_on_the_meta_device_and_matches(isolated_home, monkeypatch):
    from vidsearch.model import factory
    from vidsearch.model.factory import build_module
    from vidsearch.model.weights import load_state_file

    name = install_tiny_ml_model(config.models_dir())
    card = load_card(name)
    path = config.models_dir() / name / "model.safetensors"
    released: list[object] = []
    real_release = factory.release_weights
    monkeypatch.setattr(factory, "release_weights",
                        lambda module: released.append(module) or real_release(module))
    from_file = build_module(card, path)
    assert released == []  # no random initialisation on the CPU first
    from_dict = build_module(card, load_state_file(path))
    want = dict(from_dict.named_buffers()) | dict(from_dict.state_dict())
    got = dict(from_file.named_buffers()) | dict(from_file.state_dict())
    assert got.keys() == want.keys()
    for key in want:
        assert not got[key].is_meta, key
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0, msg=key)


@pytest.mark.slow
def test_the_real_architecture_fits_a_checkpoint_of_its_shape_on_the_meta_device(text_files):
    """xlm-roberta-base-ViT-B-32 at full size, from its real config.json, no memory used; the
    checkpoint carries `position_ids`, as the LAION one (saved by an older transformers) does."""
    from vidsearch.model.factory import build_module, create_backbone

    card = load_card(CARD)
    folder = text_folder(card)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(XLM_R_BASE))
    shutil.copyfile(text_files / "tokenizer.json", folder / "tokenizer.json")
    clip, _ = create_backbone(card, unloaded=True)
    shapes = {key: torch.empty(value.shape, dtype=value.dtype, device="meta")
              for key, value in clip.state_dict().items()}
    assert shapes["text.transformer.embeddings.word_embeddings.weight"].shape == (250002, 768)
    assert shapes["text.proj.0.weight"].shape == (640, 768)  # open_clip's mlp projection
    assert shapes["text.proj.2.weight"].shape == (512, 640)
    assert shapes["visual.proj"].shape == (768, 512)
    shapes["text.transformer.embeddings.position_ids"] = torch.empty(1, 514, dtype=torch.long,
                                                                     device="meta")
    module = build_module(card, shapes, shapes_only=True)
    assert module.embed_dim == 512
    params = sum(p.numel() for p in module.clip.parameters())
    assert 360e6 < params < 370e6  # open_clip lists this model at 366 M parameters


def test_a_model_folder_of_its_own_holds_its_text_files_too(text_files):
    card = make_tiny_ml_card()
    assert find_text_files(card, TINY_ML_REPO) is None
    card.path = config.models_dir() / card.name / "card.toml"
    shutil.copytree(text_files, card.folder / "text")
    assert find_text_files(card, TINY_ML_REPO) == card.folder / "text"


def test_a_fine_tune_finds_its_bases_text_files(text_files):
    from dataclasses import replace

    base = make_tiny_ml_card("tiny-ml-base")
    shutil.copytree(text_files, text_folder(base))
    tuned = replace(make_tiny_ml_card("tiny-ml-tuned"), base=base.name)
    assert find_text_files(tuned, TINY_ML_REPO) == text_folder(base)


@pytest.mark.slow
def test_import_checks_the_fit_of_a_multilingual_model(isolated_home, tmp_path):
    from tests.fixtures.tiny_model import install_tiny_model
    from vidsearch.model.cards import write_card
    from vidsearch.model.weights import cached_weights, import_weights

    install_tiny_ml_model(tmp_path / "elsewhere", name="tiny-ml")
    install_tiny_model(tmp_path / "elsewhere", name="tiny")
    card = make_tiny_ml_card("tiny-ml-imported")
    write_card(card, config.models_dir() / card.name)
    shutil.copytree(text_folder(make_tiny_ml_card()), text_folder(card))
    with pytest.raises(CannotRunError, match="do not fit model 'tiny-ml-imported'"):
        import_weights(card.name, tmp_path / "elsewhere" / "tiny" / "model.safetensors")
    assert cached_weights(card.name) is None
    imported = import_weights(card.name, tmp_path / "elsewhere" / "tiny-ml" / "model.safetensors")
    assert cached_weights(card.name) == imported


def test_without_transformers_the_card_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)  # as if not installed
    with pytest.raises(CannotRunError, match=r"needs the transformers package.*"
                                             r"pip install 'vidsearch\[multilingual\]'"):
        ensure_text_files(load_card(CARD), offline=True)


@pytest.mark.slow
def test_a_saved_model_carries_its_text_files_and_loads_without_the_cache(isolated_home):
    from dataclasses import replace

    from vidsearch.model import load_model
    from vidsearch.model.factory import save_model

    name = install_tiny_ml_model(config.models_dir())
    model = load_model(name, device="cpu")
    want = model.embed_texts(["강아지가 원반을 잡는다"])
    folder = config.models_dir() / "tiny-ml-copy"
    save_model(model, replace(model.card, name="tiny-ml-copy"), folder)
    assert sorted(p.name for p in (folder / "text").iterdir()) == sorted(
        p.name for p in text_folder(model.card).iterdir())
    shutil.rmtree(text_folder(model.card))
    shutil.rmtree(config.models_dir() / name / "text")
    again = load_model("tiny-ml-copy", device="cpu", offline=True)
    torch.testing.assert_close(again.embed_texts(["강아지가 원반을 잡는다"]), want)
