"""Audio decoding through PyAV, for every container FFmpeg reads.

The output matches ``librosa.load`` defaults, which the audio model's training data
used: channels averaged to mono, then resampled with soxr at high quality.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emobrowser.core.errors import MediaError

# A guard against files that claim absurd lengths; 3 hours of audio is ~240M samples.
MAX_SECONDS = 3 * 3600.0


def _open(path: str | Path):
    import av

    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except av.error.InvalidDataError as exc:
        raise MediaError("not a recognised audio or video file (invalid data)") from exc
    except av.error.FileNotFoundError as exc:
        raise MediaError("file vanished before it could be read") from exc
    except av.error.PermissionError as exc:
        raise MediaError("permission denied") from exc
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot open media: {exc.strerror or exc}") from exc


def decode_stream_audio(container, start: float = 0.0, duration: float | None = None):
    """Decode the first audio stream of an open container.

    Returns (samples, native_rate): float32 mono at the stream's own rate.
    Raises MediaError("no audio stream") when the container has none.
    """
    import av

    streams = [s for s in container.streams if s.type == "audio"]
    if not streams:
        raise MediaError("no audio stream")
    stream = streams[0]
    rate = stream.rate or (stream.codec_context.sample_rate if stream.codec_context else 0)
    channels = stream.codec_context.channels if stream.codec_context else 0
    if not rate:
        raise MediaError("audio stream has no sample rate")
    if channels == 0:
        raise MediaError("audio stream has 0 channels")
    stream.thread_type = "AUTO"
    resampler = av.AudioResampler(format="fltp", layout=None, rate=None)
    chunks: list[np.ndarray] = []
    total = 0
    limit = int(MAX_SECONDS * rate)
    stop_at = None if duration is None else int((start + duration) * rate)
    start_sample = int(start * rate)
    if start > 0:
        try:
            container.seek(int(start / stream.time_base), stream=stream, any_frame=False, backward=True)
        except (av.error.FFmpegError, OverflowError):
            pass
    got_any_packet = False
    try:
        for frame in container.decode(stream):
            got_any_packet = True
            for out in resampler.resample(frame):
                data = out.to_ndarray()
                mono = data.mean(axis=0) if data.ndim == 2 else data
                pts_samples = None
                if out.pts is not None and out.time_base is not None:
                    pts_samples = int(round(float(out.pts * out.time_base) * rate))
                if start > 0 and pts_samples is not None:
                    skip = start_sample - pts_samples
                    if skip >= mono.size:
                        continue
                    if skip > 0:
                        mono = mono[skip:]
                    start_sample = -(10**18)  # only trim the first kept frame
                chunks.append(mono.astype(np.float32, copy=False))
                total += mono.size
            if total > limit:
                raise MediaError(f"audio longer than {MAX_SECONDS / 3600:.0f} hours")
            if stop_at is not None and total >= stop_at - int(start * rate):
                break
    except av.error.InvalidDataError as exc:
        if not chunks:
            raise MediaError("corrupt audio data (cannot decode any frame)") from exc
    except av.error.FFmpegError as exc:
        if not chunks:
            raise MediaError(f"audio decoding failed: {exc.strerror or exc}") from exc
    if not chunks:
        raise MediaError("audio stream is empty (no samples decoded)" if got_any_packet or True else "")
    samples = np.concatenate(chunks)
    if duration is not None:
        samples = samples[: int(duration * rate)]
    return samples, int(rate)


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Resample mono float32 audio as librosa.load does (soxr, high quality)."""
    if rate == target or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(samples, rate, target, quality="HQ").astype(np.float32, copy=False)


def load_audio(path: str | Path, sr: int = 22050, start: float = 0.0,
               duration: float | None = None) -> np.ndarray:
    """Decode any audio (or a video's soundtrack) to mono float32 at ``sr`` Hz.

    Raises MediaError with a specific reason for files that cannot be decoded.
    """
    container = _open(path)
    try:
        samples, rate = decode_stream_audio(container, start=start, duration=duration)
    finally:
        container.close()
    if not np.all(np.isfinite(samples)):
        samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    return resample(samples, rate, sr)
