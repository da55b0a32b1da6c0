"""Indexing speed: reduced JPEG decoding, pipeline throughput, unchanged rescans.

Measures, in one run and beside a baseline each:
- decoding 12-megapixel JPEGs reduced (what indexing does) against a full decode,
  alone and followed by the resize to the same size (the like-for-like baseline);
- photos per second through the whole pipeline (scan, decode, features, model,
  database) with 2 worker processes;
- the rescan rate of an unchanged library of 10,000 files, against a bare
  os.walk + stat of the same tree.

Goals: reduced decode ≥ 3× faster than full; ≥ 30 photos/s through the pipeline
on 2 cores; an unchanged rescan ≥ 5,000 files/s.

Usage: python benchmarks/bench_index.py [--quick] [--photos 40] [--files 10000] [--image-model NAME]
--quick runs every step on 2 photos, 4 through the pipeline and a tree of 500 files
(well under a minute): it checks that the benchmark runs; its figures are not held
against the goals. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def make_photo(seed: int) -> bytes:
    """A 4000×3000 JPEG with camera-like detail (smooth shapes plus sensor noise)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (30, 40, 3)).astype(np.uint8)
    img = cv2.resize(small, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    for _ in range(30):
        c = tuple(int(x) for x in rng.integers(0, 255, 3))
        cv2.circle(img, (int(rng.integers(0, 4000)), int(rng.integers(0, 3000))), int(rng.integers(50, 600)), c, -1)
    img = cv2.add(img, rng.normal(0, 6, img.shape).astype(np.int8), dtype=cv2.CV_8U)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes()


def bench_decode(photos: list[bytes], repeat: int = 2) -> dict:
    import cv2

    from emobrowser.media.images import decode_image

    cv2.setNumThreads(1)
    size = decode_image(photos[0], "jpeg")[0].shape[1::-1]  # what indexing works on
    t = time.perf_counter()
    for _ in range(repeat):
        for data in photos:
            cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    full = (time.perf_counter() - t) / (repeat * len(photos))
    # The like-for-like baseline: a full decode must then be shrunk to the same size.
    t = time.perf_counter()
    for _ in range(repeat):
        for data in photos:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    full_resized = (time.perf_counter() - t) / (repeat * len(photos))
    t = time.perf_counter()
    for _ in range(repeat):
        for data in photos:
            decode_image(data, "jpeg")
    reduced = (time.perf_counter() - t) / (repeat * len(photos))
    return {"photo_mb": round(float(np.mean([len(p) for p in photos])) / 1e6, 2),
            "full_decode_ms": round(full * 1000, 1), "full_decode_resize_ms": round(full_resized * 1000, 1),
            "reduced_decode_ms": round(reduced * 1000, 1), "reduced_size": list(size),
            "reduced_speedup": round(full / reduced, 2),
            "reduced_speedup_vs_full_resize": round(full_resized / reduced, 2)}


def bench_pipeline(photos: list[bytes], count: int, work: Path, image_model: str | None) -> dict:
    from emobrowser.index.pipeline import index_library
    from emobrowser.index.store import Store
    from emobrowser.models import registry

    lib = work / "photos"
    lib.mkdir()
    for i in range(count):
        (lib / f"photo{i:04d}.jpg").write_bytes(photos[i % len(photos)])
    model = registry.image_model(image_model)
    model.predict(np.zeros((1, model.extract(np.zeros((64, 64, 3), np.uint8)).size), np.float32))  # load once
    with Store(work / "pipeline.sqlite3") as store:
        t = time.perf_counter()
        summary = index_library(store, [str(lib)], workers=2, image_model=image_model, audio_model="baseline")
        elapsed = time.perf_counter() - t
    assert summary.indexed == count, summary
    return {"pipeline_photos": count, "pipeline_s": round(elapsed, 2),
            "pipeline_photos_per_s": round(count / elapsed, 1), "image_model": model.info.name}


def bench_rescan(files: int, work: Path) -> dict:
    from emobrowser.index.scanner import sync_root
    from emobrowser.index.store import Store
    from emobrowser.media import synth

    tree = work / "tree"
    data = synth.write_image(work / "tiny.png", synth.draw_image("grey", (8, 8))).read_bytes()
    per_dir = 500
    for i in range(files):
        d = tree / f"d{i // per_dir:03d}"
        if i % per_dir == 0:
            d.mkdir(parents=True)
        (d / f"f{i:06d}.png").write_bytes(data + i.to_bytes(4, "little"))
    with Store(work / "rescan.sqlite3") as store:
        rid = store.add_root(tree)
        first = sync_root(store, rid, os.fsencode(tree))
        assert first.new == files and first.failed == 0, first
        # A rescan counts only finished items as unchanged (pending ones are indexed in
        # that run): mark them indexed, as a library the pipeline has finished is.
        with store.transaction() as conn:
            conn.execute("UPDATE items SET status = 'indexed' WHERE root_id = ? AND status = 'pending'", (rid,))
        t = time.perf_counter()
        again = sync_root(store, rid, os.fsencode(tree))
        rescan = time.perf_counter() - t
        assert again.unchanged == files, again
    t = time.perf_counter()
    n = 0
    for folder, _dirs, names in os.walk(tree):
        for name in names:
            os.stat(os.path.join(folder, name))
            n += 1
    walk = time.perf_counter() - t
    return {"rescan_files": files, "rescan_s": round(rescan, 3), "rescan_files_per_s": round(files / rescan),
            "walk_stat_files_per_s": round(n / walk)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=40, help="photos through the pipeline")
    parser.add_argument("--files", type=int, default=10000, help="files in the rescan tree")
    parser.add_argument("--image-model", default=None, help="image model (default: best available)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (2 photos decoded, 4 through the pipeline, 500 files): a check that "
                             "every step runs")
    if parser.parse_known_args()[0].quick:
        parser.set_defaults(photos=4, files=500)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emobrowser-bench-"))
    os.environ.setdefault("EMOBROWSER_HOME", str(work / "home"))
    try:
        photos = [make_photo(seed) for seed in range(2 if args.quick else 4)]
        result: dict = {"quick": args.quick}
        result.update(bench_decode(photos))
        print(f"decode: {result}", file=sys.stderr)
        result.update(bench_pipeline(photos, args.photos, work, args.image_model))
        print(f"pipeline: {result}", file=sys.stderr)
        result.update(bench_rescan(args.files, work))
        result["goals"] = {"reduced_speedup": 3.0, "pipeline_photos_per_s": 30.0, "rescan_files_per_s": 5000}
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
