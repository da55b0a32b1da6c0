"""GUI actions read the user's media and never change it: thumbnails, posters, export."""

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
