"""The one error type users see.

Library code raises these; only the CLI (and the TUI) turns them into a one-line message and an
exit code. Library code never prints or exits.
"""

from __future__ import annotations


class VidsearchError(Exception):
    """A problem the user can act on: `message` says what happened, `hint` what to do next."""

    exit_code = 3

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

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
