import os
import threading

import pytest

from emobrowser.index import pipeline
from emobrowser.index.pipeline import TRANSIENT_REASONS, index_library
from emobrowser.media import synth

BASE = {"image_model": "baseline", "audio_model": "baseline", "workers": 2}


def test_indexes_every_modality_and_reports_progress(store, media_dir):
    reports = []
    summary = index_library(store, [str(media_dir)], progress=reports.append, **BASE)
    assert summary.indexed == 11 and summary.failed == 0
    counts = store.status_counts()
    assert counts["image"]["indexed"] == 6 and counts["audio"]["indexed"] == 4 and counts["video"]["indexed"] == 1
    last = [r for r in reports if r.phase == "index"][-1]
    assert (last.done, last.total) == (11, 11)
    assert last.rate > 0 and last.eta == 0
    # audio items carry a 0.5 s timeline; the video carries image and audio segments
    song = store.item_by_path(media_dir / "music" / "upbeat.wav")
    segs = store.segments(song.id)
    assert len(segs) >= 5 and abs((segs[1][3] - segs[0][3]) - 0.5) < 1e-6
    video = store.item_by_path(media_dir / "clip.mp4")
    assert {s[2] for s in store.segments(video.id)} == {"image", "audio"}


def test_second_run_reads_nothing(store, media_dir):
    index_library(store, [str(media_dir)], **BASE)
    again = index_library(store, **BASE)
    assert (again.indexed, again.unchanged) == (0, 11)


