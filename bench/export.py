"""How long `vidsearch export` takes: stream copy against an exact (re-encoded) cut.

    python bench/export.py [--seconds 120] [--span 10] [--rounds 5]

Generates one H.264 + AAC video (640x360, 30 fps, a keyframe every 2 s), then cuts the same
span out of it by stream copy and exactly, the two interleaved round by round so the machine's
load falls on both alike; prints the median of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _setup import describe_machine, git_revision

from tests.fixtures.audio_video import make_video_with_audio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--span", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from vidsearch.export import export_clip

    with tempfile.TemporaryDirectory() as folder:
        source = make_video_with_audio(Path(folder) / "source.mp4", seconds=args.seconds,
                                       fps=30, gop=60, size=(640, 360))
        start = args.seconds / 2 + 0.7  # off a keyframe: the copy starts early, exact does not
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for exact in (False, True):
                began = time.perf_counter()
                export_clip(source, start, start + args.span, Path(folder) / "cut.mp4",
                            exact=exact, overwrite=True)
                times[exact].append(time.perf_counter() - began)
    copy, exact = (statistics.median(times[k]) for k in (False, True))
    print(f"machine: {describe_machine()}; revision {git_revision()}")
    print(f"{args.span:g} s of 640x360 30 fps H.264 + AAC from a {args.seconds:g} s file, "
          f"median of {args.rounds} interleaved rounds:")
    print(f"  stream copy  {copy * 1000:8.1f} ms")
    print(f"  --exact      {exact * 1000:8.1f} ms  ({exact / copy:.0f}x the copy)")


if __name__ == "__main__":
    main()
