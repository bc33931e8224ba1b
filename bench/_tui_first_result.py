"""Child process of bench/query_start.py: `vidsearch tui` from launch to its first text result.

    python bench/_tui_first_result.py "a query"

Starts the app as `vidsearch tui` does (the real backend over the configured library, headless
instead of in a terminal), puts the query in the search box and submits it as soon as the
screen is up (a user who types gives the model's background load more time than this), and
prints the row count as soon as the results table has rows; the parent times launch to that
line. (Pilot's `press` would wait for the app to be idle, background load included.)
"""

from __future__ import annotations

import asyncio
import sys


async def first_result(query: str) -> int:
    from vidsearch import config
    from vidsearch.tui.backend import LibraryBackend

    # As `vidsearch tui` starts (cli/tui.py): the backend's warm-up begins before Textual loads.
    backend = LibraryBackend(config.default_db_path())
    backend.start_warm_up()
    from vidsearch.tui.app import create_app

    app = create_app(backend=backend)
    async with app.run_test(size=(120, 36)) as pilot:
        box = app.screen.query_one("#query")
        box.value = query
        box.focus()
        await box.action_submit()
        table = app.screen.query_one("#results")
        while table.row_count == 0:
            await asyncio.sleep(0.005)
        print(table.row_count, flush=True)  # the parent's clock stops at this line
        return table.row_count


if __name__ == "__main__":
    asyncio.run(first_result(sys.argv[1]))
