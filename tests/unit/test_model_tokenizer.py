"""The plain-Python tokenizer gives open_clip's token ids exactly, without torch or open_clip."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vidsearch.model.tokenizer import ClipTokenizer

pytestmark = pytest.mark.slow  # imports open_clip (and torch) to compare against


@pytest.fixture(scope="module")
def tokenizers():
    from open_clip.tokenizer import SimpleTokenizer

    return ClipTokenizer(context_length=77), SimpleTokenizer(context_length=77)


def _same_ids(ours, theirs, texts):
    np.testing.assert_array_equal(ours(texts), theirs(texts).numpy())


@given(st.lists(st.one_of(st.text(max_size=120), st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=120)),
    min_size=1, max_size=4))
@example(["", " ", "\t\n  \u3000", "a"])
@example(["a dog catching a frisbee", "A  Dog\tCATCHING\na frisbee  "])
@example(["雪の中の猫", "قطة في الثلج", "🐶🥏 on the 🏖️", "Ünïcödé çafé naïve", "ﬁne ligature"])
@example(["&amp;lt;b&amp;gt; bold &quot;quotes&quot;", "don't we'll they're I'm it'd"])
@example(["<end_of_text> inside", "x <START_OF_TEXT> y", "\x1b[31mred\x1b[0m \x00\x07"])
@example(["12345 67.89 3rd", "mixedCASE wOrDs and-dashes_under"])
def test_token_ids_equal_open_clips(tokenizers, texts):
    _same_ids(*tokenizers, texts)


@settings(max_examples=40)  # each example is a few hundred BPE words
@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=2000))
@example("grandma blowing out candles on a cake " * 40)
def test_long_captions_are_cut_to_the_context_with_the_end_token_last(tokenizers, text):
    ours, theirs = tokenizers
    _same_ids(ours, theirs, [text])
    row = ours([text])[0]
    if row[-1] != 0:  # a caption that filled the context
        assert row[-1] == ours.end_id


@pytest.mark.parametrize("length", [16, 77])
def test_other_context_lengths_match(length):
    from open_clip.tokenizer import SimpleTokenizer

    texts = ["a red kite over the beach at sunset " * 5, "a"]
    np.testing.assert_array_equal(ClipTokenizer(context_length=length)(texts),
                                  SimpleTokenizer(context_length=length)(texts).numpy())


def test_tokenizing_imports_neither_torch_nor_open_clip():
    code = ("import sys\n"
            "from vidsearch.model.tokenizer import ClipTokenizer\n"
            "ids = ClipTokenizer()(['a dog catching a frisbee'])\n"
            "assert ids[0, 0] == 49406 and ids.dtype.name == 'int64'\n"
            "print([m for m in ('torch', 'open_clip') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
