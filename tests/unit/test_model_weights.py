"""Weights: resolution, offline errors, imports, safe loading, HF conversion, fingerprints."""

from __future__ import annotations

import os
import pickle
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tests.fixtures.tiny_model import make_tiny_card
from vidsearch import config
from vidsearch.errors import CannotRunError, UsageError, VidsearchError, advice_of
from vidsearch.model import weights
from vidsearch.model.cards import load_card
from vidsearch.model.factory import build_module
from vidsearch.model.weights import (
    convert_hf_clip_to_open_clip,
    detect_layout,
    import_weights,
    load_state_file,
    resolve_weights,
    weights_fingerprint,
)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDSEARCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def hub_answers(monkeypatch):
    """The hub's connect check passes, for tests that fake the download itself."""
    monkeypatch.setattr(weights, "check_hub_reachable", lambda *args, **kwargs: None)


@pytest.fixture
def tiny_weights(tmp_path, monkeypatch) -> tuple[str, Path]:
    """A tiny user model whose weights file lies outside the library, to be imported."""
    from tests.fixtures.tiny_model import install_tiny_model

    name = install_tiny_model(config.models_dir(), name="tiny")
    file = tmp_path / "downloaded.safetensors"
    (config.models_dir() / name / "model.safetensors").rename(file)
    return name, file


def _save(path: Path, state: dict) -> Path:
    from safetensors.torch import save_file

    save_file(state, str(path))
    return path


# --- resolution and missing weights ---


@pytest.mark.parametrize("name", ["clip4clip-webvid150k", "clip-vit-b-32-openai", "pe-core-b16"])
def test_missing_weights_offline_names_the_model_and_both_fixes(name):
    with pytest.raises(CannotRunError) as caught:
        resolve_weights(load_card(name), offline=True)
    message = str(caught.value)
    assert name in message
    assert str(config.weights_cache_dir() / name) in message
    assert "name another weights file" in message and advice_of(caught.value) == "weights"
    assert f"vidsearch models import {name} FILE" in message
    assert "\n" not in message


