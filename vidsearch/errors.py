"""The one error type users see.

Library code raises these; only the CLI (and the TUI) turns them into a one-line message and an
exit code. Library code never prints or exits.
"""

from __future__ import annotations

from os import PathLike


class VidsearchError(Exception):
    """A problem the user can act on: `message` says what happened, `hint` what to do next.

    Where the problem belongs to one file, `path` names it and `reason` says what is wrong with
    it without repeating the path, so callers that show the path in a column of their own (the
    library's failure list, a labels file's line) never cut it back out of the message.
    """

    exit_code = 3

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path: str | None = None
        self.reason = message

    @classmethod
    def about(cls, path: str | PathLike[str], reason: str, hint: str | None = None):
        """The error for one file: the message is `path: reason`."""
        error = cls(f"{path}: {reason}", hint)
        error.path = str(path)
        error.reason = reason
        return error

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(VidsearchError):
    """The command was asked for something it cannot mean (bad flag value, bad labels file)."""

    exit_code = 2


class CannotRunError(VidsearchError):
    """Nothing can be done until the user fixes something: missing weights, unreadable database."""

    exit_code = 3


class DecodeError(VidsearchError):
    """One video could not be probed or decoded; the indexer records it and goes on."""

    exit_code = 1


class LibraryBusyError(CannotRunError):
    """Another process is writing to the same library."""


def advised(error: VidsearchError, advice: str) -> VidsearchError:
    """`error` with an advice key naming the setting the user can change: a front end with its
    own words for settings (the CLI's flags, see `cli/common.SETTING_FLAGS`) looks the key up;
    everyone else reads the hint, which names settings in words, never flags."""
    error.advice = advice  # type: ignore[attr-defined]
    return error


def advice_of(error: BaseException) -> str | None:
    return getattr(error, "advice", None)


def first_line(exc: BaseException, limit: int = 300) -> str:
    """What a library's exception says, cut to one line: the rest is usually a traceback or a
    dump that would wrap a terminal line many times over."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]
