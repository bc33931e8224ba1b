"""`find --preview`: which picture type a console gets, and that nothing is drawn (nor is the
terminal even asked) when stdout is not a terminal."""

from __future__ import annotations

import base64
import io
import json
import re
from types import SimpleNamespace

import pytest
from PIL import Image
from rich.console import Console
from rich.text import Text
from textual_image.renderable import HalfcellImage, SixelImage, TGPImage, UnicodeImage

from vidsearch.cli import main
from vidsearch.cli.preview import PREVIEW_WIDTH, InlineImage, picture_maker, renderable_class
from vidsearch.errors import DecodeError
from vidsearch.search import Hit

# textual-image 0.12 still calls Image.getdata, deprecated in Pillow 13; not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Image.Image.getdata is deprecated:DeprecationWarning")


class Untouchable:
    """Stands in for textual-image's module where it must not be imported at all (importing it
    writes a question to the terminal)."""

    def __getattr__(self, name):
        raise AssertionError(f"textual-image was consulted ({name})")


def detected(kind: type) -> SimpleNamespace:
    return SimpleNamespace(Image=kind, UnicodeImage=UnicodeImage, HalfcellImage=HalfcellImage)


def terminal(**environ) -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=100,
                   _environ={"TERM": "xterm-256color", **environ})


@pytest.mark.parametrize("console", [
    Console(file=io.StringIO()),  # a pipe or a file
    Console(file=io.StringIO(), force_terminal=True, _environ={"TERM": "dumb"}),
], ids=["not-a-terminal", "dumb-terminal"])
def test_nothing_is_drawn_and_nothing_asked_off_a_terminal(console):
    assert renderable_class(console, Untouchable()) is None
    assert picture_maker(console, renderables=Untouchable(), decode=pytest.fail) is None


@pytest.mark.parametrize("found, used", [(SixelImage, SixelImage), (TGPImage, TGPImage),
                                         (HalfcellImage, HalfcellImage),
                                         (UnicodeImage, HalfcellImage)])
def test_a_terminal_gets_the_graphics_it_speaks_else_half_blocks(found, used):
    assert renderable_class(terminal(), detected(found), environ={}) is used


@pytest.mark.parametrize("environ", [{"TERM_PROGRAM": "iTerm.app"}, {"LC_TERMINAL": "iTerm2"},
                                     {"TERM_PROGRAM": "WezTerm"}])
def test_iterm2_and_wezterm_get_inline_images_without_being_asked(environ):
    assert renderable_class(terminal(), Untouchable(), environ=environ) is InlineImage
    assert renderable_class(Console(file=io.StringIO()), Untouchable(), environ=environ) is None


def test_an_inline_image_is_the_frame_as_png_in_osc_1337_over_blank_rows():
    console = terminal()
    picture = picture_maker(console, renderables=Untouchable(), decode=lambda p, s: red_blue(),
                            environ={"TERM_PROGRAM": "iTerm.app"})
    segments = list(console.render(picture(Hit("/v/a.mp4", 1, 10.0, 20.0, 14.5, 0.3))))
    rows = PREVIEW_WIDTH * 32 // 64 // 2  # 64x32 pixels, cells twice as tall as wide
    blank = [s.text for s in segments if not s.control and s.text.strip(" \n") == ""]
    assert "".join(blank) == (" " * PREVIEW_WIDTH + "\n") * rows
    escape = next(s.text for s in segments if s.text.startswith("\x1b]1337;File="))
    header, data = escape[len("\x1b]1337;File="):].rstrip("\a").split(":", 1)
    fields = dict(field.split("=") for field in header.split(";"))
    assert fields["inline"] == "1" and fields["preserveAspectRatio"] == "1"
    assert (int(fields["width"]), int(fields["height"])) == (PREVIEW_WIDTH, rows)
    png = base64.b64decode(data)
    assert int(fields["size"]) == len(png)
    drawn = Image.open(io.BytesIO(png)).convert("RGB")
    # The frame itself, scaled: red above, blue below.
    assert drawn.getpixel((drawn.width // 2, 2))[0] > 200
    assert drawn.getpixel((drawn.width // 2, drawn.height - 3))[2] > 200
    text = "".join(s.text for s in segments)
    assert text.index("\x1b7") < text.index("\x1b]1337") < text.index("\x1b8")


def red_blue(width: int = 64, height: int = 32) -> Image.Image:
    image = Image.new("RGB", (width, height), (250, 0, 0))
    image.paste((0, 0, 250), (0, height // 2, width, height))  # the bottom half blue
    return image


def test_half_blocks_draw_the_best_moment_frame(monkeypatch):
    from textual_image._terminal import CellSize, get_cell_size

    monkeypatch.setattr(get_cell_size, "_result", CellSize(10, 20), raising=False)
    asked = []

    def decode(path, seconds):
        asked.append((path, seconds))
        return red_blue()

    console = terminal()
    picture = picture_maker(console, renderables=detected(HalfcellImage), decode=decode,
                            environ={})
    hit = Hit("/v/a.mp4", 1, 10.0, 20.0, 14.5, 0.3)
    cells = [segment for segment in console.render(picture(hit)) if segment.text == "▀"]
    assert asked == [("/v/a.mp4", 14.5)]
    rows = len(cells) // PREVIEW_WIDTH
    assert rows >= 2 and len(cells) == rows * PREVIEW_WIDTH
    # Red above, blue below: the top cell's upper pixel is red, the bottom cell's lower blue.
    top = cells[0].style.color.get_truecolor()
    bottom = cells[-1].style.bgcolor.get_truecolor()
    assert top.red > 200 and top.blue < 30  # scaling may overshoot a little, not more
    assert bottom.blue > 200 and bottom.red < 30


def test_a_frame_that_cannot_be_decoded_is_a_note_not_a_failure():
    def decode(path, seconds):
        raise DecodeError.about(path, "cannot open as a video (moov atom not found)")

    picture = picture_maker(terminal(), renderables=detected(HalfcellImage), decode=decode,
                            environ={})
    drawn = picture(Hit("/v/gone.mp4", 1, 0.0, 10.0, 5.0, 0.3))
    assert isinstance(drawn, Text)
    assert drawn.plain == "  no picture: cannot open as a video (moov atom not found)"


@pytest.mark.slow
def test_find_preview_draws_under_each_row_on_a_terminal_only(tiny_model, library, capsys,
                                                              monkeypatch):
    assert main(["index", str(library)]) == 0
    capsys.readouterr()
    assert main(["find", "a red square", "-k", "3"]) == 0
    plain = capsys.readouterr().out
    assert main(["find", "a red square", "-k", "3", "--preview"]) == 0
    assert capsys.readouterr().out == plain  # stdout is captured here: not a terminal

    monkeypatch.delenv("TERM_PROGRAM", raising=False)  # not iTerm2's kind, whatever runs this
    monkeypatch.delenv("LC_TERMINAL", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich then treats stdout as a terminal
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["find", "a red square", "-k", "3", "--preview"]) == 0
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line)  # colours off: the text is what is compared
             for line in capsys.readouterr().out.splitlines()]
    assert main(["find", "a red square", "-k", "3", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    # Each hit's row, then its picture: half blocks (pytest's stdout is no tty for textual-image
    # to ask), before the next row begins.
    rows = [i for i, line in enumerate(lines) if any(f"{h['score']:.3f}" in line for h in hits)]
    assert len(rows) == len(hits)
    for here, after in zip(rows, rows[1:] + [len(lines)]):
        assert any("▀" in line for line in lines[here + 1:after])
