"""Score files directly, without the library: what ``emobrowser score`` runs.

Decoding and feature extraction use the same supervised worker processes as
indexing, so a file that crashes or hangs a decoder costs only its own result.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

from emobrowser.core.errors import MediaError, link_failure
from emobrowser.core.types import Modality, ScoreResult
from emobrowser.index.extract import extract_file, score_extracted
from emobrowser.index.pipeline import memory_limit, time_limit
from emobrowser.index.procpool import ProcessPool
from emobrowser.media.sniff import read_header, sniff
from emobrowser.models import registry


def _model_label(modality: str, image_model, audio_model) -> str:
    if modality == "image":
        return image_model.info.name
    if modality == "audio":
        return audio_model.info.name
    return f"{image_model.info.name}+{audio_model.info.name}"


def score_paths(paths: list[str], image_model: str | None = None, audio_model: str | None = None,
                workers: int = 1, timeout: float = 300.0) -> Iterator[ScoreResult]:
    """Yield one ScoreResult per path, in the order given.

    valence/arousal are on the common [-1, 1] scale; on failure they are None and
    ``error`` says why. Audio results carry the 0.5 s timeline as segments; video
    results carry per-segment image and audio scores.
    """
    imodel = registry.image_model(image_model)
    amodel = registry.audio_model(audio_model)
    results: dict[int, ScoreResult] = {}
    tasks = []
    for index, path in enumerate(paths):
        try:
            try:
                st = os.stat(path)
            except OSError as exc:
                raise MediaError(link_failure(exc, os.path.islink(path)) or "no such file") from None
            if stat.S_ISDIR(st.st_mode):
                raise MediaError("is a directory, not a file")
            modality, _fmt = sniff(read_header(path), path)
        except MediaError as exc:
            results[index] = ScoreResult(path=path, modality=None, model="", error=str(exc))
            continue
        results[index] = ScoreResult(path=path, modality=modality,
                                     model=_model_label(modality.value, imodel, amodel))
        limit = time_limit(timeout, modality.value, st.st_size)  # as indexing allows
        tasks.append((index, (path, modality.value, imodel.info.name, amodel.info.name), limit,
                      memory_limit(modality.value)))
    pool = ProcessPool(extract_file, workers=workers, timeout=timeout, nice=0)
    finished = {}
    if tasks:
        for index, ok, value in pool.run(iter(tasks)):
            finished[index] = (ok, value)
    for index, path in enumerate(paths):
        result = results[index]
        if index in finished:
            ok, value = finished[index]
            if not ok:
                result.error = value
            else:
                if value.modality != result.modality.value:  # the content decides (an audio-only .mp4)
                    result.modality = Modality(value.modality)
                    result.model = _model_label(value.modality, imodel, amodel)
                scored = score_extracted(value, imodel, amodel)
                result.width, result.height, result.duration = value.width, value.height, value.duration
                result.warning = value.warning
                points = list(scored.points.values())
                if points:
                    result.valence = sum(p[0] for p in points) / len(points)
                    result.arousal = sum(p[1] for p in points) / len(points)
                else:
                    result.error = "nothing in the file could be scored"
                result.segments = sorted((seg for _, seg in scored.segments), key=lambda s: (s.start, s.source.value))
        if result.modality is not None and result.modality is not Modality.VIDEO and result.error is None \
                and result.valence is None:
            result.error = "nothing in the file could be scored"
        yield result
