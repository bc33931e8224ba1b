"""The preview pane: a strip of frames across the hit (its best moment marked), facts about
the video, its other hits."""

from __future__ import annotations

import os

from PIL import Image
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

# Imported at module load on purpose: textual-image asks the terminal which graphics protocol
# it speaks (Kitty, Sixel, else Unicode half blocks), which only works before Textual starts.
from textual_image.widget import Image as ImageWidget

from vidsearch.search import Hit
from vidsearch.thumbnails import STRIP_FRAMES, strip_times
from vidsearch.tui.backend import VideoFacts
from vidsearch.tui.widgets.results import format_score
from vidsearch.display import format_span, format_time, home_relative, literal, printable


class PreviewPane(VerticalScroll):
    """Shows one hit. The screen feeds it in steps (hit, facts, then each frame of the strip)
    as workers finish, so the text appears at once and each picture when it is decoded."""

    # The renderer textual-image picked for this terminal; a class attribute so a test (or a
    # user's odd terminal) can pin one.
    image_widget: type[ImageWidget] = ImageWidget

    def compose(self) -> ComposeResult:
        with Horizontal(id="strip"):
            for index in range(STRIP_FRAMES):
                with Vertical(classes="strip-cell"):
                    yield self.image_widget(id=f"frame-{index}", classes="strip-frame")
                    yield Static(id=f"frame-time-{index}", classes="strip-time")
        yield Static(id="thumbnail-note")
        yield Static(id="facts")
        yield Static(id="neighbours")

    def show_hit(self, hit: Hit, same_video: list[Hit]) -> None:
        # A Text, not a str: a str border title is parsed as markup.
        self.border_title = Text(printable(os.path.basename(hit.path)))
        times, best = strip_times(hit.start, hit.end, hit.best_moment)
        for index, seconds in enumerate(times):
            self.frame(index).image = None
            self.frame(index).set_class(index == best, "-best")
            label = Text(format_time(seconds), style="reverse bold" if index == best else "dim")
            self.query_one(f"#frame-time-{index}", Static).update(label)
        self._note("decoding the frames…")
        self._show_facts(hit, None)
        self._show_neighbours(hit, same_video)

    def show_facts(self, hit: Hit, facts: VideoFacts | None) -> None:
        self._show_facts(hit, facts)

    def show_thumbnail(self, index: int, image: Image.Image) -> None:
        self.frame(index).image = image
        if all(self.frame(i).image is not None for i in range(STRIP_FRAMES)):
            self._note("")

    def show_thumbnail_error(self, reason: str) -> None:
        self._note(f"no picture: {printable(reason)}")

    def clear(self) -> None:
        self.border_title = "preview"
        for index in range(STRIP_FRAMES):
            self.frame(index).image = None
            self.frame(index).remove_class("-best")
            self.query_one(f"#frame-time-{index}", Static).update("")
        for name in ("#thumbnail-note", "#facts", "#neighbours"):
            self.query_one(name, Static).update("")

    def frame(self, index: int) -> ImageWidget:
        return self.query_one(f"#frame-{index}")

    def best_frame(self) -> ImageWidget:
        """The strip's picture of the best moment (marked)."""
        return self.query_one(".strip-frame.-best")

    def _note(self, text: str) -> None:
        self.query_one("#thumbnail-note", Static).update(Text(text, style="dim italic"))

    def _show_facts(self, hit: Hit, facts: VideoFacts | None) -> None:
        rows = [("clip", format_span(hit.start, hit.end)),
                ("best moment", format_time(hit.best_moment)),
                ("score", format_score(hit.score))]
        if facts is not None:
            if facts.duration:
                rows.append(("duration", format_time(facts.duration)))
            if facts.width and facts.height:
                fps = f" @ {facts.fps:.3g} fps" if facts.fps else ""
                rows.append(("resolution", f"{facts.width}×{facts.height}{fps}"))
        # The full path first, on lines of its own: it is often longer than the pane is wide.
        text = Text(printable(home_relative(hit.path)), overflow="fold")
        for label, value in rows:
            text.append(f"\n{label:>12} ", style="bold")
            text.append(value)
        self.query_one("#facts", Static).update(text)

    def _show_neighbours(self, hit: Hit, same_video: list[Hit]) -> None:
        others = [h for h in same_video if h != hit]
        if not others:
            self.query_one("#neighbours", Static).update(
                Text("no other hits in this video", style="dim"))
            return
        text = Text("also in this video", style="bold")
        for other in sorted(same_video, key=lambda h: h.start):
            current = other == hit
            text.append("\n")
            text.append_text(literal(
                f"{'▸' if current else ' '} {format_span(other.start, other.end)}  best "
                f"{format_time(other.best_moment)}  {format_score(other.score)}",
                style="" if current else "dim"))
        self.query_one("#neighbours", Static).update(text)
