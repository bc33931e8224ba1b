"""Open a video in a player at a given moment.

`build_argv` only builds the argument vector; `launch` runs it. Both take the path as one argv
element and never go through a shell, so a file name can hold quotes, spaces, `;` or `$(...)`
without being interpreted.

Order of preference: the user's `player` template from settings.toml, then mpv, then VLC (both
can start at a time), then the desktop's default opener (which starts at the beginning: there is
no portable way to pass a position to it).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence

from vidsearch import config
from vidsearch.errors import CannotRunError

log = logging.getLogger(__name__)

# "{path}" and "{seconds}" are the only placeholders; anything else in braces is left alone, so
# a template never fails on an unrelated brace (e.g. a player option that uses them).
_PLACEHOLDER = re.compile(r"\{(path|seconds)\}")

Which = Callable[[str], str | None]


def format_seconds(seconds: float) -> str:
    """Seconds as players accept them: no exponent, no trailing zeros ("12", "12.5")."""
    text = f"{max(0.0, float(seconds)):.3f}".rstrip("0").rstrip(".")
    return text or "0"


def build_argv(
    path: str,
    seconds: float,
    template: Sequence[str] | None = None,
    *,
    which: Which = shutil.which,
    platform: str = sys.platform,
) -> list[str]:
    """The argv that opens `path` at `seconds`. Raises CannotRunError when nothing can open it."""
    # An absolute path cannot be mistaken for an option ("-x.mp4") or a URL ("http:...").
    path = os.path.abspath(path)
    position = format_seconds(seconds)
    if template:
        return _fill_template(template, path, position)
    if which("mpv"):
        return ["mpv", f"--start={position}", path]
    if which("vlc"):
        return ["vlc", f"--start-time={position}", path]
    opener = "open" if platform == "darwin" else "xdg-open"
    if which(opener):
        return [opener, path]
    raise CannotRunError(
        "no video player found (looked for mpv, vlc and " + opener + ")",
        'install mpv, or set player = ["myplayer", "--start={seconds}", "{path}"] '
        f"in {config.settings_path()}",
    )


def _fill_template(template: Sequence[str], path: str, position: str) -> list[str]:
    values = {"path": path, "seconds": position}
    # One pass per element, so a path that itself contains "{seconds}" stays as it is.
    argv = [_PLACEHOLDER.sub(lambda m: values[m.group(1)], part) for part in template]
    if not any("{path}" in part for part in template):
        argv.append(path)  # a template without {path} still has to know what to open
    return argv


def launch(argv: Sequence[str]) -> subprocess.Popen:
    """Start the player detached from our terminal: it must not read our keys or draw over us."""
    log.info("opening player: %s", argv)
    try:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        raise CannotRunError(
            f"cannot start the player {argv[0]!r} ({exc.strerror or exc})",
            f"check the player setting in {config.settings_path()}, or install mpv",
        ) from exc
