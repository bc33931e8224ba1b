"""Peak memory of `vidsearch index` on one long 1080p H.264 video.

    python bench/memory.py [--minutes 120] [--fps 2] [--gop 600]

Generates (once, cached in bench/_media/memory/) a --minutes long 1920x1080 H.264 file with
PyAV: libx264 "ultrafast", --fps frames per second (2 by default: indexing samples 1 fps, so
the file stays cheap to make and to decode while being as long as the real thing), a keyframe
every --gop frames (long GOP, so sampling goes through the "sparse" decode), and content that
changes every frame (block noise scrolling sideways, a moving box). Then runs `vidsearch index`
on it in a subprocess, with the random-weight ViT-B/32 of bench/_setup.py and VIDSEARCH_HOME
under bench/_media/memory/, polling the child's resident memory every 0.5 s. Reports the peak
(VmHWM, and getrusage's ru_maxrss as a cross-check), the wall time, and the highest resident
memory within each quarter of the run: the first holds loading the model, and equal later
quarters mean memory does not grow with the video's length.
The first run in a fresh home also runs the CPU precision probe (fp32 and bf16 side by side,
once per machine); run twice to see the steady state without it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path


from _setup import (REPO, describe_machine, git_revision, install_random_vit_b32, use_home,
                    write_moving_h264)

WIDTH, HEIGHT = 1920, 1080


def make_long_video(path: Path, minutes: float, fps: int, gop: int) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_moving_h264(path, width=WIDTH, height=HEIGHT, fps=fps,
                          frames=round(minutes * 60 * fps), gop=gop, preset="ultrafast",
                          crf="28", block=16, seed=0, scroll=16, box=300, box_left=200,
                          box_step=23)
    return path


def read_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process in kB; empty once it has gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def run_index(folder: Path, model: str, home: Path, log: Path
              ) -> tuple[float, int, list[tuple[float, int]]]:
    """Wall seconds, peak RSS (kB) and (seconds, RSS kB) samples of one `vidsearch index`;
    its log lines go to `log`."""
    env = dict(os.environ, VIDSEARCH_HOME=str(home), VIDSEARCH_MODEL=model, HF_HUB_OFFLINE="1")
    command = [sys.executable, "-m", "vidsearch", "index", str(folder)]
    started = time.monotonic()
    with open(log, "w") as log_file:
        child = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                                 stderr=log_file)
        samples, peak = [], 0
        while child.poll() is None:
            status = read_status(child.pid)
            if status:
                samples.append((time.monotonic() - started, status["VmRSS"]))
                peak = max(peak, status["VmHWM"])
            time.sleep(0.5)
    elapsed = time.monotonic() - started
    if child.returncode != 0:
        raise SystemExit(f"vidsearch index exited with {child.returncode}; see {log}")
    return elapsed, peak, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=120.0)
    parser.add_argument("--fps", type=int, default=2)
    parser.add_argument("--gop", type=int, default=600, help="frames between keyframes")
    args = parser.parse_args()

    media = REPO / "bench" / "_media" / "memory"
    home = media / "home"
    use_home(home)
    model = install_random_vit_b32()
    started = time.monotonic()
    video = make_long_video(media / f"{args.minutes:g}min-1080p-{args.fps}fps-gop{args.gop}.mp4",
                            args.minutes, args.fps, args.gop)
    made = time.monotonic() - started
    folder = media / "library"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    os.link(video, folder / video.name)
    for stale in home.glob("data/*.db*"):
        stale.unlink()  # index afresh every run

    log = media / "index.log"
    elapsed, peak, samples = run_index(folder, model, home, log)
    probed = "CPU precision:" in log.read_text()  # logged only when measured
    rusage_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"machine: {describe_machine()}; revision {git_revision()}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    print(f"video: {video.name}, {video.stat().st_size / 1e6:.0f} MB "
          f"({'made in %.0f s' % made if made > 1 else 'cached'})")
    print(f"vidsearch index: {elapsed:.0f} s wall, {args.minutes * 60 / elapsed:.1f} video-s/s"
          f"; CPU precision probe {'ran in this run' if probed else 'remembered, not run'}")
    print(f"peak RSS: {peak / 1024:.0f} MiB (VmHWM); ru_maxrss {rusage_kb / 1024:.0f} MiB")
    quarters = []
    for quarter in (0.25, 0.5, 0.75, 1.0):
        within = [rss for t, rss in samples if quarter - 0.25 < t / elapsed <= quarter]
        quarters.append(f"{max(within) / 1024:.0f}" if within else "-")
    print("max RSS within each quarter of the run (MiB): " + " / ".join(quarters))


if __name__ == "__main__":
    main()
