"""``emobrowser slideshow``, run as a user runs it, on a generated library and song."""

import json
import os
import re

import numpy as np
import pytest

from conftest import run_cli
from emobrowser.media import synth

BASE = ["--image-model", "baseline", "--audio-model", "baseline"]
SONG_SECONDS = 16.0


def write_photos(folder, n, seed=0):
    """n small photos of varied scenes, brightness and colour, so they spread over the map."""
    folder.mkdir(parents=True)
    kinds = ["warm", "cool", "dark", "vivid", "face", "grey", "noise"]
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = synth.draw_image(kinds[i % len(kinds)], (45, 60), seed=seed + i).astype(np.float32)
        img = np.clip(img * rng.uniform(0.3, 1.6) + rng.uniform(-60, 60), 0, 255).astype(np.uint8)
        synth.write_image(folder / f"p{i:03d}.jpg", img)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """(db, song path, folder of 3 photos): 30 photos and a 16 s song of four moods, indexed."""
    root = tmp_path_factory.mktemp("slideshow")
    lib = root / "lib"
    write_photos(lib / "photos", 27)
    write_photos(lib / "few", 3, seed=100)
    sr = 22050
    parts = [synth.synth_music(4, sr, bpm=60, major=False, loudness=0.1, brightness=0.1),
             synth.synth_rock(4, sr, bpm=160, loudness=0.9),
             synth.synth_music(4, sr, bpm=120, major=True, loudness=0.5, brightness=0.9),
             synth.synth_music(4, sr, bpm=70, major=False, loudness=0.2, brightness=0.3)]
    song = synth.write_audio(lib / "song.flac", np.concatenate(parts), sr)
    db = str(root / "lib.sqlite3")
    run_cli("index", str(lib), "--db", db, "-q", *BASE)
    return db, str(song), str(lib / "few")


def probe(path):
    import av

    with av.open(str(path)) as c:
        kinds = {s.type: s.codec_context.name for s in c.streams}
        return kinds, c.duration / 1e6


def test_the_photos_follow_the_song(tmp_path, library):
    db, song, _few = library
    out = tmp_path / "show.mp4"
    proc = run_cli("slideshow", song, "--out", str(out), "--seconds-per-photo", "2", "--size", "160x120", "--json",
                   "--db", db)
    result = json.loads(proc.stdout.splitlines()[-1])
    assert {"song", "out", "duration_s", "frames", "mean_distance", "random_mean_distance"} <= set(result)
    assert result["song"] == song and result["out"] == str(out)
    kinds, duration = probe(out)
    assert kinds == {"video": "h264", "audio": "aac"}
    assert abs(duration - SONG_SECONDS) <= 0.5 and abs(result["duration_s"] - SONG_SECONDS) <= 0.5
    frames = result["frames"]
    assert frames[0]["start"] == 0 and frames[-1]["end"] == result["duration_s"]
    assert all(a["end"] == b["start"] for a, b in zip(frames, frames[1:]))
    assert all({"start", "end", "photo", "valence", "arousal", "song_valence", "song_arousal"} <= set(f)
               for f in frames)
    assert len({f["photo"] for f in frames}) >= 0.8 * len(frames)
    assert result["mean_distance"] <= 0.5 * result["random_mean_distance"]
    # the song's calm opening and loud second part get different photos, as the map shows them
    first, second = frames[0], frames[len(frames) // 4 + 1]
    assert second["song_arousal"] > first["song_arousal"] + 0.3 and second["arousal"] > first["arousal"]
    assert sorted(os.listdir(tmp_path)) == ["show.mp4"]  # no temporary file left
    assert "note:" not in proc.stderr  # 27 photos, no repeats needed


def test_few_photos_repeat_and_say_so(tmp_path, library):
    db, song, few = library
    out = tmp_path / "few.mp4"
    proc = run_cli("slideshow", song, "--out", str(out), "--folder", few, "--size", "96x64", "--seconds-per-photo",
                   "2", "--db", db)
    assert re.search(r"^note: only 3 photos for 8 spans, so [5-7] spans repeat a photo$", proc.stderr, re.M)
    assert re.match(rf"wrote {re.escape(str(out))}: 8 shots of [1-3] photos", proc.stdout)
    assert probe(out)[0] == {"video": "h264", "audio": "aac"}


def test_errors_are_one_line_with_status_1(tmp_path, library):
    db, song, few = library
    out = str(tmp_path / "x.mp4")
    photo = os.path.join(few, "p000.jpg")
    stray = synth.write_audio(tmp_path / "stray.flac", synth.synth_music(2.0))
    songs_only = str(tmp_path / "songs.sqlite3")
    (tmp_path / "songs").mkdir()
    synth.write_audio(tmp_path / "songs" / "tune.flac", synth.synth_music(2.0))
    run_cli("index", str(tmp_path / "songs"), "--db", songs_only, "-q", *BASE)
    cases = [
        ([photo, "--out", out, "--db", db], f"{photo} is a photo, not a song"),
        ([str(stray), "--out", out, "--db", db], "has no emotion timeline: it is not in the library"),
        ([str(tmp_path / "none.flac"), "--out", out, "--db", db], "no such file"),
        ([str(tmp_path / "songs" / "tune.flac"), "--out", out, "--db", songs_only],
         "the library has no indexed photos"),
        ([song, "--out", str(tmp_path / "missing" / "x.mp4"), "--db", db], "cannot write"),
        ([song, "--out", str(tmp_path), "--db", db], "it is a folder"),
        ([song, "--out", out, "--folder", str(tmp_path / "songs"), "--db", db], "no indexed photos under"),
    ]
    for args, message in cases:
        proc = run_cli("slideshow", *args, check=False)
        assert proc.returncode == 1, (args, proc.stderr)
        assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    for option, value, message in (("--size", "12x34x5", "--size: cannot read size"),
                                   ("--seconds-per-photo", "0.2", "--seconds-per-photo must be at least 1")):
        proc = run_cli("slideshow", song, "--out", out, option, value, "--db", db, check=False)
        assert proc.returncode == 2 and message in proc.stderr
    assert not os.path.exists(out)
    assert sorted(os.listdir(tmp_path)) == ["songs", "songs.sqlite3", "songs.sqlite3.indexing", "stray.flac"]


def test_the_progress_bar_draws_on_a_terminal_only(capsys):
    from emobrowser.cli_slideshow import _FrameBar

    bar = _FrameBar(True)
    bar(50, 100)
    bar(100, 100)  # the last frame is drawn even right after another
    bar.finish()
    drawn = capsys.readouterr().err
    assert " 50% frame 50/100" in drawn and "100% frame 100/100" in drawn
    assert "[" + "#" * 14 + "." * 14 + "]" in drawn and drawn.endswith("\r\x1b[2K")
    quiet = _FrameBar(False)
    quiet(1, 2)
    quiet.finish()
    assert capsys.readouterr().err == ""
