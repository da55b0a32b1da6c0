"""Decode one file and turn it into features, then features into scores.

``extract_file`` runs in indexing worker processes (and in-process for
``emobrowser score``); it never imports TensorFlow. ``score_extracted`` runs in the
single inference lane, where each model's ``predict`` is called in batches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from emobrowser.core.errors import MediaError
from emobrowser.core.types import Modality, Segment

# Audio shorter than this cannot be scored meaningfully.
MIN_AUDIO_SECONDS = 0.5
# Peak amplitude below this (about -100 dBFS) is digital silence.
SILENCE_PEAK = 1e-5


@dataclass
class Extracted:
    """Features of one file, ready for the inference lane.

    image: (n, d) image features (one row for a photo, one per sampled video frame).
    frame_segment: (n,) index of the video segment each image row belongs to.
    audio_whole: (d,) whole-file audio features (audio items).
    audio_frames / audio_times: the timeline windows of an audio item.
    seg_audio: (m, d) audio features of each video segment; seg_times (m, 2).
    """

    modality: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    image: np.ndarray | None = None
    frame_segment: np.ndarray | None = None
    audio_whole: np.ndarray | None = None
    audio_frames: np.ndarray | None = None
    audio_times: np.ndarray | None = None
    seg_times: np.ndarray | None = None
    seg_audio: np.ndarray | None = None
    seg_has_audio: np.ndarray | None = None
    warning: str | None = None  # e.g. why a video's soundtrack was not used
    meta: dict | None = None  # the file's tags (media.metadata.Metadata.as_dict), when read


@dataclass
class TagsRead:
    """The result of reading only an item's tags: meta as in Extracted, payload the
    fingerprint of its sound without tags (media.payload; None for other formats)."""

    meta: dict
    payload: str | None = None


def read_tags(path: str | bytes, modality: str) -> TagsRead:
    """Read an indexed item's tags again (new to the library, or its tags changed)."""
    from emobrowser.media.metadata import read_metadata
    from emobrowser.media.payload import payload_key

    payload = None
    if modality == Modality.AUDIO.value:
        try:
            payload = payload_key(path, os.path.getsize(path))
        except OSError:
            payload = None
    return TagsRead(read_metadata(path, modality).as_dict(), payload)


def run_task(path: str | bytes, func, *args):
    """A worker task: ``func(path, *args)`` (extract_file or read_tags); an extracted
    file also gets its tags read, under the same time limit. Tags never cost the item:
    read_metadata reports a problem instead of raising."""
    result = func(path, *args)
    if isinstance(result, Extracted) and result.meta is None:
        from emobrowser.media.metadata import read_metadata

        result.meta = read_metadata(path, result.modality).as_dict()
    return result


def _check_audio(samples: np.ndarray, sr: int) -> None:
    if samples.size < MIN_AUDIO_SECONDS * sr:
        raise MediaError(f"audio too short ({samples.size} samples, {samples.size / sr:.3f} s; "
                         f"at least {MIN_AUDIO_SECONDS} s needed)")
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise MediaError("audio is digital silence (nothing to score)")


def _check_still(path: str, modality: str) -> None:
    """Refuse a sound or video file that has become something else since the scan
    (replaced in between by non-media or an image; FFmpeg tells sound and video
    apart itself). The next scan sees the change and indexes the file afresh."""
    from emobrowser.media.sniff import read_header, sniff

    head = read_header(path)  # a vanished or unreadable file keeps its own reason
    try:
        now, _fmt = sniff(head, path)
    except MediaError as exc:
        raise MediaError(f"the file changed after the scan: {exc}") from None
    if now is Modality.IMAGE:  # (sound and video are both FFmpeg's: it tells those apart itself)
        raise MediaError(f"the file changed after the scan: it now holds an image, not {modality}")


def extract_file(path: str | bytes, modality: str, image_model_name: str, audio_model_name: str,
                 segment_seconds: float = 15.0) -> Extracted:
    """Decode ``path`` as ``modality`` and compute the models' features.

    Raises MediaError with a specific reason for files that cannot be used.
    """
    path = os.fsdecode(path) if isinstance(path, bytes) else path
    if modality != Modality.IMAGE.value:  # (an image's decoder checks its content itself)
        _check_still(path, modality)
    return _extract(path, modality, image_model_name, audio_model_name, segment_seconds)


