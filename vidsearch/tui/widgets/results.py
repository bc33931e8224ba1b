"""The results list: one row per hit, keyboard and mouse navigable."""

from __future__ import annotations

import os

from rich.text import Text
from textual.binding import Binding
from textual.events import Resize
from textual.message import Message
from textual.widgets import DataTable

from vidsearch.search import Hit
from vidsearch.display import format_span, format_time, literal, shorten_folder

# (key, label, width); None widths share what the fixed columns leave, file name first.
COLUMNS = [("file", "file", None), ("folder", "folder", None), ("clip", "clip", 15),
           ("best", "best", 7), ("score", "score", 5)]
MIN_FILE_WIDTH = 16
MIN_FOLDER_WIDTH = 10
MAX_FOLDER_WIDTH = 28
SCROLLBAR_ALLOWANCE = 2


class ResultsTable(DataTable):
    """Hits as rows. Moving the cursor posts `HitHighlighted`; Enter or a click on the
    highlighted row posts `HitChosen`."""

    # Rows are the only thing to move through, so Home/End go to the first/last hit (the
    # DataTable default scrolls sideways, which a table that fits its width never needs).
    BINDINGS = [
        Binding("enter", "select_cursor", "Open", show=True),
        Binding("home", "scroll_top", "First", show=False),
        Binding("end", "scroll_bottom", "Last", show=False),
    ]

    class HitHighlighted(Message):
        def __init__(self, hit: Hit) -> None:
            super().__init__()
            self.hit = hit

    class HitChosen(Message):
        def __init__(self, hit: Hit) -> None:
            super().__init__()
            self.hit = hit

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.hits: list[Hit] = []
        self._widths: tuple[int, int] | None = None

    def on_mount(self) -> None:
        self._rebuild()

    def on_resize(self, event: Resize) -> None:
        if self._column_widths() != self._widths:
            self._rebuild(keep_cursor=True)

    def show_hits(self, hits: list[Hit]) -> None:
        self.hits = list(hits)
        self._rebuild()

    def _column_widths(self) -> tuple[int, int]:
        """File and folder widths that fill the table without a horizontal scrollbar."""
        fixed = sum(width for _key, _label, width in COLUMNS if width)
        padding = 2 * self.cell_padding * len(COLUMNS)
        free = max(0, self.size.width - fixed - padding - SCROLLBAR_ALLOWANCE)
        folder = min(MAX_FOLDER_WIDTH, max(MIN_FOLDER_WIDTH, free * 2 // 5))
        return max(MIN_FILE_WIDTH, free - folder), folder

    def _rebuild(self, keep_cursor: bool = False) -> None:
        # Columns are rebuilt with the rows: cell text is cut to the column width here, with
        # an ellipsis, so the rows never push the table into horizontal scrolling.
        cursor = self.cursor_row if keep_cursor else 0
        self._widths = file_width, folder_width = self._column_widths()
        widths = {"file": file_width, "folder": folder_width}
        self.clear(columns=True)
        for key, label, width in COLUMNS:
            heading = Text(label, justify="right" if key == "score" else "left")
            self.add_column(heading, width=width or widths[key], key=key)
        for index, hit in enumerate(self.hits):
            folder, name = os.path.split(hit.path)
            self.add_row(
                literal(name),  # Text, never str: DataTable would parse a str as markup
                literal(shorten_folder(folder, folder_width), style="dim"),
                Text(format_span(hit.start, hit.end)),
                Text(format_time(hit.best_moment)),
                Text(f"{hit.score:.3f}", justify="right"),
                key=str(index),
            )
        if self.hits:
            self.move_cursor(row=min(cursor, len(self.hits) - 1))

    @property
    def current_hit(self) -> Hit | None:
        if not self.hits or not 0 <= self.cursor_row < len(self.hits):
            return None
        return self.hits[self.cursor_row]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if 0 <= event.cursor_row < len(self.hits):
            self.post_message(self.HitHighlighted(self.hits[event.cursor_row]))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if 0 <= event.cursor_row < len(self.hits):
            self.post_message(self.HitChosen(self.hits[event.cursor_row]))
