"""Fixtures shared by every test: an isolated home, a tiny model, a tiny video library."""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting made torch several times slower on a busy 2-core
# machine (tests run beside their own subprocesses); set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from tests.fixtures.videos import make_video

# Hypothesis fails an example that runs past 200 ms by default: a timing threshold, which on a
# shared 2-core machine fails tests for the load, not for the code. Timings live in bench/.
settings.register_profile("vidsearch", deadline=None)
settings.load_profile("vidsearch")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch) -> Path:
    """Point every vidsearch path at a temp folder so tests never touch the user's data."""
    home = tmp_path / "home"
    monkeypatch.setenv("VIDSEARCH_HOME", str(home))
    for name in ("VIDSEARCH_DB", "VIDSEARCH_MODEL"):
        monkeypatch.delenv(name, raising=False)
    # Tests compare vectors across runs and models: they must not depend on what a timing
    # probe decided under load. The probe itself is tested with precision="auto" explicitly.
    monkeypatch.setenv("VIDSEARCH_PRECISION", "fp32")
    # Weights cannot be downloaded here: make any attempt fail at once instead of hanging.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return home


@pytest.fixture(autouse=True)
def vidsearch_log_levels():
    """Each test starts with vidsearch's loggers as the library leaves them (no level of their
    own): a command run before it (`-q` sets ERROR), even in a session fixture, must not
    silence the warnings the test checks for."""
    import logging

    loggers = [logging.getLogger(name) for name in ("vidsearch", "vidsearch.progress")]
    for logger in loggers:
        logger.setLevel(logging.NOTSET)
    yield
    for logger in loggers:
        logger.setLevel(logging.NOTSET)


@pytest.fixture
def tiny_model(isolated_home, monkeypatch) -> str:
    """A tiny random-weight CLIP4Clip (meanP, 2D) installed as a user model and made active."""
    from tests.fixtures.tiny_model import install_tiny_model
    from vidsearch import config

    name = install_tiny_model(config.models_dir(), name="tiny")
    monkeypatch.setenv("VIDSEARCH_MODEL", name)
    return name


@pytest.fixture
def weights_read(monkeypatch) -> list[str]:
    """Names of the tensors model building reads from weights files, as it reads them."""
    from vidsearch.model import factory

    read: list[str] = []
    real = factory.load_state_file

    def recording(*args, **kwargs):
        state = real(*args, **kwargs)
        read.extend(state)
        return state

    monkeypatch.setattr(factory, "load_state_file", recording)
    return read


@pytest.fixture(scope="session")
def video_cache(tmp_path_factory) -> Path:
    """Generated once per session, copied into each test that needs a library."""
    folder = tmp_path_factory.mktemp("videos")
    make_video(folder / "alpha.mp4", seconds=23, fps=10, size=(96, 64), seed=1)
    make_video(folder / "beta.mp4", seconds=7.5, fps=25, size=(64, 96), seed=2, codec="mpeg4")
    make_video(folder / "gamma.mp4", seconds=4, fps=7, size=(97, 61), seed=3, vfr=True)
    return folder


@pytest.fixture
def library(tmp_path, video_cache) -> Path:
    """A folder of three small videos (two codecs, portrait, odd size, variable frame rate)."""
    folder = tmp_path / "Videos"
    (folder / "trip").mkdir(parents=True)
    shutil.copy2(video_cache / "alpha.mp4", folder / "alpha.mp4")
    shutil.copy2(video_cache / "beta.mp4", folder / "trip" / "beta.mp4")
    shutil.copy2(video_cache / "gamma.mp4", folder / "trip" / "gamma.mp4")
    return folder


def run_cli(*args: str, env_extra: dict | None = None, timeout: float = 300
            ) -> subprocess.CompletedProcess:
    """The real entry point in a subprocess, as a user runs it."""
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "vidsearch", *args], capture_output=True, text=True,
        env=env, timeout=timeout, cwd=REPO,
    )
