"""Memory bombs: headers that lie to the size check, decodes that need gigabytes,
workers that run out of memory, thumbnails in the GUI, and files that are not files.

Hostile files are built here (hostile_media) from a few KiB each. Every decode of
one runs in a worker process under the indexer's memory limit, so a regression
costs that worker, never the test run.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import struct
import subprocess
import sys

import numpy as np
import pytest

import hostile_media as H
from emobrowser.core.errors import MediaError
from emobrowser.core.heavy import HEAVY_BYTES
from emobrowser.index.procpool import IMAGE_MEMORY_LIMIT, ProcessPool
from emobrowser.media import synth

# What a decode may cost at most, the figure media/images.py documents (1.5 GB with
# a worker's models loaded; these probes load no model).
DECODE_PEAK = 1_500_000_000


def _status_bytes(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in bytes."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) * 1024


def _probe(path: str) -> tuple:
    """Decode ``path`` as the indexer does; (width, height, decoded shape, this
    process's peak resident memory in bytes during the decode).

    Workers are reused, so the peak is reset first (Linux: writing 5 to clear_refs
    resets VmHWM); otherwise a large decode before would show as this one's peak."""
    from emobrowser.media.images import load_image

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    bgr, width, height = load_image(path)
    return width, height, bgr.shape, _status_bytes("VmHWM")


def _decode_all(paths: dict[str, str], memory: int = IMAGE_MEMORY_LIMIT) -> dict[str, tuple[bool, object]]:
    # a generous time limit: large decodes take turns (core.heavy), slowly on a busy machine
    pool = ProcessPool(_probe, workers=2, timeout=600, nice=0, memory_limit=memory)
    return {name: (ok, value) for name, ok, value in pool.run((name, (p,)) for name, p in paths.items())}


HOSTILE = {
    # name: (bytes, expected reason, or None when it must decode within the limit and
    #        report the size the decoder sees)
    "fill_bytes_hide_frame.jpg": (H.jpeg_fill_bytes_hide_sof(30000, 30000), "image 30000×30000 exceeds the pixel limit"),
    "fill_bytes_hide_frame_small.jpg": (H.jpeg_fill_bytes_hide_sof(12000, 12000), None),
    "two_frames.jpg": (H.jpeg_two_frames((64, 64), (30000, 30000)), "two frame headers"),
    "two_frames_big_first.jpg": (H.jpeg_two_frames((30000, 30000), (64, 64)), "two frame headers"),
    "garbage_before_frame.jpg": (H.jpeg_garbage_before_sof(30000, 30000), "image 30000×30000 exceeds"),
    "decoy_after_end.jpg": (H.jpeg_decoy_after_end(30000, 30000), "image 30000×30000 exceeds"),
    "duplicate_width.tif": (H.tiff_duplicate_width((30000, 30000)), "image 30000×30000 exceeds"),
    "duplicate_width_be.tif": (H.tiff(20000, 20000, duplicates={256: 64}, order=">"), "image 20000×20000 exceeds"),
    "duplicate_height.tif": (H.tiff(20000, 20000, duplicates={257: 64}), "image 20000×20000 exceeds"),
    "duplicate_width_small.tif": (H.tiff(9000, 9000, duplicates={256: 64}), None),
    "second_ihdr.png": (H.png(64, 64, extra_ihdr=(30000, 30000)), "corrupt PNG"),
    "ihdr_more_rows_than_data.png": (H.png(30000, 30000, rows=4), "image 30000×30000 exceeds"),
    "float_rgb.tif": (H.tiff(12000, 12000, samples=3, bits=32, sample_format=3), "floating-point samples would need"),
    "float_grey.tif": (H.tiff(12000, 12000, samples=1, bits=32, sample_format=3), "floating-point samples would need"),
    "double_grey.tif": (H.tiff(9000, 9000, samples=1, bits=64, sample_format=3), "64-bit floating-point"),
    "float_small_enough.tif": (H.tiff(6000, 6000, samples=3, bits=32, sample_format=3), None),
    "deep_png.png": (H.png(12000, 12000, bit_depth=16, colour=6), None),
    "frame_beyond_screen.gif": (H.gif_frame_beyond_screen(), "corrupt GIF data"),
    "frame_off_screen.gif": (H.gif_frame_beyond_screen(frame=(64, 64), at=(60000, 60000)), "corrupt GIF data"),
    "canvas_lie.webp": (H.webp_canvas_lie(), "corrupt WEBP data"),
}


def test_headers_that_lie_are_read_as_the_decoder_reads_them(tmp_path):
    paths = {}
    for name, (data, _reason) in HOSTILE.items():
        (tmp_path / name).write_bytes(data)
        paths[name] = str(tmp_path / name)
    results = _decode_all(paths)
    for name, (_data, reason) in HOSTILE.items():
        ok, value = results[name]
        if reason is not None:
            assert not ok and reason in value, (name, value)
            assert value.count("\n") == 0
        else:
            assert ok, (name, value)
            width, height, shape, peak = value
            stated = {"fill_bytes_hide_frame_small.jpg": 12000, "duplicate_width_small.tif": 9000,
                      "float_small_enough.tif": 6000, "deep_png.png": 12000}[name]
            assert (width, height) == (stated, stated), name  # the decoder's size, not the decoy's
            assert max(shape[:2]) <= 768 and peak < DECODE_PEAK, (name, shape, peak)


def test_opencv_checks_the_pixel_limit_from_its_own_header_parsing():
    """Were the app's header reader fooled, OpenCV still refuses before allocating."""
    code = ("import emobrowser, cv2, numpy as np, sys\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "import hostile_media as H\n"
            "from emobrowser.media.images import MAX_PIXELS\n"
            "import os; assert int(os.environ['OPENCV_IO_MAX_IMAGE_PIXELS']) == MAX_PIXELS\n"
            "try:\n"
            "    cv2.imdecode(np.frombuffer(H.png(13000, 13000, rows=1), np.uint8), cv2.IMREAD_COLOR)\n"
            "except cv2.error as exc:\n"
            "    print('refused' if 'CV_IO_MAX_IMAGE_PIXELS' in str(exc) else exc)\n")
    out = subprocess.run([sys.executable, "-c", code, os.path.dirname(__file__)], capture_output=True, text=True,
                         timeout=120, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_DATA, (1 << 30, 1 << 30)))
    assert out.stdout.strip() == "refused", out.stderr[-2000:]


