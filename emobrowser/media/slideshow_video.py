"""Render a slideshow to an MP4: H.264 pictures, the song as AAC sound (PyAV).

Each photo is decoded through ``images.load_image`` (size checks before any pixel is
decoded; upright by its EXIF orientation), letterboxed onto a black frame of the
output size, and cross-faded into the next over ``FADE_SECONDS`` centred on the cut.
The video has ``round(duration * fps)`` frames and the sound is cut at the same
length, so the file is as long as the song.

The file is written under a temporary name in the target folder and renamed into
place at the end; a cancelled or failed render removes it, leaving no half file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from emobrowser.core.errors import EmobrowserError, MediaError

DEFAULT_FPS = 25
FADE_SECONDS = 0.5
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
X264_OPTIONS = {"preset": "veryfast", "tune": "stillimage", "crf": "23"}
MAX_SIDE = 4096


class RenderCancelled(EmobrowserError):
    """The render was cancelled; nothing was written."""


class OutputError(EmobrowserError):
    """The output file cannot be written; the message says why."""


def parse_size(text: str) -> tuple[int, int]:
    """"WxH" -> (width, height): even numbers of pixels from 64 to MAX_SIDE. ValueError otherwise."""
    parts = text.lower().split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"cannot read size {text!r}; give WIDTHxHEIGHT, e.g. 1280x720") from None
    for name, value in (("width", width), ("height", height)):
        if not 64 <= value <= MAX_SIDE or value % 2:
            raise ValueError(f"the {name} must be an even number of pixels from 64 to {MAX_SIDE}, not {value}")
    return width, height


def letterbox(bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """The picture scaled to fit (width, height), centred on black: (height, width, 3) uint8."""
    import cv2

    h, w = bgr.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale)))
    fitted = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.zeros((height, width, 3), np.uint8)
    y, x = (height - nh) // 2, (width - nw) // 2
    out[y:y + nh, x:x + nw] = fitted
    return out


def load_picture(path: str, width: int, height: int) -> np.ndarray:
    """A photo file letterboxed to (width, height), upright; MediaError if it cannot be decoded."""
    from emobrowser.media.images import load_image

    bgr, _w, _h = load_image(path, min_side=max(width, height))
    return letterbox(bgr, width, height)


def check_photo(path: str) -> None:
    """Raise MediaError if a photo cannot be decoded (a quick reduced-size decode)."""
    from emobrowser.media.images import load_image

    load_image(path, min_side=64)


def temporary_output(out: str) -> str:
    """Create the temporary file beside ``out`` and return its path; OutputError saying why not."""
    from emobrowser.index.store import shown

    folder = os.path.dirname(os.path.abspath(out))
    if os.path.isdir(out):
        raise OutputError(f"cannot write {shown(out)}: it is a folder")
    if not os.path.isdir(folder):
        raise OutputError(f"cannot write {shown(out)}: no folder {shown(folder)}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(out)}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write {shown(out)}: {exc.strerror or exc}") from None
    os.close(fd)
    return tmp


def frame_schedule(starts: np.ndarray, n_frames: int, fps: float, fade: float) -> tuple[np.ndarray, np.ndarray]:
    """Per video frame: the shot index it shows and the weight of the *previous* shot in
    a cross-fade (0 outside fades). Shot j starts at ``starts[j]`` seconds; a fade of
    ``fade`` seconds is centred on each cut."""
    t = (np.arange(n_frames) + 0.5) / fps
    shot = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
    previous_weight = np.zeros(n_frames)
    if fade > 0:
        # the nearest cut to each frame: the start of its own shot or of the next one
        nxt = np.minimum(shot + 1, len(starts) - 1)
        to_next = np.where(nxt > shot, starts[nxt] - t, np.inf)
        since = np.where(shot > 0, t - starts[shot], np.inf)
        entering = since < fade / 2  # the first half-fade of this shot: blend with shot - 1
        previous_weight[entering] = 0.5 - since[entering] / fade
        leaving = (to_next < fade / 2) & ~entering  # the last half-fade: blend into the next shot
        shot[leaving] += 1
        previous_weight[leaving] = 0.5 + to_next[leaving] / fade
    return shot, previous_weight


class _Soundtrack:
    """The song's first audio stream, decoded and resampled block by block for the AAC encoder."""

    def __init__(self, song: str, out, seconds: float):
        import av

        from emobrowser.media.audio import _open

        self.container = _open(song)
        streams = [s for s in self.container.streams if s.type == "audio"]
        if not streams:
            self.container.close()
            raise MediaError("the song has no audio stream")
        source = streams[0]
        channels = source.codec_context.channels if source.codec_context else 0
        rate = source.rate if source.rate in AAC_RATES else 48000
        layout = "mono" if channels == 1 else "stereo"
        self.stream = out.add_stream("aac", rate=rate, layout=layout)
        self.stream.bit_rate = 160_000 if layout == "stereo" else 96_000
        self.resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        self.rate, self.layout, self.out = rate, layout, out
        self.limit = int(round(seconds * rate))  # samples: the video's length
        self.written = 0
        self._frames = self.container.decode(source)
        self.done = False

    def pump(self, until: float) -> None:
        """Encode the song up to ``until`` seconds (or its end, or the video's length)."""
        import av

        while not self.done and self.written < min(self.limit, until * self.rate):
            try:
                frame = next(self._frames, None)
            except av.error.FFmpegError as exc:
                if not self.written:
                    raise MediaError(f"cannot decode the song: {exc.strerror or exc}") from exc
                frame = None  # a damaged tail: the sound ends there
            for block in self.resampler.resample(frame):
                self._encode(block)
            if frame is None:
                self.done = True

    def _encode(self, block) -> None:
        import av

        room = self.limit - self.written
        if room <= 0:
            return
        if block.samples > room:
            data = block.to_ndarray()[:, :room]
            block = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp", layout=self.layout)
            block.sample_rate = self.rate
        block.pts = self.written
        block.time_base = Fraction(1, self.rate)
        self.written += block.samples
        for packet in self.stream.encode(block):
            self.out.mux(packet)

    def finish(self) -> None:
        self.pump(float("inf"))
        for packet in self.stream.encode(None):
            self.out.mux(packet)

    def close(self) -> None:
        self.container.close()


