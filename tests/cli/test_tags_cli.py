"""Done-when of the tags work: a tagged library, indexed and queried from the command line."""

import json
import os

import pytest

from conftest import run_cli
from emobrowser.media import synth

BASE = ["--image-model", "baseline", "--audio-model", "baseline"]


@pytest.fixture(scope="module")
def tagged_db(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagged")
    lib = root / "lib"
    lib.mkdir()
    cover = synth.draw_image("vivid", (64, 64))
    songs = [("one.mp3", "Salão", "Zé Banda", "Noites", "1999", cover),
             ("two.flac", "Quiet Hours", "Zé Banda", "Noites", "2001", None),
             ("three.opus", "Run", "Other Artist", "Fast", "2010", cover),
             ("four.m4a", "Blue Room", "Third", "Colours", "2015-04-01", cover)]
    for index, (name, title, artist, album, date, art) in enumerate(songs):
        path = synth.write_audio(lib / name, synth.synth_music(2.0, bpm=60 + 30 * index, seed=index))
        synth.tag_audio(path, cover=art, title=title, artist=artist, album=album, date=date)
    synth.write_audio(lib / "plain.wav", synth.synth_music(2.0, seed=7))
    synth.write_photo(lib / "beach.jpg", synth.draw_image("warm"), "2021:07:04 18:30:00", "+02:00", "Cam X")
    synth.write_photo(lib / "night.jpg", synth.draw_image("dark"), "2019:12:31 23:59:58")
    db = str(root / "lib.sqlite3")
    out = run_cli("index", str(lib), "--db", db, *BASE)
    assert "indexed: 7," in out.stdout and "failed: 0" in out.stdout
    return db


def _rows(proc):
    return {os.path.basename(r["path"]): r for r in map(json.loads, proc.stdout.splitlines())}


def test_json_rows_carry_tags_and_dates(tagged_db):
    rows = _rows(run_cli("query", "--valence", "0", "--arousal", "0", "-k", "50", "--max-distance", "inf",
                         "--json", "--db", tagged_db))
    assert len(rows) == 7
    fields = ("title", "artist", "album", "year", "date")
    assert [rows["one.mp3"][f] for f in fields] == ["Salão", "Zé Banda", "Noites", 1999, None]
    assert [rows["two.flac"][f] for f in fields] == ["Quiet Hours", "Zé Banda", "Noites", 2001, None]
    assert [rows["three.opus"][f] for f in fields] == ["Run", "Other Artist", "Fast", 2010, None]
    assert [rows["four.m4a"][f] for f in fields] == ["Blue Room", "Third", "Colours", 2015, None]
    assert [rows["plain.wav"][f] for f in fields] == [None] * 5
    assert rows["beach.jpg"]["date"] == "2021-07-04T18:30:00+02:00"
    assert rows["night.jpg"]["date"] == "2019-12-31T23:59:58"


def test_text_finds_an_artists_songs_only(tagged_db):
    proc = run_cli("query", "--text", "ze banda", "--json", "--db", tagged_db)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert sorted(os.path.basename(r["path"]) for r in rows) == ["one.mp3", "two.flac"]
    # alone, every match, nearest to neutral first
    assert [r["distance"] for r in rows] == sorted(r["distance"] for r in rows)
    # accents and case ignored, on titles and file names alike
    assert list(_rows(run_cli("query", "--text", "SALAO", "--json", "--db", tagged_db))) == ["one.mp3"]
    assert list(_rows(run_cli("query", "--text", "plain", "--json", "--db", tagged_db))) == ["plain.wav"]
    assert _rows(run_cli("query", "--text", "nobody at all", "--json", "--db", tagged_db)) == {}


def test_text_combines_with_a_point_a_mood_and_a_region(tagged_db):
    for target in (["--valence", "0.5", "--arousal", "0.5", "--max-distance", "inf"], ["--mood", "calm"],
                   ["--region", "rect:-1,-1,1,1"]):
        rows = _rows(run_cli("query", *target, "--text", "Zé", "-k", "50", "--json", "--db", tagged_db))
        assert set(rows) <= {"one.mp3", "two.flac"}, target
        if "--max-distance" in target or "--region" in target:
            assert set(rows) == {"one.mp3", "two.flac"}, target
    lib = os.path.dirname(next(iter(_rows(run_cli("query", "--text", "beach", "--json", "--db", tagged_db)).values()))
                          ["path"])
    like = _rows(run_cli("query", "--like", os.path.join(lib, "beach.jpg"), "--text", "banda", "--max-distance",
                         "inf", "--json", "--db", tagged_db))
    assert set(like) == {"one.mp3", "two.flac"}  # a photo finds songs, only this artist's
    everything = _rows(run_cli("query", "--region", "rect:-1,-1,1,1", "-k", "50", "--json", "--db", tagged_db))
    assert len(everything) == 7
    empty = run_cli("query", "--text", "  ", "--db", tagged_db, check=False)
    assert empty.returncode == 2 and "--text needs some text" in empty.stderr


def test_an_edited_tag_is_read_again_without_rescoring(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    song = synth.write_audio(lib / "song.flac", synth.synth_music(2.0, seed=3))
    synth.tag_audio(song, title="Before", artist="Someone")
    db = str(tmp_path / "lib.sqlite3")
    run_cli("index", str(lib), "--db", db, *BASE)
    row = json.loads(run_cli("query", "--text", "someone", "--json", "--db", db).stdout)
    synth.tag_audio(song, title="After")
    out = run_cli("index", "--db", db, *BASE)
    assert "indexed: 0, unchanged: 1, failed: 0, tags read: 1" in out.stdout
    again = json.loads(run_cli("query", "--text", "someone", "--json", "--db", db).stdout)
    assert again["title"] == "After" and (again["valence"], again["arousal"]) == (row["valence"], row["arousal"])
