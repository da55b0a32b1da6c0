"""Tags, dates and titles: read while indexing, stored by migration, read again
only when a file changes, and never at the cost of a score."""

import sqlite3

import pytest

from emobrowser.index import pipeline
from emobrowser.index.pipeline import index_library
from emobrowser.index.store import Store
from emobrowser.media import synth
from emobrowser.media.metadata import fold, read_metadata

BASE = {"image_model": "baseline", "audio_model": "baseline", "workers": 2}


@pytest.fixture
def tagged(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    cover = synth.draw_image("warm", (48, 48))
    song = synth.write_audio(root / "song.mp3", synth.synth_music(2.0, seed=1))
    synth.tag_audio(song, cover=cover, title="Salão de Baile", artist="Zé Banda", album="Noites",
                    date="1999-05-01", tracknumber="3/12")
    flac = synth.write_audio(root / "other.flac", synth.synth_music(2.0, seed=2))
    synth.tag_audio(flac, title="Calm", artist="Other", album="B", date="2004")
    synth.write_photo(root / "photo.jpg", synth.draw_image("warm"), "2021:07:04 18:30:00", "+02:00", "Cam X")
    synth.write_video(root / "clip.mp4", [("warm", {})], 2.0,
                      metadata={"title": "Trip", "creation_time": "2020-02-03T04:05:06.000000Z"})
    return root


def _tags(store, path):
    item = store.item_by_path(path)
    return store.metadata_of([item.id]).get(item.id)


def test_fold_ignores_case_and_accents():
    assert fold("Salão") == fold("SALAO") == "salao"
    assert fold("Zé Banda") == "ze banda"


def test_indexing_stores_song_tags_photo_dates_and_video_titles(store, tagged):
    summary = index_library(store, [str(tagged)], **BASE)
    assert (summary.indexed, summary.failed) == (4, 0)
    song = _tags(store, tagged / "song.mp3")
    assert (song["title"], song["artist"], song["album"], song["year"], song["track"], song["has_cover"]) == \
        ("Salão de Baile", "Zé Banda", "Noites", 1999, 3, True)
    assert _tags(store, tagged / "other.flac")["has_cover"] is False
    photo = _tags(store, tagged / "photo.jpg")
    assert (photo["date"], photo["camera"]) == ("2021-07-04T18:30:00+02:00", "Cam X")
    video = _tags(store, tagged / "clip.mp4")
    assert (video["title"], video["date"], video["year"]) == ("Trip", "2020-02-03T04:05:06Z", 2020)


def _scores(store):
    return sorted(store.conn.execute("SELECT item_id, model, version, valence, arousal FROM scores"))


def test_a_library_from_before_tags_gains_them_without_rescoring(tmp_path, tagged, monkeypatch):
    db = tmp_path / "old.sqlite3"
    with Store(db) as store:
        index_library(store, [str(tagged)], **BASE)
        before = _scores(store)
        updated = sorted(store.conn.execute("SELECT id, scored_with, updated FROM items"))
    # the library as the previous schema version left it: no metadata table, no payload_fp
    conn = sqlite3.connect(db)
    conn.executescript("DROP TABLE metadata; ALTER TABLE items DROP COLUMN payload_fp; PRAGMA user_version = 4;")
    conn.close()

    def no_scoring(self, batch):
        assert not [b for b in batch if not isinstance(b[0], tuple)], "an item was scored again"
        return {}

    monkeypatch.setattr(pipeline._Writer, "_score", no_scoring)
    with Store(db) as store:
        reports = []
        summary = index_library(store, progress=reports.append, **BASE)
        assert (summary.indexed, summary.unchanged, summary.tags_read) == (0, 4, 4)
        tags = [(r.done, r.total) for r in reports if r.phase == "tags"]
        assert tags == [(1, 4), (2, 4), (3, 4), (4, 4)]  # progress while reading tags
        assert _scores(store) == before
        assert sorted(store.conn.execute("SELECT id, scored_with, updated FROM items")) == updated
        assert _tags(store, tagged / "song.mp3")["artist"] == "Zé Banda"
        assert _tags(store, tagged / "photo.jpg")["date"] == "2021-07-04T18:30:00+02:00"
        # the sound fingerprint came with the tags, so a later tag edit is recognised too
        assert store.conn.execute("SELECT COUNT(*) FROM items WHERE payload_fp IS NOT NULL").fetchone()[0] == 2
        assert index_library(store, **BASE).tags_read == 0  # read once, not on every run


def test_edited_tags_are_read_again_and_the_scores_kept(store, tagged, monkeypatch):
    index_library(store, [str(tagged)], **BASE)
    before = _scores(store)
    song = tagged / "song.mp3"
    size = song.stat().st_size
    synth.tag_audio(song, title="Renamed Waltz", artist="Zé Banda", album="Noites " + "x" * 3000)
    assert song.stat().st_size != size  # the file itself changed, not only its time

    def no_scoring(self, batch):
        assert not [b for b in batch if not isinstance(b[0], tuple)], "an item was scored again"
        return {}

    monkeypatch.setattr(pipeline._Writer, "_score", no_scoring)
    summary = index_library(store, **BASE)
    assert (summary.indexed, summary.tags_read) == (0, 1)
    assert _scores(store) == before
    assert _tags(store, song)["title"] == "Renamed Waltz"
    assert store.item_by_path(song).status == "indexed"


def test_new_sound_under_the_same_name_is_scored_again(store, tagged):
    index_library(store, [str(tagged)], **BASE)
    song = tagged / "song.mp3"
    synth.write_audio(song, synth.synth_music(2.0, seed=9, bpm=70))
    synth.tag_audio(song, title="Other Song")
    summary = index_library(store, **BASE)
    assert summary.indexed == 1
    assert _tags(store, song)["title"] == "Other Song"


def test_wav_info_lists_are_read(tmp_path):
    wav = synth.write_audio(tmp_path / "info.wav", synth.synth_music(1.0),
                            metadata={"title": "Info Title", "artist": "Info Artist", "album": "Info Album",
                                      "date": "1987"})
    assert b"LIST" in wav.read_bytes()[:200]  # a RIFF INFO list, which mutagen does not read
    meta = read_metadata(wav, "audio")
    assert (meta.title, meta.artist, meta.album, meta.year, meta.problem) == \
        ("Info Title", "Info Artist", "Info Album", 1987, None)


def test_untagged_files_have_no_tags_and_no_problem(tmp_path):
    wav = synth.write_audio(tmp_path / "plain.wav", synth.synth_music(1.0))
    meta = read_metadata(wav, "audio")
    assert (meta.title, meta.artist, meta.year, meta.problem) == (None, None, None, None)
    photo = synth.write_image(tmp_path / "plain.png", synth.draw_image("cool"))
    assert read_metadata(photo, "image").date is None


def test_the_sound_fingerprint_ignores_tags_and_sees_new_sound(tmp_path):
    from emobrowser.index.scanner import fingerprint
    from emobrowser.media.payload import payload_key

    def keys(path):
        size = path.stat().st_size
        return payload_key(path, size), fingerprint(path, size)[0]

    music = synth.synth_music(2.0, seed=4)
    for ext in ("mp3", "flac"):
        path = synth.write_audio(tmp_path / f"a.{ext}", music)
        sound, whole = keys(path)
        synth.tag_audio(path, cover=synth.draw_image("warm", (32, 32)), title="T", artist="A")
        assert keys(path)[0] == sound and keys(path)[1] != whole, ext
        synth.write_audio(path, synth.synth_music(2.0, seed=5))
        assert keys(path)[0] != sound, ext
    one = synth.write_audio(tmp_path / "one.wav", music, metadata={"title": "One"})
    two = synth.write_audio(tmp_path / "two.wav", music, metadata={"title": "Another title", "artist": "X"})
    assert keys(one)[0] == keys(two)[0] is not None
    assert keys(synth.write_audio(tmp_path / "a.opus", music))[0] is None  # Ogg: no cheap check


def test_an_mp4_box_longer_than_the_file_means_no_tags_not_an_error(tmp_path):
    """A 64-bit box length past the end of the file (2**64 - 8) is refused before the
    tag reader sees it, with the reason."""
    from emobrowser.media.payload import tag_blocks_size

    path = tmp_path / "huge_box.m4a"
    ftyp = (24).to_bytes(4, "big") + b"ftypM4A " + bytes(4) + b"M4A isom"
    huge = (1).to_bytes(4, "big") + b"free" + (2 ** 64 - 8).to_bytes(8, "big")
    path.write_bytes(ftyp + huge + bytes(64))
    assert tag_blocks_size(str(path)) > path.stat().st_size
    problem = read_metadata(str(path), "audio").as_dict()["problem"]
    assert "more than the whole file" in problem and "ValueError" not in problem, problem


def test_a_playlist_that_cannot_be_put_in_place_leaves_no_temporary_file(tmp_path):
    from types import SimpleNamespace

    from emobrowser.index.playlist import write_m3u8

    song = synth.write_audio(tmp_path / "song.wav", synth.synth_music(1.0, seed=3))
    target = tmp_path / "taken"
    target.mkdir()  # a folder where the playlist should go: the final rename fails
    with pytest.raises(OSError):
        write_m3u8(target, [SimpleNamespace(id=1, path=str(song), modality="audio")], {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.wav", "taken"]
