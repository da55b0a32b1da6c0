"""Scale: a library database of 1,000,000 items and a tree of 100,000 files.

Reports, beside a baseline each where one makes sense:
- db_mb: the size of the synthetic library database;
- rescan_files_per_s: an unchanged rescan of the tree (baseline: bare os.walk + stat);
- query_p50_ms / query_p99_ms: a balanced top-20 query through the engine
  (baseline: the same query by brute force in NumPy);
- scatter_load_s: loading every item's point from the database, as the scatter does;
- peak_rss_mb: the process's peak resident memory.

Targets: rescan ≥ 5,000 files/s; peak RSS ≤ 1.5 GB at 1M items.

Usage: python benchmarks/bench_scale.py [--quick] [--items 1000000] [--files 100000]
--quick runs every step on 10,000 items, 1,000 files and 30 queries (a few seconds):
it checks that the benchmark runs; its figures are not held against the targets.
The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def fill_database(store, n: int, models: dict) -> float:
    """Insert n indexed items with scores; returns seconds taken."""
    rng = np.random.default_rng(0)
    modality = rng.choice(np.array(["image", "audio", "video"]), n, p=[0.6, 0.35, 0.05])
    v, a = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    (im, iv), (am, av) = models["image"], models["audio"]
    t = time.perf_counter()
    root = store.add_root("/synthetic")
    step = 50_000
    for start in range(0, n, step):
        rows, scores = [], []
        for i in range(start, min(n, start + step)):
            raw = f"/synthetic/{modality[i]}/{i // 1000:04d}/item{i:07d}".encode()
            rows.append((i + 1, raw, raw.decode(), root, str(modality[i]), 1000 + i, i, "indexed", 0.0))
            model = (im, iv) if modality[i] == "image" else (am, av)
            scores.append((i + 1, *model, float(v[i]), float(a[i])))
            if modality[i] == "video":
                scores.append((i + 1, im, iv, float(v[i]), float(a[i])))
        with store.transaction() as conn:
            conn.executemany("INSERT INTO items(id, raw_path, path, root_id, modality, size, mtime_ns, status, "
                             "updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?)", scores)
    return time.perf_counter() - t


def make_tree(root: Path, files: int) -> None:
    data = b"\x89PNG\r\n\x1a\n" + b"\0" * 56
    for i in range(files):
        folder = root / f"d{i // 1000:03d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True)
        (folder / f"f{i:06d}.png").write_bytes(data + i.to_bytes(4, "little"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (10,000 items, 1,000 files, 30 queries): a check that every step runs")
    if parser.parse_known_args()[0].quick:
        parser.set_defaults(items=10_000, files=1_000, queries=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emobrowser-scale-"))
    os.environ["EMOBROWSER_HOME"] = str(work / "home")
    from emobrowser.index.library import load_points, open_engine
    from emobrowser.index.scanner import sync_root
    from emobrowser.index.store import Store

    models = {"image": ("image-va", "1"), "audio": ("audio-va", "1")}
    result: dict = {"quick": args.quick, "items": args.items, "files": args.files}
    try:
        db = work / "library.sqlite3"
        with Store(db) as store:
            result["fill_s"] = round(fill_database(store, args.items, models), 1)
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        result["db_mb"] = round(db.stat().st_size / 2**20, 1)
        print(f"filled: {result}", file=sys.stderr)

        with Store(db) as store:
            t = time.perf_counter()
            points = load_points(store, models)
            result["scatter_load_s"] = round(time.perf_counter() - t, 2)
        assert len(points) == args.items
        t = time.perf_counter()
        engine = open_engine(points, db)
        result["engine_build_s"] = round(time.perf_counter() - t, 1)
        rng = np.random.default_rng(1)
        queries = rng.uniform(-1, 1, (args.queries, 2))
        lat = []
        for q in queries:
            t = time.perf_counter()
            engine.query(q[0], q[1], k=20)
            lat.append(time.perf_counter() - t)
        exact = []
        for q in queries[:20]:
            t = time.perf_counter()
            engine.query(q[0], q[1], k=20, exact=True)
            exact.append(time.perf_counter() - t)
        engine.close()
        result["query_p50_ms"] = round(float(np.percentile(lat, 50)) * 1000, 3)
        result["query_p99_ms"] = round(float(np.percentile(lat, 99)) * 1000, 3)
        result["exact_query_p50_ms"] = round(float(np.percentile(exact, 50)) * 1000, 2)
        print(f"queries: {result}", file=sys.stderr)

        tree = work / "tree"
        make_tree(tree, args.files)
        with Store(work / "tree.sqlite3") as store:
            rid = store.add_root(tree)
            first = sync_root(store, rid, os.fsencode(tree))
            assert first.new == args.files and first.failed == 0, first
            # A rescan counts only finished items as unchanged (pending ones are indexed
            # in that run): mark them indexed, as a library the pipeline has finished is.
            with store.transaction() as conn:
                conn.execute("UPDATE items SET status = 'indexed' WHERE root_id = ? AND status = 'pending'", (rid,))
            t = time.perf_counter()
            stats = sync_root(store, rid, os.fsencode(tree))
            rescan = time.perf_counter() - t
        assert stats.unchanged == args.files, stats
        t = time.perf_counter()
        for folder, _dirs, names in os.walk(tree):
            for name in names:
                os.stat(os.path.join(folder, name))
        walk = time.perf_counter() - t
        result["rescan_files_per_s"] = round(args.files / rescan)
        result["walk_stat_files_per_s"] = round(args.files / walk)
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        result["targets"] = {"rescan_files_per_s": 5000, "peak_rss_mb": 1536}
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