def test_a_size_the_decoder_disagrees_with_is_refused(monkeypatch):
    """Whatever fools the header reader, the decoded picture must match it."""
    from emobrowser.media import images
    from emobrowser.media.image_headers import ImageHeader

    data = H.jpeg_frame(3000, 2000)
    monkeypatch.setattr(images, "read_header", lambda _data, _fmt: ImageHeader(64, 48))
    with pytest.raises(MediaError, match="the decoder found a 3000×2000 image where the header states 64×48"):
        images.decode_image(data, "jpeg")
    # a reduced decode is compared at its reduced size
    monkeypatch.setattr(images, "read_header", lambda _data, _fmt: ImageHeader(4000, 2000))
    with pytest.raises(MediaError, match=r"found a 375×250 image where the header states 4000×2000 \(1/8: 500×250\)"):
        images.decode_image(data, "jpeg")


def test_float_samples_are_converted_in_place_and_stretched():
    import cv2

    from emobrowser.media.images import decode_image

    picture = synth.draw_image("warm", (40, 60)).astype(np.float32) * 4.0 - 100.0  # range [-100, 920]
    picture[0, 0] = np.nan
    ok, buf = cv2.imencode(".tiff", picture)
    assert ok
    bgr = decode_image(buf.tobytes(), "tiff", min_side=None)[0]
    finite = np.nan_to_num(picture, nan=0.0)
    want = np.round((finite - finite.min()) / (finite.max() - finite.min()) * 255)
    assert bgr.dtype == np.uint8 and np.abs(bgr.astype(int) - want.astype(int)).max() <= 1


def test_large_decodes_take_the_shared_lock_and_small_ones_do_not(monkeypatch):
    from emobrowser.media import images

    asked = []

    def recording(need):
        asked.append(need)
        return contextlib.nullcontext()

    monkeypatch.setattr(images, "heavy", recording)
    images.decode_image(H.jpeg_frame(12000, 12000), "jpeg")  # read at 1/8
    images.decode_image(H.tiff(6000, 6000, samples=3, bits=32, sample_format=3), "tiff")
    assert asked[0] == 12000 * 12000 * 3 // 64  # small: reduced 8-fold
    assert asked[-1] == 6000 * 6000 * 3 * 9 and asked[-1] > HEAVY_BYTES


