import os

from emobrowser.index.scanner import sync_root, walk
from emobrowser.media import synth


def _ids(store):
    return {r[0]: r[1] for r in store.conn.execute("SELECT path, id FROM items")}


def make_tree(root):
    (root / "a").mkdir(parents=True)
    (root / ".hidden").mkdir()
    synth.write_image(root / "a" / "one.jpg", synth.draw_image("warm", (20, 20)))
    synth.write_image(root / "two.png", synth.draw_image("cool", (20, 20)))
    synth.write_image(root / ".hidden" / "secret.jpg", synth.draw_image("dark", (20, 20)))
    (root / "notes.txt").write_text("not media")
    (root / "fake.jpg").write_text("text pretending to be a photo")
    return root


def test_walk_finds_media_skips_hidden_and_survives_symlink_loops(tmp_path):
    root = make_tree(tmp_path / "lib")
    os.symlink(root, root / "a" / "loop")  # directory loop
    os.symlink(root / "nowhere.jpg", root / "dangling.jpg")
    found = {os.path.basename(e.raw_path): e.error for e in walk(os.fsencode(root))}
    assert set(found) == {b"one.jpg", b"two.png", b"fake.jpg", b"dangling.jpg"}
    assert "dangling symlink" in found[b"dangling.jpg"]
    hidden = {os.path.basename(e.raw_path) for e in walk(os.fsencode(root), include_hidden=True)}
    assert b"secret.jpg" in hidden


def test_walk_lists_a_symlinked_file_once_by_its_own_name(tmp_path):
    root = make_tree(tmp_path / "lib")
    os.symlink(root / "two.png", root / "a" / "link_to_two.png")  # comes first in the walk
    outside = synth.write_image(tmp_path / "outside.jpg", synth.draw_image("grey", (20, 20)))
    os.symlink(outside, root / "link_out.jpg")
    found = sorted(os.path.relpath(os.fsdecode(e.raw_path), root) for e in walk(os.fsencode(root)) if not e.error)
    assert found == ["a/one.jpg", "fake.jpg", "link_out.jpg", "two.png"]  # link_out: reachable only by the link


def test_walk_lists_hard_links_once_by_the_first_name(tmp_path):
    root = make_tree(tmp_path / "lib")
    (root / "b").mkdir()
    os.link(root / "a" / "one.jpg", root / "a" / "0_one.jpg")  # sorts before one.jpg
    os.link(root / "a" / "one.jpg", root / "b" / "also_one.jpg")
    os.link(root / "two.png", root / "a" / "2.png")  # a folder's own files come first
    for _ in range(2):  # the same name is kept on every run
        found = sorted(os.path.relpath(os.fsdecode(e.raw_path), root) for e in walk(os.fsencode(root)) if not e.error)
        assert found == ["a/0_one.jpg", "fake.jpg", "two.png"]


def test_hard_links_become_one_item_that_follows_the_surviving_name(store, tmp_path):
    root = make_tree(tmp_path / "lib")
    os.link(root / "two.png", root / "a" / "two_again.png")
    rid = store.add_root(root)
    stats = sync_root(store, rid, os.fsencode(root))
    assert stats.new == 3  # one.jpg, fake.jpg and one item for the two names
    kept = store.item_by_path(root / "two.png")
    with store.transaction() as conn:
        conn.execute("INSERT INTO scores VALUES (?, 'm', '1', 0.5, -0.5)", (kept.id,))
        conn.execute("UPDATE items SET status='indexed' WHERE id=?", (kept.id,))
    assert store.item_by_path(root / "a" / "two_again.png") is None
    os.unlink(root / "two.png")  # the other name lives on
    stats = sync_root(store, rid, os.fsencode(root))
    assert (stats.moved, stats.new, stats.missing) == (1, 0, 0)
    moved = store.item_by_path(root / "a" / "two_again.png")
    assert (moved.id, moved.status) == (kept.id, "indexed")


