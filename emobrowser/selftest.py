"""``emobrowser --self-test``: check an installation (or a frozen bundle) end to end.

It imports every module, loads both models, scores one generated image and one
generated audio clip of the demo kind, runs a query, prints a JSON summary and
exits 0 when everything worked (1 otherwise). The trained models must run on LiteRT
(``backends``): a Keras fallback means the installation lost its ``.tflite`` files or
its LiteRT runtime, and fails the test.
"""

from __future__ import annotations

import importlib
import json
import math
import pkgutil
import sys
import tempfile
import time
from pathlib import Path


def _import_all() -> list[str]:
    import emobrowser

    failed = []
    for info in pkgutil.walk_packages(emobrowser.__path__, "emobrowser."):
        if info.name.startswith("emobrowser.resources"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception as exc:  # reported in the summary, not raised
            failed.append(f"{info.name}: {type(exc).__name__}: {exc}")
    return failed


def run_self_test() -> int:
    import os

    # QtMultimedia probes optional sound back ends (PipeWire) on import and logs each miss.
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.symbolsresolver=false")
    started = time.monotonic()
    summary: dict = {"ok": False}
    try:
        summary["import_failures"] = _import_all()
        from emobrowser.index.library import hits_with_paths, load_points, open_engine
        from emobrowser.index.pipeline import index_library
        from emobrowser.index.scoring import score_paths
        from emobrowser.index.store import Store
        from emobrowser.media import synth
        from emobrowser.models import registry

        image, audio = registry.image_model(), registry.audio_model()
        summary["models"] = {"image": f"{image.info.name}/{image.info.version}",
                             "audio": f"{audio.info.name}/{audio.info.version}"}
        with tempfile.TemporaryDirectory(prefix="emobrowser-selftest-") as tmp:
            folder = Path(tmp) / "media"
            folder.mkdir()
            synth.write_photo(folder / "sunny.jpg", synth.draw_image("warm", (240, 320)), "2020:01:02 03:04:05")
            synth.write_audio(folder / "tune.flac", synth.synth_music(6.0, bpm=140, loudness=0.8))
            synth.tag_audio(folder / "tune.flac", title="Self-test", artist="emobrowser")
            scored = list(score_paths([str(folder / "sunny.jpg"), str(folder / "tune.flac")]))
            summary["scores"] = {Path(r.path).name: {"valence": r.valence, "arousal": r.arousal, "error": r.error}
                                 for r in scored}
            with Store(Path(tmp) / "library.sqlite3") as store:
                result = index_library(store, [str(folder)], workers=1)
                points = load_points(store)
                tags = {Path(store.item(i).path).name: t for i, t in store.metadata_of().items()}
            # No distance limit: the check is that both modalities are searchable, wherever they score.
            hits = hits_with_paths(points, open_engine(points).query(0.5, 0.5, k=2, max_distance=math.inf))
            summary["indexed"] = result.indexed
            # the tag readers (mutagen, Pillow) are imported late: a bundle must hold them
            summary["tags"] = {"tune.flac": tags.get("tune.flac", {}).get("title"),
                               "sunny.jpg": tags.get("sunny.jpg", {}).get("date")}
            summary["query"] = [{"path": Path(h.path).name, "modality": h.modality} for h in hits]
        summary["backends"] = {"image": image.backend(), "audio": audio.backend()}
        summary["tensorflow_loaded"] = "tensorflow" in sys.modules
        summary["ok"] = (not summary["import_failures"] and all(r.error is None for r in scored)
                         and result.indexed == 2 and {h.modality for h in hits} == {"image", "audio"}
                         and summary["tags"] == {"tune.flac": "Self-test", "sunny.jpg": "2020-01-02T03:04:05"}
                         and all(b in ("litert", "numpy") for b in summary["backends"].values()))
    except Exception as exc:  # the summary must say what broke
        summary["error"] = f"{type(exc).__name__}: {exc}"
    summary["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary, sort_keys=True))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(run_self_test())
