"""Fixtures the fine-tune and feedback command tests share."""

from __future__ import annotations

import pytest

from tests.fixtures.tiny_model import install_tiny_model
from tests.train.synthetic import Dataset, make_dataset
from vidsearch import config


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Dataset:
    """16 captions: 16 training clips in 4 videos, 16 held-out clips in 8 other videos."""
    return make_dataset(tmp_path_factory.mktemp("synthetic"), clips_per_caption=1,
                        segments_per_video=4)


@pytest.fixture
def tiny(isolated_home) -> str:
    install_tiny_model(config.models_dir(), name="tiny")
    return "tiny"
