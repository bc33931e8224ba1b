"""`find --preview`: each hit's best-moment frame drawn in the terminal under its row.

The pictures are textual-image's rich renderables (the TUI's image library, without Textual):
Sixel or the Kitty graphics protocol where the terminal answers that it speaks them, Unicode
half blocks on any other terminal, and nothing at all when stdout is not a terminal (a pipe or
a file gets the plain table, as without --preview). iTerm2's own inline images, which
textual-image does not speak, are drawn here (`InlineImage`) where the terminal names itself
iTerm2 or WezTerm. Frames come from `vidsearch.thumbnails`, the TUI's decoder.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping
from types import ModuleType

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.control import Control
from rich.measure import Measurement
from rich.segment import ControlType, Segment
from rich.text import Text

from vidsearch import config
from vidsearch.display import printable
from vidsearch.errors import DecodeError

# Cells across: wide enough to tell scenes apart, narrow enough for a page of hits.
PREVIEW_WIDTH = 32


# Pixels a terminal cell is wide, near enough: what the picture is scaled to before it is sent
# (the terminal fits it to the cells it is given).
PIXELS_PER_CELL = 10
# A no-op control code on the picture's escape sequence keeps rich from measuring or wrapping
# it as text (textual-image does the same).
_RAW = [(ControlType.CURSOR_FORWARD, 0)]


class InlineImage:
    """A picture in iTerm2's inline image protocol (OSC 1337 `File=`, which iTerm2 and WezTerm
    draw), `width` cells across and as many rows as keep its shape."""

    def __init__(self, image, width: int) -> None:
        self.image = image
        self.width = width

    def rows(self, width: int) -> int:
        # A cell is about twice as tall as it is wide.
        return max(1, round(width * self.image.height / self.image.width / 2))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = min(self.width, options.max_width)
        rows = self.rows(width)
        # Blank cells first so rich knows the room the picture takes; then it is drawn over
        # them, and the cursor put back below it.
        for _ in range(rows):
            yield Segment(" " * width + "\n")
        yield Segment("\x1b7", control=_RAW)
        yield Control.move(0, -rows)
        yield Segment(self.escape_sequence(width, rows), control=_RAW)
        yield Segment("\x1b8", control=_RAW)

    def escape_sequence(self, width: int, rows: int) -> str:
        scaled = self.image.copy()
        scaled.thumbnail((width * PIXELS_PER_CELL, rows * 2 * PIXELS_PER_CELL))
        png = io.BytesIO()
        scaled.save(png, format="PNG")
        data = png.getvalue()
        return (f"\x1b]1337;File=inline=1;size={len(data)};width={width};height={rows};"
                f"preserveAspectRatio=1:{base64.b64encode(data).decode('ascii')}\a")

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = min(self.width, options.max_width)
        return Measurement(width, width)


def speaks_inline_images(environ: Mapping[str, str]) -> bool:
    """Whether the terminal says it is one that draws iTerm2's inline images. They answer no
    query for it: their names in the environment are what imgcat and rclip go by too."""
    return (environ.get("TERM_PROGRAM") in ("iTerm.app", "WezTerm")
            or environ.get("LC_TERMINAL") == "iTerm2")


def renderable_class(console: Console, renderables: ModuleType | None = None,
                     environ: Mapping[str, str] | None = None) -> type | None:
    """The picture type to draw with on `console`, or None when it is not a terminal.

    `renderables` is textual-image's `renderable` module, which asks the terminal what it
    speaks when first imported; it is imported here only once the console is known to be a
    terminal that is not iTerm2's kind, so a pipe never receives the question's escape codes.
    """
    if not console.is_terminal or console.is_dumb_terminal:
        return None
    if speaks_inline_images(config.terminal_names() if environ is None else environ):
        return InlineImage
    if renderables is None:
        from textual_image import renderable as renderables
    chosen = renderables.Image
    # textual-image asks whether the process's own stdout is a terminal; when it is not (rich
    # was told to treat another stream as one) it picks bare Unicode characters without colour,
    # which show nothing of the frame. Half blocks draw in colour on any terminal.
    return renderables.HalfcellImage if chosen is renderables.UnicodeImage else chosen


def picture_maker(console: Console | None = None, *, renderables: ModuleType | None = None,
                  decode: Callable | None = None,
                  environ: Mapping[str, str] | None = None) -> Callable | None:
    """A function from a hit to its picture (or to a one-line note of why there is none), or
    None when nothing is to be drawn on this console."""
    console = console or Console()
    kind = renderable_class(console, renderables, environ)
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
