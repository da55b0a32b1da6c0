"""Synthetic media: drawn images, synthesised music-like audio, and short videos.

Used by the demo library and by the tests, so that no third-party media is ever
needed. Everything is deterministic for a given seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def draw_image(kind: str, size: tuple[int, int] = (240, 320), seed: int = 0) -> np.ndarray:
    """Return an 8-bit BGR image (height, width, 3) of a simple scene.

    kinds: "warm" (bright warm gradient and sun), "cool" (dim blue gradient),
    "dark" (near black, low contrast), "vivid" (saturated stripes, high contrast),
    "face" (a smiling face), "grey" (flat mid grey), "noise" (random texture).
    """
    import cv2

    rng = np.random.default_rng(seed)
    h, w = size
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    img = np.zeros((h, w, 3), np.float32)
    if kind == "warm":
        img[..., 2] = 200 + 55 * (1 - y)
        img[..., 1] = 150 + 80 * (1 - y) + 0 * x
        img[..., 0] = 60 + 40 * y
        cv2.circle(img, (int(w * 0.7), int(h * 0.3)), h // 6, (120, 240, 255), -1)
    elif kind == "cool":
        img[..., 0] = 90 + 60 * y + 0 * x
        img[..., 1] = 50 + 30 * y
        img[..., 2] = 30 + 10 * y
    elif kind == "dark":
        img[...] = 20 + 10 * y[..., None] + 0 * x[..., None]
    elif kind == "vivid":
        stripes = (np.sin(x * 40 + y * 10) > 0).astype(np.float32)
        img[..., 0] = 255 * stripes
        img[..., 1] = 40 + 0 * y
        img[..., 2] = 255 * (1 - stripes)
    elif kind == "face":
        img[...] = (200, 220, 235)
        cv2.circle(img, (w // 2, h // 2), h // 3, (120, 190, 240), -1)
        cv2.circle(img, (w // 2 - h // 8, h // 2 - h // 10), h // 24, (40, 40, 40), -1)
        cv2.circle(img, (w // 2 + h // 8, h // 2 - h // 10), h // 24, (40, 40, 40), -1)
        cv2.ellipse(img, (w // 2, h // 2 + h // 12), (h // 7, h // 12), 0, 0, 180, (40, 40, 160), 3)
    elif kind == "grey":
        img[...] = 128
    elif kind == "noise":
        img[...] = rng.uniform(0, 255, (h, w, 3))
    else:
        raise ValueError(f"unknown image kind {kind!r}")
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_image(path: str | Path, bgr: np.ndarray, quality: int = 90) -> Path:
    """Write an image; the format follows the extension (jpg, png, bmp, webp, tif, gif)."""
    import cv2

    path = Path(path)
    ext = path.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:
        raise OSError(f"could not encode {path.name}")
    path.write_bytes(buf.tobytes())
    return path


def synth_music(seconds: float = 4.0, sr: int = 22050, bpm: float = 120.0, major: bool = True,
                loudness: float = 0.5, brightness: float = 0.5, seed: int = 0) -> np.ndarray:
    """Return mono float32 music-like audio: a chord progression with percussive beats.

    bpm sets the tempo, major/minor the mode, loudness the peak level (0..1) and
    brightness the share of upper harmonics (0..1).
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    root = 220.0
    third = 4 if major else 3
    chords = [(0, third, 7), (5, 5 + third, 12), (7, 7 + third, 14), (0, third, 7)]
    out = np.zeros(n, np.float32)
    bar = 4 * 60.0 / bpm
    for i, chord in enumerate(chords * int(np.ceil(seconds / bar / len(chords)) + 1)):
        start = int(i * bar * sr)
        if start >= n:
            break
        end = min(n, int((i + 1) * bar * sr))
        tt = t[start:end] - t[start]
        for semis in chord:
            f = root * 2 ** (semis / 12)
            for h in range(1, 6):
                amp = (brightness ** (h - 1)) / h
                out[start:end] += amp * np.sin(2 * np.pi * f * h * tt).astype(np.float32)
    beat = 60.0 / bpm
    for k in range(int(seconds / beat) + 1):
        s = int(k * beat * sr)
        length = min(int(0.08 * sr), n - s)
        if length <= 0:
            break
        env = np.exp(-np.arange(length) / (0.015 * sr)).astype(np.float32)
        out[s:s + length] += 1.5 * env * rng.standard_normal(length).astype(np.float32)
    out /= max(1e-9, float(np.max(np.abs(out))))
    return (out * loudness).astype(np.float32)


