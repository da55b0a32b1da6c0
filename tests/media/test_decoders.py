import numpy as np
import pytest

from emobrowser.core.errors import MediaError
from emobrowser.core.types import Modality
from emobrowser.media import synth
from emobrowser.media.audio import load_audio
from emobrowser.media.images import decode_image, header_size, load_image, reduction_factor
from emobrowser.media.sniff import sniff
from emobrowser.media.video import load_video, segment_bounds


@pytest.mark.parametrize("ext,fmt", [("jpg", "jpeg"), ("png", "png"), ("webp", "webp"), ("bmp", "bmp"),
                                     ("tif", "tiff"), ("gif", "gif")])
def test_images_of_every_format_decode_and_sniff(tmp_path, ext, fmt):
    path = synth.write_image(tmp_path / f"a.{ext}", synth.draw_image("warm", (60, 80)))
    assert sniff(path.read_bytes()[:64], path.name) == (Modality.IMAGE, fmt)
    bgr, w, h = load_image(path)
    assert (w, h) == (80, 60)
    assert bgr.shape == (60, 80, 3) and bgr.dtype == np.uint8
    # warm image: red channel brighter than blue
    assert bgr[..., 2].mean() > bgr[..., 0].mean()


def test_content_decides_over_extension(tmp_path):
    png_named_mp3 = synth.write_image(tmp_path / "x.png", synth.draw_image("grey", (20, 20)))
    data = png_named_mp3.read_bytes()
    assert sniff(data[:64], "song.mp3") == (Modality.IMAGE, "png")
    with pytest.raises(MediaError, match="content is text, not an image file"):
        sniff(b"hello there, this is text", "photo.jpg")
    with pytest.raises(MediaError, match="empty file"):
        sniff(b"", "a.wav")


def test_bare_mpeg_frames_need_valid_fields_and_an_audio_name():
    frame = b"\xff\xfb\x90\x64" + bytes(60)  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz
    assert sniff(frame, "song.mp3") == (Modality.AUDIO, "mp3")
    assert sniff(b"\xff\xf1\x50\x80" + bytes(60), "song.aac") == (Modality.AUDIO, "aac")
    with pytest.raises(MediaError, match="unrecognised content: not an image file"):
        sniff(frame, "photo.jpg")  # random bytes that happen to start with a sync word
    for bad in (b"\xff\xfb\xf0\x64", b"\xff\xfb\x9c\x64", b"\xff\xe1\x90\x64", b"\xff\xeb\x90\x64"):
        # bitrate index 15, sample-rate index 3, reserved layer, reserved version
        with pytest.raises(MediaError, match="unrecognised content"):
            sniff(bad + bytes(60), "song.mp3")


def test_reduced_jpeg_decoding_keeps_full_dimensions(tmp_path):
    big = np.tile(synth.draw_image("vivid", (300, 400)), (8, 8, 1))  # 2400 x 3200
    path = synth.write_image(tmp_path / "big.jpg", big)
    bgr, w, h = load_image(path)
    assert (w, h) == (3200, 2400)
    assert max(bgr.shape[:2]) == 3200 // reduction_factor(3200, 2400, 384) == 400
    full, _, _ = decode_image(path.read_bytes(), "jpeg", min_side=None)
    assert full.shape[:2] == (2400, 3200)


def test_decompression_bomb_is_refused_before_decoding():
    # A PNG header claiming 30000 x 30000 pixels, with no pixel data at all.
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    with pytest.raises(MediaError, match="30000×30000 exceeds the pixel limit"):
        decode_image(data, "png")


@pytest.mark.parametrize("order", ["<", ">"])
def test_a_tiff_bomb_is_refused_from_its_header(order):
    # A TIFF stating 30000 x 30000 pixels: its deflated zeros would be a few MB on disk
    # but 2.7 GB decoded. The header alone must refuse it.
    import struct

    entries = [(256, 4, 1, 30000), (257, 3, 1, 30000), (258, 3, 1, 8)]
    ifd = struct.pack(order + "H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack(order + ("I" if kind == 4 else "H"), value).ljust(4, b"\0")
        ifd += struct.pack(order + "HHI", tag, kind, count) + packed
    data = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 8) + ifd + struct.pack(order + "I", 0)
    assert header_size(data, "tiff") == (30000, 30000)
    with pytest.raises(MediaError, match="30000×30000 exceeds the pixel limit"):
        decode_image(data, "tiff")


