"""A corpus of broken, odd and hostile files: every kind gets a specific reason,
nothing crashes or hangs, good files are unaffected and no file is modified."""

import hashlib
import json
import os
import struct
import zlib


import hostile_media
from conftest import run_cli
from emobrowser.index import pipeline
from emobrowser.index.pipeline import index_library
from emobrowser.index.scanner import sync_root
from emobrowser.media import synth

BASE = {"image_model": "baseline", "audio_model": "baseline"}
CLI_BASE = ["--image-model", "baseline", "--audio-model", "baseline"]


def _png_header(width, height):
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))


def make_corpus(root):
    """Write the corpus; returns {file name: expected reason (substring)} for the bad ones
    and the set of good file names."""
    root.mkdir()
    good = set()
    for name, kind in (("good.jpg", "warm"), ("good.png", "cool"), ("good.webp", "vivid")):
        synth.write_image(root / name, synth.draw_image(kind, (60, 80)))
        good.add(name)
    synth.write_audio(root / "good.flac", synth.synth_music(2.0))
    synth.write_audio(root / "good.mp3", synth.synth_music(2.0, bpm=90))
    synth.write_video(root / "good.mp4", [("warm", {}), ("dark", {"major": False})], seconds_per_scene=2.0)
    good |= {"good.flac", "good.mp3", "good.mp4"}
    jpg, png = (root / "good.jpg").read_bytes(), (root / "good.png").read_bytes()
    mp3, mp4 = (root / "good.mp3").read_bytes(), (root / "good.mp4").read_bytes()
    wav = synth.write_audio(root / "good.wav", synth.synth_music(3.0)).read_bytes()
    good.add("good.wav")

    # a valid file with the wrong extension is a good file, indexed by its content
    (root / "photo_named.mp3").write_bytes(png)
    good.add("photo_named.mp3")
    # non-UTF-8 names and names with newlines are good files too
    with open(os.path.join(os.fsencode(root), b"caf\xe9.jpg"), "wb") as fh:
        fh.write(jpg)
    (root / "two\nlines.png").write_bytes(png)
    good |= {"caf\udce9.jpg", "two\nlines.png"}

    bad = {
        "zero.jpg": "empty file (0 bytes)",
        "zero.wav": "empty file (0 bytes)",
        "random.png": "unrecognised content: not an image file",
        "random.mp4": "unrecognised content: not a video file",
        "text.mp3": "content is text, not an audio file",
        "text.jpg": "content is text, not an image file",
        "truncated.png": "truncated PNG (no IEND chunk)",
        "truncated.jpg": "truncated JPEG (no end-of-image marker)",
        "truncated.mp3": "truncated audio: decoded",
        "truncated.wav": "truncated WAV: header states 3.0 s",
        "truncated.mp4": "corrupt or truncated file",
        "header_only.png": "truncated PNG (no IEND chunk)",
        "header_only.jpg": "truncated JPEG (no end-of-image marker)",
        "header_only.wav": "WAV holds no audio data (header only)",
        "cut_header.wav": "WAV header is cut off before its data chunk",
        "bomb.png": "image 30000×30000 exceeds the pixel limit",
        "zero_channels.wav": "WAV header states 0 channels",
        "silence.wav": "audio is digital silence",
        "few_samples.wav": "audio too short (12 samples",
        "loop_a.jpg": "symlink loop",
        "dangling.flac": "dangling symlink",
        "zeros.gif": "content is all zero bytes, not an image file",
        "huge.tif": "file too large for an image",
        # headers that lie to a naive size check (more variants in test_hostile_memory)
        "hidden_frame.jpg": "image 30000×30000 exceeds the pixel limit",
        "two_widths.tif": "image 30000×30000 exceeds the pixel limit",
        "float_bomb.tif": "floating-point samples would need about",
        "many_channels.wav": "WAV header declares 500 channels",
        "most_channels.wav": "WAV header declares 65535 channels",
    }
    (root / "zero.jpg").write_bytes(b"")
    (root / "zero.wav").write_bytes(b"")
    rng = __import__("random").Random(3)
    (root / "random.png").write_bytes(bytes(rng.randrange(1, 256) for _ in range(4000)))
    (root / "random.mp4").write_bytes(b"\x13" + bytes(rng.randrange(256) for _ in range(4000)))
    (root / "text.mp3").write_text("ID3 is not here, just words\n" * 10)
    (root / "text.jpg").write_text("<html>not a photo</html>")
    (root / "truncated.png").write_bytes(png[: len(png) // 2])
    (root / "truncated.jpg").write_bytes(jpg[: len(jpg) // 2])
    (root / "truncated.mp3").write_bytes(mp3[: len(mp3) // 2])
    (root / "truncated.wav").write_bytes(wav[: len(wav) // 2])
    (root / "truncated.mp4").write_bytes(mp4[: len(mp4) // 2])
    (root / "header_only.png").write_bytes(_png_header(64, 48))
    (root / "header_only.jpg").write_bytes(jpg[:200])
    fmt_mono = struct.pack("<IHHIIHH", 16, 1, 1, 22050, 44100, 2, 16)
    (root / "header_only.wav").write_bytes(b"RIFF" + struct.pack("<I", 36) + b"WAVE" + b"fmt " + fmt_mono
                                           + b"data" + struct.pack("<I", 0))
    (root / "cut_header.wav").write_bytes(wav[:30])
    (root / "bomb.png").write_bytes(_png_header(30000, 30000) + b"\0" * 100)
    fmt = struct.pack("<IHHIIHH", 16, 1, 0, 22050, 0, 0, 16)
    (root / "zero_channels.wav").write_bytes(b"RIFF" + struct.pack("<I", 44) + b"WAVE" + b"fmt " + fmt
                                             + b"data" + struct.pack("<I", 8) + b"\0" * 8)
    synth.write_audio(root / "silence.wav", synth.synth_music(2.0) * 0)
    synth.write_audio(root / "few_samples.wav", synth.synth_music(1.0)[:12])
    os.symlink(root / "loop_b.jpg", root / "loop_a.jpg")
    os.symlink(root / "loop_a.jpg", root / "loop_b.jpg")
    bad["loop_b.jpg"] = "symlink loop"
    os.symlink(root / "gone" / "song.flac", root / "dangling.flac")
    (root / "zeros.gif").write_bytes(b"\0" * 2048)
    (root / "hidden_frame.jpg").write_bytes(hostile_media.jpeg_fill_bytes_hide_sof(30000, 30000))
    (root / "two_widths.tif").write_bytes(hostile_media.tiff_duplicate_width((30000, 30000)))
    (root / "float_bomb.tif").write_bytes(hostile_media.tiff(12000, 12000, samples=3, bits=32, sample_format=3))
    for name, channels in (("many_channels.wav", 500), ("most_channels.wav", 65535)):
        (root / name).write_bytes(wav[:22] + struct.pack("<H", channels) + wav[24:])
    with open(root / "huge.tif", "wb") as fh:  # sparse: 2 GiB on paper, no disk used
        fh.write(b"II*\x00")
        fh.truncate(2 << 30)
    return bad, good


def _hash_tree(root):
    digest = {}
    for folder, _dirs, names in os.walk(os.fsencode(root)):
        for name in names:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                digest[path] = ("link", os.readlink(path))
                continue
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                h = hashlib.blake2b()
                while chunk := fh.read(1 << 20):
                    if not chunk.strip(b"\0") and st.st_size > (1 << 28):
                        break  # the sparse 2 GiB file: its size and mtime stand for it
                    h.update(chunk)
            digest[path] = (h.hexdigest(), st.st_size, st.st_mtime_ns)
    return digest


def test_every_kind_gets_its_specific_reason_and_good_files_are_scored(tmp_path):
    lib = tmp_path / "corpus"
    bad, good = make_corpus(lib)
    assert len(bad) >= 20
    before = _hash_tree(lib)
    db = str(tmp_path / "lib.sqlite3")
    out = run_cli("index", str(lib), "--db", db, "--timeout", "60", *CLI_BASE)
    assert out.returncode == 0
    failures = {os.path.basename(f["path"]): f["error"] for f in
                map(json.loads, run_cli("failures", "--json", "--db", db).stdout.splitlines())}
    # names that are not UTF-8 are shown with U+FFFD
    assert set(failures) == set(bad), set(failures) ^ set(bad)
    for name, reason in bad.items():
        assert reason in failures[name], (name, failures[name])
    status = json.loads(run_cli("status", "--json", "--db", db).stdout)
    indexed = sum(c["indexed"] for c in status["items"].values())
    assert indexed == len(good)
    # a second run reads nothing and changes nothing
    again = run_cli("index", "--db", db, *CLI_BASE)
    assert "indexed: 0" in again.stdout
    scored = run_cli("score", "--json", *CLI_BASE, *[str(lib / n) for n in ("good.jpg", "truncated.mp3", "bomb.png")],
                     check=False)
    assert scored.returncode == 1 and "Traceback" not in scored.stderr  # two of the three cannot be scored
    assert [json.loads(line)["error"] is None for line in scored.stdout.splitlines()] == [True, False, False]
    # score gives each broken file the reason the library recorded
    names = sorted(n for n in bad if "\ufffd" not in n)
    scored = run_cli("score", "--json", *CLI_BASE, *[str(lib / n) for n in names], check=False)
    reasons = {os.path.basename(row["path"]): row["error"] for row in map(json.loads, scored.stdout.splitlines())}
    assert {n: bad[n] in (reasons[n] or "") for n in names} == {n: True for n in names}, reasons
    run_cli("query", "--mood", "calm", "--json", "--db", db)
    assert _hash_tree(lib) == before


def test_unreadable_file_is_recorded(store, tmp_path, monkeypatch):
    root = tmp_path / "lib"
    root.mkdir()
    synth.write_image(root / "locked.jpg", synth.draw_image("warm", (20, 20)))
    synth.write_image(root / "open.jpg", synth.draw_image("cool", (20, 20)))
    import builtins

    real_open = builtins.open

    def guarded(path, *args, **kwargs):
        if os.fsencode(path).endswith(b"locked.jpg"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    # chmod 000 does not stop root (CI runs as root), so refuse the read here
    monkeypatch.setattr(builtins, "open", guarded)
    rid = store.add_root(root)
    sync_root(store, rid, os.fsencode(root))
    assert dict((os.path.basename(p), e) for p, _, e in store.failures()) == {
        "locked.jpg": "permission denied (file is unreadable)"}
    assert store.status_counts()["image"]["failed"] == 1  # the name says photo until it can be read
    # the next scan, still unreadable: still failed
    stats = sync_root(store, rid, os.fsencode(root))
    assert len(list(store.failures())) == 1 and stats.changed == 0
    # permissions fixed (size and time unchanged): the next scan queues it
    monkeypatch.setattr(builtins, "open", real_open)
    stats = sync_root(store, rid, os.fsencode(root))
    assert list(store.failures()) == [] and stats.changed == 1
    assert store.status_counts()["image"]["pending"] == 2


def test_file_deleted_or_replaced_while_being_indexed(store, tmp_path, monkeypatch):
    root = tmp_path / "lib"
    root.mkdir()
    for name in ("stays.jpg", "vanishes.jpg", "replaced.jpg"):
        synth.write_image(root / name, synth.draw_image("warm", (40, 40)))
    monkeypatch.setattr(pipeline, "extract_file", _meddle_then_extract)
    summary = index_library(store, [str(root)], workers=1, **BASE)
    reasons = {os.path.basename(p): e for p, _, e in store.failures()}
    assert reasons == {"vanishes.jpg": "file vanished before it could be read",
                       "replaced.jpg": "file changed while it was being indexed"}
    assert summary.indexed == 1
    # the next run (with honest decoders) sees the replaced file as changed and indexes it
    monkeypatch.undo()
    again = index_library(store, **BASE)
    assert again.indexed == 1 and again.missing == 1


def _meddle_then_extract(path, *args):
    from emobrowser.index.extract import extract_file

    name = os.path.basename(os.fsencode(path))
    if name == b"vanishes.jpg":
        os.remove(path)
    elif name == b"replaced.jpg":
        synth.write_image(os.fsdecode(path), synth.draw_image("vivid", (50, 50)))
    return extract_file(path, *args)


def test_folder_vanishing_mid_scan_loses_nothing(store, tmp_path, monkeypatch):
    root = tmp_path / "lib"
    (root / "drive").mkdir(parents=True)
    synth.write_image(root / "drive" / "a.jpg", synth.draw_image("warm", (20, 20)))
    synth.write_image(root / "b.jpg", synth.draw_image("cool", (20, 20)))
    index_library(store, [str(root)], **BASE)
    real_scandir = os.scandir

    def unmounting(path):
        if path.endswith(b"drive"):
            raise FileNotFoundError(2, "No such file or directory")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", unmounting)
    summary = index_library(store, **BASE)
    assert summary.missing == 0
    assert store.status_counts()["image"]["indexed"] == 2


def test_a_file_named_like_a_url_is_read_from_disk_and_opens_no_connection(tmp_path):
    """FFmpeg reads 'tcp:HOST:PORT…' or 'http:/…' as a protocol: a local file so named
    must be decoded from disk, with no connection to the loopback listener."""
    import json
    import socket

    from emobrowser.media import synth

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        names = [f"tcp:127.0.0.1:{port}.wav", f"http:127.0.0.1:{port}.wav"]
        for name in names:
            synth.write_audio(tmp_path / name, synth.synth_music(2.0, seed=1))
        proc = run_cli("score", "--json", *names, cwd=tmp_path, check=False, timeout=300)
        rows = [json.loads(line) for line in proc.stdout.splitlines()]
        assert [r["error"] for r in rows] == [None, None] and {r["modality"] for r in rows} == {"audio"}
        try:
            conn, _ = listener.accept()
            conn.close()
            raise AssertionError("a file name opened a network connection")
        except socket.timeout:
            pass
    finally:
        listener.close()


def _syncsafe(n):
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def _id3(frames: bytes, declared=None) -> bytes:
    """An ID3v2.3 tag holding ``frames``, stating ``declared`` bytes when given."""
    return b"ID3\x03\x00\x00" + _syncsafe(len(frames) if declared is None else declared) + frames


def _frame(fid: bytes, body: bytes, declared=None) -> bytes:
    return fid + struct.pack(">I", len(body) if declared is None else declared) + b"\x00\x00" + body


def _exif_jpeg(tiff: bytes) -> bytes:
    import cv2

    jpg = cv2.imencode(".jpg", synth.draw_image("warm", (40, 40)))[1].tobytes()
    app1 = b"Exif\x00\x00" + tiff
    return jpg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpg[2:]


def test_hostile_tags_cost_the_tags_never_the_item(store, tmp_path, caplog):
    root = tmp_path / "lib"
    root.mkdir()
    mp3 = synth.write_audio(tmp_path / "plain.mp3", synth.synth_music(2.0)).read_bytes()
    cover = b"\x00image/jpeg\x00\x03\x00\xff\xd8" + bytes(50 * 2**20)
    (root / "big_cover.mp3").write_bytes(_id3(_frame(b"APIC", cover)) + mp3)
    # a UTF-16 title that is a lone surrogate, an artist that ends in one
    (root / "utf16.mp3").write_bytes(_id3(_frame(b"TIT2", b"\x01\xff\xfe\x00\xd8A\x00B")
                                          + _frame(b"TPE1", b"\x01\xff\xfeA\x00\x00\xdc")) + mp3)
    (root / "long_frame.mp3").write_bytes(_id3(_frame(b"TIT2", b"\x00Title", declared=10**8)) + mp3)
    flac = synth.write_audio(tmp_path / "plain.flac", synth.synth_music(2.0)).read_bytes()
    assert flac[4] & 0x7F == 0 and not flac[4] & 0x80  # STREAMINFO first, more blocks after it
    padding = (b"\x01" + (10 * 2**20).to_bytes(3, "big") + bytes(10 * 2**20)) * 2  # 20 MiB of tags
    (root / "padded.flac").write_bytes(flac[:42] + padding + flac[42:])
    # EXIF whose Exif IFD points back at IFD0, whose next IFD is itself, with an absurd count
    loop = struct.pack("<HHII", 0x8769, 4, 1, 8) + struct.pack("<HHII", 0x0110, 2, 0xFFFFFFFF, 40)
    (root / "exif_loop.jpg").write_bytes(_exif_jpeg(b"II*\x00" + struct.pack("<IH", 8, 2) + loop
                                                    + struct.pack("<I", 8)))
    counts = struct.pack("<HHII", 0x9003, 2, 0x7FFFFFFF, 8) * 3
    (root / "exif_counts.jpg").write_bytes(_exif_jpeg(b"II*\x00" + struct.pack("<IH", 8, 0xFFFF) + counts
                                                      + struct.pack("<I", 0)))
    caplog.set_level("WARNING", logger="emobrowser.index.pipeline")
    summary = pipeline.index_library(store, [str(root)], **BASE)
    failures = {os.path.basename(p): e for p, _, e in store.failures()}
    assert failures == {}
    assert summary.indexed == 6
    scored = {r[0] for r in store.conn.execute("SELECT items.path FROM items JOIN scores ON scores.item_id = items.id")}
    assert {os.path.basename(p) for p in scored} == {"big_cover.mp3", "utf16.mp3", "long_frame.mp3", "padded.flac",
                                                     "exif_loop.jpg", "exif_counts.jpg"}
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "big_cover.mp3: tags not read: their block is 50.0 MiB, over the 16 MiB limit" in logged
    assert "padded.flac: tags not read: their block is 20.0 MiB, over the 16 MiB limit" in logged
    assert "exif_loop.jpg: tags read in part: Tag data larger than file" in logged
    assert "exif_counts.jpg: tags read in part:" in logged
    tags = {os.path.basename(store.item(i).path): m for i, m in store.metadata_of(
        [r[0] for r in store.conn.execute("SELECT id FROM items")]).items()}
    assert tags["long_frame.mp3"]["title"] == "Title"  # the frame is cut at the tag's end
    # mutagen drops both broken frames; FFmpeg's reading keeps what it can of the artist
    assert tags["utf16.mp3"]["artist"] == "A" and tags["utf16.mp3"]["title"] in (None, "\ufffdAB", "AB")
    # nothing was read into the library that sqlite or JSON could not hold
    assert all("\ud800" not in (m["title"] or "") for m in tags.values())
