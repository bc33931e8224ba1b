"""Every sim header and both patches, through the real CLI on a small library."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.tiny_model import install_tiny_model
from vidsearch import config
from vidsearch.cli import main
from vidsearch.store import open_store


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
@pytest.mark.parametrize("header,patch", [
    ("meanP", "2d"), ("seqLSTM", "2d"), ("seqTransf", "2d"), ("tightTransf", "2d"),
    ("meanP", "3d"), ("seqTransf", "3d"),
])
def test_each_header_indexes_and_answers(header, patch, library, capsys, monkeypatch):
    name = install_tiny_model(config.models_dir(), name=f"tiny-{header}-{patch}".lower(),
                              header=header, patch=patch)
    monkeypatch.setenv("VIDSEARCH_MODEL", name)
    code, out, err = cli(capsys, "index", str(library))
    assert code == 0, err
    code, out, err = cli(capsys, "find", "a cat", "--json", "-k", "3")
    assert code == 0, err
    hits = json.loads(out)["hits"]
    assert len(hits) == 3
    with open_store(config.default_db_path()) as store:
        assert store.check_integrity() == []
        assert store.stats().frames == 23 + 8 + 4


@pytest.mark.slow
def test_seq_headers_store_their_own_clip_vectors_not_frame_means(library, capsys, monkeypatch):
    """A seqTransf index differs from a meanP index of the same backbone."""
    import numpy as np

    vectors = {}
    for header in ("meanP", "seqTransf"):
        name = install_tiny_model(config.models_dir(), name=f"same-{header}".lower(),
                                  header=header)
        monkeypatch.setenv("VIDSEARCH_MODEL", name)
        assert cli(capsys, "index", str(library / "alpha.mp4"))[0] == 0
        with open_store(config.default_db_path()) as store:
            ids = [r[0] for r in store.conn.execute("SELECT id FROM clips ORDER BY id")]
            vectors[header] = np.stack([store.clip_vector(clip_id) for clip_id in ids])
    assert vectors["meanP"].shape == vectors["seqTransf"].shape
    assert not np.allclose(vectors["meanP"], vectors["seqTransf"], atol=1e-3)


@pytest.mark.slow
def test_a_library_built_with_one_header_refuses_queries_from_another(library, capsys,
                                                                      monkeypatch):
    install_tiny_model(config.models_dir(), name="tiny-meanp", header="meanP")
    install_tiny_model(config.models_dir(), name="tiny-seqtransf", header="seqTransf")
    monkeypatch.setenv("VIDSEARCH_MODEL", "tiny-meanp")
    cli(capsys, "index", str(library))
    code, _, err = cli(capsys, "find", "a cat", "--model", "tiny-seqtransf")
    assert code == 3 and "tiny-meanp" in err


@pytest.mark.slow
def test_rerank_reorders_the_shortlist_with_the_tight_header(library, capsys, monkeypatch):
    name = install_tiny_model(config.models_dir(), name="tiny-tight", header="tightTransf",
                              seed=3)
    monkeypatch.setenv("VIDSEARCH_MODEL", name)
    cli(capsys, "index", str(library))
    code, out, err = cli(capsys, "find", "a cat", "--json", "-k", "4")
    loose = json.loads(out)["hits"]
    code, out, err = cli(capsys, "find", "a cat", "--json", "-k", "4", "--rerank", "4")
    assert code == 0, err
    reranked = json.loads(out)["hits"]
    key = lambda h: (h["path"], h["start"], h["end"])  # noqa: E731
    assert sorted(map(key, loose)) == sorted(map(key, reranked))
    scores = [h["score"] for h in reranked]
    assert scores == sorted(scores, reverse=True)
    assert scores != [h["score"] for h in loose]  # tight scores replace the cosines


@pytest.mark.slow
def test_rerank_needs_a_tight_model(tiny_model, library, capsys):
    cli(capsys, "index", str(library))
    code, _, err = cli(capsys, "find", "a cat", "--rerank", "5")
    assert code == 2 and "tightTransf" in err