def test_tiff_dimensions_come_from_the_header():
    import struct

    import cv2

    # BigTIFF: 64-bit offsets and counts, 20-byte entries; the width as LONG8.
    entries = struct.pack("<HHQQ", 256, 16, 1, 40000) + struct.pack("<HHQQ", 257, 3, 1, 20)
    big = b"II+\x00" + struct.pack("<HHQ", 8, 0, 16) + struct.pack("<Q", 2) + entries + struct.pack("<Q", 0)
    assert sniff(big, "x.tif") == (Modality.IMAGE, "tiff")
    assert header_size(big, "tiff") == (40000, 20)

    for img in (np.zeros((30, 50, 3), np.uint8), np.zeros((20, 10), np.uint16)):
        ok, buf = cv2.imencode(".tiff", img)
        assert ok and header_size(buf.tobytes(), "tiff") == (img.shape[1], img.shape[0])


def test_truncated_images_have_specific_reasons(tmp_path):
    jpg = synth.write_image(tmp_path / "a.jpg", synth.draw_image("noise", (100, 100))).read_bytes()
    png = synth.write_image(tmp_path / "a.png", synth.draw_image("noise", (100, 100))).read_bytes()
    with pytest.raises(MediaError, match="truncated JPEG"):
        decode_image(jpg[: len(jpg) // 2], "jpeg")
    with pytest.raises(MediaError, match="truncated PNG"):
        decode_image(png[: len(png) // 2], "png")


def test_images_with_data_after_their_end_decode(tmp_path):
    import cv2

    picture = synth.draw_image("warm", (360, 480))
    jpg = cv2.imencode(".jpg", picture)[1].tobytes()
    png = cv2.imencode(".png", picture)[1].tobytes()
    # a phone's motion photo: the JPEG, then a whole video after its end marker
    video = synth.write_video(tmp_path / "clip.mp4", [("warm", {}), ("dark", {})], seconds_per_scene=2).read_bytes()
    for data, fmt in ((jpg + video, "jpeg"), (jpg + bytes(10000), "jpeg"), (png + bytes(100), "png"),
                      (png + video, "png")):
        bgr, width, height = decode_image(data, fmt)
        assert (width, height) == (480, 360) and bgr.ndim == 3
    # still truncated when cut short, also behind an EXIF thumbnail with its own end marker
    thumb = cv2.imencode(".jpg", picture[::8, ::8])[1].tobytes()
    app1 = b"Exif\x00\x00" + thumb
    with_thumb = jpg[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + jpg[2:]
    assert decode_image(with_thumb, "jpeg")[1:] == (480, 360)
    cut = with_thumb[: len(with_thumb) * 2 // 3]
    assert b"\xff\xd9" in cut  # the thumbnail's
    with pytest.raises(MediaError, match="truncated JPEG"):
        decode_image(cut + bytes(5000), "jpeg")
    with pytest.raises(MediaError, match="truncated PNG"):
        decode_image(png[: len(png) // 2] + bytes(5000), "png")


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3", "m4a"])
def test_audio_decodes_to_mono_at_requested_rate(tmp_path, ext):
    sr = 22050
    tone = synth.synth_music(2.0, sr)
    path = synth.write_audio(tmp_path / f"a.{ext}", tone, sr)
    y = load_audio(path, sr=16000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(y.size / 16000 - 2.0) < 0.15
    assert 0.2 < np.abs(y).max() <= 1.05


@pytest.mark.parametrize("channels", [2, 6, 8, 12])
def test_multichannel_audio_is_the_mean_of_its_channels(tmp_path, channels):
    # 8 or more channels (a 7.1 film soundtrack) once crashed the decoding process.
    import soundfile as sf

    sr = 22050
    rng = np.random.default_rng(channels)
    x = (rng.random((sr // 2, channels), dtype=np.float32) - 0.5) * 0.4
    x[:, 0] += synth.synth_music(0.5, sr)[: sr // 2] * 0.5  # channels differ
    sf.write(tmp_path / "multi.wav", x, sr, subtype="FLOAT")
    # Decoded in a child process: a decoder crash (as 8+ channels once gave) then fails
    # this test instead of ending the test run.
    import subprocess
    import sys

    code = ("import sys, numpy as np\nfrom emobrowser.media.audio import load_audio\n"
            "np.save(sys.argv[2], load_audio(sys.argv[1], sr=22050))")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "multi.wav"), str(tmp_path / "y.npy")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), x.mean(axis=1), atol=1e-6)


def test_audio_of_a_text_file_fails_clearly(tmp_path):
    path = tmp_path / "fake.mp3"
    path.write_text("not audio at all " * 50)
    with pytest.raises(MediaError):
        load_audio(path)


def test_video_has_segments_with_frames_and_audio(tmp_path):
    path = synth.write_video(tmp_path / "v.mp4", [("warm", {}), ("dark", {})], seconds_per_scene=4.0, fps=5)
    video = load_video(path, sr=22050, segment_seconds=3.0)
    assert (video.width, video.height) == (160, 120)
    assert abs(video.duration - 8.0) < 0.3
    starts = [s.start for s in video.segments]
    assert starts == [0.0, 3.0] or starts == [0.0, 3.0, 6.0]
    frames = sum(len(s.frames) for s in video.segments)
    assert 7 <= frames <= 9  # one frame per second
    assert all(s.audio is not None and s.audio.size > 0 for s in video.segments)
    # picture changes from bright warm to dark with the scene
    first, last = video.segments[0].frames[0], video.segments[-1].frames[-1]
    assert first.mean() > last.mean() + 50


def test_video_without_picture_stream_is_reported(tmp_path):
    path = synth.write_audio(tmp_path / "a.m4a", synth.synth_music(1.0))
    with pytest.raises(MediaError, match="no video stream"):
        load_video(path)


def test_segment_bounds_merge_short_tail():
    assert segment_bounds(31.0, 15.0) == [(0.0, 15.0), (15.0, 31.0)]
    assert segment_bounds(40.0, 15.0) == [(0.0, 15.0), (15.0, 30.0), (30.0, 40.0)]
    assert segment_bounds(2.0, 15.0) == [(0.0, 2.0)]


def test_a_vanished_file_gets_the_same_reason_from_every_decoder(tmp_path):
    from emobrowser.media.audio import load_audio

    for name in ("gone.wav", "gone.mp3"):
        with pytest.raises(MediaError, match="^file vanished before it could be read$"):
            load_audio(tmp_path / name)
    with pytest.raises(MediaError, match="^file vanished before it could be read$"):
        load_image(tmp_path / "gone.jpg")


@pytest.mark.parametrize("rotate", [None, 90, 270])
def test_a_rotated_video_is_sampled_upright(tmp_path, rotate):
    import av

    # Stored landscape, 120 x 160, bright on top: a phone's portrait video with
    # "rotate 90" shows the stored top on the right.
    picture = np.zeros((120, 160, 3), np.uint8)
    picture[:60] = 255
    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=10)
        stream.height, stream.width, stream.pix_fmt = 120, 160, "yuv420p"
        if rotate is not None:  # the display matrix: "turn {rotate} degrees clockwise"
            stream.set_display_rotation(-rotate)  # PyAV counts counterclockwise
        for k in range(20):
            frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
            frame.pts = k
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    video = load_video(path, frame_side=160)
    img = video.segments[0].frames[0]
    grey = img.mean(axis=2)
    if rotate is None:
        assert img.shape[:2] == (120, 160) and (video.width, video.height) == (160, 120)
        assert grey[:60].mean() > 200 > 50 > grey[60:].mean()
    else:
        assert img.shape[:2] == (160, 120) and (video.width, video.height) == (120, 160)
        bright, dark = (slice(60, None), slice(None, 60)) if rotate == 90 else (slice(None, 60), slice(60, None))
        assert grey[:, bright].mean() > 200 > 50 > grey[:, dark].mean()


def test_decoded_samples_are_joined_whatever_length_the_header_states(monkeypatch):
    from emobrowser.media import audio

    monkeypatch.setattr(audio, "_MAX_RESERVED", 1000)
    chunks = [np.full(300, k, np.float32) for k in range(7)]
    expected = np.concatenate(chunks)
    for stated in (0, 2100, 500, 100_000):  # unknown, right, too short, far too long (capped)
        samples = audio._Samples(stated)
        for chunk in chunks:
            samples.append(chunk)
        out = samples.result()
        np.testing.assert_array_equal(out, expected)
        assert out.base is None or out.base.size <= 2 * out.size  # no large slack kept alive


def test_a_named_pipe_is_refused_without_blocking(tmp_path):
    import os

    from emobrowser.media.sniff import read_header

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(MediaError, match="not a regular file"):
        read_header(str(fifo))  # would block for good on a plain open()
    assert read_header(str(synth.write_image(tmp_path / "a.png", synth.draw_image("warm", (8, 8)))))[:4] == b"\x89PNG"


def _write_av(path, frame_times, audio_seconds, audio_start=0.0, fmt="mp4", sr=22050, fps=10):
    """A video whose pictures are shown at ``frame_times`` (s) and whose sound (a tone)
    plays from ``audio_start`` for ``audio_seconds``; timestamps are kept as given."""
    import av
    from fractions import Fraction

    with av.open(str(path), "w", format=fmt) as out:
        vs = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
        vs.height, vs.width, vs.pix_fmt = 60, 80, "yuv420p"
        vs.codec_context.time_base = Fraction(1, fps)
        aus = out.add_stream("aac", rate=sr, layout="mono") if audio_seconds else None
        for t in frame_times:
            frame = av.VideoFrame.from_ndarray(synth.draw_image("warm", (60, 80)), format="bgr24")
            frame.pts = int(round(t * fps))
            frame.time_base = Fraction(1, fps)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
        if aus is not None:
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(audio_seconds * sr)) / sr)).astype(np.float32)
            first = int(round(audio_start * sr))
            for j in range(0, tone.size, 1024):
                af = av.AudioFrame.from_ndarray(tone[None, j:j + 1024], format="flt", layout="mono")
                af.sample_rate, af.pts, af.time_base = sr, first + j, Fraction(1, sr)
                for packet in aus.encode(af):
                    out.mux(packet)
            for packet in aus.encode(None):
                out.mux(packet)
    return path


def test_a_still_picture_over_a_longer_sound_is_not_called_truncated(tmp_path):
    # one picture and 20 s of sound, as music uploads are made; the file states 20 s
    path = _write_av(tmp_path / "still.mp4", [0.0], 20.0)
    video = load_video(path, segment_seconds=5.0)
    assert abs(video.duration - 20.0) < 0.3
    assert [len(s.frames) for s in video.segments] == [1, 0, 0, 0]
    assert all(s.audio is not None and s.audio.size >= 4.9 * 22050 for s in video.segments)
    # a picture that stops early, sound to the end
    video = load_video(_write_av(tmp_path / "short.mp4", np.arange(0, 5, 0.1), 32.0), segment_seconds=15.0)
    assert abs(video.duration - 32.0) < 0.3 and len(video.segments) == 2


def test_a_file_cut_off_in_both_streams_is_still_called_truncated(tmp_path):
    cut = _write_av(tmp_path / "cut.mkv", np.arange(0, 20, 0.1), 20.0, fmt="matroska")
    assert abs(load_video(cut).duration - 20.0) < 0.3
    raw = cut.read_bytes()
    cut.write_bytes(raw[: len(raw) // 3])  # the header still states 20 s
    with pytest.raises(MediaError, match="truncated video"):
        load_video(cut)


def test_times_count_from_the_first_picture_or_sound(tmp_path):
    # both streams start at 30 s, as in a cut from a longer recording
    video = load_video(_write_av(tmp_path / "late.mp4", np.arange(30, 50, 0.1), 20.0, audio_start=30.0),
                       segment_seconds=5.0)
    assert abs(video.duration - 20.0) < 0.3 and len(video.segments) == 4
    assert all(len(s.frames) == 5 and s.audio is not None and s.audio.size >= 4.9 * 22050 for s in video.segments)
    # the sound starts 3 s after the picture: the first 5 s segment holds 2 s of it
    video = load_video(_write_av(tmp_path / "lag.mp4", np.arange(0, 20, 0.1), 17.0, audio_start=3.0),
                       segment_seconds=5.0)
    sizes = [0 if s.audio is None else s.audio.size / 22050 for s in video.segments]
    assert abs(sizes[0] - 2.0) < 0.1 and all(abs(x - 5.0) < 0.1 for x in sizes[1:]), sizes


def test_an_empty_picture_stream_with_sound_is_audio(tmp_path):
    from emobrowser.index.extract import extract_file

    path = _write_av(tmp_path / "sound.mkv", [], 8.0, fmt="matroska")
    got = extract_file(str(path), Modality.VIDEO.value, "baseline", "baseline")
    assert got.modality == Modality.AUDIO.value and abs(got.duration - 8.0) < 0.3


def test_a_slideshow_at_one_picture_per_five_seconds_is_not_called_truncated(tmp_path):
    from fractions import Fraction

    # four pictures, each shown 5 s, no sound: the file states 20 s
    video = load_video(_write_av(tmp_path / "slides.mp4", [0, 5, 10, 15], 0, fps=Fraction(1, 5)),
                       segment_seconds=5.0)
    assert abs(video.duration - 20.0) < 0.3
    assert [len(s.frames) for s in video.segments] == [1, 1, 1, 1]


def test_a_soundtrack_longer_than_the_audio_limit_is_kept_up_to_the_video_limit(tmp_path, monkeypatch):
    from emobrowser.media import audio as audio_module
    from emobrowser.media import video as video_module

    path = _write_av(tmp_path / "film.mp4", np.arange(0, 12, 0.1), 12.0)
    monkeypatch.setattr(audio_module, "MAX_SECONDS", 6.0)  # audio files: 6 s here
    with pytest.raises(MediaError, match="audio longer than"):
        load_audio(path)
    video = load_video(path, segment_seconds=6.0)  # a film's sound: the video limit (6 h) applies
    assert video.audio_error is None and all(s.audio is not None for s in video.segments)
    monkeypatch.setattr(video_module, "MAX_VIDEO_SECONDS", 6.0)
    with pytest.raises(MediaError, match="video longer than"):
        load_video(path)


def test_garbage_float_samples_in_a_soundtrack(tmp_path):
    import av
    from fractions import Fraction

    def mkv(name, samples):
        path = tmp_path / name
        with av.open(str(path), "w", format="matroska") as out:
            vs = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=10)
            vs.height, vs.width, vs.pix_fmt = 60, 80, "yuv420p"
            aus = out.add_stream("pcm_f32le", rate=22050, layout="mono")
            for i in range(40):
                frame = av.VideoFrame.from_ndarray(synth.draw_image("warm", (60, 80)), format="bgr24")
                frame.pts = i
                for packet in vs.encode(frame):
                    out.mux(packet)
            for packet in vs.encode(None):
                out.mux(packet)
            for j in range(0, samples.size, 1024):
                af = av.AudioFrame.from_ndarray(samples[None, j:j + 1024], format="flt", layout="mono")
                af.sample_rate, af.pts, af.time_base = 22050, j, Fraction(1, 22050)
                for packet in aus.encode(af):
                    out.mux(packet)
        return path

    music = synth.synth_music(4.0, 22050).astype(np.float32)
    holes = music.copy()
    holes[::100] = np.nan
    video = load_video(mkv("nan.mkv", holes))  # NaN samples become 0; the rest is sound
    assert video.audio_error is None and np.isfinite(video.segments[0].audio).all()
    assert np.abs(video.segments[0].audio).max() > 0.05
    video = load_video(mkv("huge.mkv", music * 1e30))  # the picture is fine; the sound is not sound
    assert video.segments[0].frames and video.segments[0].audio is None
    assert "far outside full scale" in video.audio_error
    with pytest.raises(MediaError, match="far outside full scale"):
        load_audio(mkv("huge2.mkv", music * 1e30))
    # scored on its pictures, saying why the sound was left out
    from emobrowser.index.scoring import score_paths

    (result,) = score_paths([str(tmp_path / "huge.mkv")], "baseline", "baseline")
    assert result.error is None and result.valence is not None
    assert result.warning.startswith("soundtrack not used: audio samples far outside full scale")


def test_streamed_resampling_equals_resampling_the_whole(tmp_path):
    import soundfile as sf

    from emobrowser.media.audio import _open, decode_stream_audio, resample

    path = tmp_path / "a.flac"
    sf.write(path, synth.synth_music(7.0, 44100), 44100)
    container = _open(path)
    native, rate, _ = decode_stream_audio(container)
    container.close()
    assert rate == 44100
    assert np.array_equal(load_audio(path, sr=22050), resample(native, 44100, 22050))


def test_frames_can_become_features_as_they_are_decoded(tmp_path):
    path = synth.write_video(tmp_path / "v.mp4", [("warm", {}), ("dark", {})], seconds_per_scene=4)
    plain = load_video(path, segment_seconds=4.0)
    means = load_video(path, segment_seconds=4.0, frame_transform=lambda img: img.mean(axis=(0, 1)))
    assert [len(s.frames) for s in means.segments] == [len(s.frames) for s in plain.segments]
    for a, b in zip(plain.segments, means.segments):
        assert all(np.allclose(f.mean(axis=(0, 1)), g) for f, g in zip(a.frames, b.frames))
    assert (means.width, means.height, means.duration) == (plain.width, plain.height, plain.duration)


def test_audio_that_ffmpeg_reads_is_recognised(tmp_path):
    import soundfile as sf

    from emobrowser.media.sniff import read_header

    music = synth.synth_music(3.0, 22050)
    for fmt in ("RF64", "W64"):  # WAV beyond 4 GiB (field recorders, broadcast); Sony Wave64
        path = tmp_path / f"{fmt}.wav"
        sf.write(path, music, 22050, format=fmt)
        assert sniff(read_header(path), str(path)) == (Modality.AUDIO, "wav")
        assert abs(load_audio(path).size - music.size) < 10
    mp3 = synth.write_audio(tmp_path / "a.mp3", music, 22050).read_bytes()
    variants = {"padded.mp3": bytes(3000) + mp3,  # zero padding before the frames
                "loose_id3.mp3": b"ID3\x03\x00\x00\x00\x00\x01\x90" + bytes(400) + mp3}  # size not syncsafe
    for name, data in variants.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert sniff(read_header(path), name) == (Modality.AUDIO, "mp3")
        assert load_audio(path).size > 2.9 * 22050
    # zero padding is audio only under an audio name; zeros alone are not
    with pytest.raises(MediaError, match="unrecognised content"):
        sniff(bytes(3000) + mp3, "x.jpg")
    with pytest.raises(MediaError, match="content is all zero bytes, not an audio file"):
        sniff(bytes(3000), "x.mp3")
    with pytest.raises(MediaError, match="the first 65,536 bytes are all zero: not an audio file"):
        sniff(bytes(65536), "x.mp3")


def test_an_exif_rotated_photo_reports_the_size_it_is_shown_at():
    import struct

    import cv2

    stored = cv2.imencode(".jpg", synth.draw_image("warm", (200, 400)))[1].tobytes()  # 400 wide, 200 high
    # a minimal EXIF block: one IFD entry, Orientation (0x0112) = 6, "turn 90° clockwise to show"
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0) \
        + struct.pack("<I", 0)
    app1 = b"Exif\x00\x00" + tiff
    rotated = stored[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + stored[2:]
    bgr, width, height = decode_image(rotated, "jpeg")
    assert bgr.shape[:2] == (400, 200) and (width, height) == (200, 400)
    assert decode_image(stored, "jpeg")[1:] == (400, 200)


def test_a_float_tiff_decodes():
    import cv2

    picture = synth.draw_image("warm", (40, 60)).astype(np.float32) / 255.0
    ok, buf = cv2.imencode(".tiff", picture)
    assert ok
    bgr, width, height = decode_image(buf.tobytes(), "tiff")
    assert bgr.dtype == np.uint8 and (width, height) == (60, 40)
    assert np.abs(bgr.astype(int) - np.round(picture * 255).astype(int)).max() <= 1


def test_the_jpeg_end_is_found_past_fill_bytes():
    import cv2

    from emobrowser.media.images import _jpeg_end

    jpg = cv2.imencode(".jpg", synth.draw_image("warm", (60, 80)))[1].tobytes()
    assert _jpeg_end(jpg) == len(jpg)
    padded = jpg[:-2] + b"\xff" * 5000 + b"\xff\xd9"  # fill bytes before the end marker are allowed
    assert _jpeg_end(padded + bytes(100)) == len(padded)
    assert _jpeg_end(jpg[:-2] + b"\xff" * 5000) is None  # and a file of fill bytes never ends


@pytest.mark.slow
def test_video_frames_are_scored_on_one_view_of_the_photo_model(tmp_path):
    """The shipped photo model scores a photo with its mirror image, but a video's frames
    (one a second) with the frame alone, so a long film holds a third of the features."""
    from emobrowser.index.extract import extract_file, score_extracted
    from emobrowser.models import registry

    image_model = registry.image_model()
    path = synth.write_video(tmp_path / "clip.mp4", [("warm", {}), ("dark", {})], seconds_per_scene=2)
    got = extract_file(str(path), Modality.VIDEO.value, image_model.info.name, "baseline")
    photo = extract_file(str(synth.write_image(tmp_path / "a.jpg", synth.draw_image("warm", (120, 160)))),
                         Modality.IMAGE.value, image_model.info.name, "baseline")
    assert got.image.shape[1] * 2 == photo.image.shape[1] == image_model.extract(np.zeros((8, 8, 3), np.uint8)).size
    scored = score_extracted(got, image_model, registry.audio_model("baseline"))
    frame_segments = [s for _, s in scored.segments if s.source == Modality.IMAGE]
    assert frame_segments and all(abs(s.valence) <= 1 and abs(s.arousal) <= 1 for s in frame_segments)