def test_sync_records_new_broken_and_unchanged(store, tmp_path):
    root = make_tree(tmp_path / "lib")
    rid = store.add_root(root)
    stats = sync_root(store, rid, os.fsencode(root))
    assert (stats.new, stats.unchanged, stats.failed) == (3, 0, 1)
    rows = dict(store.conn.execute("SELECT path, status FROM items"))
    assert rows[str(root / "fake.jpg")] == "failed"
    assert rows[str(root / "two.png")] == "pending"
    again = sync_root(store, rid, os.fsencode(root))
    assert (again.new, again.changed, again.unchanged) == (0, 0, 0)  # nothing finished yet
    store.conn.execute("UPDATE items SET status='indexed' WHERE status='pending'")
    again = sync_root(store, rid, os.fsencode(root))
    assert (again.new, again.changed, again.unchanged) == (0, 0, 2)  # the failed file is not "unchanged"


def test_unchanged_files_are_not_opened(store, tmp_path, monkeypatch):
    root = make_tree(tmp_path / "lib")
    rid = store.add_root(root)
    sync_root(store, rid, os.fsencode(root))
    import builtins

    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda p, *a, **k: opened.append(p) or real_open(p, *a, **k))
    sync_root(store, rid, os.fsencode(root))
    assert opened == []


def test_changed_file_goes_back_to_pending(store, tmp_path):
    root = make_tree(tmp_path / "lib")
    rid = store.add_root(root)
    sync_root(store, rid, os.fsencode(root))
    store.conn.execute("UPDATE items SET status='indexed'")
    synth.write_image(root / "two.png", synth.draw_image("vivid", (30, 30)))
    stats = sync_root(store, rid, os.fsencode(root))
    assert stats.changed == 1
    assert store.item_by_path(root / "two.png").status == "pending"


def _scored_tree(store, tmp_path):
    """A synced tree whose two.png is indexed with a score; (root, root id, that item)."""
    root = make_tree(tmp_path / "lib")
    rid = store.add_root(root)
    sync_root(store, rid, os.fsencode(root))
    item = store.item_by_path(root / "two.png")
    with store.transaction() as conn:
        conn.execute("INSERT INTO scores VALUES (?, 'm', '1', 0.5, -0.5)", (item.id,))
        conn.execute("UPDATE items SET status='indexed' WHERE id=?", (item.id,))
    return root, rid, item


def test_moved_file_keeps_its_scores(store, tmp_path):
    root, rid, item = _scored_tree(store, tmp_path)
    os.rename(root / "two.png", root / "a" / "renamed.png")
    stats = sync_root(store, rid, os.fsencode(root))
    assert (stats.moved, stats.new, stats.missing) == (1, 0, 0)  # a move is not also reported missing
    moved = store.item_by_path(root / "a" / "renamed.png")
    assert moved.id == item.id and moved.status == "indexed"
    assert store.conn.execute("SELECT valence FROM scores WHERE item_id=?", (item.id,)).fetchone()[0] == 0.5


def test_a_changed_file_drops_its_scores_so_a_move_cannot_bring_them_back(store, tmp_path):
    root, rid, item = _scored_tree(store, tmp_path)
    synth.write_image(root / "two.png", synth.draw_image("vivid", (30, 30)))
    sync_root(store, rid, os.fsencode(root))  # changed: pending, old scores gone
    os.rename(root / "two.png", root / "a" / "renamed.png")
    sync_root(store, rid, os.fsencode(root))
    moved = store.item_by_path(root / "a" / "renamed.png")
    assert moved.status == "pending"
    assert store.conn.execute("SELECT COUNT(*) FROM scores WHERE item_id=?", (moved.id,)).fetchone()[0] == 0


def test_deleted_file_is_missing_and_leaves_results(store, tmp_path):
    root = make_tree(tmp_path / "lib")
    rid = store.add_root(root)
    sync_root(store, rid, os.fsencode(root))
    os.remove(root / "a" / "one.jpg")
    stats = sync_root(store, rid, os.fsencode(root))
    assert stats.missing == 1
    assert store.item_by_path(root / "a" / "one.jpg").status == "missing"
    assert sum(c["pending"] for c in store.status_counts().values()) == 1


