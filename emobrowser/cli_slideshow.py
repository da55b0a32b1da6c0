"""``emobrowser slideshow SONG --out OUT.mp4``: a video of library photos that follow a song's emotion.

Registered by ``emobrowser.cli`` (``add_parser`` and ``cmd_slideshow``). The choice of
photos is ``emobrowser.index.slideshow``; the video, ``emobrowser.media.slideshow_video``.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time

from emobrowser.core.errors import InputError


def add_parser(sub, add_db) -> None:
    """Add the ``slideshow`` command to the CLI's subparsers; ``add_db`` adds its --db option."""
    p = sub.add_parser("slideshow", help="make a video of your photos whose emotion follows a song's")
    add_db(p)
    p.add_argument("song", metavar="SONG", help="a song of the library")
    p.add_argument("--out", required=True, metavar="OUT.mp4", help="the video file to write (MP4)")
    p.add_argument("--seconds-per-photo", type=float, default=3.0, metavar="S",
                   help="about how long each photo shows, in seconds (default 3; at least 1)")
    p.add_argument("--folder", default=None, metavar="DIR", help="only photos under this folder")
    p.add_argument("--size", default="1280x720", metavar="WxH", help="video size in pixels (default 1280x720)")
    p.add_argument("--json", action="store_true", help="print the photos chosen as one JSON object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


class _FrameBar:
    """A one-line render progress bar on a terminal (stderr), redrawn at most 10 times a second."""

    def __init__(self, enabled: bool):
        self.enabled, self.width, self.started, self.drawn = enabled, 28, time.monotonic(), 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.drawn < 0.1 and done < total):
            return
        self.drawn = now
        frac = done / total if total else 1.0
        filled = int(frac * self.width)
        elapsed = now - self.started
        eta = f"{elapsed * (1 - frac) / frac:5.0f} s" if frac > 0 else "   -- "
        sys.stderr.write(f"\r\x1b[2K[{'#' * filled}{'.' * (self.width - filled)}] {100 * frac:3.0f}% "
                         f"frame {done}/{total} ETA {eta}")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()


def cmd_slideshow(args) -> int:
    from emobrowser.cli import json_line, one_line, open_store  # here: cli imports this module
    from emobrowser.index.slideshow import MIN_SECONDS_PER_PHOTO, plan_for_song
    from emobrowser.media import slideshow_video as sv

    try:
        size = sv.parse_size(args.size)
    except ValueError as exc:
        raise InputError(f"--size: {exc}") from None
    seconds = args.seconds_per_photo
    if not (math.isfinite(seconds) and seconds >= MIN_SECONDS_PER_PHOTO):
        raise InputError(f"--seconds-per-photo must be at least {MIN_SECONDS_PER_PHOTO:g} s, not {seconds:g}")
    os.remove(sv.temporary_output(args.out))  # an unwritable output fails now, before any work
    with open_store(args) as store:
        plan = plan_for_song(store, args.song, seconds, args.folder, usable=sv.check_photo)
    for path, reason in plan.skipped:
        print(f"warning: skipped the photo {one_line(path)}: {reason}", file=sys.stderr)
    if note := plan.repeat_note():
        print(f"note: {note}", file=sys.stderr)
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *a: stop.set())
    bar = _FrameBar(sys.stderr.isatty() and not args.quiet)
    try:
        sv.render(args.out, plan.song, [s.start for s in plan.shots], [s.path for s in plan.shots], plan.duration,
                  size, progress=bar, cancelled=stop.is_set)
    except sv.RenderCancelled as exc:
        bar.finish()
        print(f"emobrowser: {exc}", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.finish()
    if args.json:
        print(json_line(plan.to_json(os.path.abspath(args.out))))
    else:
        print(f"wrote {one_line(args.out)}: {len(plan.shots)} shots of {plan.distinct} photos over "
              f"{plan.duration:.1f} s; mean distance to the song {plan.mean_distance:.3f} "
              f"(random photos: {plan.random_mean_distance:.3f})")
    return 0

