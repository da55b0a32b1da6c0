"""Files whose names are not valid UTF-8 (common on old drives and archives).

The GUI shows such a name with U+FFFD, but everything that acts on the file (open,
drag, copy, playlist, thumbnail, preview) must reach the file itself.
"""

from __future__ import annotations

import os

import pytest
from gui_helpers import BASE, lift_relevance_limit, open_window

from emobrowser.media import synth

pytestmark = pytest.mark.skipif(os.name == "nt", reason="Windows file names are always Unicode")

PHOTO = b"caf\xe9 photo.png"
SONG = b"caf\xe9 song.wav"
CLIP = b"caf\xe9 clip.mp4"


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    from emobrowser.index.pipeline import index_library
    from emobrowser.index.store import Store

    folder = tmp_path_factory.mktemp("undecodable")
    media = os.path.join(os.fsencode(folder), b"m\xfcsica")  # the folder's name is not UTF-8 either
    os.mkdir(media)
    synth.write_image(os.fsdecode(os.path.join(media, PHOTO)), synth.draw_image("warm", (90, 120)))
    synth.write_image(os.fsdecode(os.path.join(media, b"plain.png")), synth.draw_image("cool", (90, 120)))
    synth.write_audio(os.fsdecode(os.path.join(media, SONG)), synth.synth_music(3.0, bpm=120))
    synth.write_video(os.fsdecode(os.path.join(media, CLIP)), [("warm", {})], seconds_per_scene=2.0)
    db = folder / "library.sqlite3"
    with Store(db) as store:
        summary = index_library(store, [os.fsdecode(media)], workers=1, **BASE)
    assert summary.indexed == 4 and summary.failed == 0, summary
    return db, media


@pytest.fixture
def window(qtbot, library, monkeypatch):
    lift_relevance_limit(monkeypatch)  # every page holds all four files
    w = open_window(qtbot, library[0], items=4)
    yield w
    w.close()


def _hit(window, name: bytes):
    return next(h for h in window.results.model.hits if os.path.basename(os.fsencode(h.path)) == name)


def test_results_reach_the_files_and_show_readable_names(window, library):
    from PySide6.QtCore import Qt

    from emobrowser.gui.files import url_path

    media = library[1]
    model = window.results.model
    for name in (PHOTO, SONG, CLIP):
        hit = _hit(window, name)
        assert os.fsencode(hit.path) == os.path.join(media, name)  # the exact bytes
        row = model.hits.index(hit)
        shown = model.data(model.index(row), Qt.ItemDataRole.DisplayRole)
        assert shown == name.decode("utf-8", "replace")  # readable, U+FFFD for the odd byte
        mime = model.mimeData([model.index(row)])
        assert b"%E9" in bytes(mime.urls()[0].toEncoded())  # dragged URL names the real bytes
        assert url_path(mime.urls()[0]) == hit.path and os.path.isfile(url_path(mime.urls()[0]))
        assert "\ufffd" in mime.text()
    # the detail view's title is readable text too
    window.detail.show_hit(_hit(window, PHOTO), None)
    assert window.detail.title.full_text() == PHOTO.decode("utf-8", "replace")


def test_thumbnails_of_undecodable_names_arrive(qtbot, window):
    for name in (PHOTO, CLIP):
        hit = _hit(window, name)
        qtbot.waitUntil(lambda h=hit: window.results.model.has_thumbnail(h.path), timeout=15000)


def test_copy_and_playlist_use_the_real_files(window, library, tmp_path):
    media = library[1]
    copied = window.copy_images(str(tmp_path / "copies"))
    assert sorted(os.path.basename(os.fsencode(p)) for p in copied) == sorted([PHOTO, b"plain.png"])
    for p in copied:
        with open(p, "rb") as got, open(os.path.join(media, os.path.basename(os.fsencode(p))), "rb") as src:
            assert got.read() == src.read()
    target = tmp_path / "list.m3u8"
    assert window.export_playlist(str(target)) == 2
    lines = target.read_bytes().splitlines()
    assert sorted(line for line in lines if not line.startswith(b"#")) == sorted(
        [os.path.join(media, SONG), os.path.join(media, CLIP)])


def test_the_preview_plays_an_undecodable_name(qtbot, window, library):
    preview = window.results.preview
    if not preview.available:
        pytest.fail("QtMultimedia is missing: PySide6-Addons and libpulse0 are part of the install")
    song = _hit(window, SONG)
    with qtbot.waitSignal(preview.playing_changed, timeout=10000) as started:
        assert preview.toggle(song.path) is True
    assert started.args == [song.path, True]
    qtbot.waitUntil(lambda: preview._player.position() > 0, timeout=10000)
    preview.stop()


def test_a_dropped_undecodable_folder_is_recognised(library):
    from emobrowser.gui.files import file_url, url_path

    folder = os.fsdecode(library[1])
    url = file_url(folder)
    assert url.isLocalFile() and url_path(url) == folder and os.path.isdir(url_path(url))


def test_a_photo_gone_since_indexing_is_reported_by_its_readable_name(window, library, tmp_path):
    media = library[1]
    gone, aside = os.path.join(media, PHOTO), os.path.join(os.fsencode(tmp_path), b"aside.png")
    os.rename(gone, aside)
    try:
        copied = window.copy_images(str(tmp_path / "copies"))
        message = window.statusBar().currentMessage()
    finally:
        os.rename(aside, gone)
    assert [os.path.basename(p) for p in copied] == ["plain.png"]
    assert "1 could not be copied" in message and PHOTO.decode("utf-8", "replace") in message


def test_failures_and_library_folders_with_undecodable_names(qtbot, tmp_path):
    import json

    from conftest import run_cli
    from emobrowser.gui.main_window import MainWindow
    from emobrowser.index.pipeline import index_library
    from emobrowser.index.store import Store

    folder = os.path.join(os.fsencode(tmp_path), b"d\xe9j\xe0")
    os.mkdir(folder)
    broken = os.path.join(folder, b"bad\xff.jpg")
    with open(broken, "wb") as fh:
        fh.write(b"not a photo")
    db = tmp_path / "lib.sqlite3"
    with Store(db) as store:
        index_library(store, [os.fsdecode(folder)], workers=1, **BASE)
    row = json.loads(run_cli("failures", "--json", "--db", str(db), env={"PYTHONIOENCODING": "utf-8:strict"}).stdout)
    assert os.fsencode(row["path"]) == broken  # exact, not a U+FFFD copy
    w = MainWindow(db, auto_index=False, **BASE)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.library.failure_paths() == [os.fsdecode(broken)], timeout=15000)
    assert w.library.failures.topLevelItem(0).text(0) == "bad\ufffd.jpg"
    assert w.library.roots.item(0).text() == os.fsdecode(folder).encode("utf-8", "surrogateescape").decode(
        "utf-8", "replace")
    removed = []
    w.library.folder_removed.disconnect(w._on_folder_removed)  # no confirmation dialog here
    w.library.folder_removed.connect(removed.append)
    w.library.roots.setCurrentRow(0)
    w.library.remove_button.click()
    assert removed == [os.fsdecode(folder)]  # the path that names the folder, for Store.remove_root
    with Store(db) as store:
        store.remove_root(removed[0])
        assert store.roots() == []
    w.close()
