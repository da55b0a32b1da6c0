"""Audio decoding through PyAV, for every container FFmpeg reads.

The output matches ``librosa.load`` defaults, which the audio model's training data
used: channels averaged to mono, then resampled with soxr at high quality.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from emobrowser.core.errors import FILE_VANISHED, UNREADABLE, MediaError, read_failure

# A guard against files that claim absurd lengths; 3 hours of audio is ~240M samples.
MAX_SECONDS = 3 * 3600.0


def ffmpeg_local_name(path: str | Path) -> str:
    """The name to give FFmpeg for a local file: its absolute path behind the "file:"
    protocol. FFmpeg reads a name such as ``tcp:127.0.0.1:9999.mp3`` or ``http:/host/x``
    as a protocol and connects; a user's file named so must be read from disk, and no
    name may ever open a connection."""
    return "file:" + os.path.abspath(os.fspath(path))


def _open(path: str | Path):
    import av

    try:
        return av.open(ffmpeg_local_name(path), mode="r", metadata_errors="ignore")
    except av.error.InvalidDataError as exc:
        raise MediaError("corrupt or truncated file (FFmpeg cannot parse the container)") from exc
    except av.error.FileNotFoundError as exc:
        raise MediaError(FILE_VANISHED) from exc
    except av.error.PermissionError as exc:
        raise MediaError(UNREADABLE) from exc
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot open media: {exc.strerror or exc}") from exc


# The most samples reserved up front from a stated length (30 minutes at 48 kHz): a
# header may state hours that the file does not hold.
_MAX_RESERVED = 30 * 60 * 48000


class _Samples:
    """Decoded mono samples, appended frame by frame.

    With a stated length, they go into one buffer reserved for it (at most
    ``_MAX_RESERVED`` samples, grown by half when the file runs longer), so a long
    file is held once rather than as a list of frames plus their concatenation (two
    copies at the peak). Without one, frames are kept in a list and joined at the end.
    """

    def __init__(self, expected: int) -> None:
        self.data = np.empty(min(expected, _MAX_RESERVED), dtype=np.float32) if expected > 0 else None
        self.chunks: list[np.ndarray] = []
        self.size = 0

    def append(self, chunk: np.ndarray) -> None:
        end = self.size + chunk.size
        if self.data is None:
            self.chunks.append(chunk)
        else:
            if end > self.data.size:
                grown = np.empty(max(end, self.data.size + self.data.size // 2), dtype=np.float32)
                grown[:self.size] = self.data[:self.size]
                self.data = grown
            self.data[self.size:end] = chunk
        self.size = end

    def result(self) -> np.ndarray:
        if self.data is None:
            return np.concatenate(self.chunks)
        if self.size < self.data.size // 2:  # far shorter than stated: do not keep the slack
            return self.data[:self.size].copy()
        return self.data[:self.size]


NO_AUDIO_STREAM = "no audio stream"

# Float samples this far beyond full scale (±1) are not sound but garbage (e.g. a
# float WAV holding 1e30); the features would overflow to inf.
MAX_PEAK = 1e4


def decode_stream_audio(container, start: float = 0.0, duration: float | None = None,
                        target_rate: int | None = None, max_seconds: float | None = None):
    """Decode the first audio stream of an open container.

    Returns (samples, rate, first_time): float32 mono at ``target_rate`` (the
    stream's own rate if None), and when the first decoded samples play, in seconds
    (None if unknown). That is the decoded time, not the stream's stated start:
    decoders drop the encoder priming (e.g. AAC's 1,024 samples) that the stated
    start includes. Non-finite samples become 0.

    With ``target_rate``, each decoded block is resampled as it comes (soxr's
    stream, bit-identical to resampling the whole at once), so a long soundtrack is
    never held at a high native rate.
    Raises MediaError("no audio stream") when the container has none.
    """
    import av

    streams = [s for s in container.streams if s.type == "audio"]
    if not streams:
        raise MediaError(NO_AUDIO_STREAM)
    stream = streams[0]
    rate = stream.rate or (stream.codec_context.sample_rate if stream.codec_context else 0)
    channels = stream.codec_context.channels if stream.codec_context else 0
    if not rate:
        raise MediaError("audio stream has no sample rate")
    if channels == 0:
        raise MediaError("audio stream has 0 channels")
    # One decoding thread per worker process: the number of workers is the core limit.
    stream.codec_context.thread_count = 1
    # Planar float samples, averaged over channels. PyAV's to_ndarray crashes the
    # process (SIGSEGV) on planar frames of 8 or more channels (7.1 film soundtracks),
    # so those are decoded packed; packed costs about 0.5 s more per stereo 3-minute MP3
    # (interleaving, and a mean over a short axis), hence not for everything.
    packed = channels >= 8
    resampler = av.AudioResampler(format="flt" if packed else "fltp", layout=None, rate=None)
    stated = stated_seconds(container)
    expected = 0 if not stated else int(
        max(0.0, min(stated - start, duration if duration is not None else stated)) * 1.01 * rate) + rate
    out_rate = int(target_rate or rate)
    stream_resampler = None
    if out_rate != rate:
        import soxr

        stream_resampler = soxr.ResampleStream(rate, out_rate, 1, dtype="float32", quality="HQ")
        expected = int(expected * out_rate / rate) + out_rate if expected else 0
    chunks = _Samples(expected)
    decoded = 0  # native samples kept
    max_seconds = max_seconds or MAX_SECONDS
    limit = int(max_seconds * rate)
    stop_at = None if duration is None else int((start + duration) * rate)
    start_sample = int(start * rate)
    if start > 0:
        try:
            container.seek(int(start / stream.time_base), stream=stream, any_frame=False, backward=True)
        except (av.error.FFmpegError, OverflowError):
            pass
    first_time = None
    # Decoded frames wait here until there are a few seconds of them: an MP3 frame holds
    # 1,152 samples, and checking and resampling each one alone made decoding 40 % slower.
    pending: list[np.ndarray] = []
    pending_size = 0

    def flush(last: bool = False) -> None:
        nonlocal pending_size
        block = np.concatenate(pending) if len(pending) > 1 else (pending[0] if pending else np.zeros(0, np.float32))
        pending.clear()
        pending_size = 0
        peak = max(float(block.max()), -float(block.min())) if block.size else 0.0  # NaN if any is NaN
        if not np.isfinite(peak):
            block = np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0)
            peak = max(float(block.max()), -float(block.min()))
        if peak > MAX_PEAK:
            raise MediaError(f"audio samples far outside full scale (peak {peak:.3g}; float audio lies within ±1): "
                             f"not sound")
        if stream_resampler is not None:
            block = stream_resampler.resample_chunk(block, last=last)
        if block.size:
            chunks.append(block)

    try:
        for frame in container.decode(stream):
            if first_time is None and frame.time is not None:
                first_time = float(frame.time)
            for out in resampler.resample(frame):
                data = out.to_ndarray()
                if packed:
                    n = max(1, len(out.layout.channels))
                    mono = data.reshape(-1, n) @ np.full(n, 1.0 / n, dtype=np.float32)
                else:
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
                pending.append(mono.astype(np.float32, copy=False))
                pending_size += mono.size
                decoded += mono.size
            if pending_size >= 4 * rate:  # four seconds' worth: checked and resampled as one block
                flush()
            if decoded > limit:
                raise MediaError(f"audio longer than {max_seconds / 3600:.0f} hours")
            if stop_at is not None and decoded >= stop_at - int(start * rate):
                break
    except av.error.InvalidDataError as exc:
        if not decoded:
            raise MediaError("corrupt audio data (cannot decode any frame)") from exc
    except av.error.FFmpegError as exc:
        if not decoded:
            raise MediaError(f"audio decoding failed: {exc.strerror or exc}") from exc
    if not decoded:
        raise MediaError("audio stream is empty (no samples decoded)")
    flush(last=True)
    samples = chunks.result()
    if duration is not None:
        samples = samples[: int(duration * out_rate)]
    return samples, out_rate, first_time


def stated_seconds(container) -> float | None:
    """The duration a container's header states, in seconds (None if unknown)."""
    if container.duration and container.duration > 0:
        return container.duration / 1_000_000
    return None


def check_truncation(decoded: float, stated: float | None, what: str = "audio") -> None:
    """Refuse a stream that decodes to clearly less than its header states."""
    if stated is not None and stated > 1.0 and decoded < 0.9 * stated - 0.25:
        raise MediaError(f"truncated {what}: decoded {decoded:.1f} s of the {stated:.1f} s the file states")


# FFmpeg decodes at most 64 channels (AV_CHANNEL_LAYOUT with a 64-bit mask); a WAV
# header stating more fails in it with "Invalid argument" or a wrong channel count.
MAX_WAV_CHANNELS = 64


def check_wav_header(path: str | Path) -> None:
    """Check a RIFF/WAVE header against the file: channels and data size.

    FFmpeg trusts the file size over the header, so a cut-off WAV would otherwise
    decode silently shorter.
    """
    import os
    import struct

    with open(path, "rb") as fh:
        head = fh.read(4096)
        size = os.fstat(fh.fileno()).st_size
    if head[:4] not in (b"RIFF", b"RF64", b"BW64") or head[8:12] != b"WAVE":
        return
    pos, byte_rate, channels = 12, 0, None
    while pos + 8 <= len(head):
        chunk, length = head[pos:pos + 4], struct.unpack("<I", head[pos + 4:pos + 8])[0]
        if chunk == b"fmt " and pos + 24 <= len(head):
            channels = struct.unpack("<H", head[pos + 10:pos + 12])[0]
            byte_rate = struct.unpack("<I", head[pos + 16:pos + 20])[0]
            if channels > MAX_WAV_CHANNELS:
                raise MediaError(f"WAV header declares {channels} channels "
                                 f"(at most {MAX_WAV_CHANNELS} can be decoded)")
        if chunk == b"data":
            if channels == 0:
                raise MediaError("WAV header states 0 channels")
            available = size - (pos + 8)
            if available <= 0 or length == 0:
                raise MediaError("WAV holds no audio data (header only)")
            if 0 < length < 0xFFFFFFF0 and length > available and byte_rate:
                raise MediaError(f"truncated WAV: header states {length / byte_rate:.1f} s, "
                                 f"file holds {max(available, 0) / byte_rate:.1f} s")
            return
        pos += 8 + length + (length & 1)
    if channels == 0:
        raise MediaError("WAV header states 0 channels")
    if pos >= size or len(head) == size:
        raise MediaError("WAV header is cut off before its data chunk")


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
    try:
        check_wav_header(path)
    except OSError as exc:
        raise read_failure(exc) from exc
    container = _open(path)
    try:
        samples, rate, _first = decode_stream_audio(container, start=start, duration=duration, target_rate=sr)
        if start == 0 and duration is None:
            check_truncation(samples.size / rate, stated_seconds(container))
    finally:
        container.close()
    return samples
