"""Combined queries: the search box's syntax and the arithmetic of the query vector."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vidsearch.errors import UsageError
from vidsearch.query import Part, check_parts, combine, parse_box, parts_from


def never_image(_value: str) -> bool:
    return False


def test_plain_words_make_the_text_and_signed_ones_add_and_subtract():
    assert parse_box("beach +sunset -people", is_image=never_image) == [
        Part("beach"), Part("sunset", 1), Part("people", -1)]


def test_quotes_keep_phrases_and_signs_inside_words_are_text():
    parts = parse_box('a dog on a t-shirt +"golden hour" -"a big crowd" rock - paper',
                      is_image=never_image)
    assert parts == [Part("a dog on a t-shirt rock paper"), Part("golden hour", 1),
                     Part("a big crowd", -1)]


def test_an_unclosed_quote_runs_to_the_end_and_apostrophes_are_text():
    assert parse_box("the dog's toy -\"a cat", is_image=never_image) == [
        Part("the dog's toy"), Part("a cat", -1)]


def test_a_signed_value_the_caller_calls_an_image_is_an_image():
    parts = parse_box("dog +/p/beach.jpg -'x'", is_image=lambda v: v.endswith(".jpg"))
    assert parts == [Part("dog"), Part("/p/beach.jpg", 1, True), Part("'x'", -1)]
    assert parts_from("dog", ["/p/a.jpg", "sun"], ["rain"], is_image=lambda v: v.endswith(".jpg")
                      ) == [Part("dog"), Part("/p/a.jpg", 1, True), Part("sun", 1),
                            Part("rain", -1)]


words = st.text(alphabet=st.characters(whitelist_categories=("L", "N")), min_size=1,
                max_size=8)


@given(st.lists(st.tuples(st.sampled_from(["", "+", "-"]), words, st.booleans()), max_size=8))
def test_every_term_written_comes_back_with_its_sign(terms):
    text = " ".join(f'{sign}"{word}"' if quoted else f"{sign}{word}"
                    for sign, word, quoted in terms)
    parts = parse_box(text, is_image=never_image)
    plain = " ".join(word for sign, word, _ in terms if not sign)
    expected = ([Part(plain)] if plain else []) + [
        Part(word, 1 if sign == "+" else -1) for sign, word, _ in terms if sign]
    assert parts == expected


def test_the_query_vector_is_the_normalised_signed_sum_of_normalised_parts():
    a, b, c = np.array([3.0, 0, 0, 4]), np.array([0, 2.0, 0, 0]), np.array([0, 0, 0.5, 0])
    by_hand = a / 5 + b / 2 - c / 0.5
    np.testing.assert_allclose(combine(np.stack([a, b, c]), [1, 1, -1]),
                               by_hand / np.linalg.norm(by_hand), rtol=1e-6)


@given(st.lists(st.floats(-10, 10), min_size=4, max_size=4).filter(
    lambda v: np.linalg.norm(v) > 1e-3), st.floats(0.01, 100))
def test_one_part_gives_its_own_direction_whatever_its_length(vector, scale):
    vector = np.array(vector, dtype=np.float32)
    np.testing.assert_allclose(combine(vector * scale, [1]), vector / np.linalg.norm(vector),
                               rtol=1e-4, atol=1e-6)


def test_parts_that_cancel_or_only_subtract_are_refused():
    with pytest.raises(UsageError, match="cancel"):
        combine(np.array([[1.0, 2.0], [2.0, 4.0]]), [1, -1])
    with pytest.raises(UsageError, match="only says what to leave out"):
        check_parts([Part("people", -1)])
