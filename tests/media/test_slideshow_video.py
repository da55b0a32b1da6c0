"""Rendering a slideshow: letterboxing, upright photos, cross-fades, the soundtrack, no half files."""

import os
import struct

import numpy as np
import pytest

from emobrowser.core.errors import MediaError
from emobrowser.media import synth
from emobrowser.media.slideshow_video import (OutputError, RenderCancelled, frame_schedule, letterbox, load_picture,
                                              parse_size, render)


def streams(path):
    import av

    with av.open(str(path)) as c:
        info = {s.type: (s.codec_context.name, float(s.duration * s.time_base)) for s in c.streams}
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
        return info, c.duration / 1e6, frames


def test_parse_size():
    assert parse_size("1280x720") == (1280, 720)
    for bad, message in (("big", "cannot read size"), ("1281x720", "even number"), ("32x32", "from 64")):
        with pytest.raises(ValueError, match=message):
            parse_size(bad)


def test_letterbox_keeps_the_shape_on_black():
    tall = np.full((100, 50, 3), 200, np.uint8)
    out = letterbox(tall, 160, 80)
    assert out.shape == (80, 160, 3)
    cols = np.flatnonzero(out[40, :, 0] > 100)
    assert cols.size == 40 and cols[0] == 60  # 40 px wide, centred
    assert out[:, :50].max() == 0


def test_an_exif_rotated_photo_is_shown_upright(tmp_path):
    import cv2

    picture = np.zeros((100, 200, 3), np.uint8)  # 200 wide, 100 high, stored lying on its side
    picture[:, :100] = 255  # the left half white
    stored = cv2.imencode(".jpg", picture)[1].tobytes()
    # EXIF Orientation 6: turn 90° clockwise to show, so it is 100 wide, 200 high, white on top
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0) \
        + struct.pack("<I", 0)
    app1 = b"Exif\x00\x00" + tiff
    (tmp_path / "turned.jpg").write_bytes(stored[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
                                          + stored[2:])
    frame = load_picture(str(tmp_path / "turned.jpg"), 200, 200)
    inside = frame[:, 50:150]
    assert frame[:, :45].max() < 20 and frame[:, 155:].max() < 20  # bars beside an upright photo
    assert inside[:90].mean() > 200 and inside[110:].mean() < 50


def test_frame_schedule_cross_fades_around_each_cut():
    shot, previous = frame_schedule(np.array([0.0, 1.0]), 50, 25, 0.4)
    t = (np.arange(50) + 0.5) / 25
    assert (shot[t < 0.8] == 0).all() and (shot[t > 1.2] == 1).all()
    fading = (t > 0.8) & (t < 1.2)
    assert ((previous > 0) == fading).all()
    assert np.all(np.diff(previous[fading]) < 0)  # the old photo fades out steadily
    assert previous[fading].max() <= 1 and previous[fading].min() >= 0


def song(tmp_path, seconds=3.0):
    return str(synth.write_audio(tmp_path / "song.flac", synth.synth_music(seconds, seed=1)))


def photos(tmp_path):
    out = []
    for i, kind in enumerate(("warm", "cool", "vivid")):
        out.append(str(synth.write_image(tmp_path / f"{kind}.jpg", synth.draw_image(kind, (60, 90), seed=i))))
    return out


def test_render_writes_video_and_sound_as_long_as_the_song(tmp_path):
    out = tmp_path / "show.mp4"
    seen = []
    render(str(out), song(tmp_path, 3.0), [0.0, 1.0, 2.0], photos(tmp_path), 3.0, (96, 64), fps=10,
           progress=lambda done, total: seen.append((done, total)))
    info, duration, frames = streams(out)
    assert info["video"][0] == "h264" and info["audio"][0] == "aac"
    assert abs(duration - 3.0) <= 0.5 and abs(info["audio"][1] - 3.0) <= 0.1 and len(frames) == 30
    assert seen[-1] == (30, 30) and len(seen) == 30
    # each shot's own photo in its middle: the warm one is brighter than the cool one
    assert frames[5].mean() > frames[15].mean()
    assert sorted(os.listdir(tmp_path)) == ["cool.jpg", "show.mp4", "song.flac", "vivid.jpg", "warm.jpg"]


def test_a_cancelled_render_leaves_no_file(tmp_path):
    out = tmp_path / "show.mp4"
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 5

    with pytest.raises(RenderCancelled):
        render(str(out), song(tmp_path), [0.0], photos(tmp_path)[:1], 3.0, (96, 64), fps=10, cancelled=cancelled)
    assert not out.exists() and not [n for n in os.listdir(tmp_path) if n.endswith(".part")]


def test_a_failed_render_keeps_the_old_file(tmp_path):
    out = tmp_path / "show.mp4"
    out.write_bytes(b"the old video")

    def picture(path, width, height):
        raise MediaError("truncated JPEG (no end-of-image marker)")

    with pytest.raises(MediaError, match="cannot decode the photo .*warm.jpg: truncated JPEG"):
        render(str(out), song(tmp_path), [0.0], photos(tmp_path)[:1], 3.0, (96, 64), fps=10, picture=picture)
    assert out.read_bytes() == b"the old video"
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".part")]
    with pytest.raises(OutputError, match="no folder"):
        render(str(tmp_path / "nowhere" / "x.mp4"), song(tmp_path), [0.0], photos(tmp_path)[:1], 3.0, (96, 64))
    with pytest.raises(OutputError, match="it is a folder"):
        render(str(tmp_path), song(tmp_path), [0.0], photos(tmp_path)[:1], 3.0, (96, 64))