def test_a_failed_download_is_a_cannot_run_error(hub_answers, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("huggingface_hub.hf_hub_download", refuse)
    with pytest.raises(CannotRunError, match="network is unreachable") as caught:
        resolve_weights(load_card("clip4clip-webvid150k"), offline=False)
    assert "huggingface.co/Searchium-ai/clip4clip-webvid150k" in str(caught.value)
    # Nothing under a weights name: only the staging folder, kept for the next try to resume.
    folder = config.weights_cache_dir() / "clip4clip-webvid150k"
    assert not [p for p in folder.iterdir() if p.name != weights.STAGING_DIRNAME]
    assert weights.cached_weights("clip4clip-webvid150k") is None


def test_an_interrupted_download_resumes_in_the_same_staging_folder(hub_answers, monkeypatch):
    # huggingface_hub resumes a partial file it finds in `local_dir`; what vidsearch must do
    # is give it the same folder again and keep that folder after a failure.
    folders = []

    def flaky_download(repo, filename, local_dir):
        folders.append(local_dir)
        partial = Path(local_dir) / ".cache" / f"{filename}.incomplete"
        if not partial.exists():
            partial.parent.mkdir(parents=True)
            partial.write_bytes(b"first half")
            raise OSError("connection reset")
        done = Path(local_dir) / filename
        done.write_bytes(partial.read_bytes() + b", second half")
        return str(done)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", flaky_download)
    card = load_card("clip4clip-webvid150k")
    with pytest.raises(CannotRunError, match="connection reset"):
        resolve_weights(card, offline=False)
    path = resolve_weights(card, offline=False)
    assert folders[0] == folders[1]
    assert path.read_bytes() == b"first half, second half"
    assert [p.name for p in path.parent.iterdir()] == ["model.safetensors"]  # staging gone


def test_download_falls_back_to_the_bin_file_and_moves_it_into_the_cache(hub_answers, monkeypatch, tmp_path):
    from huggingface_hub.errors import EntryNotFoundError

    asked = []

    def fake_download(repo, filename, local_dir):
        asked.append(filename)
        if filename.endswith(".safetensors"):
            raise EntryNotFoundError(f"{filename} not in {repo}")
        path = Path(local_dir) / "snap" / filename
        path.parent.mkdir(parents=True)
        torch.save({"w": torch.ones(2)}, path)
        return str(path)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    path = resolve_weights(load_card("clip4clip-webvid150k"), offline=False)
    assert asked == ["model.safetensors", "pytorch_model.bin"]
    assert path == config.weights_cache_dir() / "clip4clip-webvid150k" / "pytorch_model.bin"
    assert sorted(p.name for p in path.parent.iterdir()) == ["pytorch_model.bin"]
    # Second time: found in the cache, no download.
    monkeypatch.setattr("huggingface_hub.hf_hub_download", None)
    assert resolve_weights(load_card("clip4clip-webvid150k")) == path


def test_override_wins_and_must_exist(tmp_path):
    card = load_card("clip-vit-b-32-openai")
    file = _save(tmp_path / "mine.safetensors", {"w": torch.zeros(1)})
    assert resolve_weights(card, file) == file
    with pytest.raises(CannotRunError, match="does not exist"):
        resolve_weights(card, tmp_path / "nope.safetensors")


def test_import_puts_the_file_where_resolution_finds_it(tmp_path, tiny_weights):
    name, file = tiny_weights
    card = load_card(name)
    older = tmp_path / "old.safetensors"
    older.write_bytes(file.read_bytes())
    import_weights(name, older)
    target = import_weights(name, file)
    assert target.parent == config.weights_cache_dir() / name
    assert resolve_weights(card) == target
    assert [p.name for p in target.parent.iterdir()] == ["downloaded.safetensors"]


def test_import_refuses_a_file_that_does_not_load_and_stores_nothing(tmp_path, tiny_weights):
    name, _ = tiny_weights
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"junk!")
    with pytest.raises(CannotRunError, match="not a readable safetensors file") as caught:
        import_weights(name, junk)
    assert caught.value.path == str(junk)
    assert weights.cached_weights(name) is None


def test_import_refuses_weights_of_another_architecture(tiny_weights):
    name, file = tiny_weights
    with pytest.raises(CannotRunError, match=r"do not fit model 'clip-vit-b-32-openai'") as caught:
        import_weights("clip-vit-b-32-openai", file)
    # The line names the tensor that does not fit, not torch's heading above it.
    assert "size mismatch for clip.positional_embedding" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert weights.cached_weights("clip-vit-b-32-openai") is None


def test_import_refuses_a_state_of_the_right_names_but_wrong_shapes(tmp_path, tiny_weights):
    from safetensors.torch import load_file

    name, file = tiny_weights
    state = load_file(str(file))
    state["clip.visual.conv1.weight"] = torch.zeros(64, 3, 8, 8)
    wrong = _save(tmp_path / "wrong.safetensors", state)
    with pytest.raises(CannotRunError, match="clip.visual.conv1.weight"):
        import_weights(name, wrong)
    assert weights.cached_weights(name) is None


def test_import_refuses_unknown_models_and_odd_files(tmp_path):
    file = _save(tmp_path / "w.safetensors", {"w": torch.zeros(1)})
    with pytest.raises(UsageError, match="unknown model"):
        import_weights("no-such-model", file)
    with pytest.raises(UsageError, match="no such file"):
        import_weights("clip-vit-b-32-openai", tmp_path / "missing.safetensors")
    text = tmp_path / "weights.txt"
    text.write_text("hello")
    with pytest.raises(UsageError, match="not a weights file"):
        import_weights("clip-vit-b-32-openai", text)


# --- safe loading ---


