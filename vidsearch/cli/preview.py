"""`find --preview`: each hit's best-moment frame drawn in the terminal under its row.

The pictures are textual-image's rich renderables (the TUI's image library, without Textual):
Sixel or the Kitty graphics protocol where the terminal answers that it speaks them, Unicode
half blocks on any other terminal, and nothing at all when stdout is not a terminal (a pipe or
a file gets the plain table, as without --preview). Frames come from `vidsearch.thumbnails`,
the TUI's decoder.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from rich.console import Console, RenderableType
from rich.text import Text

from vidsearch.display import printable
from vidsearch.errors import DecodeError

# Cells across: wide enough to tell scenes apart, narrow enough for a page of hits.
PREVIEW_WIDTH = 32


def renderable_class(console: Console, renderables: ModuleType | None = None) -> type | None:
    """The picture type to draw with on `console`, or None when it is not a terminal.

    `renderables` is textual-image's `renderable` module, which asks the terminal what it
    speaks when first imported; it is imported here only once the console is known to be a
    terminal, so a pipe never receives the question's escape codes.
    """
    if not console.is_terminal or console.is_dumb_terminal:
        return None
    if renderables is None:
        from textual_image import renderable as renderables
    chosen = renderables.Image
    # textual-image asks whether the process's own stdout is a terminal; when it is not (rich
    # was told to treat another stream as one) it picks bare Unicode characters without colour,
    # which show nothing of the frame. Half blocks draw in colour on any terminal.
    return renderables.HalfcellImage if chosen is renderables.UnicodeImage else chosen


def picture_maker(console: Console | None = None, *, renderables: ModuleType | None = None,
                  decode: Callable | None = None) -> Callable | None:
    """A function from a hit to its picture (or to a one-line note of why there is none), or
    None when nothing is to be drawn on this console."""
    console = console or Console()
    kind = renderable_class(console, renderables)
    if kind is None:
        return None
    if decode is None:
        from vidsearch.thumbnails import decode_frame as decode

    def picture(hit) -> RenderableType:
        try:
            image = decode(hit.path, hit.best_moment)
        except DecodeError as exc:
            return Text(f"  no picture: {printable(exc.reason)}", style="dim")
        return kind(image, width=PREVIEW_WIDTH)

    return picture
