"""Video decoding through PyAV: the soundtrack plus frames at 1 fps, in segments.

A video is cut into segments of ``segment_seconds`` (15 s by default). Each segment
carries its frames (one per second, scaled so the longest side is at most
``frame_side`` pixels) and its stretch of the soundtrack. The pairs of image and audio
scores of these segments are the anchors that align the two models.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emobrowser.core.errors import MediaError
from emobrowser.media.audio import NO_AUDIO_STREAM, _open, check_truncation, decode_stream_audio, stated_seconds

log = logging.getLogger(__name__)

DEFAULT_SEGMENT_SECONDS = 15.0
# A trailing stretch shorter than this joins the previous segment.
MIN_SEGMENT_SECONDS = 3.0
MAX_VIDEO_SECONDS = 6 * 3600.0


@dataclass
class VideoSegment:
    """One stretch of a video: start/end in seconds, BGR frames (or what load_video's
    ``frame_transform`` made of them), mono audio."""

    start: float
    end: float
    frames: list[np.ndarray] = field(default_factory=list)
    audio: np.ndarray | None = None


@dataclass
class DecodedVideo:
    width: int
    height: int
    duration: float
    segments: list[VideoSegment]
    sample_rate: int
    audio_error: str | None = None  # why a soundtrack the file has could not be used


class NoVideoStream(MediaError):
    """The container holds no moving pictures (an audio-only MP4, say, or one with only
    a cover picture); it may still hold sound."""


def segment_bounds(duration: float, segment_seconds: float = DEFAULT_SEGMENT_SECONDS) -> list[tuple[float, float]]:
    """Cut [0, duration] into segments; a short tail (< 3 s) joins the previous one."""
    if duration <= 0:
        return []
    bounds = []
    start = 0.0
    while start < duration - 1e-9:
        end = min(start + segment_seconds, duration)
        bounds.append((start, end))
        start = end
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < MIN_SEGMENT_SECONDS:
        last = bounds.pop()
        bounds[-1] = (bounds[-1][0], last[1])
    return bounds


def upright_bgr(frame, **size) -> np.ndarray:
    """A decoded PyAV video frame as a BGR array (``size``: to_ndarray's width and
    height), turned the way it is meant to be seen.

    The frame's ``rotation`` is its display matrix's angle in degrees,
    counterclockwise (a phone's portrait video typically says -90: turn the stored
    landscape picture 90 degrees clockwise). Players apply it; so must we, or a
    portrait video is scored and shown lying on its side.
    """
    img = frame.to_ndarray(format="bgr24", **size)
    turns = int(round((getattr(frame, "rotation", 0) or 0.0) / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(img, turns)) if turns else img


def _sample_frames(container, frame_side: int, transform: Callable[[np.ndarray], np.ndarray] | None = None
                   ) -> tuple[list[tuple[float, np.ndarray]], int, int, float]:
    """Decode the first video stream, keeping one frame (or ``transform`` of it) per
    second of timestamps; also returns the picture size and when the last frame ends."""
    import av

    # A cover picture stored as a one-frame "video" stream (music in an .mp4 or .mkv)
    # is not a video.
    streams = [s for s in container.streams
               if s.type == "video" and not s.disposition & av.stream.Disposition.attached_pic]
    if not streams:
        raise NoVideoStream("no video stream")
    stream = streams[0]
    # One decoding thread per worker process: the number of workers is the core limit.
    stream.codec_context.thread_count = 1
    width = stream.codec_context.width or 0
    height = stream.codec_context.height or 0
    if width <= 0 or height <= 0:
        raise MediaError("video stream has no picture size")
    scale = min(1.0, frame_side / max(width, height))
    out_w, out_h = max(2, int(round(width * scale))), max(2, int(round(height * scale)))
    frames: list[tuple[float, np.ndarray]] = []
    shape = None
    next_t = 0.0
    last_t = 0.0
    end_t = 0.0  # when the last picture stops showing
    step = 1.0 / float(stream.average_rate or stream.guessed_rate or 25)
    try:
        for frame in container.decode(stream):
            if frame.pts is None or frame.time_base is None:
                t = last_t + step
            else:
                t = float(frame.pts * frame.time_base)
            last_t = t
            lasts = getattr(frame, "duration", None)  # in time_base units; 0 or None when unknown
            shown = float(lasts * frame.time_base) if lasts and frame.time_base else step
            end_t = max(end_t, t + shown)
            if t > MAX_VIDEO_SECONDS:
                raise MediaError(f"video longer than {MAX_VIDEO_SECONDS / 3600:.0f} hours")
            if t + 1e-6 >= next_t:
                img = upright_bgr(frame, width=out_w, height=out_h)
                shape = img.shape[:2]
                frames.append((t, img if transform is None else transform(img)))
                next_t = np.floor(t) + 1.0
    except av.error.FFmpegError as exc:
        if not frames:
            raise MediaError(f"corrupt video data: {exc.strerror or exc}") from exc
    if not frames:  # a declared picture stream that holds nothing: sound only, if any
        raise NoVideoStream("video stream has no frames")
    if shape != (out_h, out_w):  # turned by a quarter: the picture is portrait
        width, height = height, width
    return frames, width, height, end_t


def load_video(path: str | Path, sr: int = 22050, segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
               frame_side: int = 384, frame_transform: Callable[[np.ndarray], np.ndarray] | None = None
               ) -> DecodedVideo:
    """Decode a video into segments with frames at 1 fps and mono audio at ``sr``.

    A video without a soundtrack still yields segments, with ``audio`` None; one
    whose soundtrack cannot be used says why in ``audio_error``.
    ``frame_transform`` (e.g. the image model's feature extractor) is applied to
    each kept frame as it is decoded, and the segments hold its results: an hour of
    film is then not held as 3,600 pictures.
    Raises MediaError with a specific reason when the file has no usable pictures.
    """
    container = _open(path)
    try:
        frames, width, height, last_t = _sample_frames(container, frame_side, frame_transform)
        stated = stated_seconds(container)
    finally:
        container.close()
    audio = audio_start = audio_error = None
    rate = sr
    container = _open(path)
    try:
        audio, rate, audio_start = decode_stream_audio(container, target_rate=sr, max_seconds=MAX_VIDEO_SECONDS)
    except MediaError as exc:
        audio = audio_start = None
        if str(exc) != NO_AUDIO_STREAM:
            audio_error = str(exc)
            log.warning("%s: soundtrack not used: %s", path, exc)
    finally:
        container.close()
    # Times count from the first picture or sound, whichever comes first: streams may
    # start at any timestamp (a cut from a longer recording starts at 30 s), and the
    # sound may start later than the picture.
    video_start = frames[0][0]
    origin = min(video_start, audio_start) if audio_start is not None else video_start
    audio_offset = (audio_start - origin) if audio_start is not None else 0.0
    frames = [(t - origin, img) for t, img in frames]
    last_t -= origin  # the end of the last picture
    duration = max(last_t, frames[-1][0] + 1e-3)
    if audio is not None:
        duration = max(duration, audio_offset + audio.size / rate)
    # Cut off only if picture and sound both end early: a still picture over a song
    # (one frame) or a recording whose picture stops before its sound is complete.
    check_truncation(duration, stated, "video")
    segments = []
    for start, end in segment_bounds(duration, segment_seconds):
        seg = VideoSegment(start=start, end=end)
        seg.frames = [img for t, img in frames if start <= t < end or (end == duration and t >= start)]
        if audio is not None:
            a = audio[max(0, int((start - audio_offset) * rate)): max(0, int((end - audio_offset) * rate))]
            seg.audio = a if a.size >= rate // 10 else None
        if seg.frames or seg.audio is not None:
            segments.append(seg)
    if not segments:
        raise MediaError("video has no decodable segments")
    return DecodedVideo(width=width, height=height, duration=duration, segments=segments, sample_rate=rate,
                        audio_error=audio_error)