def test_failures_are_stored_and_indexing_goes_on(store, tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    synth.write_image(root / "good.jpg", synth.draw_image("warm", (40, 40)))
    good = synth.write_image(tmp_path / "x.png", synth.draw_image("warm", (64, 64))).read_bytes()
    (root / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "empty.mp3").write_bytes(b"")
    (root / "random.wav").write_bytes(os.urandom(5000))
    synth.write_audio(root / "silence.wav", synth.synth_music(1.0) * 0)
    synth.write_audio(root / "tiny.wav", synth.synth_music(1.0)[:20])
    summary = index_library(store, [str(root)], **BASE)
    assert summary.indexed == 1
    reasons = {os.path.basename(p): e for p, _, e in store.failures()}
    assert reasons["truncated.png"] == "truncated PNG (no IEND chunk)"
    assert reasons["empty.mp3"] == "empty file (0 bytes)"
    assert "digital silence" in reasons["silence.wav"]
    assert "too short" in reasons["tiny.wav"]
    assert "random.wav" in reasons


def test_a_video_container_with_only_sound_is_audio(store, tmp_path):
    import av

    from emobrowser.index.scoring import score_paths

    root = tmp_path / "lib"
    root.mkdir()
    song = synth.write_audio(root / "song.mp4", synth.synth_music(3.0))
    assert song.read_bytes()[8:12] == b"isom"  # a generic MP4 brand: the header alone says "video"
    summary = index_library(store, [str(root)], **BASE)
    assert (summary.indexed, summary.failed) == (1, 0)
    item = store.item_by_path(song)
    assert item.modality == "audio"
    assert len(store.segments(item.id)) >= 5  # the audio timeline
    (result,) = score_paths([str(song)], "baseline", "baseline")
    assert result.error is None and result.modality.value == "audio" and result.model == "baseline-audio"
    more = tmp_path / "more"
    more.mkdir()
    covered = synth.write_audio(more / "covered.mp4", synth.synth_music(3.0),
                                cover=synth.draw_image("warm", (64, 64)))
    assert [s.disposition for s in av.open(str(covered)).streams if s.type == "video"] == [
        av.stream.Disposition.attached_pic]
    (result,) = score_paths([str(covered)], "baseline", "baseline")
    assert result.error is None and result.modality.value == "audio"  # the cover picture is not a video
    silent = synth.write_audio(more / "silent.mp4", synth.synth_music(2.0) * 0)
    (result,) = score_paths([str(silent)], "baseline", "baseline")
    assert result.error == "no video stream, and no usable audio: audio is digital silence (nothing to score)"
    # A library that recorded such files as failed, by a version before schema 2, tries
    # them again once.
    from emobrowser.index.store import Store

    index_library(store, [str(more)], **BASE)
    assert store.item_by_path(covered).status == "indexed"
    errors = {song: "no video stream", covered: "truncated video: decoded 0.0 s of the 3.0 s the file states"}
    for path, error in errors.items():
        store.conn.execute("UPDATE items SET status='failed', error=? WHERE id=?",
                           (error, store.item_by_path(path).id))
    store.conn.execute("PRAGMA user_version = 1")
    reopened = Store(store.path)
    assert {store.item_by_path(p).status for p in errors} == {"pending"}
    again = index_library(reopened, **BASE)
    assert again.indexed == 2
    assert {reopened.item_by_path(p).status for p in errors} == {"indexed"}
    assert reopened.item_by_path(silent).status == "failed"  # its current reason is not retried
    reopened.close()


def test_cancel_then_resume_loses_and_duplicates_nothing(store, media_dir):
    stop = threading.Event()

    def progress(p):
        if p.phase == "index" and p.done >= 3:
            stop.set()

    # One item per write: the cancel lands after the third, however far extraction got.
    first = index_library(store, [str(media_dir)], progress=progress, cancelled=stop.is_set,
                          **{**BASE, "batch_size": 1})
    assert first.cancelled
    assert first.indexed == 3
    rest = index_library(store, **BASE)
    assert first.indexed + rest.indexed == 11
    assert rest.unchanged == first.indexed  # every file counted once in the summary
    assert store.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 11
    assert store.conn.execute("SELECT COUNT(*) FROM (SELECT item_id, model, version FROM scores "
                              "GROUP BY 1, 2, 3 HAVING COUNT(*) > 1)").fetchone()[0] == 0
    assert store.integrity_ok()


def test_a_folder_that_vanishes_mid_run_is_indexed_when_it_is_back(store, media_dir, tmp_path):
    import shutil

    root = tmp_path / "lib"
    shutil.copytree(media_dir, root)
    away = tmp_path / "lib.away"

    def progress(p):
        if p.phase == "index" and p.done >= 1 and root.exists():
            os.rename(root, away)

    first = index_library(store, [str(root)], progress=progress, **BASE)
    assert first.failed > 0  # the rest of the run found nothing to read
    reasons = {r[0] for r in store.conn.execute("SELECT error FROM items WHERE status='failed'")}
    assert reasons <= set(TRANSIENT_REASONS), reasons
    still_away = index_library(store, **BASE)  # a drive not mounted: its failures wait
    assert (still_away.requeued, still_away.indexed, still_away.failed) == (0, 0, first.failed)
    os.rename(away, root)
    again = index_library(store, **BASE)
    assert again.failed == 0 and again.indexed == first.failed
    assert store.conn.execute("SELECT COUNT(*) FROM items WHERE status != 'indexed'").fetchone()[0] == 0


def test_a_file_that_fails_keeps_no_old_scores_and_stays_failed_when_moved(store, tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    synth.write_image(root / "a.png", synth.draw_image("warm", (40, 40)))
    synth.write_image(root / "b.png", synth.draw_image("dark", (40, 40)))
    index_library(store, [str(root)], **BASE)
    (root / "a.png").write_bytes((root / "b.png").read_bytes()[:300])  # now a truncated PNG
    index_library(store, **BASE)
    item = store.item_by_path(root / "a.png")
    assert item.status == "failed"
    assert store.conn.execute("SELECT COUNT(*) FROM scores WHERE item_id=?", (item.id,)).fetchone()[0] == 0
    os.rename(root / "a.png", root / "renamed.png")
    index_library(store, **BASE)
    moved = store.item_by_path(root / "renamed.png")
    assert moved.status == "failed" and "truncated" in moved.error


def test_a_failure_the_scan_did_not_see_coming_also_drops_old_scores(store, tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    photo = synth.write_image(root / "a.png", synth.draw_image("warm", (40, 40)))
    index_library(store, [str(root)], **BASE)
    item = store.item_by_path(photo)
    assert store.conn.execute("SELECT COUNT(*) FROM scores WHERE item_id=?", (item.id,)).fetchone()[0] > 0
    # Same size, same modification time: the scan sees no change, but the content is broken.
    st = photo.stat()
    data = photo.read_bytes()
    photo.write_bytes(data[:40] + bytes(len(data) - 40))
    os.utime(photo, ns=(st.st_atime_ns, st.st_mtime_ns))
    store.conn.execute("UPDATE items SET status='pending' WHERE id=?", (item.id,))  # as a new model would
    index_library(store, **BASE)
    failed = store.item_by_path(photo)
    assert failed.status == "failed"
    assert store.conn.execute("SELECT COUNT(*) FROM scores WHERE item_id=?", (item.id,)).fetchone()[0] == 0


def test_crash_inside_a_write_rolls_back_the_batch(store, media_dir, monkeypatch):
    calls = {"n": 0}
    real = pipeline._Writer._write

    def flaky(self, batch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        return real(self, batch)

    monkeypatch.setattr(pipeline._Writer, "_write", flaky)
    try:
        # One item per write: the crash comes in the second write, whatever the timing.
        index_library(store, [str(media_dir)], **{**BASE, "workers": 1, "batch_size": 1})
    except OSError:
        pass
    monkeypatch.setattr(pipeline._Writer, "_write", real)
    statuses = dict(store.conn.execute("SELECT status, COUNT(*) FROM items GROUP BY 1"))
    assert statuses == {"indexed": 1, "pending": 10}
    index_library(store, **BASE)
    assert store.status_counts()["image"] == {"indexed": 6, "failed": 0, "pending": 0}
    assert store.integrity_ok()


def test_new_model_version_rescores_only_stale_items(store, media_dir):
    index_library(store, [str(media_dir)], **BASE)
    store.conn.execute("UPDATE items SET scored_with='old/0' WHERE modality='image'")
    again = index_library(store, **BASE)
    assert again.requeued == 6 and again.indexed == 6


def test_hung_decoder_is_killed_at_the_time_limit(store, tmp_path, monkeypatch):
    root = tmp_path / "lib"
    root.mkdir()
    synth.write_image(root / "a.jpg", synth.draw_image("warm", (40, 40)))
    synth.write_image(root / "hang.jpg", synth.draw_image("cool", (40, 40)))
    monkeypatch.setattr(pipeline, "extract_file", _hang_on_name)
    summary = index_library(store, [str(root)], timeout=3, **BASE)
    reasons = {os.path.basename(p): e for p, _, e in store.failures()}
    assert reasons == {"hang.jpg": "timed out after 3 s (decoding and scoring took longer)"}
    assert summary.indexed == 1
    # The same limit again: not retried. A longer limit: tried again, under that limit.
    assert index_library(store, timeout=3, **BASE).requeued == 0
    assert index_library(store, timeout=4.5, **BASE).requeued == 1
    assert [e for _, _, e in store.failures()] == ["timed out after 4.5 s (decoding and scoring took longer)"]


def test_crashing_decoder_costs_one_file(store, tmp_path, monkeypatch):
    root = tmp_path / "lib"
    root.mkdir()
    synth.write_image(root / "a.jpg", synth.draw_image("warm", (40, 40)))
    synth.write_image(root / "crash.jpg", synth.draw_image("cool", (40, 40)))
    monkeypatch.setattr(pipeline, "extract_file", _crash_on_name)
    summary = index_library(store, [str(root)], **BASE)
    reasons = {os.path.basename(p): e for p, _, e in store.failures()}
    assert reasons == {"crash.jpg": "decoder crashed (signal 11)"}
    assert summary.indexed == 1


def _hang_on_name(path, *args):
    import time

    from emobrowser.index.extract import extract_file

    if os.path.basename(os.fsencode(path)) == b"hang.jpg":
        while True:
            time.sleep(1)
    return extract_file(path, *args)


def _crash_on_name(path, *args):
    import signal

    from emobrowser.index.extract import extract_file

    if os.path.basename(os.fsencode(path)) == b"crash.jpg":
        os.kill(os.getpid(), signal.SIGSEGV)
    return extract_file(path, *args)


def test_videos_get_a_time_limit_that_grows_with_their_size(store, tmp_path, monkeypatch):
    from emobrowser.index import procpool

    root = tmp_path / "lib"
    root.mkdir()
    synth.write_image(root / "a.jpg", synth.draw_image("warm", (40, 40)))
    synth.write_video(root / "v.mp4", [("warm", {})], seconds_per_scene=1.0)
    limits = {}
    real_complete = procpool.ProcessPool._complete

    def spy(self, task):
        # every task passes here once, before it is sent (the pool reads the limit back
        # only while a task is still running, which a fast file may never be)
        task = real_complete(self, task)
        limits[os.path.basename(os.fsdecode(task[1][0]))] = self._limit(task)
        return task

    monkeypatch.setattr(procpool.ProcessPool, "_complete", spy)
    monkeypatch.setattr(pipeline, "VIDEO_SECONDS_PER_MIB", 1000.0)
    index_library(store, [str(root)], timeout=7, **BASE)
    size_mib = (root / "v.mp4").stat().st_size / 2**20
    assert limits["a.jpg"] == 7
    assert abs(limits["v.mp4"] - (7 + 1000.0 * size_mib)) < 1e-6


def test_nested_folders_make_one_root_and_keep_their_scores(store, media_dir, tmp_path):
    first = index_library(store, [str(media_dir / "music")], **BASE)
    assert first.indexed == 4 and len(store.roots()) == 1
    outer = index_library(store, [str(media_dir)], **BASE)  # takes the music root over
    assert [bytes(p) for _, p in store.roots()] == [os.fsencode(media_dir)]
    assert outer.indexed == 7 and outer.unchanged == 4  # the songs are not scored again
    os.symlink(media_dir, tmp_path / "alias")
    for again in (media_dir / "music", tmp_path / "alias", tmp_path / "alias" / "music"):
        summary = index_library(store, [str(again)], **BASE)  # already covered: nothing new
        assert (len(store.roots()), summary.indexed, summary.failed) == (1, 0, 0), again
    assert store.integrity_ok()


def test_a_library_with_nested_roots_from_an_earlier_version_is_merged(tmp_path, media_dir):
    from emobrowser.index.store import Store

    db = tmp_path / "old.sqlite3"
    with Store(db) as old:
        index_library(old, [str(media_dir / "music")], **BASE)
        # What earlier versions stored for 'index DIR/music' followed by 'index DIR'.
        old.conn.execute("INSERT INTO roots(raw_path, path, added) VALUES (?, ?, 0)",
                         (os.fsencode(media_dir), str(media_dir)))
        old.conn.execute("PRAGMA user_version = 3")  # the schema those versions had
    with Store(db) as store:
        assert [bytes(p) for _, p in store.roots()] == [os.fsencode(media_dir)]
        summary = index_library(store, **BASE)  # used to fail: UNIQUE constraint failed: items.raw_path
        assert (summary.indexed, summary.unchanged, summary.failed) == (7, 4, 0)


def test_a_second_indexer_of_the_same_library_is_refused_clearly(store, media_dir):
    import pytest

    from emobrowser.index.store import LibraryBusyError, Store

    with Store(store.path) as other, other.indexing_lock():  # another process indexing
        with pytest.raises(LibraryBusyError, match="being indexed by another emobrowser process"):
            index_library(store, [str(media_dir / "music")], **BASE)
        assert store.roots() == []  # refused before anything was added
    assert index_library(store, [str(media_dir / "music")], **BASE).indexed == 4  # free again


def test_a_move_from_one_root_to_another_is_reported_as_a_move_only(store, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    synth.write_image(a / "photo.png", synth.draw_image("warm", (40, 40)))
    index_library(store, [str(a), str(b)], **BASE)
    os.rename(a / "photo.png", b / "photo.png")
    summary = index_library(store, **BASE)
    assert (summary.moved, summary.missing, summary.indexed) == (1, 0, 0)
    assert store.item_by_path(b / "photo.png").status == "indexed"


def test_a_file_replaced_between_scan_and_decoding_says_so(tmp_path):
    from emobrowser.core.errors import MediaError
    from emobrowser.index.extract import extract_file

    song = synth.write_audio(tmp_path / "song.flac", synth.synth_music(2.0, 22050), 22050)
    (tmp_path / "song.flac").write_text("now a text file\n")  # replaced after the scan called it audio
    with pytest.raises(MediaError, match="the file changed after the scan: content is text"):
        extract_file(str(song), "audio", "baseline", "baseline")
    synth.write_image(tmp_path / "pic.png", synth.draw_image("warm", (40, 40)))
    (tmp_path / "pic.png").rename(song)  # now an image under the song's name
    with pytest.raises(MediaError, match="the file changed after the scan: it now holds an image, not audio"):
        extract_file(str(song), "audio", "baseline", "baseline")


def test_the_eta_leaves_out_the_wait_for_the_models_to_load():
    """215 files; the first is done after 10 s of model loading, then one every 0.05 s.
    At 9 done the ETA is what the remaining 206 files take at 20 files/s, not the
    7 minutes the loading wait made of it."""
    from emobrowser.index.pipeline import Throughput

    now = [0.0]
    meter = Throughput(215, clock=lambda: now[0])
    now[0] = 10.0
    assert meter.add() == (0.0, None)  # one file says nothing of the rate yet
    for _ in range(8):
        now[0] += 0.05
        rate, eta = meter.add()
    assert rate == pytest.approx(20.0)
    assert eta == pytest.approx(206 / 20.0)


def test_progress_reports_an_eta_from_the_files_after_the_first(tmp_path, store):
    from emobrowser.index.pipeline import index_library
    from emobrowser.media import synth

    for i in range(4):
        synth.write_image(tmp_path / f"p{i}.jpg", synth.draw_image("warm", (60, 80), seed=i))
    seen = []
    index_library(store, [str(tmp_path)], workers=1, image_model="baseline", audio_model="baseline",
                  progress=seen.append)
    done = [p for p in seen if p.phase == "index" and p.done]
    assert done[0].eta is None and done[0].rate == 0.0  # the first file waited for the models
    assert done[-1].done == 4