def render(out: str, song: str, starts, paths: list[str], duration: float, size: tuple[int, int] = (1280, 720),
           fps: int = DEFAULT_FPS, fade: float = FADE_SECONDS, progress: Callable[[int, int], None] | None = None,
           cancelled: Callable[[], bool] | None = None,
           picture: Callable[[str, int, int], np.ndarray] | None = None) -> None:
    """Write the slideshow MP4 to ``out``: shot j shows the photo ``paths[j]`` from
    ``starts[j]`` seconds to the next start (the last to ``duration``), with ``song``'s
    sound. ``progress(frames done, frames in all)``; ``cancelled()`` is asked once per
    frame and True stops with RenderCancelled. ``picture(path, width, height)`` gives a
    letterboxed BGR frame (default: load_picture). Raises OutputError, MediaError or RenderCancelled; on any
    error the temporary file is removed and ``out`` is left as it was."""
    tmp = temporary_output(out)
    try:
        _render(tmp, song, np.asarray(starts, np.float64), paths, duration, size, fps, fade, progress, cancelled,
                picture or load_picture)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # as a plainly created file: mkstemp made it private
        os.replace(tmp, out)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def _render(tmp, song, starts, paths, duration, size, fps, fade, progress, cancelled, picture) -> None:
    import av
    import cv2

    width, height = size
    n_frames = max(1, int(round(duration * fps)))
    fade = min(fade, float(np.min(np.diff(np.append(starts, duration)))) if len(starts) else fade)
    shot_of, previous_weight = frame_schedule(starts, n_frames, fps, fade)
    cache: dict[str, np.ndarray] = {}  # path -> letterboxed BGR, for the shots on screen now

    def bgr(j: int) -> np.ndarray:
        path = paths[j]
        if path not in cache:
            if len(cache) >= 3:
                cache.pop(next(iter(cache)))
            try:
                cache[path] = picture(path, width, height)
            except MediaError as exc:
                from emobrowser.index.store import shown

                raise MediaError(f"cannot decode the photo {shown(path)}: {exc}") from None
        return cache[path]

    with av.open(tmp, "w", format="mp4") as container:
        video = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if video.codec_context.name == "libx264":
            video.options = dict(X264_OPTIONS)
        sound = _Soundtrack(song, container, n_frames / fps)
        try:
            still, still_key = None, None
            for k in range(n_frames):
                if cancelled is not None and cancelled():
                    raise RenderCancelled("cancelled; no file was written")
                j, w = int(shot_of[k]), float(previous_weight[k])
                if w > 0:
                    mixed = cv2.addWeighted(bgr(j - 1), w, bgr(j), 1.0 - w, 0.0)
                    frame = av.VideoFrame.from_ndarray(mixed, format="bgr24").reformat(format="yuv420p")
                else:
                    if still_key != j:  # a still is converted once and sent for each of its frames
                        still = av.VideoFrame.from_ndarray(bgr(j), format="bgr24").reformat(format="yuv420p")
                        still_key = j
                    frame = still
                frame.pts = k
                for packet in video.encode(frame):
                    container.mux(packet)
                sound.pump((k + 1) / fps + 0.5)
                if progress is not None:
                    progress(k + 1, n_frames)
            for packet in video.encode(None):
                container.mux(packet)
            sound.finish()
        finally:
            sound.close()
