"""The command line, run as a user runs it: in a subprocess, on generated media."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, run_cli
from emobrowser.media import synth

BASE = ["--image-model", "baseline", "--audio-model", "baseline"]


def bad_library(root):
    """Good files beside broken ones of many kinds."""
    root.mkdir()
    synth.write_image(root / "good.jpg", synth.draw_image("warm", (60, 80)))
    synth.write_image(root / "good2.png", synth.draw_image("cool", (60, 80)))
    synth.write_audio(root / "good.flac", synth.synth_music(2.0))
    synth.write_video(root / "good.mp4", [("warm", {}), ("dark", {"major": False})], seconds_per_scene=2.0)
    jpg = (root / "good.jpg").read_bytes()
    wav = synth.write_audio(root / "_tmp.wav", synth.synth_music(2.0)).read_bytes()
    os.remove(root / "_tmp.wav")
    (root / "empty.jpg").write_bytes(b"")
    (root / "random.png").write_bytes(os.urandom(3000))
    (root / "text.mp3").write_text("this is not audio\n" * 20)
    (root / "truncated.jpg").write_bytes(jpg[: len(jpg) // 3])
    (root / "truncated.wav").write_bytes(wav[:30])
    (root / "header_only.png").write_bytes((root / "good2.png").read_bytes()[:33])
    (root / "misnamed.mp3").write_bytes((root / "good2.png").read_bytes())
    os.symlink(root / "nothing.jpg", root / "dangling.jpg")
    return root


def test_index_status_failures_query(tmp_path):
    lib = bad_library(tmp_path / "lib")
    db = str(tmp_path / "lib.sqlite3")
    out = run_cli("index", str(lib), "--db", db, *BASE)
    assert "indexed: 5, unchanged: 0, failed: 7" in out.stdout
    status = json.loads(run_cli("status", "--json", "--db", db).stdout)
    assert status["items"]["image"]["indexed"] == 3  # good.jpg, good2.png, misnamed.mp3 (a PNG)
    assert status["items"]["audio"]["indexed"] == 1 and status["items"]["video"]["indexed"] == 1
    assert set(status) == {"items", "models", "alignment"}
    assert status["alignment"] == {"method": "identity", "version": 0, "in_force": True}
    failures = [json.loads(line) for line in run_cli("failures", "--json", "--db", db).stdout.splitlines()]
    reasons = {os.path.basename(f["path"]): f["error"] for f in failures}
    assert reasons["empty.jpg"] == "empty file (0 bytes)"
    assert reasons["truncated.jpg"] == "truncated JPEG (no end-of-image marker)"
    assert reasons["text.mp3"] == "content is text, not an audio file"
    assert reasons["dangling.jpg"].startswith("dangling symlink")
    assert set(reasons) == {"empty.jpg", "random.png", "text.mp3", "truncated.jpg", "truncated.wav",
                            "header_only.png", "dangling.jpg"}
    assert all(set(f) == {"path", "modality", "error"} for f in failures)

    again = run_cli("index", "--db", db, *BASE)
    assert "indexed: 0, unchanged: 5, failed: 7" in again.stdout  # each file counted once

    hits = [json.loads(line) for line in
            run_cli("query", "--valence", "0.3", "--arousal", "0.1", "-k", "4", "--json", "--db", db).stdout.splitlines()]
    assert len(hits) == 4
    assert {h["modality"] for h in hits} >= {"image", "audio"}
    assert all(set(h) == {"path", "modality", "valence", "arousal", "distance", "title", "artist", "album", "year",
                          "date"} for h in hits)
    only_audio = run_cli("query", "--valence", "0", "--arousal", "0", "--modality", "audio", "--json", "--db", db)
    assert {json.loads(line)["modality"] for line in only_audio.stdout.splitlines()} == {"audio"}


def test_score_json_format(tmp_path, media_dir):
    out = run_cli("score", "--json", *BASE, str(media_dir / "warm.jpg"), str(media_dir / "music" / "slow.flac"),
                  str(media_dir / "clip.mp4"), str(tmp_path / "does-not-exist.jpg"), check=False)
    assert out.returncode == 1  # one of the files could not be scored
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["modality"] for r in rows] == ["image", "audio", "video", None]
    keys = {"path", "modality", "model", "valence", "arousal", "error", "segments"}
    assert all(keys <= set(r) for r in rows)
    image, audio, video, missing = rows
    assert image["model"] == "baseline-image" and -1 <= image["valence"] <= 1 and image["error"] is None
    assert audio["segments"] and audio["segments"][1]["start"] == 0.5
    assert {s["source"] for s in video["segments"]} == {"image", "audio"}
    assert missing["valence"] is None and missing["error"] == "no such file"
    good = run_cli("score", "--json", *BASE, str(media_dir / "warm.jpg"), check=False)
    assert good.returncode == 0


def test_query_errors_are_clear(tmp_path):
    from emobrowser.index.store import Store

    db = str(tmp_path / "lib.sqlite3")
    for command in (["status"], ["failures"], ["query", "--valence", "0", "--arousal", "0"]):
        for args in ([*command, "--db", db], ["--db", db, *command]):  # after or before the command
            out = run_cli(*args, check=False)
            assert out.returncode == 2 and f"no library at {db}" in out.stderr, args
            assert not os.path.exists(db)  # a mistyped --db does not create an empty library
    Store(db).close()
    out = run_cli("query", "--valence", "3", "--arousal", "0", "--db", db, check=False)
    assert out.returncode == 2 and "valence must be in [-1, 1]" in out.stderr
    out = run_cli("query", "--mood", "calm", "--valence", "0.9", "--arousal", "0.9", "--db", db, check=False)
    assert out.returncode == 2 and "give one target, not --valence/--arousal and --mood" in out.stderr
    for extra, message in ((["--mood", "calm", "--at", "3"], "--at picks a moment of the --like example"),
                           (["--mood", "calm", "--max-distance", "-1"], "--max-distance must be a number"),
                           (["--mood", "calm", "--max-distance", "nan"], "--max-distance must be a number"),
                           (["--region", "circle:0,0,1", "--max-distance", "inf"], "a region is its own limit"),
                           (["--region", "circle:0,0,1", "--max-distance", "0.3"], "a region is its own limit"),
                           (["--mood", "calm", "--modality", ","], "unknown modality ','")):
        out = run_cli("query", *extra, "--db", db, check=False)
        assert out.returncode == 2 and message in out.stderr, extra
    out = run_cli("train", "image", "--data", str(tmp_path), "--out", str(tmp_path / "m"), check=False)
    assert out.returncode == 2 and "is not an image training folder: no images/ratings.csv or ratings.csv" in out.stderr
    assert "Traceback" not in out.stderr
    out = run_cli("index", str(tmp_path / "nope"), "--db", db, check=False)
    assert out.returncode == 2 and "not a folder" in out.stderr
    for option, value, message in (("--timeout", "-5", "--timeout must be a positive"),
                                   ("--timeout", "0", "--timeout must be a positive"),
                                   ("--timeout", "nan", "--timeout must be a positive"),
                                   ("--workers", "0", "--workers must be at least 1"),
                                   ("--workers", str(4 * (os.cpu_count() or 1) + 1),
                                    f"--workers may be at most {4 * (os.cpu_count() or 1)}")):
        out = run_cli("index", str(tmp_path), option, value, "--db", db, check=False)
        assert out.returncode == 2 and message in out.stderr, (option, value)
    assert Store(db).roots() == []  # nothing was added


def test_emobrowser_home_sets_the_database(tmp_path, media_dir):
    home = tmp_path / "home"
    run_cli("index", str(media_dir / "music"), *BASE, env={"EMOBROWSER_HOME": str(home)})
    assert (home / "library.sqlite3").exists()


def _status(db):
    return run_cli("status", "--json", "--db", db).stdout


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(tmp_path):
    """Kill `emobrowser index` repeatedly; the final state equals an uninterrupted run."""
    lib = tmp_path / "lib"
    lib.mkdir()
    for i in range(40):
        synth.write_image(lib / f"img{i:02d}.jpg", synth.draw_image(["warm", "cool", "vivid", "noise"][i % 4],
                                                                  (120, 160), seed=i))
    for i in range(6):
        synth.write_audio(lib / f"song{i}.wav", synth.synth_music(2.0, seed=i))
    (lib / "bad.jpg").write_text("oops")
    reference = str(tmp_path / "ref.sqlite3")
    run_cli("index", str(lib), "--db", reference, *BASE)

    db = str(tmp_path / "killed.sqlite3")
    rng = random.Random(7)
    env = dict(os.environ)
    for attempt in range(10):
        proc = subprocess.Popen([sys.executable, "-m", "emobrowser", "index", str(lib), "--db", db, *BASE],
                                cwd=str(REPO), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        import sqlite3

        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "items" in tables:
            assert conn.execute("SELECT COUNT(*) - COUNT(DISTINCT raw_path) FROM items").fetchone()[0] == 0
        else:  # killed before the first migration committed: an empty database, as created
            assert not tables and conn.execute("PRAGMA user_version").fetchone()[0] == 0
        conn.close()
    run_cli("index", "--db", db, *BASE)
    assert _status(db) == _status(reference)


@pytest.fixture(scope="module")
def indexed_db(tmp_path_factory, media_dir):
    db = str(tmp_path_factory.mktemp("q") / "lib.sqlite3")
    run_cli("index", str(media_dir), "--db", db, *BASE)
    return db


def _rows(out):
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_query_by_mood_region_folder_and_distance(indexed_db, media_dir):
    calm = _rows(run_cli("query", "--mood", "calm", "-k", "3", "--json", "--db", indexed_db))
    assert calm and all(r["distance"] <= max(0.5, calm[0]["distance"] + 0.25) for r in calm)  # the relevance limit
    calm = _rows(run_cli("query", "--mood", "calm", "-k", "3", "--max-distance", "inf", "--json", "--db", indexed_db))
    assert len(calm) == 3
    unknown = run_cli("query", "--mood", "hapy", "--db", indexed_db, check=False)
    assert unknown.returncode == 2 and "happy" in unknown.stderr
    inside = _rows(run_cli("query", "--region", "rect:-1,-1,0,0", "-k", "100", "--json", "--db", indexed_db))
    assert inside and all(r["valence"] <= 0 and r["arousal"] <= 0 for r in inside)
    everything = _rows(run_cli("query", "--valence", "0", "--arousal", "0", "-k", "100", "--max-distance", "inf",
                               "--json", "--db", indexed_db))
    expected = {r["path"] for r in everything if r["valence"] <= 0 and r["arousal"] <= 0}
    assert {r["path"] for r in inside} == expected
    music = _rows(run_cli("query", "--valence", "0", "--arousal", "0", "-k", "100", "--folder",
                          str(media_dir / "music"), "--json", "--db", indexed_db))
    assert len(music) == 4 and all("/music/" in r["path"] for r in music)
    near = _rows(run_cli("query", "--valence", "0", "--arousal", "0", "-k", "100", "--max-distance", "0.3",
                         "--json", "--db", indexed_db))
    assert all(r["distance"] <= 0.3 for r in near)
    assert len(near) == sum(r["distance"] <= 0.3 for r in everything)


def test_query_leaves_far_items_out_and_says_how_many_on_stderr(indexed_db):
    point = ("--valence", "0.9", "--arousal", "0.6")  # pleasant and excited: one photo is near, the rest far
    unlimited = run_cli("query", *point, "-k", "20", "--max-distance", "inf", "--json", "--db", indexed_db)
    everything = _rows(unlimited)
    assert len(everything) == 11  # the whole library
    assert json.loads(unlimited.stderr) == {"left_out": 0, "limit": None}
    nearest = min(r["distance"] for r in everything)
    limit = max(0.5, nearest + 0.25)  # emobrowser.index.balance.relevance_limit
    far = [r for r in everything if r["distance"] > limit]
    assert far

    out = run_cli("query", *point, "-k", "20", "--json", "--db", indexed_db)
    rows = _rows(out)
    assert all(set(r) == {"path", "modality", "valence", "arousal", "distance", "title", "artist", "album", "year",
                          "date"} for r in rows)  # as before
    assert rows == [r for r in everything if r["distance"] <= limit]  # the same rows, the far ones left out
    lines = out.stderr.splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary == {"left_out": len(far), "limit": pytest.approx(limit, abs=1e-6)}

    text = run_cli("query", *point, "-k", "20", "--db", indexed_db)
    assert len(text.stdout.splitlines()) == len(rows)
    assert text.stderr == (f"{len(far)} farther items left out (beyond {limit:.2f}); "
                           f"--max-distance inf shows them\n")
    # an explicit radius replaces the rule; what lies beyond it is counted the same way
    out = run_cli("query", *point, "-k", "20", "--max-distance", "0.2", "--json", "--db", indexed_db)
    assert _rows(out) == [r for r in everything if r["distance"] <= 0.2]
    assert json.loads(out.stderr) == {"left_out": sum(r["distance"] > 0.2 for r in everything), "limit": 0.2}
    # a region is its own limit: no note
    region = run_cli("query", "--region", "circle:0.9,0.6,0.3", "--json", "--db", indexed_db)
    assert region.stderr == ""


def test_query_rejects_non_finite_numbers_in_one_line(indexed_db):
    for args in (["--valence", "0", "--arousal", "0", "--balance", "nan"],
                 ["--valence", "0", "--arousal", "0", "--balance", "inf"],
                 ["--region", "rect:nan,0,1,1"], ["--region", "circle:0,inf,0.5"], ["--region", "circle:0,0,inf"]):
        out = run_cli("query", *args, "--db", indexed_db, check=False)
        assert out.returncode == 2, args
        assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
        assert ("--balance" if "--balance" in args else "region") in out.stderr


def test_query_like_crosses_modalities(indexed_db, media_dir):
    photo = str(media_dir / "warm.jpg")
    rows = _rows(run_cli("query", "--like", photo, "-k", "3", "--json", "--db", indexed_db))
    assert rows and all(r["modality"] != "image" for r in rows)
    song = str(media_dir / "music" / "upbeat.wav")
    rows = _rows(run_cli("query", "--like", song, "--at", "1.0", "-k", "3", "--json", "--db", indexed_db))
    assert rows and all(r["modality"] != "audio" for r in rows)


def test_like_and_folder_recognise_library_paths_written_through_a_symlink(indexed_db, media_dir, tmp_path):
    alias = tmp_path / "alias"
    os.symlink(media_dir, alias)
    photo = "warm.jpg"
    for like in (media_dir / photo, alias / photo):
        rows = _rows(run_cli("query", "--like", str(like), "--modality", "image", "-k", "100", "--json",
                             "--db", indexed_db))
        assert rows and str(media_dir / photo) not in {r["path"] for r in rows}  # the example itself is left out
    music = _rows(run_cli("query", "--mood", "calm", "-k", "100", "--folder", str(alias / "music"),
                          "--max-distance", "inf", "--json", "--db", indexed_db))
    assert len(music) == 4 and all(r["path"].startswith(str(media_dir / "music")) for r in music)


@pytest.mark.slow
def test_predict_features_and_audio_score_with_the_trained_model(tmp_path):
    import numpy as np

    from emobrowser.features.audio_features import FEATURE_NAMES

    rng = np.random.default_rng(0)
    csv = tmp_path / "table.csv"
    header = ["song_id", *FEATURE_NAMES]
    rows = [",".join(header)]
    for song in (11, 12, 13):
        rows.append(",".join([str(song)] + [f"{x:.5f}" for x in rng.uniform(0.01, 1.0, len(FEATURE_NAMES))]))
    csv.write_text("\n".join(rows) + "\n")
    out = [json.loads(line) for line in run_cli("predict-features", "audio", str(csv), "--json").stdout.splitlines()]
    assert [r["song_id"] for r in out] in ([11, 12, 13], ["11", "12", "13"])
    assert all(set(r) == {"song_id", "valence", "arousal"} and -1 <= r["valence"] <= 1 for r in out)
    # A row that cannot be scored is reported on stderr, the others are still scored.
    with open(csv, "a") as fh:
        fh.write("14" + ",nan" * len(FEATURE_NAMES) + "\n")
    partly = run_cli("predict-features", "audio", str(csv), "--json", check=False)
    assert partly.returncode == 1 and len(partly.stdout.splitlines()) == 3
    assert "line 5 (song_id 14): not scored: mfcc_0 is not a finite number" in partly.stderr
    missing = run_cli("predict-features", "audio", str(tmp_path / "nope.csv"), "--json", check=False)
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr

    song = synth.write_audio(tmp_path / "song.wav", synth.synth_rock(4.2))
    (row,) = [json.loads(line) for line in run_cli("score", "--json", str(song)).stdout.splitlines()]
    assert row["model"] == "audio-va" and row["error"] is None
    starts = [s["start"] for s in row["segments"]]
    assert starts == [0.5 * i for i in range(9)]  # ceil(4.2 / 0.5) steps at a 0.5 s hop
    assert all(-1 <= s["valence"] <= 1 and -1 <= s["arousal"] <= 1 for s in row["segments"])


def test_db_before_the_command_is_not_overwritten_by_the_command_default():
    from emobrowser.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["--db", "a.sqlite3", "index"]).db == "a.sqlite3"
    assert parser.parse_args(["index", "--db", "b.sqlite3"]).db == "b.sqlite3"
    assert parser.parse_args(["index"]).db is None
    assert parser.parse_args([]).db is None


def test_index_while_another_process_indexes_is_refused_and_a_killed_indexer_frees_the_library(tmp_path, media_dir):
    db = str(tmp_path / "lib.sqlite3")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom emobrowser.index.store import Store\n"
         f"s = Store({db!r})\nwith s.indexing_lock():\n    print('held', flush=True)\n    time.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True, cwd=str(REPO))
    try:
        assert holder.stdout.readline().strip() == "held"
        out = run_cli("index", str(media_dir / "music"), "--db", db, *BASE, check=False)
        assert out.returncode == 1 and "is being indexed by another emobrowser process" in out.stderr
        assert "Traceback" not in out.stderr
    finally:
        holder.kill()  # SIGKILL: the lock must not outlive its process
        holder.wait()
    out = run_cli("index", str(media_dir / "music"), "--db", db, *BASE)
    assert "indexed: 4" in out.stdout


def test_text_output_keeps_one_line_per_entry_for_names_with_line_breaks(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "two\nlines.jpg").write_text("not a photo")
    synth.write_image(lib / "tab\there\u2028.png", synth.draw_image("warm", (30, 30)))
    db = str(tmp_path / "lib.sqlite3")
    run_cli("index", str(lib), "--db", db, *BASE)
    failures = run_cli("failures", "--db", db).stdout.splitlines()
    assert len(failures) == 1 and failures[0].startswith(str(lib / "two\\nlines.jpg") + "\t")
    hits = run_cli("query", "--valence", "0", "--arousal", "0", "--db", db).stdout.splitlines()
    assert len(hits) == 1 and hits[0].endswith(str(lib / "tab\\there\\u2028.png"))
    exact = json.loads(run_cli("failures", "--json", "--db", db).stdout)
    assert exact["path"] == str(lib / "two\nlines.jpg")  # JSON gives the name exactly


def test_names_that_are_not_utf8_print_on_a_strict_utf8_terminal_and_round_trip(tmp_path):
    # A desktop's UTF-8 locale makes stdout strict: a name's undecodable byte used to
    # end the command with UnicodeEncodeError. Text shows the byte as \xe9; JSON
    # carries it as "\udce9", which json.loads + os.fsencode turn back into the name.
    lib = tmp_path / "lib"
    lib.mkdir()
    raw_name = os.path.join(os.fsencode(lib), b"caf\xe9.png")
    synth.write_image(os.fsdecode(raw_name), synth.draw_image("warm", (30, 30)))
    strict = {"PYTHONIOENCODING": "utf-8:strict"}
    db = str(tmp_path / "lib.sqlite3")
    run_cli("index", str(lib), "--db", db, *BASE, env=strict)
    text = str(lib / "caf\\xe9.png")
    hits = run_cli("query", "--valence", "0", "--arousal", "0", "--db", db, env=strict).stdout.splitlines()
    assert len(hits) == 1 and hits[0].endswith(text)
    row = json.loads(run_cli("query", "--valence", "0", "--arousal", "0", "--json", "--db", db, env=strict).stdout)
    assert os.fsencode(row["path"]) == raw_name
    scored = run_cli("score", os.fsdecode(raw_name), *BASE, env=strict).stdout
    assert scored.startswith(text + "\t")
    row = json.loads(run_cli("score", "--json", os.fsdecode(raw_name), *BASE, env=strict).stdout)
    assert os.fsencode(row["path"]) == raw_name and row["error"] is None
    # the folder filter and --like reach it too
    row = json.loads(run_cli("query", "--like", os.fsdecode(raw_name), "--json", "--db", db, env=strict).stdout
                     or "null")
    assert row is None  # the example itself is not among its own results, and nothing else is indexed
    inside = run_cli("query", "--valence", "0", "--arousal", "0", "--folder", str(lib), "--db", db, env=strict)
    assert inside.stdout.splitlines() == hits


def test_one_line_tells_a_stray_byte_from_a_control_character():
    from emobrowser.cli import one_line

    byte, control = os.fsdecode(b"/m/a\x85.jpg"), os.fsdecode(b"/m/a\xc2\x85.jpg")  # U+0085 in UTF-8
    assert one_line(byte) == "/m/a\\x85.jpg" and one_line(control) == "/m/a\\u0085.jpg"
    assert one_line("/m/tab\there") == "/m/tab\\there" and one_line("/m/caf\u00e9") == "/m/caf\u00e9"


def test_score_timeout_gives_videos_the_indexing_allowance(media_dir, monkeypatch):
    from emobrowser.index import scoring
    from emobrowser.index.pipeline import time_limit

    limits = []

    class Pool:  # records each task's time limit instead of running it
        def __init__(self, func, workers, timeout, nice):
            pass

        def run(self, tasks):
            for index, _args, limit, _memory in tasks:  # (the memory limit: see test_hostile_memory)
                limits.append(limit)
                yield index, False, "not run"

    monkeypatch.setattr(scoring, "ProcessPool", Pool)
    video = media_dir / "clip.mp4"
    list(scoring.score_paths([str(media_dir / "warm.jpg"), str(video)], "baseline", "baseline", timeout=7.0))
    assert limits == [7.0, time_limit(7.0, "video", video.stat().st_size)] and limits[1] > 7.0
    bad = run_cli("score", "--timeout", "-1", str(video), check=False)
    assert bad.returncode == 2 and "--timeout must be a positive number" in bad.stderr
