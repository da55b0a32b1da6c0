"""Tags in the app: names, covers, sorting, the search box's text search, playlists."""

from __future__ import annotations

import os

import pytest
from gui_helpers import BASE, open_window
from PySide6.QtCore import Qt

from emobrowser.media import synth


@pytest.fixture(scope="module")
def tagged_library(tmp_path_factory):
    from emobrowser.index.pipeline import index_library
    from emobrowser.index.store import Store

    root = tmp_path_factory.mktemp("taggui")
    media = root / "media"
    (media / "album").mkdir(parents=True)
    song = synth.write_audio(media / "song.mp3", synth.synth_music(3.0, bpm=140, seed=1))
    synth.tag_audio(song, cover=synth.draw_image("vivid", (64, 64)), title="Salão", artist="Zé Banda",
                    album="Noites", date="1999")
    other = synth.write_audio(media / "album" / "b_other.flac", synth.synth_music(3.0, bpm=70, seed=2))
    synth.tag_audio(other, title="Aardvark Blues", artist="Other", date="2005")
    synth.write_image(media / "album" / "folder.jpg", synth.draw_image("cool", (64, 64)))  # its folder's cover
    synth.write_audio(media / "plain.wav", synth.synth_music(3.0, seed=3))
    synth.write_photo(media / "a_beach.jpg", synth.draw_image("warm"), "2021:07:04 18:30:00", "+02:00", "Cam X")
    synth.write_photo(media / "z_night.jpg", synth.draw_image("dark"), "2010:01:01 00:00:00")
    db = root / "library.sqlite3"
    with Store(db) as store:
        assert index_library(store, [str(media)], workers=2, **BASE).indexed == 6
    return db, media


@pytest.fixture
def window(qtbot, tagged_library, tmp_path):
    import shutil

    db = tmp_path / "library.sqlite3"
    shutil.copy(tagged_library[0], db)
    w = open_window(qtbot, db, 6)
    yield w
    w.close()


def _search_box(qtbot, window, text):
    window.search.mood_edit.setText(text)
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.mood_edit.returnPressed.emit()


def test_songs_are_named_artist_title_in_results_tooltips_and_detail(qtbot, window):
    from emobrowser.gui.results_model import HIT_ROLE

    _search_box(qtbot, window, "banda")
    model = window.results.model
    assert model.rowCount() == 1
    index = model.index(0)
    assert index.data(Qt.ItemDataRole.DisplayRole) == "Zé Banda – Salão"
    tip = index.data(Qt.ItemDataRole.ToolTipRole)
    assert "<b>Zé Banda – Salão</b>" in tip and "song.mp3" in tip and "Noites (1999)" in tip
    hit = index.data(HIT_ROLE)
    # its tile and tooltip show its embedded cover once the thumbnail is made
    qtbot.waitUntil(lambda: model.has_thumbnail(hit.path), timeout=10000)  # requested for the visible cards
    assert '<img src="' in index.data(Qt.ItemDataRole.ToolTipRole)
    assert index.data(Qt.ItemDataRole.DecorationRole) is not None
    window.detail.show_hit(hit, None)
    assert window.detail.title.full_text() == "Zé Banda – Salão"
    assert "Noites (1999)" in window.detail.info.full_text() and hit.path in window.detail.info.full_text()
    # the map's hover names it the same way
    row = int((window.points.ids == hit.id).nonzero()[0][0])
    assert "<b>Zé Banda – Salão</b>" in window.circumplex.tooltip_html(row)


def test_the_search_box_tells_moods_from_text_and_says_which_it_used(qtbot, window):
    _search_box(qtbot, window, "salao")  # no mood word: names and tags, accents ignored
    assert [os.path.basename(h.path) for h in window.results.model.hits] == ["song.mp3"]
    assert window.results.summary.text().startswith("Names and tags matching “salao”")
    assert "Not a mood" in window.search.mood_error.text()
    assert window.results.farther_button.isHidden()  # every match is listed: no distance limit to lift
    _search_box(qtbot, window, "plain")  # a file name
    assert [os.path.basename(h.path) for h in window.results.model.hits] == ["plain.wav"]
    _search_box(qtbot, window, "calm")  # a mood word: a mood search
    assert window.search.spec().text is None
    assert window.results.summary.text().startswith("Mood “calm”")
    assert window.search.mood_error.isHidden()


def test_results_sort_by_relevance_date_or_name(qtbot, window):
    from emobrowser.gui.data import QuerySpec

    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.run_query(QuerySpec(k=20, max_distance=float("inf")))
    relevance = [os.path.basename(h.path) for h in window.results.model.hits]
    assert len(relevance) == 6
    window.results.sort_box.setCurrentIndex(1)
    by_date = [os.path.basename(h.path) for h in window.results.model.hits]
    assert by_date[:4] == ["a_beach.jpg", "z_night.jpg", "b_other.flac", "song.mp3"]  # 2021, 2010, 2005, 1999
    tip = window.results.model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    assert "Taken 2021-07-04 18:30:00+02:00 · Cam X" in tip  # a photo shows its date taken
    window.results.sort_box.setCurrentIndex(2)
    names = [window.results.model.index(r).data(Qt.ItemDataRole.DisplayRole) for r in range(6)]
    assert names == ["a_beach.jpg", "folder.jpg", "Other – Aardvark Blues", "plain.wav", "z_night.jpg",
                     "Zé Banda – Salão"]  # accents ignored: "ze" after "z_"
    window.results.sort_box.setCurrentIndex(0)
    assert [os.path.basename(h.path) for h in window.results.model.hits] == relevance


def test_song_covers_embedded_then_from_the_folder_else_none(tagged_library):
    import cv2

    from emobrowser.gui.thumbs import make_thumb

    _db, media = tagged_library
    embedded = make_thumb(str(media / "song.mp3"), "audio")
    beside = make_thumb(str(media / "album" / "b_other.flac"), "audio")
    assert embedded is not None and beside is not None
    vivid, cool = cv2.imread(str(embedded)), cv2.imread(str(beside))
    # each thumbnail is its own picture: the vivid embedded cover, the cool folder.jpg
    assert vivid.shape[:2] == (64, 64) and cool.shape[:2] == (64, 64)
    sources = {k: synth.draw_image(k, (64, 64)).reshape(-1, 3).mean(axis=0) for k in ("vivid", "cool")}

    def nearest(img):
        mean = img.reshape(-1, 3).mean(axis=0)
        return min(sources, key=lambda k: float(((sources[k] - mean) ** 2).sum()))

    assert (nearest(vivid), nearest(cool)) == ("vivid", "cool")
    assert make_thumb(str(media / "plain.wav"), "audio") is None  # today's tile
    assert make_thumb(str(media / "song.mp3"), "audio") == embedded  # cached: the same file


def test_playlist_entries_name_artist_and_title(qtbot, window, tmp_path):
    from emobrowser.gui.data import QuerySpec

    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.run_query(QuerySpec(k=20, max_distance=float("inf"), modalities=("audio",)))
    target = tmp_path / "list.m3u8"
    assert window.export_playlist(str(target)) == 3
    lines = target.read_text(encoding="utf-8").splitlines()
    titles = {os.path.basename(path): extinf.split(",", 1)[1] for extinf, path in zip(lines[1::2], lines[2::2])}
    assert titles == {"song.mp3": "Zé Banda - Salão", "b_other.flac": "Other - Aardvark Blues", "plain.wav": "plain"}
    assert all(extinf.startswith("#EXTINF:3,") for extinf in lines[1::2])
