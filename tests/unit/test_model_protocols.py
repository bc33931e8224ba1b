"""Each model wrapper provides what its callers rely on (the protocols in model/protocols.py)."""

from __future__ import annotations

import inspect

import pytest

from vidsearch.model import protocols
from vidsearch.model.on_demand import ModelOnDemand
from vidsearch.model.onnx_text import OnnxTextModel
from vidsearch.model.text_query import TextQueryModel
from vidsearch.model.video_text import VideoTextModel


def _members(protocol) -> set[str]:
    names = set()
    for klass in protocol.__mro__:
        if klass.__module__ == protocols.__name__:
            names |= {name for name in vars(klass) if not name.startswith("_")}
    return names


def _provided(cls) -> set[str]:
    # Attributes set in __init__ count too: read them off its source.
    init = inspect.getsource(cls.__init__)
    assigned = {line.split("self.", 1)[1].split(" ", 1)[0].split(":")[0]
                for line in init.splitlines() if line.strip().startswith("self.")}
    return {name for name in dir(cls) if not name.startswith("_")} | assigned


@pytest.mark.parametrize(("cls", "protocol"), [
    (VideoTextModel, protocols.QueryModel),
    (VideoTextModel, protocols.FrameEncoder),
    (TextQueryModel, protocols.TextEncoder),
    (OnnxTextModel, protocols.TextEncoder),
    (ModelOnDemand, protocols.FrameEncoder),
])
def test_wrapper_provides_its_protocol(cls, protocol):
    missing = _members(protocol) - _provided(cls)
    assert not missing, f"{cls.__name__} lacks {sorted(missing)} of {protocol.__name__}"


def test_a_missing_member_is_noticed():
    class Partial:
        def __init__(self) -> None:
            self.card = None
            self.fingerprint = ""

    assert _members(protocols.TextEncoder) - _provided(Partial) == {
        "embed_dim", "can_rerank", "embed_texts"}
