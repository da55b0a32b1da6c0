"""GUI actions read the user's media and never change it: thumbnails, posters, export."""

import errno
import hashlib
import os

from gui_helpers import make_library


def _hashes(root):
    out = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                out[path] = (hashlib.blake2b(fh.read()).hexdigest(), st.st_size, st.st_mtime_ns)
    return out


def test_thumbnails_and_exports_leave_media_untouched(qtbot, tmp_path):
    from emobrowser.gui import data, thumbs
    from emobrowser.index.store import Store
    from emobrowser.media import synth

    db, media = make_library(tmp_path / "lib")
    synth.write_video(media / "clip.mp4", [("warm", {}), ("dark", {})], seconds_per_scene=2.0)
    before = _hashes(media)
    with Store(db) as store:
        points = data.load_points(store)
    made = [thumbs.make_thumb(p, m) for p, m in zip(points.paths, points.modality)]
    made.append(thumbs.make_thumb(str(media / "clip.mp4"), "video"))
    assert all(t is not None and t.exists() and not str(t).startswith(str(media)) for t in made
               if t is not None)
    hits = data.run_query(points, data.QuerySpec(k=50))
    playlist = tmp_path / "out.m3u8"
    data.write_m3u8(str(playlist), [h for h in hits if h.modality == "audio"], {})
    copied = data.copy_files([h.path for h in hits if h.modality == "image"], str(tmp_path / "copies"))
    assert copied and playlist.read_text(encoding="utf-8").startswith("#EXTM3U")
    assert _hashes(media) == before


def test_a_file_gone_since_indexing_is_skipped_and_reported_by_copy(tmp_path):
    from emobrowser.media import synth
    from emobrowser.gui import data

    src = tmp_path / "src"
    src.mkdir()
    keep = synth.write_image(src / "keep.png", synth.draw_image("warm", (20, 20)))
    failed = []
    copied = data.copy_files([str(src / "deleted.png"), str(keep)], str(tmp_path / "out"), failed)
    assert [os.path.basename(p) for p in copied] == ["keep.png"]
    assert failed == [(str(src / "deleted.png"), os.strerror(errno.ENOENT))]
    assert sorted(os.listdir(tmp_path / "out")) == ["keep.png"]  # nothing half-written
