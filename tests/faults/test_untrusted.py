"""Weights files are data: a pickle that would run code is refused before it runs any."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from tests.faults.conftest import assert_one_clean_line, cli, default_db


class Payload:
    """Unpickling this calls os.mkdir(marker): the marker's existence proves code ran."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def write_evil(path, marker, style: str) -> None:
    state = {"clip.logit_scale": torch.zeros(()), "payload": Payload(marker)}
    if style == "torch.save":
        torch.save(state, path)
    else:
        path.write_bytes(pickle.dumps(state, protocol=2))


@pytest.mark.parametrize("command,name,style", [
    ("index", "evil.bin", "torch.save"), ("index", "evil.pt", "raw pickle"),
    ("index", "evil.pth", "torch.save"), ("find", "evil.bin", "torch.save")])
def test_a_pickle_payload_in_weights_never_runs(tiny_model, library, tmp_path, capsys, command,
                                                name, style):
    marker = tmp_path / "payload-ran"
    evil = tmp_path / name
    write_evil(evil, marker, style)
    if command == "find":
        assert cli(capsys, "index", library)[0] == 0
        args = ("find", "a dog")
    else:
        args = ("index", library)
    code, out, err = cli(capsys, *args, "--weights", evil)
    assert not marker.exists(), "the pickle payload ran"
    assert code == 3, out + err
    line = assert_one_clean_line(err)
    assert str(evil) in line and "refused to load" in line
    if command == "index":
        assert not default_db().exists()
