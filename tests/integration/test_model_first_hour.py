"""A new user's first hour with models, as the process shows it: no network, a wrong file."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from tests.conftest import run_cli
from vidsearch import config
from vidsearch.model.fit import describe_unusable

# Without HF_HUB_OFFLINE, so the hub is really tried; this machine cannot reach it. The
# subprocess timeout bounds a run that would retry for long (it used to take ~24 s per file).
REACH_THE_HUB = {"HF_HUB_OFFLINE": ""}
TIMEOUT = 120


def _assert_one_line_with_url_and_import(stderr: str, name: str, url: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("vidsearch: error:")]
    assert len(errors) == 1, stderr
    assert url in errors[0]
    assert f"vidsearch models import {name} FILE" in errors[0]
    # huggingface_hub's own warnings, once printed twice per file, do not appear at all.
    assert not [line for line in lines if "huggingface" in line.lower() and line not in errors]


@pytest.mark.slow
def test_index_without_a_network_says_which_file_to_fetch(library, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    result = run_cli("index", str(library), env_extra=REACH_THE_HUB, timeout=TIMEOUT)
    assert result.returncode == 3, result.stderr
    _assert_one_line_with_url_and_import(
        result.stderr, "clip4clip-webvid150k",
        "https://huggingface.co/Searchium-ai/clip4clip-webvid150k/resolve/main/model.safetensors")


@pytest.mark.slow
def test_find_with_a_model_whose_weights_are_missing_says_the_same(tiny_model, library):
    assert run_cli("index", str(library)).returncode == 0
    result = run_cli("find", "a dog", "--model", "clip-vit-b-32-openai",
                     env_extra=REACH_THE_HUB, timeout=TIMEOUT)
    assert result.returncode == 3, result.stderr
    _assert_one_line_with_url_and_import(
        result.stderr, "clip-vit-b-32-openai",
        "https://huggingface.co/timm/vit_base_patch32_clip_224.openai/resolve/main/"
        "open_clip_model.safetensors")


def _models_row(name: str) -> str:
    listing = run_cli("models", env_extra={"COLUMNS": "200"})
    assert listing.returncode == 0, listing.stderr
    return next(line for line in listing.stdout.splitlines() if f" {name} " in line)


@pytest.mark.slow
def test_a_junk_file_is_refused_on_import_and_not_listed_as_here(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"junk!")
    result = run_cli("models", "import", "clip-vit-b-32-openai", str(junk))
    assert result.returncode == 3
    assert "stored" not in result.stdout
    assert "not a readable safetensors file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert " missing " in _models_row("clip-vit-b-32-openai")


@pytest.mark.slow
def test_another_architectures_weights_are_refused_on_import(tmp_path):
    from tests.fixtures.tiny_model import install_tiny_model

    install_tiny_model(tmp_path / "elsewhere", name="tiny")
    result = run_cli("models", "import", "pe-core-b16",
                     str(tmp_path / "elsewhere" / "tiny" / "model.safetensors"))
    assert result.returncode == 3
    assert "do not fit model 'pe-core-b16'" in result.stderr
    # What does not fit, counted, and the file that would: the line is not cut mid-name.
    assert "missing keys (clip.visual.trunk." in result.stderr
    assert "https://huggingface.co/timm/PE-Core-B-16/resolve/main/" in result.stderr
    assert not (config.weights_cache_dir() / "pe-core-b16").exists()


def test_a_wrong_file_already_in_the_cache_is_listed_as_unusable():
    folder = config.weights_cache_dir() / "pe-core-b16"
    folder.mkdir(parents=True)
    (folder / "open_clip_model.safetensors").write_bytes(b"junk!")
    assert " unusable " in _models_row("pe-core-b16")


def test_another_architectures_weights_in_the_cache_are_listed_as_unusable(tiny_model):
    """A whole file, but another model's: only its names and shapes say so, read from the
    header (`models` imports no torch to build the architecture)."""
    tiny_weights = config.models_dir() / tiny_model / "model.safetensors"
    for name in ("pe-core-b16", "clip-vit-b-32-openai"):
        folder = config.weights_cache_dir() / name
        folder.mkdir(parents=True)
        shutil.copy(tiny_weights, folder / "open_clip_model.safetensors")
    listing = run_cli("models", env_extra={"COLUMNS": "200"})
    assert listing.returncode == 0, listing.stderr
    rows = {name: next(line for line in listing.stdout.splitlines() if f" {name} " in line)
            for name in ("pe-core-b16", "clip-vit-b-32-openai", tiny_model)}
    assert " unusable " in rows["pe-core-b16"] and " unusable " in rows["clip-vit-b-32-openai"]
    assert " here " in rows[tiny_model], listing.stdout  # the same file fits its own card
    below = " ".join(listing.stdout.split())  # the reasons wrap to the width: words compared
    assert below.count("weights unusable:") == 2, listing.stdout
    assert "pe-core-b16: weights unusable: no visual.trunk.* tensors, which PE-Core-B-16 has (" \
        in below
    assert "visual.conv1.weight is 64x3x16x16, ViT-B-32 has 768x3x32x32" in below
    assert "replace them: vidsearch models import pe-core-b16 FILE" in below


def _safetensors(path: Path, header: bytes, data: bytes = b"") -> Path:
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    return path


@pytest.mark.parametrize("header, data, why", [
    (b"{not json", b"", "bad header"),
    (b"{}", b"", "holds no tensors"),
    (b'{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}', b"\0" * 8, "cut short"),
])
def test_a_broken_header_is_read_as_unusable(tmp_path, header, data, why):
    assert why in describe_unusable(_safetensors(tmp_path / "w.safetensors", header, data))


def test_a_whole_safetensors_file_is_usable(tmp_path):
    header = b'{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}'
    assert describe_unusable(_safetensors(tmp_path / "w.safetensors", header, b"\0" * 16)) is None


def _shapes_of(module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(tensor.shape) for name, tensor in module.state_dict().items()}


@pytest.mark.slow  # builds two architectures (on the meta device)
@pytest.mark.parametrize("card_name", ["clip-vit-b-32-openai", "pe-core-b16"])
def test_the_header_check_passes_the_architectures_own_tensors_in_every_layout(card_name):
    """Never stricter than loading: what the architecture itself holds fits, whether the file
    is open_clip's, our CLIP4Clip module's (`clip.` + a header) or transformers' CLIPModel."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    from vidsearch.model.cards import load_card
    from vidsearch.model.factory import create_backbone
    from vidsearch.model.fit import misfit_in_header

    card = load_card(card_name)
    clip, _ = create_backbone(card, unloaded=True)
    own = _shapes_of(clip)
    assert misfit_in_header(card, own) is None
    assert misfit_in_header(card, {**{f"clip.{k}": v for k, v in own.items()},
                                   "header.frame_position_embeddings.weight": (12, 512)}) is None
    if card.arch == "ViT-B-32":
        with torch.device("meta"):
            hf = CLIPModel(CLIPConfig(vision_config={"patch_size": 32}))
        assert misfit_in_header(card, _shapes_of(hf)) is None
        eleven = {k: v for k, v in own.items() if "visual.transformer.resblocks.11." not in k}
        assert misfit_in_header(card, eleven) == (
            "11 blocks in visual.transformer.resblocks.*, ViT-B-32 has 12")


@pytest.mark.parametrize(("header", "patch"), [("meanP", "2d"), ("meanP", "3d"),
                                               ("seqTransf", "3d")])
def test_the_header_check_passes_each_patch_and_header_as_saved(header, patch, isolated_home):
    """The file a CLIP4Clip model is saved as, 3d patch (conv1 a Conv3d) included, fits its
    card by the header alone: indexing checks weights that way before importing torch."""
    from tests.fixtures.tiny_model import install_tiny_model
    from vidsearch.model.cards import load_card
    from vidsearch.model.locate import locate_model

    name = install_tiny_model(config.models_dir(), name=f"t-{header}-{patch}".lower(),
                              header=header, patch=patch)
    assert describe_unusable(locate_model(name).weights, load_card(name)) is None
