"""The tokenizer skips ftfy (~60 ms to import) only for text ftfy would leave as it is."""

from __future__ import annotations

import string
import subprocess
import sys

import ftfy
from hypothesis import example, given
from hypothesis import strategies as st

from vidsearch.model.tokenizer import _needs_no_fixing

ascii_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=200)


@given(st.one_of(ascii_text, st.text(alphabet=string.printable, max_size=200), st.text()))
@example("a dog catching a frisbee")
@example("fish &amp; chips")
@example("\x1b[31mred\x1b[0m")
@example("line one\r\nline two")
def test_text_left_unfixed_is_text_ftfy_leaves_unchanged(text):
    if _needs_no_fixing(text):
        assert ftfy.fix_text(text) == text


def test_a_plain_query_is_tokenized_without_importing_ftfy():
    code = ("import sys; from vidsearch.model.tokenizer import ClipTokenizer; "
            "ClipTokenizer()(['a dog catching a frisbee']); print('ftfy' in sys.modules); "
            "ClipTokenizer()(['caf\\u00e9 &amp; cake']); print('ftfy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]
