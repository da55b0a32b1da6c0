"""Benchmark: peak memory of decoding hostile and very large images, workers included.

Each case runs in a fresh process that indexes one file as ``emobrowser index`` does:
an indexing worker process with the default models and the worker memory limit
(index.procpool), decoding and extracting features. The child reports its own peak
resident memory and its worker's (``RUSAGE_CHILDREN``, the largest child's peak); their
sum bounds the peak of the two together. The baseline, in the same run, is a small
ordinary JPEG through the same path.

Cases (built in memory by tests/reliability/hostile_media.py, a few KiB each):

* hidden_frame_30000: the issue's 354-byte JPEG, whose ``FF 00 LL LL`` fill hid a
  30000×30000 frame from the old header walker (about 5.2 GB before);
* hidden_frame_12000: the same trick at 12000×12000, under the pixel limit: decoded,
  reduced by libjpeg;
* two_widths: a TIFF with ImageWidth given twice (libtiff keeps the first);
* float_12000: a 12000×12000 float32 RGB TIFF, 2 KB compressed (7.0–7.8 GB before);
* float_6000: the largest float TIFF size class that is decoded (about 1 GB);
* grey_12000: an 8-bit 12000×12000 TIFF (OpenCV's TIFF reader at its most costly);
* png16_12000: a 16-bit RGBA 12000×12000 PNG.

Target: no worker above 1.5 GB (media.images.DECODE_BUDGET plus the worker's own),
and worker plus main process below 2.5 GB, in every case.

    python benchmarks/bench_decode_memory.py [--quick]

--quick uses 3000-pixel sides instead of 12000 and 6000 (a check that every case runs;
"ok" is null). The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "reliability"))

WORKER_TARGET_MB = 1500.0
TOTAL_TARGET_MB = 2500.0

CHILD = """
import resource, sys
sys.path.insert(0, {repo!r})
from emobrowser.index.extract import extract_file
from emobrowser.index.pipeline import memory_limit
from emobrowser.index.procpool import ProcessPool
from emobrowser.models import registry

if __name__ == "__main__":
    image, audio = registry.default_names()
    pool = ProcessPool(extract_file, workers=1, timeout=600, nice=0)
    [(_id, ok, value)] = list(pool.run(iter([(0, ({path!r}, "image", image, audio), None, memory_limit("image"))])))
    outcome = "decoded {{}}x{{}}".format(value.width, value.height) if ok else value
    print(outcome)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0)
"""


def build_cases(folder: Path, quick: bool) -> dict[str, Path]:
    import hostile_media as H

    from emobrowser.media import synth

    big, mid = (3000, 3000) if quick else (12000, 6000)
    files = {
        "baseline": None,
        "hidden_frame_30000": H.jpeg_fill_bytes_hide_sof(30000, 30000),
        "hidden_frame_12000": H.jpeg_fill_bytes_hide_sof(big, big),
        "two_widths": H.tiff_duplicate_width((30000, 30000)),
        "float_12000": H.tiff(big, big, samples=3, bits=32, sample_format=3),
        "float_6000": H.tiff(mid, mid, samples=3, bits=32, sample_format=3),
        "grey_12000": H.tiff(big, big),
        "png16_12000": H.png(big, big, bit_depth=16, colour=6),
    }
    paths = {}
    for name, data in files.items():
        ext = {"\xff": ".jpg", "I": ".tif", "\x89": ".png"}.get(chr(data[0]), "") if data else ".jpg"
        path = folder / f"{name}{ext}"
        if data is None:
            synth.write_image(path, synth.draw_image("warm", (480, 640)))
        else:
            path.write_bytes(data)
        paths[name] = path
    return paths


def run_case(path: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD.format(repo=str(REPO), path=str(path))],
                          capture_output=True, text=True, timeout=900)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or len(lines) < 2:
        return {"error": (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]}
    main_mb, worker_mb = (float(v) for v in lines[-1].split())
    return {"outcome": lines[-2], "main_mb": round(main_mb, 1), "worker_mb": round(worker_mb, 1),
            "total_mb": round(main_mb + worker_mb, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3000-pixel sides: a check that every case runs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for name, path in build_cases(Path(tmp), args.quick).items():
            results[name] = run_case(path)
            print(name, results[name], flush=True)
    failed = [n for n, r in results.items() if "error" in r]
    ok = not failed and all(r["worker_mb"] <= WORKER_TARGET_MB and r["total_mb"] <= TOTAL_TARGET_MB
                            for r in results.values())
    print(json.dumps({
        "benchmark": "decode_memory", "quick": args.quick,
        "baseline_worker_mb": results["baseline"].get("worker_mb"),
        **{f"{n}_{k}": r.get(k) for n, r in results.items() for k in ("worker_mb", "total_mb", "outcome")},
        "worker_target_mb": WORKER_TARGET_MB, "total_target_mb": TOTAL_TARGET_MB,
        "failed": failed, "ok": None if args.quick else ok,
    }))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
