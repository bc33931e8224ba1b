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

# (key, label, width) in the order shown; None widths share what the fixed columns leave.
COLUMNS = [("file", "file", None), ("folder", "folder", None), ("clip", "clip", 15),
           ("best", "best", 7), ("score", "score", 6)]
# Which columns a narrow table keeps: a row is still worth reading with file, clip and score.
PRIORITY = ("file", "clip", "score", "best", "folder")
MIN_FILE_WIDTH = 16
MIN_FOLDER_WIDTH = 10
MAX_FOLDER_WIDTH = 28
SCROLLBAR_ALLOWANCE = 2


def plan_columns(width: int, cell_padding: int) -> dict[str, int]:
    """Column widths for a table `width` cells wide, dropping the least needed columns
    (see PRIORITY) until the rest fit without a horizontal scrollbar."""
    fixed = {key: size for key, _label, size in COLUMNS if size}
    minimum = {"file": MIN_FILE_WIDTH, "folder": MIN_FOLDER_WIDTH, **fixed}
    free = width - SCROLLBAR_ALLOWANCE
    kept = []
    for key in PRIORITY:
        need = minimum[key] + 2 * cell_padding
        if kept and free < need:
            break  # strictly by priority: a narrower table never swaps one column for another
        kept.append(key)  # the file name is shown however narrow the table
        free -= need
    widths = {key: fixed[key] for key in kept if key in fixed}
    flexible = max(0, free) + MIN_FILE_WIDTH
    if "folder" in kept:
        flexible += MIN_FOLDER_WIDTH
        widths["folder"] = min(MAX_FOLDER_WIDTH, max(MIN_FOLDER_WIDTH, flexible * 2 // 5))
        flexible -= widths["folder"]
    widths["file"] = max(MIN_FILE_WIDTH, flexible)
    return widths


def format_score(score: float) -> str:
    """Cosine similarity with three decimals, the same for every sign (no `-0.000`)."""
    text = f"{score:.3f}"
    return "0.000" if text == "-0.000" else text


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
        self._widths: dict[str, int] | None = None

    def on_mount(self) -> None:
        self._rebuild()

    def on_resize(self, event: Resize) -> None:
        if self._column_widths() != self._widths:
            self._rebuild(keep_cursor=True)

    def show_hits(self, hits: list[Hit], *, keep_cursor: bool = False) -> None:
        """Show `hits`; with `keep_cursor`, the cursor stays on its row number (a hit taken
        out of the list leaves the cursor on the one after it)."""
        self.hits = list(hits)
        self._rebuild(keep_cursor=keep_cursor)

    def _column_widths(self) -> dict[str, int]:
        # Measured on the box around the table, not the table: the table is hidden behind
        # the message panel until the first results arrive, and a hidden table is 0 wide, so
        # its first layout would be the narrowest one, redone at the next resize.
        box = self.parent if self.parent is not None else self
        return plan_columns(box.content_size.width, self.cell_padding)

    def _rebuild(self, keep_cursor: bool = False) -> None:
        # Columns are rebuilt with the rows: cell text is cut to the column width here, with
        # an ellipsis, so the rows never push the table into horizontal scrolling.
        cursor = self.cursor_row if keep_cursor else 0
        self._widths = widths = self._column_widths()
        self.clear(columns=True)
        for key, label, _width in COLUMNS:
            if key in widths:
                heading = Text(label, justify="right" if key == "score" else "left")
                self.add_column(heading, width=widths[key], key=key)
        for index, hit in enumerate(self.hits):
            folder, name = os.path.split(hit.path)
            cells = {
                "file": literal(name),  # Text, never str: DataTable parses a str as markup
                "folder": literal(shorten_folder(folder, widths.get("folder", 0)), style="dim"),
                "clip": Text(format_span(hit.start, hit.end)),
                "best": Text(format_time(hit.best_moment)),
                "score": Text(format_score(hit.score), justify="right"),
            }
            self.add_row(*(cells[key] for key, _label, _width in COLUMNS if key in widths),
                         key=str(index))
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
