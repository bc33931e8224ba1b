"""The search screen: query box, results, preview, status bar, footer.

All blocking work (model load, search, store reads, frame decode) runs in thread workers that
report back with messages from `vidsearch.tui.messages`; handlers on this screen are the only
place that changes what is shown, so the UI never waits on the disk or the model.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from vidsearch.display import format_time, printable
from vidsearch.errors import VidsearchError
from vidsearch.search import Hit
from vidsearch.thumbnails import strip_times
from vidsearch.tui.messages import (ExportDone, ExportFailed, FactsReady, ImageQuery, LikeQuery,
                                    ModelLoading, Query, SearchDone, SearchFailed, StatusReady,
                                    TextQuery, ThumbnailFailed, ThumbnailReady, WorkerGroup,
                                    hit_label)
from vidsearch.tui.feedback import FeedbackFailed
from vidsearch.tui.screens.export_folder import ExportFolderScreen
from vidsearch.tui.screens.help import HelpScreen
from vidsearch.tui.screens.image_query import ImagePathScreen
from vidsearch.tui.search_box import box_text, submitted_query, written_filters
from vidsearch.tui.widgets.message import MessagePanel, PanelKind, before_first_search
from vidsearch.tui.widgets.preview import PreviewPane
from vidsearch.tui.widgets.results import ResultsTable
from vidsearch.tui.widgets.status import StatusBar

log = logging.getLogger(__name__)

STATUS_REFRESH_SECONDS = 5.0
PREVIEW_SETTLE_SECONDS = 0.08


class MainScreen(Screen):
    BINDINGS = [
        Binding("slash", "focus_search", "Search"),
        Binding("escape", "focus_results", "Results", show=False),
        Binding("c", "copy_hit", "Copy"),
        Binding("e", "export_hit", "Export"),
        Binding("i", "image_search", "By image"),
        Binding("m", "more_like_this", "More like this", show=False),
        Binding("plus", "mark_right", "Right"),
        Binding("minus", "mark_wrong", "Wrong"),
        Binding("question_mark", "help", "Help"),
        Binding("f1", "help", "Help", show=False),  # works while typing in the search box
        Binding("q", "app.quit", "Quit"),
    ]
    # Classes the stylesheet lays the screen out by: below 100 columns the preview would
    # squeeze the results out of their columns, so it goes under them when there are rows to
    # spare and away when there are not; wide terminals give the picture more room.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-normal"), (160, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]

    def __init__(self) -> None:
        super().__init__()
        self._serial = 0  # numbers searches, so a slow old one cannot overwrite a newer one
        self._searched = False
        # The image or more-like-this search the box shows (`search_box.submitted_query`).
        self._shown_query: ImageQuery | LikeQuery | None = None
        self._results_query: Query | None = None  # the query whose hits the table shows
        self._export_folder: Path | None = None  # the last folder a clip was exported into

    def compose(self) -> ComposeResult:
        yield Input(placeholder="describe a moment, e.g. dog catching a frisbee  (Enter searches)",
                    id="query")
        yield Static(id="notice", markup=False)
        with Horizontal(id="body"):
            with ContentSwitcher(initial="message", id="results-area"):
                yield ResultsTable(id="results")
                yield MessagePanel(id="message")
            yield PreviewPane(id="preview")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#results-area").border_title = "results"
        self.query_one("#preview").border_title = "preview"
        self.query_one("#message", MessagePanel).show("Reading the library…")
        self._box.focus()
        self.refresh_status()
        self.set_interval(STATUS_REFRESH_SECONDS, self.refresh_status)
        self.warm_up_model()

    @work(thread=True, exclusive=True, group=WorkerGroup.WARM_UP, exit_on_error=False)
    def warm_up_model(self) -> None:
        # The first search waits for what is left of the load (1.8x a cold `find` from launch
        # to first result without it); a failure is only logged: that search will say why.
        self.app.backend.warm_up()

    # --- workers ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group=WorkerGroup.STATUS, exit_on_error=False)
    def refresh_status(self) -> None:
        status = self.app.backend.status()
        if not get_current_worker().is_cancelled:
            self.post_message(StatusReady(status))

    @work(thread=True, exclusive=True, group=WorkerGroup.SEARCH, exit_on_error=False)
    def run_search(self, serial: int, query: Query) -> None:
        backend = self.app.backend
        if query.needs_model and not backend.model_loaded(image=query.needs_vision):
            self.post_message(ModelLoading(backend.model_name))
        started = time.monotonic()
        try:
            # Ask for as many more as `-` hid, so the page is still full without them.
            asked = self.app.k + self.app.feedback.hidden_count(query.caption)
            hits = self.app.feedback.visible(query.caption, query.run(backend, asked))[:self.app.k]
        except VidsearchError as exc:
            self.post_message(SearchFailed(serial, query, exc))
            return
        log.info("%d hits for %s in %.2f s", len(hits), query.describe(),
                 time.monotonic() - started)
        self.post_message(SearchDone(serial, query, hits))

    @work(thread=True, exclusive=True, group=WorkerGroup.PREVIEW, exit_on_error=False)
    def load_preview(self, hit: Hit) -> None:
        backend = self.app.backend
        worker = get_current_worker()
        # Holding an arrow key moves through many rows a second: wait a moment, so only the
        # row the cursor rests on costs a store read and a decode.
        time.sleep(PREVIEW_SETTLE_SECONDS)
        if worker.is_cancelled:
            return
        try:
            facts = backend.video_facts(hit)
        except VidsearchError as exc:
            log.info("no facts for %s: %s", hit.path, exc)
            facts = None
        if worker.is_cancelled:
            return  # the cursor moved on; decoding this frame would only delay the next
        self.post_message(FactsReady(hit, facts))
        times, best = strip_times(hit.start, hit.end, hit.best_moment)
        # The best moment first: it is the frame the user came for.
        for index in sorted(range(len(times)), key=lambda i: i != best):
            if worker.is_cancelled:
                return  # each frame costs a seek and a GOP's decode: stop when not wanted
            try:
                message = ThumbnailReady(hit, index, backend.frame(hit, times[index]))
            except VidsearchError as exc:
                message = ThumbnailFailed(hit, index, exc.reason)
            if not worker.is_cancelled:
                self.post_message(message)

    @work(thread=True, group=WorkerGroup.EXPORT, exit_on_error=False)
    def run_export(self, hit: Hit, folder: Path) -> None:
        # Not exclusive: a second export must not cancel the first one's file half way.
        try:
            self.post_message(ExportDone(hit, self.app.backend.export(hit, folder)))
        except VidsearchError as exc:
            self.post_message(ExportFailed(hit, exc))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Expected failures arrive as messages; this is for bugs and odd OS errors, which are
        # logged with their traceback and shown instead of taking the whole app down.
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        log.error("%s failed", event.worker.name, exc_info=error)
        match event.worker.group:
            case WorkerGroup.SEARCH:
                self._set_loading(False)
                self._show_panel(f"The search failed: {type(error).__name__}", str(error),
                                 "the details are in tui.log in the vidsearch cache folder; "
                                 "please report it", kind=PanelKind.ERROR)
            case WorkerGroup.STATUS:
                self._show_status_problem(VidsearchError(f"{type(error).__name__}: {error}"))
            case WorkerGroup.FEEDBACK:
                self.notify(f"the mark was not saved: {type(error).__name__}: {error}",
                            title="feedback", severity="error", markup=False, timeout=8)
            case WorkerGroup.EXPORT:
                self.notify(f"{type(error).__name__}: {error}", title="export failed",
                            severity="error", markup=False, timeout=8)
            case WorkerGroup.PREVIEW:
                self.query_one(PreviewPane).show_thumbnail_error(str(error))

    # --- worker results ---------------------------------------------------------------------

    def on_status_ready(self, message: StatusReady) -> None:
        status = message.status
        self.query_one(StatusBar).show_status(status)
        if status.problem is not None:
            self._show_status_problem(status.problem)
        elif not self._searched:
            title, message, hint, kind = before_first_search(status, self.app.db_option)
            self._show_panel(title, message, hint, kind=kind)

    def _show_status_problem(self, problem: VidsearchError) -> None:
        if self._searched and self.query_one(ContentSwitcher).current == "results":
            return  # keep the results on screen; the status bar already says it
        self._show_panel("Cannot read the library", problem.message, problem.hint,
                         kind=PanelKind.ERROR)

    def on_model_loading(self, message: ModelLoading) -> None:
        self._notice(f"loading model {message.model} (once)…")

    def on_search_done(self, message: SearchDone) -> None:
        if message.serial != self._serial:
            return
        self._set_loading(False)
        hits = message.hits
        table = self.query_one(ResultsTable)
        preview = self.query_one(PreviewPane)
        self._results_query = message.query if hits else None
        if not hits:
            table.show_hits([])
            preview.clear()
            self._notice(f"no matches for {message.query.describe()}")
            self._show_panel(f"No matches for {message.query.describe()}", "",
                             "try other words, or index more videos", kind=PanelKind.WARNING)
            return
        self._count_hits(len(hits), message.query)
        self.query_one(ContentSwitcher).current = "results"
        table.show_hits(hits)
        if self.focused is None or isinstance(self.focused, Input):
            table.focus()

    def on_search_failed(self, message: SearchFailed) -> None:
        if message.serial != self._serial:
            return
        self._set_loading(False)
        self._results_query = None
        self.query_one(ResultsTable).show_hits([])
        self.query_one(PreviewPane).clear()
        self._notice(f"search for {message.query.describe()} failed")
        error = message.error
        self._show_panel("The search could not run", error.message, error.hint,
                         kind=PanelKind.ERROR)

    def on_results_table_hit_highlighted(self, message: ResultsTable.HitHighlighted) -> None:
        hit = message.hit
        table = self.query_one(ResultsTable)
        same_video = [h for h in table.hits if h.video_id == hit.video_id]
        self.query_one(PreviewPane).show_hit(hit, same_video)
        self.load_preview(hit)

    def on_facts_ready(self, message: FactsReady) -> None:
        if message.hit == self.query_one(ResultsTable).current_hit:
            self.query_one(PreviewPane).show_facts(message.hit, message.facts)

    def on_thumbnail_ready(self, message: ThumbnailReady) -> None:
        if message.hit == self.query_one(ResultsTable).current_hit:
            self.query_one(PreviewPane).show_thumbnail(message.index, message.image)

    def on_thumbnail_failed(self, message: ThumbnailFailed) -> None:
        if message.hit == self.query_one(ResultsTable).current_hit:
            self.query_one(PreviewPane).show_thumbnail_error(message.reason)

    def on_export_done(self, message: ExportDone) -> None:
        self.notify(f"exported {hit_label(message.hit)} to {printable(str(message.path))}",
                    markup=False, timeout=6)

    def on_export_failed(self, message: ExportFailed) -> None:
        error = message.error
        self.notify(f"{error.message}. {error.hint or ''}".strip(), title="export failed",
                    severity="error", markup=False, timeout=8)

    def on_results_table_hit_chosen(self, message: ResultsTable.HitChosen) -> None:
        self.app.open_hit(message.hit)

    # --- input ------------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "query":
            return
        event.stop()
        text = event.value.strip()
        if not text:
            self._notice("type what to look for first")
            return
        query = submitted_query(text, self._shown_query)
        if isinstance(query, TextQuery):
            self._shown_query = None
            self.start_search(query)
        else:
            self._search_shown(query)

    def start_search(self, query: Query) -> None:
        self._serial += 1
        self._searched = True
        self._notice(f"searching for {query.describe()}…")
        self.query_one(PreviewPane).clear()  # the old hit's picture would pass for an answer
        self._set_loading(True)
        self.run_search(self._serial, query)

    def action_focus_search(self) -> None:
        self._box.focus()

    def action_focus_results(self) -> None:
        table = self.query_one(ResultsTable)
        if table.hits:
            table.focus()
        else:
            self.set_focus(None)  # nothing to move to, but the one-letter keys work again

    def action_copy_hit(self) -> None:
        hit = self.query_one(ResultsTable).current_hit
        if hit is None:
            self.notify("nothing selected to copy", severity="warning", markup=False)
            return
        text = f"{hit.path} at {format_time(hit.best_moment)}"
        self.app.copy_to_clipboard(text)
        self.notify(f"copied: {printable(text)}", markup=False)

    def action_export_hit(self) -> None:
        hit = self.query_one(ResultsTable).current_hit
        if hit is None:
            self.notify("nothing selected to export", severity="warning", markup=False)
            return

        def chosen(folder: Path | None) -> None:
            if folder is None:
                return
            self._export_folder = folder
            self.notify(f"exporting {hit_label(hit)}…", markup=False)
            self.run_export(hit, folder)

        self.app.push_screen(ExportFolderScreen(hit_label(hit), self._export_folder), chosen)

    def action_image_search(self) -> None:
        self.app.push_screen(ImagePathScreen(), self._image_chosen)

    def _image_chosen(self, path: Path | None) -> None:
        if path is None:
            return
        self._search_shown(ImageQuery(path, written_filters(self._box.value)))

    def action_more_like_this(self) -> None:
        hit = self.query_one(ResultsTable).current_hit
        if hit is None:
            self.notify("select a result first: m finds clips like it", severity="warning",
                        markup=False)
            return
        self._search_shown(LikeQuery(hit, written_filters(self._box.value)))

    def _search_shown(self, query: ImageQuery | LikeQuery) -> None:
        self._shown_query = query
        # The box says what the results are for; the old text would claim them otherwise.
        self._box.value = box_text(query)
        self.start_search(query)

    def action_mark_right(self) -> None:
        self._mark(negative=False)

    def action_mark_wrong(self) -> None:
        self._mark(negative=True)

    def _mark(self, *, negative: bool) -> None:
        table = self.query_one(ResultsTable)
        hit = table.current_hit
        query = self._results_query
        if hit is None or query is None:
            self.notify("nothing selected to mark", severity="warning", markup=False)
            return
        if query.caption is None:
            self.notify("only the hits of a plain text search can be marked: its words are the "
                        "caption a fine-tune learns", severity="warning", markup=False)
            return
        what = "a wrong" if negative else "a right"
        if not self.app.feedback.mark(query.caption, hit, negative=negative):
            self.notify(f"{hit_label(hit)} is already marked {what} answer",
                        markup=False)
            return
        self.write_feedback()
        self.notify(f"{hit_label(hit)}: {what} answer to {query.describe()}", markup=False)
        if negative:
            self._hide(hit)

    def _hide(self, hit: Hit) -> None:
        table = self.query_one(ResultsTable)
        remaining = [h for h in table.hits if h != hit]
        if remaining:
            table.show_hits(remaining, keep_cursor=True)
            if self._results_query is not None:  # the count above the table stays true
                self._count_hits(len(remaining), self._results_query, hidden=True)
            return
        table.show_hits([])
        self._results_query = None
        self.query_one(PreviewPane).clear()
        self._show_panel("No hits left", "every hit of this search is marked wrong",
                         "try other words, or index more videos", kind=PanelKind.WARNING)

    @work(thread=True, group=WorkerGroup.FEEDBACK, exit_on_error=False)
    def write_feedback(self) -> None:
        try:
            self.app.feedback.write_next()
        except VidsearchError as exc:
            self.post_message(FeedbackFailed(exc))

    def on_feedback_failed(self, message: FeedbackFailed) -> None:
        error = message.error
        self.notify(f"the mark was not saved: {error.message}. {error.hint or ''}".strip(),
                    title="feedback", severity="error", markup=False, timeout=8)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    # --- helpers ----------------------------------------------------------------------------

    @property
    def _box(self) -> Input:
        return self.query_one("#query", Input)

    def _count_hits(self, count: int, query: Query, *, hidden: bool = False) -> None:
        self._notice(f"{count} hit{'' if count == 1 else 's'} for {query.describe()}"
                     + (" (marked wrong ones hidden)" if hidden else ""))

    def _notice(self, text: str) -> None:
        self.query_one("#notice", Static).update(Text(printable(text)))

    def _show_panel(self, title: str, message: str = "", hint: str | None = None,
                    kind: PanelKind = PanelKind.INFO) -> None:
        self.query_one(MessagePanel).show(title, message, hint, kind=kind)
        self.query_one(ContentSwitcher).current = "message"
        if kind is not PanelKind.INFO:
            self.query_one(PreviewPane).clear()

    def _set_loading(self, loading: bool) -> None:
        # The indicator covers what is in the box, not the box: putting the box itself into
        # the loading state would cover its border and title too, and the box would vanish.
        switcher = self.query_one(ContentSwitcher)
        for child in switcher.children:
            child.loading = loading and child.id == switcher.current

