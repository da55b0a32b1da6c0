"""Benchmark: the cost of reading tags while indexing, and its bound on hostile tags.

Writes tagged songs (MP3, FLAC, Opus, M4A, each with a 600×600 JPEG cover), EXIF-dated
photos and titled videos to a temporary folder, then times per file:

* fingerprint: the scanner's fingerprint of the file (scanner.fingerprint), which every
  new file already costs: the baseline;
* tags: media.metadata.read_metadata, what the indexing workers add per file.

Then, each in a fresh process, the peak resident memory of reading the tags of an MP3
with a 50 MiB cover (refused from its header) against importing the readers alone.

    python benchmarks/bench_tags.py [--quick] [--files 40]

Targets: tags cost at most 20 ms per file on average (decoding a song for its features
takes about a second), and the 50 MiB cover adds under 16 MiB of memory. --quick writes
3 files of each kind: it checks that the benchmark runs; its "ok" is null. The last
line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGET_MS = 20.0
TARGET_EXTRA_MB = 16.0

# Peak memory from VmHWM: getrusage's ru_maxrss keeps the parent's peak across exec.
CHILD = """
import sys
sys.path.insert(0, {repo!r})
from emobrowser.media import metadata
import mutagen, mutagen.mp3
{step}
peak = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
print(int(peak.split()[1]) / 1024)
"""


def _hostile_mp3(folder: Path, song: bytes) -> Path:
    body = b"\x00image/jpeg\x00\x03\x00\xff\xd8" + bytes(50 * 2**20)
    frame = b"APIC" + struct.pack(">I", len(body)) + b"\x00\x00" + body
    size = len(frame)
    header = b"ID3\x03\x00\x00" + bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    path = folder / "hostile.mp3"
    path.write_bytes(header + frame + song)
    return path


def _peak_mb(step: str) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD.format(repo=str(REPO), step=step)], capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 files of each kind; checks that it runs")
    parser.add_argument("--files", type=int, default=40, help="files of each kind (default 40)")
    args = parser.parse_args()
    n = 3 if args.quick else args.files

    from emobrowser.index.scanner import fingerprint
    from emobrowser.media import synth
    from emobrowser.media.metadata import read_metadata

    with tempfile.TemporaryDirectory(prefix="bench-tags-") as tmp:
        folder = Path(tmp)
        cover = synth.draw_image("vivid", (600, 600))
        files = []
        for ext in ("mp3", "flac", "opus", "m4a"):
            for i in range(n):
                path = synth.write_audio(folder / f"s{i}.{ext}", synth.synth_music(2.0, seed=i))
                synth.tag_audio(path, cover=cover, title=f"Song {i}", artist="Artist", album="Album", date="2001")
                files.append((path, "audio"))
        for i in range(n):
            files.append((synth.write_photo(folder / f"p{i}.jpg", synth.draw_image("warm", (480, 640), seed=i),
                                            "2021:07:04 18:30:00", "+02:00", "Cam"), "image"))
            files.append((synth.write_video(folder / f"v{i}.mp4", [("warm", {})], 1.0,
                                            metadata={"title": f"Clip {i}"}), "video"))
        read_metadata(*files[0])  # imports, once
        per_kind: dict[str, dict[str, float]] = {}
        total = {"fingerprint": 0.0, "tags": 0.0}
        for path, modality in files:
            started = time.perf_counter()
            fingerprint(path, path.stat().st_size)
            middle = time.perf_counter()
            meta = read_metadata(path, modality)
            done = time.perf_counter()
            assert meta.problem is None and (meta.title or meta.date), (path, meta)
            kind = per_kind.setdefault(path.suffix[1:], {"fingerprint": 0.0, "tags": 0.0, "files": 0})
            kind["fingerprint"] += middle - started
            kind["tags"] += done - middle
            kind["files"] += 1
            total["fingerprint"] += middle - started
            total["tags"] += done - middle
        song = (folder / "s0.mp3").read_bytes()
        hostile = _hostile_mp3(folder, song)
        baseline_mb = _peak_mb("")
        hostile_mb = _peak_mb(f"m = metadata.read_metadata({str(hostile)!r}, 'audio'); assert m.problem, m")

    ms = {k: round(v["tags"] / v["files"] * 1000, 3) for k, v in per_kind.items()}
    baseline_ms = {k: round(v["fingerprint"] / v["files"] * 1000, 3) for k, v in per_kind.items()}
    mean_ms = total["tags"] / len(files) * 1000
    extra_mb = hostile_mb - baseline_mb
    result = {
        "quick": args.quick, "files": len(files),
        "tags_ms_per_file": ms, "fingerprint_ms_per_file": baseline_ms,
        "tags_mean_ms": round(mean_ms, 3), "fingerprint_mean_ms": round(total["fingerprint"] / len(files) * 1000, 3),
        "hostile_cover_extra_mb": round(extra_mb, 1), "import_baseline_mb": round(baseline_mb, 1),
        "targets": {"tags_mean_ms": TARGET_MS, "hostile_cover_extra_mb": TARGET_EXTRA_MB},
        "ok": None if args.quick else bool(mean_ms <= TARGET_MS and extra_mb < TARGET_EXTRA_MB),
    }
    print(json.dumps(result, sort_keys=True))
    return 0 if result["ok"] is not False else 1


if __name__ == "__main__":
    sys.exit(main())
