"""Whatever is typed as a query (SQL, 100k characters, nothing, any script) gives results or a
clean usage error, never a traceback, and never changes the library."""

from __future__ import annotations

import json
import math
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.faults.conftest import assert_one_clean_line, cli
from tests.fixtures.tiny_model import install_tiny_model
from vidsearch import search
from vidsearch.cli import main
from vidsearch.errors import UsageError
from vidsearch.store import open_store

SQL = ["'; DROP TABLE videos; --", "a' OR '1'='1", '" OR ""="', "%", "_", "\\", "*", "NULL",
       "x MATCH y", "1; SELECT load_extension('x')", "?", ":name", "@p", "$p", "/* */ --",
       "\x00", "' UNION SELECT path FROM videos --"]
SCRIPTS = ["\u732b\u304c\u8df3\u3076", "\u5c0f\u72d7\u63a5\u98de\u76d8", "\ud55c\uad6d\uc5b4",
           "\u0642\u0637\u0629 \u062a\u0642\u0641\u0632", "\u05db\u05dc\u05d1 \u05e8\u05e5",
           "\u0915\u0941\u0924\u094d\u0924\u093e", "\U0001f436\U0001f94f",
           "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\u202eevil\u202c", "e\u0301\u0301\u0301",
           "\ufeff", "\u200b\u200b", "\U0001d4d7\U0001d4ee\U0001d4f5\U0001d4f5\U0001d4f8"]

QUERIES = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from("'\";%_\\*?:@$()-/=<>|&^~`[]{}#!\x00\n\t "), max_size=50),
    st.text(alphabet=st.characters(min_codepoint=0x0590, max_codepoint=0x06FF), max_size=30),
    st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=30),
    st.text(alphabet=st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), max_size=30),
    st.sampled_from(SQL + SCRIPTS),
    # Long queries, either side of the limit.
    st.builds(lambda piece, count: piece * count, st.text(min_size=1, max_size=8),
              st.integers(min_value=1000, max_value=20_000)),
)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, video_cache):
    """One library for every query test in this module (queries do not change it)."""
    home = tmp_path_factory.mktemp("query-home")
    videos = home / "Videos"
    videos.mkdir()
    for name in ("alpha.mp4", "beta.mp4"):
        shutil.copy2(video_cache / name, videos / name)
    db = home / "library.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VIDSEARCH_HOME", str(home))
        patch.setenv("VIDSEARCH_PRECISION", "fp32")
        patch.setenv("VIDSEARCH_MODEL", install_tiny_model(home / "data" / "models"))
        assert main(["index", str(videos), "--db", str(db)]) == 0
    return db, videos


def library_fingerprint(db) -> tuple:
    with open_store(db, create=False) as store:
        stats = store.stats()
        assert store.check_integrity() == []
        return stats.videos, stats.clips, stats.frames


@pytest.mark.slow
def test_any_query_gives_hits_or_a_usage_error(tiny_model, indexed):
    from vidsearch.model import load_model
    from vidsearch.model.text_query import load_text_query_model

    db, videos = indexed
    before = library_fingerprint(db)
    # Both text paths find uses: the text tower alone (CPU) and the full model.
    models = [load_text_query_model(tiny_model), load_model(tiny_model, device="cpu")]
    assert models[0] is not None
    with open_store(db, create=False) as store:

        @settings(max_examples=100, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(query=QUERIES)
        def check(query):
            for model in models:
                try:
                    hits = search.search_text(store, model, query, k=3)
                except UsageError as exc:
                    stripped = query.strip()
                    assert not stripped or len(stripped) > search.MAX_QUERY_CHARS, exc
                    continue
                assert 1 <= len(hits) <= 3
                for hit in hits:
                    assert hit.path.startswith(str(videos))
                    assert math.isfinite(hit.score) and -1.001 <= hit.score <= 1.001
                    assert hit.start <= hit.best_moment <= hit.end

        check()
    assert library_fingerprint(db) == before


@pytest.mark.slow
def test_odd_queries_through_the_cli_answer(tiny_model, indexed, capsys):
    db, _ = indexed
    for query in SQL + SCRIPTS + ["x" * 10_000]:
        code, out, err = cli(capsys, "find", query, "--db", db, "--json", "-k", "2")
        assert code == 0, (query, err)
        document = json.loads(out)
        assert document["query"] == query and len(document["hits"]) == 2, query
    for query in SQL[:3] + SCRIPTS[:3]:
        code, out, err = cli(capsys, "find", query, "--db", db, "-k", "2")
        assert code == 0 and "Traceback" not in out + err, query
    assert library_fingerprint(db)[0] == 2


@pytest.mark.slow
def test_empty_and_overlong_queries_are_usage_errors(tiny_model, indexed, capsys):
    db, _ = indexed
    for query in ["", "   ", "\n\t", "x" * 10_001, "\u732b" * 100_000]:
        code, out, err = cli(capsys, "find", query, "--db", db, "--json")
        assert code == 2, (query[:20], out, err)
        assert_one_clean_line(err)
        assert out == ""
