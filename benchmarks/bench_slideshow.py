"""Benchmark: rendering a mood slideshow of a 3-minute song.

Writes a 3-minute MP3 of synthesised music and 60 twelve-megapixel JPEGs to a
temporary folder, plans a slideshow (``emobrowser.index.slideshow.plan_shots``, on a
random-walk timeline and random photo points, with the command's quick decode check of
each chosen photo: the planner's cost is part of the figure) with a photo every 3 s, and renders it at 1280x720, 25 fps
(``emobrowser.media.slideshow_video.render``: photo decoding, letterboxing,
cross-fades, H.264 and AAC).

The baseline, in the same run, is a bare encode of the same number of frames at the
same size and encoder settings: one still picture, converted once, no photos decoded,
no fades, no sound.

    python benchmarks/bench_slideshow.py [--quick] [--seconds 180] [--size 1280x720]

The target: the render takes under half the song's length ("ok"). --quick renders a
20 s song from 8 smaller photos at 320x240 to check that the benchmark runs; its "ok"
is null. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGET_RATIO = 0.5
SECONDS_PER_PHOTO = 3.0


def write_media(folder: Path, seconds: float, n_photos: int, photo_size: tuple[int, int]) -> tuple[str, list[str]]:
    from emobrowser.media import synth

    sr = 44100
    moods = [dict(bpm=70, major=False, loudness=0.2), dict(bpm=140, loudness=0.9, brightness=0.9),
             dict(bpm=100, major=True), dict(bpm=60, major=False, loudness=0.1)]
    blocks, left, i = [], seconds, 0
    while left > 0:
        length = min(30.0, left)
        blocks.append(synth.synth_music(length, sr, seed=i, **moods[i % len(moods)]))
        left, i = left - length, i + 1
    song = str(synth.write_audio(folder / "song.mp3", np.concatenate(blocks), sr))
    kinds = ["warm", "cool", "dark", "vivid", "face", "grey"]
    import cv2

    photos = []
    for k in range(n_photos):
        small = synth.draw_image(kinds[k % len(kinds)], (photo_size[0] // 4, photo_size[1] // 4), seed=k)
        big = cv2.resize(small, (photo_size[1], photo_size[0]), interpolation=cv2.INTER_LINEAR)
        photos.append(str(synth.write_image(folder / f"photo{k:03d}.jpg", big)))
    return song, photos


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 20 s song, 8 small photos, 320x240 (a smoke test)")
    parser.add_argument("--seconds", type=float, default=None, help="song length (default 180)")
    parser.add_argument("--size", default=None, help="video size (default 1280x720)")
    args = parser.parse_args(argv)
    import av

    from emobrowser.index.slideshow import SongTimeline, plan_shots
    from emobrowser.media.slideshow_video import X264_OPTIONS, check_photo, letterbox, parse_size, render

    seconds = args.seconds or (20.0 if args.quick else 180.0)
    size = parse_size(args.size or ("320x240" if args.quick else "1280x720"))
    n_photos = 8 if args.quick else 60
    photo_size = (900, 1200) if args.quick else (3000, 4000)
    fps = 25
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="emobrowser-bench-slideshow-") as tmp:
        folder = Path(tmp)
        song, photos = write_media(folder, seconds, n_photos, photo_size)
        steps = int(seconds / 0.5)
        walk = np.clip(np.cumsum(rng.normal(0, 0.08, (steps, 2)), axis=0), -1, 1)
        start = np.arange(steps) * 0.5
        timeline = SongTimeline(start, start + 0.5, walk[:, 0], walk[:, 1])

        began = time.perf_counter()
        shots, _ = plan_shots(timeline, seconds, SECONDS_PER_PHOTO, np.arange(n_photos), photos,
                              rng.uniform(-1, 1, (n_photos, 2)), lambda i: check_photo(photos[i]))
        plan_s = time.perf_counter() - began
        out = folder / "show.mp4"
        began = time.perf_counter()
        render(str(out), song, [s.start for s in shots], [s.path for s in shots], seconds, size, fps=fps)
        render_s = time.perf_counter() - began + plan_s

        with av.open(str(out)) as c:
            duration = c.duration / 1e6
            kinds = sorted(s.type for s in c.streams)
        n_frames = int(round(seconds * fps))
        began = time.perf_counter()
        with av.open(str(folder / "bare.mp4"), "w", format="mp4") as bare:
            stream = bare.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
            stream.options = dict(X264_OPTIONS)
            import cv2

            still_bgr = letterbox(cv2.imread(photos[0]), *size)
            still = av.VideoFrame.from_ndarray(still_bgr, format="bgr24").reformat(format="yuv420p")
            for k in range(n_frames):
                still.pts = k
                for packet in stream.encode(still):
                    bare.mux(packet)
            for packet in stream.encode(None):
                bare.mux(packet)
        baseline_s = time.perf_counter() - began

    ratio = render_s / seconds
    result = {"quick": args.quick, "song_s": seconds, "size": f"{size[0]}x{size[1]}", "fps": fps,
              "photos": n_photos, "photo_pixels": photo_size[0] * photo_size[1], "shots": len(shots),
              "plan_s": round(plan_s, 4), "render_s": round(render_s, 2), "render_to_song": round(ratio, 3),
              "baseline_bare_encode_s": round(baseline_s, 2), "render_to_baseline": round(render_s / baseline_s, 2),
              "video_duration_s": round(duration, 3), "streams": kinds, "target_render_to_song": TARGET_RATIO,
              "ok": None if args.quick else bool(ratio < TARGET_RATIO and abs(duration - seconds) <= 0.5)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
