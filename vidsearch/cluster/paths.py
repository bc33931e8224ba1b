"""Where a worker finds a file the driver named: the same path, or one under a mapped prefix.

The driver scans the folders and names files by its own paths; a worker machine may mount the
same share elsewhere (`/mnt/nas` on the driver, `/Volumes/nas` on a laptop). A map is a list of
`SRC=DST` prefixes, applied whole-component (`/mnt/nas` does not map `/mnt/nas2`); the longest
matching prefix wins.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from vidsearch import scan as fs
from vidsearch.errors import UsageError


@dataclass(frozen=True)
class PathMap:
    prefixes: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> PathMap:
        """`SRC=DST` entries; a malformed one is a usage error naming it."""
        prefixes = []
        for entry in entries:
            source, sep, target = entry.partition("=")
            if not sep or not source or not target:
                raise UsageError(f"path map {entry!r} is not SRC=DST",
                                 "give a driver prefix and the worker's prefix, e.g. "
                                 "/mnt/nas=/Volumes/nas")
            prefixes.append((_clean(source), _clean(target)))
        return cls(tuple(prefixes))

    def then(self, other: PathMap) -> PathMap:
        """This map, with `other`'s entries taking precedence (a worker's own over the run's)."""
        return PathMap(other.prefixes + self.prefixes)

    def apply(self, path: str) -> str:
        matches = [(source, target) for source, target in self.prefixes
                   if fs.is_under(path, source)]
        if not matches:
            return path
        source, target = max(matches, key=lambda pair: len(pair[0]))
        return fs.rebase(path, source, target)


def _clean(prefix: str) -> str:
    return prefix if prefix == os.sep else prefix.rstrip(os.sep)