def test_vanished_root_marks_nothing_missing(store, tmp_path):
    root = make_tree(tmp_path / "lib")
    rid = store.add_root(root)
    sync_root(store, rid, os.fsencode(root))
    os.rename(root, tmp_path / "unmounted")
    stats = sync_root(store, rid, os.fsencode(root))
    assert stats.missing == 0
    assert {r[0] for r in store.conn.execute("SELECT status FROM items")} <= {"pending", "failed"}


def test_unreadable_folder_is_reported_not_missing(store, tmp_path, monkeypatch):
    root = make_tree(tmp_path / "lib")
    rid = store.add_root(root)
    sync_root(store, rid, os.fsencode(root))
    real_scandir = os.scandir
    blocked = os.fsencode(root / "a")

    def scandir(path):
        if path == blocked:
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    # chmod 000 does not stop root (CI runs as root), so refuse the listing here.
    monkeypatch.setattr(os, "scandir", scandir)
    stats = sync_root(store, rid, os.fsencode(root))
    assert stats.missing == 0
    assert stats.unreadable_dirs == [str(root / "a")]


def test_non_utf8_and_newline_names(store, tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    data = synth.write_image(tmp_path / "x.jpg", synth.draw_image("warm", (20, 20))).read_bytes()
    for name in (b"caf\xe9.jpg", b"two\nlines.jpg"):
        with open(os.path.join(os.fsencode(root), name), "wb") as fh:
            fh.write(data)
    rid = store.add_root(root)
    stats = sync_root(store, rid, os.fsencode(root))
    assert stats.new == 2
    raws = {bytes(r[0]) for r in store.conn.execute("SELECT raw_path FROM items")}
    assert os.path.join(os.fsencode(root), b"caf\xe9.jpg") in raws


def test_files_back_unchanged_after_going_missing_keep_their_scores(store, tmp_path):
    root, rid, item = _scored_tree(store, tmp_path)
    os.rename(root, tmp_path / "away")
    os.mkdir(root)  # the root is there but empty, like an unmounted drive's mount point
    sync_root(store, rid, os.fsencode(root))
    assert store.item_by_path(root / "two.png").status == "missing"
    os.rmdir(root)
    os.rename(tmp_path / "away", root)
    stats = sync_root(store, rid, os.fsencode(root))
    assert (stats.changed, stats.new, stats.moved, stats.unchanged) == (0, 0, 0, 1)
    back = store.item_by_path(root / "two.png")
    assert (back.id, back.status) == (item.id, "indexed")
    assert store.conn.execute("SELECT valence FROM scores WHERE item_id=?", (item.id,)).fetchone()[0] == 0.5
    assert store.item_by_path(root / "a" / "one.jpg").status == "pending"  # never scored: indexed this run


def test_a_hard_link_indexed_under_both_names_by_an_earlier_version_keeps_its_scores(store, tmp_path):
    root, rid, item = _scored_tree(store, tmp_path)
    os.link(root / "two.png", root / "a" / "z_two.png")
    with store.transaction() as conn:  # what earlier versions stored for the second name
        st = os.stat(root / "two.png")
        cur = conn.execute("INSERT INTO items(raw_path, path, root_id, modality, size, mtime_ns, status, updated) "
                           "VALUES (?, ?, ?, 'image', ?, ?, 'indexed', 0)",
                           (os.fsencode(root / "a" / "z_two.png"), str(root / "a" / "z_two.png"), rid,
                            st.st_size, st.st_mtime_ns))
        conn.execute("INSERT INTO scores VALUES (?, 'm', '1', 0.25, -0.5)", (cur.lastrowid,))
    second = cur.lastrowid
    sync_root(store, rid, os.fsencode(root))  # now listed once: the second name's item goes missing
    assert store.item(second).status == "missing"
    os.unlink(root / "two.png")
    stats = sync_root(store, rid, os.fsencode(root))
    assert (stats.changed, stats.new) == (0, 0)
    assert store.item(second).status == "indexed"
    assert store.conn.execute("SELECT valence FROM scores WHERE item_id=?", (second,)).fetchone()[0] == 0.25