class _Payload:
    """Unpickling this would create `marker`: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("style", ["torch.save", "raw pickle"])
def test_a_pickle_payload_is_refused_without_running(tmp_path, style):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.bin"
    state = {"weight": torch.zeros(2), "payload": _Payload(marker)}
    if style == "torch.save":
        torch.save(state, path)
    else:
        path.write_bytes(pickle.dumps(state, protocol=2))
    with pytest.raises(VidsearchError, match="refused to load") as caught:
        load_state_file(path)
    assert str(path) in str(caught.value)
    assert not marker.exists()


def test_plain_state_dicts_load_from_bin_and_safetensors(tmp_path):
    state = {"a": torch.arange(3.0), "b": torch.ones(2, 2)}
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "w.pt")
    _save(tmp_path / "w.safetensors", state)
    for name in ("w.pt", "w.safetensors"):
        loaded = load_state_file(tmp_path / name)
        assert loaded.keys() == state.keys()
        for key in state:
            assert torch.equal(loaded[key], state[key])


def test_broken_files_are_clean_errors(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"not really")
    (tmp_path / "bad.bin").write_bytes(b"not really")
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    for name in ("bad.safetensors", "bad.bin", "list.pt"):
        with pytest.raises(CannotRunError, match=name):
            load_state_file(tmp_path / name)
    with pytest.raises(UsageError, match="unknown weights format"):
        load_state_file(tmp_path / "w.onnx")


# --- layouts and conversion ---


def _tiny_hf_clip(seed: int = 0):
    from transformers import CLIPConfig, CLIPModel

    hf_config = CLIPConfig(
        text_config=dict(vocab_size=49408, hidden_size=64, intermediate_size=256,
                         num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=77,
                         hidden_act="quick_gelu", bos_token_id=49406, eos_token_id=49407,
                         pad_token_id=0),
        vision_config=dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                           num_attention_heads=2, image_size=64, patch_size=16,
                           hidden_act="quick_gelu"),
        projection_dim=64,
    )
    torch.manual_seed(seed)
    return CLIPModel(hf_config).eval()


@pytest.mark.slow
def test_hf_clip_converts_to_matching_open_clip_embeddings(tmp_path):
    hf_model = _tiny_hf_clip()
    hf_model.save_pretrained(tmp_path / "hf", safe_serialization=True)
    state = load_state_file(tmp_path / "hf" / "model.safetensors")
    assert detect_layout(state) == "hf_clip"
    card = replace(make_tiny_card(), weights_source="hf", hf_repo="someone/tiny", weights_layout="hf_clip")
    module = build_module(card, state).eval()

    pixels = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    # Real tokenizer output: start token, words, end token (the largest id), zero padding.
    import open_clip

    tokens = open_clip.get_tokenizer("ViT-B-32")(["a dog catching a frisbee", "snow", ""])
    with torch.no_grad():
        hf_image = hf_model.visual_projection(hf_model.vision_model(pixel_values=pixels).pooler_output)
        hf_text = hf_model.text_projection(hf_model.text_model(input_ids=tokens).pooler_output)
        ours_image = module.clip.encode_image(pixels)
        ours_text = module.encode_text(tokens)
    torch.testing.assert_close(ours_image, hf_image, atol=1e-4, rtol=0)
    torch.testing.assert_close(ours_text, hf_text, atol=1e-4, rtol=0)
    torch.testing.assert_close(module.clip.logit_scale, hf_model.logit_scale.detach())


def test_conversion_refuses_foreign_keys():
    with pytest.raises(ValueError, match="unexpected keys"):
        convert_hf_clip_to_open_clip({"text_model.pooler.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="incomplete attention"):
        convert_hf_clip_to_open_clip(
            {"vision_model.encoder.layers.0.self_attn.q_proj.weight": torch.zeros(2, 2)})


def test_weights_that_do_not_fit_the_architecture_are_a_clean_error(tmp_path):
    state = {"visual.conv1.weight": torch.zeros(3, 3)}
    with pytest.raises(CannotRunError, match="do not fit model 'tiny'"):
        build_module(make_tiny_card(), state, source=tmp_path / "w.safetensors")


def test_layouts_are_detected_from_key_names():
    assert detect_layout({"clip.visual.conv1.weight": 0, "clip.logit_scale": 0}) == "clip4clip"
    assert detect_layout({"vision_model.embeddings.class_embedding": 0}) == "hf_clip"
    assert detect_layout({"visual.conv1.weight": 0, "logit_scale": 0}) == "open_clip"


# --- fingerprints ---


def test_fingerprint_is_the_sha256_and_is_cached_by_size_and_mtime(tmp_path):
    import hashlib

    path = tmp_path / "w.safetensors"
    path.write_bytes(b"A" * 1000)
    first = weights_fingerprint(path)
    assert first == hashlib.sha256(b"A" * 1000).hexdigest()
    stat = path.stat()
    # Same size and mtime: the cached digest is trusted, the file is not read again.
    path.write_bytes(b"B" * 1000)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert weights_fingerprint(path) == first
    # A new mtime means a new hash.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert weights_fingerprint(path) == hashlib.sha256(b"B" * 1000).hexdigest()
    assert (config.weights_cache_dir() / weights.FINGERPRINTS_FILENAME).is_file()


def test_a_corrupt_fingerprint_cache_is_rebuilt(tmp_path):
    cache = config.weights_cache_dir() / weights.FINGERPRINTS_FILENAME
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    path = tmp_path / "w.bin"
    path.write_bytes(b"x")
    assert len(weights_fingerprint(path)) == 64
    assert str(path.resolve()) in cache.read_text()


@pytest.mark.slow
def test_full_size_hf_clip_fits_the_default_card():
    """The default card's conversion at real ViT-B/32 size (random weights, about 10 s)."""
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    hf_model = CLIPModel(CLIPConfig(text_config={"hidden_act": "quick_gelu"},
                                    vision_config={"hidden_act": "quick_gelu", "patch_size": 32})).eval()
    module = build_module(load_card("clip4clip-webvid150k"), dict(hf_model.state_dict())).eval()
    pixels = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = hf_model.visual_projection(hf_model.vision_model(pixel_values=pixels).pooler_output)
        torch.testing.assert_close(module.clip.encode_image(pixels), expected, atol=1e-4, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("header", ["meanP", "seqTransf"])
def test_a_frames_only_build_from_an_hf_file_encodes_like_the_full_one(tmp_path, header,
                                                                       weights_read):
    hf_model = _tiny_hf_clip()
    hf_model.save_pretrained(tmp_path / "hf", safe_serialization=True)
    path = tmp_path / "hf" / "model.safetensors"
    card = replace(make_tiny_card(header=header), weights_source="hf", hf_repo="someone/tiny",
                   weights_layout="hf_clip")
    # The tiny text tower has 2 layers, so seqTransf's other 2 start random: seed both builds.
    torch.manual_seed(3)
    full = build_module(card, path).eval()
    weights_read.clear()
    torch.manual_seed(3)
    frames_only = build_module(card, path, text=False).eval()
    text_read = [key for key in weights_read if key.startswith("text_model.")]
    # meanP has no weights to start from the text tower: its tensors are never read. seqTransf
    # starts from text layers (its weights are not in a plain CLIP file), so they are read.
    assert bool(text_read) == (header == "seqTransf")
    assert not frames_only.has_text and full.has_text
    pixels = torch.randn(2, 3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, 3, dtype=torch.bool)
    with torch.no_grad():
        torch.testing.assert_close(frames_only.encode_frames(pixels), full.encode_frames(pixels),
                                   rtol=0, atol=0)
        features = full.encode_frames(pixels)
        torch.testing.assert_close(frames_only.aggregate(features, mask),
                                   full.aggregate(features, mask), rtol=0, atol=0)


def test_leaving_out_the_text_tower_keeps_everything_else(tmp_path):
    hf_model = _tiny_hf_clip()
    hf_model.save_pretrained(tmp_path / "hf", safe_serialization=True)
    path = tmp_path / "hf" / "model.safetensors"
    every = load_state_file(path)
    without = load_state_file(path, text=False)
    assert set(every) - set(without) == {key for key in every
                                         if key.startswith(("text_model.", "text_projection."))}
    assert "logit_scale" in without and "visual_projection.weight" in without
