"""Write the README's screenshot of the TUI (docs/tui.svg) from the fake backend.

    python -m tests.tui.screenshot docs/tui.svg

Half-block pictures, as most terminals without Kitty/Sixel graphics show them.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from PIL import Image
from textual_image.widget import HalfcellImage

from tests.tui.conftest import SIZE, only_mpv, search
from tests.fixtures.videos import second_mosaic
from tests.tui.fakes import FakeBackend
from vidsearch.tui.app import create_app
from vidsearch.tui.widgets.preview import PreviewPane


class ScreenshotBackend(FakeBackend):
    def frame(self, hit, seconds):
        # Flat colour blocks: contiguous cells of one colour keep the SVG small.
        return Image.fromarray(second_mosaic(int(seconds), 160, 90, seed=4))


async def write_screenshot(target: Path) -> None:
    PreviewPane.image_widget = HalfcellImage
    app = create_app(backend=ScreenshotBackend(), player_template=[], run_player=list,
                     which=only_mpv)
    async with app.run_test(size=SIZE) as pilot:
        await search(app, pilot, "dog on a beach")
        target.parent.mkdir(parents=True, exist_ok=True)
        app.save_screenshot(filename=target.name, path=str(target.parent))


if __name__ == "__main__":
    asyncio.run(write_screenshot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/tui.svg")))