def _extract(path: str, modality: str, image_model_name: str, audio_model_name: str,
             segment_seconds: float) -> Extracted:
    """extract_file after its content check (the audio-only video falls back here, once)."""
    from emobrowser.models import registry

    if modality == Modality.IMAGE.value:
        from emobrowser.media.images import load_image

        bgr, width, height = load_image(path)
        feats = registry.image_model(image_model_name).extract(bgr)
        return Extracted(modality, width=width, height=height, image=np.asarray(feats, np.float32)[None, :],
                         frame_segment=np.zeros(1, np.int64))
    if modality == Modality.AUDIO.value:
        from emobrowser.media.audio import load_audio

        model = registry.audio_model(audio_model_name)
        samples = load_audio(path, sr=model.sample_rate)
        _check_audio(samples, model.sample_rate)
        f = model.extract(samples, model.sample_rate)
        return Extracted(modality, duration=f.duration, audio_whole=f.whole, audio_frames=f.frames,
                         audio_times=f.times)
    if modality == Modality.VIDEO.value:
        from emobrowser.media.video import NoVideoStream, load_video

        image_model = registry.image_model(image_model_name)
        audio_model = registry.audio_model(audio_model_name)
        try:
            # frames become image features as they are decoded, so a long film is not held as pictures
            video = load_video(path, sr=audio_model.sample_rate, segment_seconds=segment_seconds,
                               frame_transform=image_model.extract_frame)
        except NoVideoStream:
            # A video container with sound only (an .mp4 of music): the content decides, so it is audio.
            try:
                return _extract(path, Modality.AUDIO.value, image_model_name, audio_model_name, segment_seconds)
            except MediaError as exc:
                raise MediaError(f"no video stream, and no usable audio: {exc}") from None
        rows, owners, seg_audio, has_audio, times = [], [], [], [], []
        for index, seg in enumerate(video.segments):
            times.append((seg.start, seg.end))
            rows.extend(seg.frames)
            owners.extend([index] * len(seg.frames))
            usable = seg.audio is not None and seg.audio.size >= MIN_AUDIO_SECONDS * video.sample_rate \
                and float(np.max(np.abs(seg.audio))) >= SILENCE_PEAK
            has_audio.append(usable)
            seg_audio.append(audio_model.extract(seg.audio, video.sample_rate).whole if usable else None)
        if not rows and not any(has_audio):
            raise MediaError("video has neither decodable frames nor a usable soundtrack")
        dim = next((a.size for a in seg_audio if a is not None), 0)
        seg_matrix = np.stack([a if a is not None else np.zeros(dim, np.float32) for a in seg_audio]) \
            if dim else None
        return Extracted(modality, width=video.width, height=video.height, duration=video.duration,
                         image=np.asarray(rows, np.float32) if rows else None,
                         frame_segment=np.asarray(owners, np.int64), seg_times=np.asarray(times),
                         seg_audio=seg_matrix, seg_has_audio=np.asarray(has_audio, bool),
                         warning=f"soundtrack not used: {video.audio_error}" if video.audio_error else None)
    raise MediaError(f"unsupported modality {modality!r}")


@dataclass
class Scored:
    """Scores of one file: per-model whole-file points and timeline segments.

    points: {(model, version): (valence, arousal)}; segments are Segment objects
    tagged with the model that produced them.
    """

    points: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    segments: list[tuple[tuple[str, str], Segment]] = field(default_factory=list)


def score_extracted(ex: Extracted, image_model, audio_model) -> Scored:
    """Run the models' predict on one file's features (used by the inference lane)."""
    out = Scored()
    ikey = (image_model.info.name, image_model.info.version)
    akey = (audio_model.info.name, audio_model.info.version)
    if ex.modality == Modality.IMAGE.value:
        va = image_model.predict(ex.image)[0]
        out.points[ikey] = (float(va[0]), float(va[1]))
    elif ex.modality == Modality.AUDIO.value:
        whole = audio_model.predict(ex.audio_whole[None, :])[0]
        out.points[akey] = (float(whole[0]), float(whole[1]))
        if ex.audio_frames is not None and len(ex.audio_frames):
            timeline = audio_model.predict(ex.audio_frames)
            for (start, end), (v, a) in zip(ex.audio_times, timeline):
                out.segments.append((akey, Segment(float(start), float(end), float(v), float(a), Modality.AUDIO)))
    else:
        n_seg = len(ex.seg_times)
        if ex.image is not None and len(ex.image):
            frame_va = image_model.predict(ex.image)
            weights = np.bincount(ex.frame_segment, minlength=n_seg)
            for s in range(n_seg):
                if weights[s]:
                    v, a = frame_va[ex.frame_segment == s].mean(axis=0)
                    out.segments.append((ikey, Segment(float(ex.seg_times[s][0]), float(ex.seg_times[s][1]),
                                                       float(v), float(a), Modality.IMAGE)))
            mean = frame_va.mean(axis=0)
            out.points[ikey] = (float(mean[0]), float(mean[1]))
        if ex.seg_audio is not None and ex.seg_has_audio.any():
            seg_va = audio_model.predict(ex.seg_audio)
            lengths = ex.seg_times[:, 1] - ex.seg_times[:, 0]
            sel = ex.seg_has_audio
            for s in np.flatnonzero(sel):
                out.segments.append((akey, Segment(float(ex.seg_times[s][0]), float(ex.seg_times[s][1]),
                                                   float(seg_va[s][0]), float(seg_va[s][1]), Modality.AUDIO)))
            mean = np.average(seg_va[sel], axis=0, weights=lengths[sel])
            out.points[akey] = (float(mean[0]), float(mean[1]))
    return out