def test_the_decode_lock_is_released_when_its_holder_is_killed(tmp_path):
    """A worker killed mid-decode (time limit, crash) must not leave the others waiting."""
    from emobrowser.core.heavy import ENV_VAR, is_held

    lock = str(tmp_path / "decode.lock")
    code = ("import sys\nfrom emobrowser.core.heavy import heavy\n"
            "with heavy(10**9):\n    print('held', flush=True)\n    sys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, ENV_VAR: lock})
    try:
        assert holder.stdout.readline().strip() == "held"
        assert is_held(lock)
    finally:
        holder.kill()
        holder.wait()
    assert not is_held(lock)


# --- the workers' memory limit ------------------------------------------------------

def _allocate(mb: int) -> int:
    return int(np.ones(mb * 1_000_000, np.uint8).sum())


def _kill_self() -> None:
    np.ones(200_000_000, np.uint8).sum()  # some memory in use, as a decoder would have
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_over_its_memory_limit_records_running_out_of_memory():
    pool = ProcessPool(_allocate, workers=1, timeout=60, nice=0, memory_limit=600_000_000)
    results = {k: (ok, v) for k, ok, v in pool.run(iter([("big", (2000,)), ("small", (50,)),
                                                          ("own_limit", (700,), None, 2_000_000_000)]))}
    assert results["big"] == (False, "ran out of memory decoding (over the limit of 600 MB per worker)")
    assert results["small"] == (True, 50_000_000)
    assert results["own_limit"] == (True, 700_000_000)  # a task's own limit replaces the pool's


def test_a_decoder_short_of_memory_is_not_called_corrupt(tmp_path):
    """A 12000×12000 TIFF needs about 870 MB: under 500 MB its picture cannot be
    allocated, which is a memory failure, not a corrupt file."""
    path = tmp_path / "grey.tif"
    path.write_bytes(H.tiff(12000, 12000))
    results = _decode_all({"grey": str(path)}, memory=500_000_000)
    assert results["grey"] == (False, "ran out of memory decoding (over the limit of 500 MB per worker)")


def _short(need: int) -> bool:
    from emobrowser.media.images import _short_of_memory

    return _short_of_memory(need)


def test_a_decoder_that_gives_up_under_the_limit_is_known_to_be_short_of_memory():
    """libjpeg and libtiff report a failed allocation as a failed decode (no image):
    under a worker's limit, a decode that would not fit is taken for a memory failure."""
    pool = ProcessPool(_short, workers=1, timeout=60, nice=0, memory_limit=500_000_000)
    results = dict((k, v) for k, _ok, v in pool.run(iter([("big", (600_000_000,)), ("small", (10_000_000,))])))
    assert results == {"big": True, "small": False}
    assert not _short(10**12)  # no limit in this process: never


def test_a_worker_killed_by_the_system_is_recorded_as_out_of_memory():
    pool = ProcessPool(_kill_self, workers=1, timeout=60, nice=0)
    [(task, ok, reason)] = list(pool.run(iter([("victim", ())])))
    # (with the memory it was last seen using, when the pool saw it before the kill)
    assert not ok and reason.startswith("ran out of memory decoding (killed by the system")


def test_an_image_decode_over_the_limit_is_out_of_memory_and_retried_next_run(store, tmp_path, monkeypatch):
    """The decoder's own allocation failing (OpenCV's, here) is a memory failure, not
    a corrupt file; the next run tries the file again."""
    from emobrowser.index import pipeline

    root = tmp_path / "lib"
    root.mkdir()
    (root / "float.tif").write_bytes(H.tiff(6000, 6000, samples=3, bits=32, sample_format=3))  # about 1 GB to decode
    synth.write_image(root / "fine.jpg", synth.draw_image("warm", (40, 40)))
    monkeypatch.setattr(pipeline, "IMAGE_MEMORY_LIMIT", 400_000_000)
    summary = pipeline.index_library(store, [str(root)], workers=1, image_model="baseline", audio_model="baseline")
    assert summary.indexed == 1
    [(path, _modality, reason)] = store.failures()
    assert path.endswith("float.tif") and reason == "ran out of memory decoding (over the limit of 400 MB per worker)"
    monkeypatch.undo()
    again = pipeline.index_library(store, image_model="baseline", audio_model="baseline")
    assert again.indexed == 1 and list(store.failures()) == []


def test_memory_failures_recorded_by_older_versions_are_retried(store, tmp_path):
    from emobrowser.index import pipeline

    root = tmp_path / "lib"
    root.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        synth.write_image(root / name, synth.draw_image("warm", (40, 40)))
    pipeline.index_library(store, [str(root)], workers=1, image_model="baseline", audio_model="baseline")
    for name, reason in (("a.jpg", "decoder crashed (signal 9)"), ("b.jpg", "out of memory while decoding"),
                         ("c.jpg", "decoder crashed (signal 11)")):
        store.conn.execute("UPDATE items SET status = 'failed', error = ? WHERE path LIKE ?", (reason, f"%{name}"))
    store.conn.commit()
    again = pipeline.index_library(store, image_model="baseline", audio_model="baseline")
    assert again.indexed == 2  # a real crash stays the file's
    assert [(os.path.basename(p), r) for p, _m, r in store.failures()] == [("c.jpg", "decoder crashed (signal 11)")]


# --- thumbnails ---------------------------------------------------------------------

def test_thumbnails_are_decoded_in_the_guarded_helper_never_in_the_gui_process(tmp_path, monkeypatch):
    from emobrowser.gui import thumbs
    from emobrowser.media import images

    def in_this_process(*_args, **_kwargs):
        raise AssertionError("decoded in the GUI process")

    monkeypatch.setattr(images, "decode_image", in_this_process)
    bomb = tmp_path / "bomb.jpg"
    bomb.write_bytes(H.jpeg_fill_bytes_hide_sof(30000, 30000))
    big_float = tmp_path / "float.tif"
    big_float.write_bytes(H.tiff(6000, 6000, samples=3, bits=32, sample_format=3))
    fine = synth.write_image(tmp_path / "fine.png", synth.draw_image("warm", (300, 200)))
    with open("/proc/self/clear_refs", "w") as f:  # the peak (VmHWM) restarts from now
        f.write("5")
    before = _status_bytes("VmRSS")
    try:
        assert thumbs.thumbnail(str(bomb), "image") == (None, "image 30000×30000 exceeds the pixel limit of 150 megapixels")
        made, reason = thumbs.thumbnail(str(big_float), "image")  # about 1 GB to decode, in the helper
        assert reason is None and made.is_file()
        made, reason = thumbs.thumbnail(str(fine), "image")
        assert reason is None and made.is_file()
        helper = thumbs._decoder()._pool[0].process
        assert helper.pid != os.getpid() and helper.is_alive()
    finally:
        thumbs.stop_decoder()
    grown = _status_bytes("VmHWM") - before
    assert grown < 300_000_000, grown


# --- files that are not files; WAV channels ----------------------------------------

def _swap_for_fifo_then_extract(path, *args):
    from emobrowser.index.extract import extract_file

    os.remove(path)
    os.mkfifo(path)
    return extract_file(path, *args)


def test_an_image_replaced_by_a_fifo_is_named_without_blocking(store, tmp_path, monkeypatch):
    from emobrowser.index import pipeline

    root = tmp_path / "lib"
    root.mkdir()
    synth.write_image(root / "photo.jpg", synth.draw_image("warm", (40, 40)))
    monkeypatch.setattr(pipeline, "extract_file", _swap_for_fifo_then_extract)
    # a worker that blocked on the pipe would hit this limit and record "timed out"
    pipeline.index_library(store, [str(root)], workers=1, timeout=60, image_model="baseline", audio_model="baseline")
    assert [reason for _p, _m, reason in store.failures()] == ["is a FIFO (named pipe), not a regular file"]


@pytest.mark.parametrize("modality", ["image", "audio", "video"])
def test_devices_and_pipes_are_said_to_be_what_they_are(tmp_path, modality):
    from emobrowser.index.extract import extract_file

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(MediaError, match=r"^is a FIFO \(named pipe\), not a regular file$"):
        extract_file(str(fifo), modality, "baseline", "baseline")
    with pytest.raises(MediaError, match=r"^is a character device, not a regular file$"):
        extract_file("/dev/null", modality, "baseline", "baseline")


def _wav_header(channels: int) -> bytes:
    data = b"\0" * 4096
    fmt = struct.pack("<HHIIHH", 1, channels, 22050, (22050 * 2 * channels) & 0xFFFFFFFF, (2 * channels) & 0xFFFF, 16)
    return (b"RIFF" + struct.pack("<I", 4 + 24 + 8 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(data)) + data)


@pytest.mark.parametrize("channels", [65, 500, 65535])
def test_a_wav_with_too_many_channels_says_so(tmp_path, channels):
    from emobrowser.media.audio import load_audio

    path = tmp_path / "many.wav"
    path.write_bytes(_wav_header(channels))
    with pytest.raises(MediaError, match=rf"^WAV header declares {channels} channels \(at most 64 can be decoded\)$"):
        load_audio(str(path))
