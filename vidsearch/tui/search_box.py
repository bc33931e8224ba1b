"""The search box's side of a search: what it shows for one that is not typed (an image, "more
like this") and what Enter on its text searches.

Such a search shows what it searches by beside the filters it keeps (`in:~/Videos after:2024`),
so the user sees what narrows the results and may edit the filters and press Enter again.
"""

from __future__ import annotations

from dataclasses import replace

from vidsearch.display import format_time, printable
from vidsearch.query import filter_terms
from vidsearch.tui.messages import ImageQuery, LikeQuery, Query, TextQuery


def box_text(query: ImageQuery | LikeQuery) -> str:
    """What the search box shows for a search that is not typed."""
    return " ".join(filter(None, [_source(query), query.filters]))


def written_filters(text: str) -> str:
    """The filters written in the box's text, as written: an image or "more like this" search
    keeps them, so it stays within the folders and dates the results were narrowed to."""
    return filter_terms(text)[1]


def submitted_query(text: str, shown: ImageQuery | LikeQuery | None) -> Query:
    """What Enter on the box's `text` searches: the image or clip the box shows (`shown`), with
    the filters as the box now says them, or else the typed words."""
    rest, filters = filter_terms(text)
    if shown is not None and rest == " ".join(_source(shown).split()):
        return replace(shown, filters=filters)
    return TextQuery(text)


def _source(query: ImageQuery | LikeQuery) -> str:
    if isinstance(query, LikeQuery):
        return f"like: {printable(query.hit.path)} at {format_time(query.hit.best_moment)}"
    return f"image: {printable(str(query.image))}"
