"""ModelOnDemand: the frame size comes from the architecture's config, and asking for it starts
the load in the background; the first frame to encode waits for it (or gets its error)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vidsearch.errors import CannotRunError
from vidsearch.model import factory, on_demand


@pytest.fixture
def frames():
    return np.random.default_rng(5).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)


def test_the_frame_size_is_known_before_the_load_ends(tiny_model, frames, monkeypatch):
    from vidsearch.model import load_model

    reference = load_model(tiny_model, device="cpu", precision="fp32", text=False)
    release, started = threading.Event(), threading.Event()
    real_load = factory.load_located

    def held_load(*args, **kwargs):
        started.set()
        assert release.wait(30), "the test never let the load go on"
        return real_load(*args, **kwargs)

    monkeypatch.setattr(factory, "load_located", held_load)
    model = on_demand.ModelOnDemand(tiny_model, device="cpu", precision="fp32", text=False)
    assert model.image_size == reference.image_size  # answered while the load is held
    assert started.wait(30) and not model.loaded
    release.set()
    np.testing.assert_array_equal(model.embed_frames(frames), reference.embed_frames(frames))
    assert model.loaded


def test_a_failed_background_load_is_raised_where_frames_are_encoded(tiny_model, frames,
                                                                      monkeypatch):
    def broken_load(*args, **kwargs):
        raise CannotRunError("the weights are gone", "fetch them again")

    monkeypatch.setattr(factory, "load_located", broken_load)
    model = on_demand.ModelOnDemand(tiny_model, device="cpu", precision="fp32", text=False)
    assert model.image_size > 0
    with pytest.raises(CannotRunError, match="the weights are gone"):
        model.embed_frames(frames)
    with pytest.raises(CannotRunError):  # and again, not a hang or a half-loaded model
        model.embed_frames(frames)


def test_on_a_cpu_torch_is_imported_by_the_background_load(tiny_model):
    import subprocess
    import sys

    from tests.conftest import REPO

    script = (
        "import sys, numpy as np\n"
        "from vidsearch.model.on_demand import ModelOnDemand\n"
        "from vidsearch.model.threads import threads_for\n"
        "model = ModelOnDemand(sys.argv[1], device='cpu', precision='fp32', text=False)\n"
        "print('after the checks', 'torch' in sys.modules)\n"
        "frames = np.zeros((2, model.image_size, model.image_size, 3), np.uint8)\n"
        "assert model.embed_frames(frames).shape == (2, model.embed_dim)\n"
        "import torch\n"
        "print('threads here', torch.get_num_threads() == threads_for('index'))\n")
    result = subprocess.run([sys.executable, "-c", script, tiny_model], capture_output=True,
                            text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["after the checks False", "threads here True"]


def test_weights_cut_short_are_refused_before_any_load(tiny_model):
    from vidsearch.model.locate import locate_model

    weights = locate_model(tiny_model).weights
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(CannotRunError, match="cut short") as caught:
        on_demand.ModelOnDemand(tiny_model, device="cpu", precision="fp32", text=False)
    assert str(weights) in str(caught.value)