def synth_rock(seconds: float = 4.0, sr: int = 22050, bpm: float = 150.0, major: bool = True,
               loudness: float = 0.9, seed: int = 0) -> np.ndarray:
    """Return mono float32 energetic music: distorted power chords, kick and hi-hats.

    Dense broadband sound and strong beats: what raises arousal in real recordings
    more than loudness alone does.
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    out = np.zeros(n, np.float32)
    third = 4 if major else 3
    bar = 4 * 60.0 / bpm
    progression = (0, 5, 7, 0) if major else (0, 8, 3, 10)
    for i in range(int(seconds / bar) + 1):
        start, end = int(i * bar * sr), min(n, int((i + 1) * bar * sr))
        if start >= n:
            break
        tt = t[start:end] - t[start]
        for semis in (0, 7, 12, 12 + third):
            f = 110.0 * 2 ** ((progression[i % 4] + semis) / 12)
            out[start:end] += 0.5 * np.tanh(3 * (2 * ((tt * f) % 1) - 1)).astype(np.float32)
    half_beat = 30.0 / bpm
    for k in range(int(seconds / half_beat) + 1):
        s = int(k * half_beat * sr)
        length = min(int(0.05 * sr), n - s)
        if length <= 0:
            break
        out[s:s + length] += (1.2 * np.exp(-np.arange(length) / (0.01 * sr))
                              * rng.standard_normal(length)).astype(np.float32)
        if k % 2 == 0:
            kl = min(int(0.15 * sr), n - s)
            kt = np.arange(kl) / sr
            out[s:s + kl] += (2.0 * np.sin(2 * np.pi * (60 + 80 * np.exp(-kt * 30)) * kt)
                              * np.exp(-kt * 12)).astype(np.float32)
    out = np.tanh(3.0 * out / max(1e-9, float(np.max(np.abs(out)))))
    return (loudness * out / max(1e-9, float(np.max(np.abs(out))))).astype(np.float32)


def write_audio(path: str | Path, samples: np.ndarray, sr: int = 22050, cover: np.ndarray | None = None,
                metadata: dict[str, str] | None = None) -> Path:
    """Encode mono float audio; the codec follows the extension (wav, flac, ogg, mp3, m4a,
    mp4, opus). ``cover`` (a BGR picture) adds it as cover art: a one-frame MJPEG stream
    marked as an attached picture (mp4 and m4a). ``metadata``: container tags as FFmpeg
    writes them (in a WAV, a RIFF INFO list)."""
    import av

    path = Path(path)
    ext = path.suffix.lower()
    codec, fmt, container_fmt = {
        ".wav": ("pcm_s16le", "s16", "wav"),
        ".flac": ("flac", "s16", "flac"),
        ".ogg": ("libopus", "s16", "ogg"),  # no Vorbis encoder in the PyAV wheels
        ".opus": ("libopus", "s16", "ogg"),
        ".mp3": ("libmp3lame", "fltp", "mp3"),
        ".m4a": ("aac", "fltp", "ipod"),
        ".mp4": ("aac", "fltp", "mp4"),  # sound only, in a video container (brand isom)
    }[ext]
    rate = 48000 if codec == "libopus" else sr
    if rate != sr:
        from emobrowser.media.audio import resample

        samples = resample(np.asarray(samples, np.float32), sr, rate)
    with av.open(str(path), "w", format=container_fmt) as out:
        out.metadata.update(metadata or {})
        stream = out.add_stream(codec, rate=rate, layout="mono")
        if cover is not None:
            art = out.add_stream("mjpeg", rate=1)
            art.height, art.width = cover.shape[:2]
            art.pix_fmt = "yuvj420p"
            art.disposition = av.stream.Disposition.attached_pic
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(cover), format="bgr24")
            for packet in [*art.encode(picture.reformat(format="yuvj420p")), *art.encode(None)]:
                out.mux(packet)
        data = np.asarray(samples, np.float32)
        if fmt == "s16":
            data = (np.clip(data, -1, 1) * 32767).astype(np.int16)
        step = 1024 if codec != "libopus" else 960
        for i in range(0, data.size, step):
            chunk = data[i:i + step]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format=fmt, layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def write_video(path: str | Path, scenes: list[tuple[str, dict]], seconds_per_scene: float = 4.0,
                fps: int = 10, size: tuple[int, int] = (120, 160), sr: int = 22050,
                metadata: dict[str, str] | None = None) -> Path:
    """Encode an MP4 (H.264 + AAC) whose picture and sound change mood together.

    scenes: list of (image kind for draw_image, keyword arguments for synth_music;
    with "rock": True, for synth_rock). metadata: container fields such as "title"
    and "creation_time".
    """
    import av

    path = Path(path)
    with av.open(str(path), "w", format="mp4") as out:
        out.metadata.update(metadata or {})
        vs = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
        vs.height, vs.width = size
        vs.pix_fmt = "yuv420p"
        aus = out.add_stream("aac", rate=sr, layout="mono")
        frame_index = 0
        audio_pts = 0
        for i, (kind, music) in enumerate(scenes):
            picture = draw_image(kind, size, seed=i)
            for k in range(int(seconds_per_scene * fps)):
                shifted = np.roll(picture, k, axis=1)
                frame = av.VideoFrame.from_ndarray(shifted, format="bgr24")
                frame.pts = frame_index
                frame_index += 1
                for packet in vs.encode(frame):
                    out.mux(packet)
            music = dict(music)
            if music.pop("rock", False):
                audio = synth_rock(seconds_per_scene, sr, seed=i, **music)
            else:
                audio = synth_music(seconds_per_scene, sr, seed=i, **music)
            for j in range(0, audio.size, 1024):
                chunk = audio[j:j + 1024]
                af = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
                af.sample_rate = sr
                af.pts = audio_pts
                audio_pts += chunk.size
                for packet in aus.encode(af):
                    out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
        for packet in aus.encode(None):
            out.mux(packet)
    return path


def tag_audio(path: str | Path, cover: np.ndarray | None = None, **tags) -> Path:
    """Add tags (title, artist, album, albumartist, date, tracknumber) to an MP3,
    FLAC, Ogg or M4A file with mutagen, and a JPEG ``cover`` (a BGR picture) when given."""
    import base64

    import cv2
    import mutagen
    from mutagen.flac import Picture

    path = Path(path)
    jpeg = cv2.imencode(".jpg", cover)[1].tobytes() if cover is not None else None
    picture = None
    if jpeg is not None:
        picture = Picture()
        picture.type, picture.mime, picture.data = 3, "image/jpeg", jpeg
    if path.suffix.lower() == ".mp3":
        from mutagen.id3 import APIC, ID3

        audio = mutagen.File(path, easy=True)
        if audio.tags is None:
            audio.add_tags()
        audio.tags.update({k: str(v) for k, v in tags.items()})
        audio.save()
        if jpeg is not None:
            id3 = ID3(path)
            id3.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="cover", data=jpeg))
            id3.save()
        return path
    audio = mutagen.File(path, easy=path.suffix.lower() in (".m4a", ".mp4"))
    if audio.tags is None:
        audio.add_tags()
    for key, value in tags.items():
        audio.tags[key] = str(value)
    if picture is not None:
        if hasattr(audio, "add_picture"):
            audio.add_picture(picture)
        elif path.suffix.lower() in (".m4a", ".mp4"):
            from mutagen.mp4 import MP4, MP4Cover

            audio.save()
            audio = MP4(path)
            audio.tags["covr"] = [MP4Cover(jpeg, MP4Cover.FORMAT_JPEG)]
        else:
            audio.tags["metadata_block_picture"] = [base64.b64encode(picture.write()).decode("ascii")]
    audio.save()
    return path


def write_photo(path: str | Path, image: np.ndarray, taken: str | None = None, offset: str | None = None,
                camera: str | None = None) -> Path:
    """Save a BGR picture as JPEG with EXIF: ``taken`` as "YYYY:MM:DD HH:MM:SS"
    (DateTimeOriginal), ``offset`` as "+HH:MM" (OffsetTimeOriginal), ``camera`` (Model)."""
    from PIL import Image

    exif = Image.Exif()
    if camera:
        exif[0x0110] = camera
    sub = exif.get_ifd(0x8769)
    if taken:
        sub[0x9003] = taken
    if offset:
        sub[0x9011] = offset
    Image.fromarray(np.ascontiguousarray(image[..., ::-1])).save(path, "JPEG", exif=exif.tobytes())
    return Path(path)


def natural_texture(height: int, width: int, seed: int) -> np.ndarray:
    """1/f ("pink") noise in [0, 1]: the power spectrum of natural photographs.

    Flat drawings have almost no texture energy, which puts them far outside the
    photos the image model learned from; modulating them with 1/f noise brings
    their texture statistics closer to real photos.
    """
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fft2(rng.standard_normal((height, width)))
    radius = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :])
    radius[0, 0] = 1.0
    texture = np.real(np.fft.ifft2(spectrum / radius))
    return (texture - texture.min()) / max(float(np.ptp(texture)), 1e-9)


def _hsv_colour(rng, hue, sat, val) -> tuple[float, float, float]:
    import cv2

    hsv = np.uint8([[[rng.uniform(*hue) % 180, rng.uniform(*sat), rng.uniform(*val)]]])
    return tuple(float(x) for x in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw_shapes(seed: int, hue: tuple[float, float], sat: tuple[float, float], val: tuple[float, float],
                shapes: int, jagged: float, blur: float, size: tuple[int, int] = (360, 480)) -> np.ndarray:
    """Return an 8-bit BGR picture (height, width, 3): a gradient under ``shapes`` random
    lines, polygons, discs and boxes, textured with 1/f noise.

    Colours are drawn from OpenCV HSV ranges (hue in [0, 180), wrapping; saturation and
    value in [0, 255]); ``jagged`` in [0, 1] is the share of lines and polygons among
    the shapes; ``blur`` the Gaussian sigma in pixels (0 = sharp). Deterministic per seed.
    """
    import cv2

    rng = np.random.default_rng(seed)
    h, w = size
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    top, bottom = np.array(_hsv_colour(rng, hue, sat, val)), np.array(_hsv_colour(rng, hue, sat, val))
    img = np.ascontiguousarray((top * (1 - y) + bottom * y) * np.ones((1, w, 1), np.float32), dtype=np.float32)
    for _ in range(shapes):
        c = _hsv_colour(rng, hue, sat, val)
        p = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        r = int(rng.uniform(3, h / 3))
        k = rng.uniform()
        if k < jagged:
            if rng.uniform() < 0.5:
                cv2.line(img, p, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), c, int(rng.integers(1, 10)))
            else:
                pts = rng.uniform(0, 1, (int(rng.integers(3, 6)), 2)) * [w, h]
                cv2.fillPoly(img, [pts.astype(np.int32)], c)
        elif k < (1 + jagged) / 2:
            cv2.circle(img, p, r, c, -1)
        else:
            cv2.rectangle(img, p, (p[0] + r, p[1] + int(rng.uniform(3, h / 3))), c, -1)
    img *= 0.6 + 0.8 * natural_texture(h, w, seed)[..., None]
    img += rng.normal(0, 6, img.shape)
    if blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    return np.clip(img, 0, 255).astype(np.uint8)


def synth_seeded(seed: int, seconds: float = 8.0, sr: int = 22050, *, bpm: tuple[float, float] = (50, 190),
                 loudness: tuple[float, float] = (0.15, 1.0), modes: tuple[int, ...] = (0, 1, 2),
                 drive: float = 8.0, hats: float = 2.5, kick: float = 3.0, noise: float = 0.6) -> np.ndarray:
    """Return mono float32 music-like audio whose make-up is drawn from ``seed`` within ranges.

    bpm: tempo range; loudness: peak level range (0..1); modes: chords to choose from
    (0 major, 1 minor, 2 dissonant: minor second and tritone); drive: the largest
    distortion gain (below 1 none); hats, kick: the largest levels of the noise
    hi-hats and the kick drum; noise: the largest level of added broadband noise, as a
    share of the peak. Deterministic per seed and arguments.
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    tempo = rng.uniform(*bpm)
    mode = int(rng.choice(modes))
    intervals = [(0, 4, 7), (0, 3, 7), (0, 1, 6)][mode]
    progression = [(0, 5, 7, 0), (0, 8, 3, 10), (0, 1, 6, 11)][mode]
    root = 55.0 * 2 ** rng.uniform(0, 3)
    gain = rng.uniform(0, drive)
    wave = rng.integers(0, 3)  # sine harmonics, saw, square
    harmonics = rng.uniform(0.1, 0.9)
    out = np.zeros(n, np.float32)
    bar = 4 * 60.0 / tempo
    for i in range(int(seconds / bar) + 1):
        s, e = int(i * bar * sr), min(n, int((i + 1) * bar * sr))
        if s >= n:
            break
        tt = t[s:e] - t[s]
        for semis in intervals:
            f = root * 2 ** ((progression[i % 4] + semis) / 12)
            if wave == 0:
                sig = sum(harmonics ** (k - 1) / k * np.sin(2 * np.pi * f * k * tt) for k in range(1, 6))
            elif wave == 1:
                sig = 2 * ((tt * f) % 1) - 1
            else:
                sig = np.sign(np.sin(2 * np.pi * f * tt))
            out[s:e] += 0.4 * sig.astype(np.float32)
    if gain > 1:
        out = np.tanh(gain * out / max(1e-9, np.abs(out).max()))
    sub = int(rng.choice([1, 2, 4]))
    step = 60.0 / tempo / sub
    hat_level, kick_level = rng.uniform(0, hats), rng.uniform(0, kick)
    for k in range(int(seconds / step) + 1):
        s = int(k * step * sr)
        length = min(int(0.06 * sr), n - s)
        if length <= 0:
            break
        out[s:s + length] += (hat_level * np.exp(-np.arange(length) / (0.012 * sr))
                              * rng.standard_normal(length)).astype(np.float32)
        if k % sub == 0:
            kl = min(int(0.15 * sr), n - s)
            kt = np.arange(kl) / sr
            out[s:s + kl] += (kick_level * np.sin(2 * np.pi * (50 + 90 * np.exp(-kt * 30)) * kt)
                              * np.exp(-kt * 12)).astype(np.float32)
    level = rng.uniform(0, noise)
    out += level * rng.standard_normal(n).astype(np.float32) * np.abs(out).max()
    if rng.uniform(0, 1) > 0.6:  # a tremolo
        out *= (1 - 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(0.2, 8) * t))).astype(np.float32) * 0.5 + 0.5
    peak = rng.uniform(*loudness)
    return (peak * out / max(1e-9, float(np.abs(out).max()))).astype(np.float32)


def write_clip(path: str | Path, picture: np.ndarray, audio: np.ndarray, fps: int = 10, sr: int = 22050) -> Path:
    """Encode an MP4 (H.264 + AAC) of a BGR ``picture`` panning slowly sideways under
    mono float32 ``audio``; it lasts as long as the audio."""
    import av

    path = Path(path)
    frames = int(len(audio) / sr * fps)
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
        vs.height, vs.width = picture.shape[:2]
        vs.pix_fmt = "yuv420p"
        aus = out.add_stream("aac", rate=sr, layout="mono")
        for k in range(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.roll(picture, k, axis=1)), format="bgr24")
            frame.pts = k
            for packet in vs.encode(frame):
                out.mux(packet)
        for j in range(0, audio.size, 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[None, j:j + 1024]), format="flt",
                                            layout="mono")
            af.sample_rate = sr
            af.pts = j
            for packet in aus.encode(af):
                out.mux(packet)
        for packet in [*vs.encode(None), *aus.encode(None)]:
            out.mux(packet)
    return path
