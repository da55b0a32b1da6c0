"""Fit, evaluate, choose and store the image-to-audio alignment of a library.

``align_library`` is what ``emobrowser align`` runs. It reads the anchors (matched
image/audio scores of video segments) for the current default models, evaluates
every method by leave-one-video-out (evaluate.py), refits the chosen method on all
anchors, and stores it as JSON in the settings table under "alignment" with a
version number that grows with each fit. Retrieval then applies it through
transform.active_transform without re-scoring anything.

Selection rule (when no method is asked for): the lowest held-out residual wins,
but methods within RESIDUAL_TOLERANCE (relative) of the lowest count as tied and
the tie is broken by recall@1, then recall@5, then median rank, then simplicity
(the order of METHOD_NAMES). Why: the residual is the quantity every method tries
to reduce and is stable even with a few dozen anchors, so it is the primary
criterion; recall over ~10 candidates per video moves in steps of whole segments
and is too noisy to lead, but it is the right judge between methods that are
equally close -- it says whether the map keeps distinct moments distinct, which is
what browsing needs. Identity is a candidate like any other, so a method that does
not beat it on held-out videos is never chosen.

Procrustes is not chosen (it may still be asked for) when the anchors barely agree
in shape: with a disparity under proper rotations above MAX_ROTATION_DISPARITY, its
rotation is fitted to noise. Unrelated anchors give about 0.95-1.0, and a rotation
of 20 degrees seen through image noise of 1.0 gave 0.94-0.97 and angles from 26 to
53 degrees; at noise 0.5 (0.76-0.85) the angles were within 13 degrees.

A method that squeezes the photos together is never stored, chosen or asked for:
``spread_kept`` is the spread (root of the summed variances) of the library's photo
and anchor image values after the fitted map, over their spread before. Below
MIN_SPREAD_KEPT the map would merge photos that differ (degenerate anchors, e.g.
videos whose soundtracks all score the same, give such maps a residual of 0).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from emobrowser.align.anchors import load_anchors, library_values
from emobrowser.align.evaluate import MIN_CANDIDATES, evaluate_methods
from emobrowser.align.methods import METHOD_NAMES, fit_method, procrustes_disparity
from emobrowser.align.transform import SETTING_KEY, Transform, stored_transform
from emobrowser.core.errors import EmobrowserError, InputError

MIN_ANCHORS = 20
MIN_VIDEOS = 3
RESIDUAL_TOLERANCE = 0.02
MIN_SPREAD_KEPT = 0.25
MAX_ROTATION_DISPARITY = 0.9


class AlignmentError(EmobrowserError):
    """The alignment cannot be fitted (too few anchors, unknown method); nothing is stored."""


class AlignmentInputError(AlignmentError, InputError):
    """The command asked for something that does not exist (an unknown method)."""



def spread(values: np.ndarray) -> float:
    """Root of the summed variances of (n, 2) values."""
    return float(np.sqrt(np.var(values, axis=0).sum())) if len(values) > 1 else 0.0


def _model_key(model) -> tuple[str, str]:
    return (model.info.name, model.info.version)


def choose_method(metrics: dict[str, dict[str, float]], tolerance: float = RESIDUAL_TOLERANCE,
                  exclude: tuple[str, ...] = ()) -> str:
    """The best method by the rule in this module's docstring; ``exclude`` names
    methods the anchors do not support."""
    usable = {name: m for name, m in metrics.items()
              if m.get("spread_kept", 1.0) >= MIN_SPREAD_KEPT and name not in exclude}
    if not usable:
        return "identity"
    best = min(m["residual"] for m in usable.values())
    tied = [name for name, m in usable.items() if m["residual"] <= best * (1.0 + tolerance) + 1e-12]
    order = {name: i for i, name in enumerate(METHOD_NAMES)}

    def key(name: str):
        m = metrics[name]
        return (-m["recall_at_1"], -m["recall_at_5"], m["median_rank"], order.get(name, len(order)))

    return min(tied, key=key)


def _save(store, transform: Transform, models: dict, anchors, metrics: dict) -> None:
    """Store ``transform`` as the library's alignment, as the next version."""
    previous = stored_transform(store)
    transform.version = (previous.version if previous is not None else 0) + 1
    transform.models = {k: list(v) for k, v in models.items()}
    record = transform.to_dict()
    record.update({"anchors": len(anchors), "videos": anchors.n_videos, "fitted_at": time.time(),
                   "metrics": {k: _round(v) for k, v in metrics.items()}})
    try:  # JSON refuses NaN/inf (allow_nan=False) so a broken fit can never be stored
        text = json.dumps(record, allow_nan=False)
    except ValueError as exc:
        raise AlignmentError(f"the {transform.method} alignment has non-finite parameters; nothing stored") from exc
    store.set_setting(SETTING_KEY, text)


def _round(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in metrics.items()}


def _in_force(store, models) -> str:
    """What a failed fit leaves in use, for its message."""
    from emobrowser.align.transform import active_transform

    current = active_transform(store, models)
    if current.is_identity:
        return "until then the identity alignment stays in use"
    return (f"the {current.method} alignment stored earlier stays in use "
            f"(emobrowser align --method identity removes it)")


def readiness(db_path: str | Path, image_model: str | None = None, audio_model: str | None = None,
              segment_seconds: float = 15.0) -> dict:
    """What a fit needs against what the library at ``db_path`` has, for the app to say in plain words.

    Returns {"videos": videos with both a picture and a sound score, "segments": their
    scored moments, "minutes": the length of those videos in minutes, "need_videos":
    MIN_VIDEOS, "need_minutes": MIN_ANCHORS moments of ``segment_seconds`` (the indexing
    default) in minutes, "ready": whether a fit can run, "aligned": the method in force
    ("identity" when photos sit where the photo model puts them)}.
    """
    from emobrowser.align.transform import active_transform
    from emobrowser.index.store import Store
    from emobrowser.models import registry

    with Store(db_path) as store:
        if image_model is None and audio_model is None:
            from emobrowser.index.library import current_models

            models = current_models(store)
        else:
            imodel, amodel = registry.image_model(image_model), registry.audio_model(audio_model)
            models = {"image": _model_key(imodel), "audio": _model_key(amodel)}
        anchors = load_anchors(store, models["image"], models["audio"])
        videos = [int(v) for v in np.unique(anchors.video)]
        seconds = sum(store.durations(videos).values()) if videos else 0.0
        aligned = active_transform(store, models).method
    return {"videos": len(videos), "segments": len(anchors), "minutes": seconds / 60.0,
            "need_videos": MIN_VIDEOS, "need_minutes": MIN_ANCHORS * segment_seconds / 60.0,
            "ready": len(anchors) >= MIN_ANCHORS and len(videos) >= MIN_VIDEOS, "aligned": aligned}


def align_library(db_path: str | Path, method: str | None = None, *, methods: tuple[str, ...] | None = None,
                  image_model: str | None = None, audio_model: str | None = None, seed: int = 0,
                  min_candidates: int = MIN_CANDIDATES, progress: Callable[[int, int], None] | None = None) -> dict:
    """Fit the alignment of the library at ``db_path``; returns the evaluation summary.

    Returns {"anchors": n, "videos": m, "procrustes_disparity": x (or None),
    "procrustes_disparity_no_reflection": x (or None; higher than the first when the
    anchors' best match is a mirror image, which no method may use),
    "methods": {name: {"residual", "recall_at_1", "recall_at_5", "median_rank"}},
    "chosen": name}. ``methods`` limits which methods are evaluated (all by
    default, less "learned" when TensorFlow is not installed; "identity" and
    ``method`` are always included). Raises AlignmentError,
    storing nothing, with fewer than MIN_ANCHORS anchors or MIN_VIDEOS videos.

    ``progress(done, total)`` is called as the fits go (one per method and video,
    then one per method on all anchors).
    """
    from emobrowser.index.store import Store
    from emobrowser.models import registry

    from emobrowser.models.runtime import TRAIN_EXTRA_HINT, tensorflow_available

    names = list(methods) if methods is not None else list(METHOD_NAMES)
    if methods is None and not tensorflow_available():
        names.remove("learned")  # fitting its networks needs TensorFlow; the others are NumPy
    for name in ([method] if method else []) + names:
        if name not in METHOD_NAMES:
            raise AlignmentInputError(f"unknown alignment method {name!r}; known: {', '.join(METHOD_NAMES)}")
        if name == "learned" and not tensorflow_available():
            raise AlignmentInputError(f"the learned alignment is fitted with TensorFlow, which is not "
                                      f"installed; {TRAIN_EXTRA_HINT}, or choose another method")
    if method and method not in names:
        names.append(method)
    with Store(db_path) as store:
        if image_model is None and audio_model is None:
            from emobrowser.index.library import current_models

            models = current_models(store)  # the models the library was indexed with
        else:
            imodel, amodel = registry.image_model(image_model), registry.audio_model(audio_model)
            models = {"image": _model_key(imodel), "audio": _model_key(amodel)}
        anchors = load_anchors(store, models["image"], models["audio"])
        if method == "identity":  # going back to no alignment needs no anchors
            _save(store, Transform(method="identity"), models, anchors, {})
            return {"anchors": len(anchors), "videos": anchors.n_videos, "procrustes_disparity": None,
                    "procrustes_disparity_no_reflection": None, "methods": {}, "chosen": "identity"}
        if len(anchors) < MIN_ANCHORS or anchors.n_videos < MIN_VIDEOS:
            raise AlignmentError(
                f"too few anchors to align images with audio: found {len(anchors)} video segments with both "
                f"an image and an audio score in {anchors.n_videos} videos (for {'/'.join(models['image'])} "
                f"and {'/'.join(models['audio'])}); at least {MIN_ANCHORS} segments in {MIN_VIDEOS} videos "
                f"are needed. Index more videos; {_in_force(store, models)}")
        extra_image = library_values(store, "image", models["image"])
        extra_audio = library_values(store, "audio", models["audio"])
        evaluated = list(dict.fromkeys(["identity", *names]))
        total, done = len(evaluated) * (anchors.n_videos + 1), 0

        def step() -> None:
            nonlocal done
            if progress is not None:
                progress(done, total)
            done += 1

        metrics = evaluate_methods(anchors, evaluated, extra_image, extra_audio, min_candidates, seed, step)
        # Each method fitted on every anchor: how much of the photos' spread it keeps.
        probe = np.concatenate([anchors.image] + ([extra_image] if extra_image is not None else []))
        fits = {}
        for name in metrics:
            step()
            fits[name] = fit_method(name, anchors.image, anchors.audio, extra_image, extra_audio, seed=seed)
        step()
        before = spread(probe)
        for name, fitted in fits.items():
            metrics[name]["spread_kept"] = spread(fitted.apply(probe)) / before if before > 0 else 1.0
        proper = procrustes_disparity(anchors.image, anchors.audio, allow_reflection=False)
        weak = proper is None or proper > MAX_ROTATION_DISPARITY
        chosen = method or choose_method(metrics, exclude=("procrustes",) if weak else ())
        if metrics[chosen]["spread_kept"] < MIN_SPREAD_KEPT:
            raise AlignmentError(
                f"the {chosen} alignment would squeeze the photos into {metrics[chosen]['spread_kept']:.0%} of "
                f"their spread (the anchors are degenerate, e.g. every soundtrack scores the same); nothing "
                f"stored; {_in_force(store, models)}")
        transform = fits[chosen]
        if not np.all(np.isfinite(transform.apply(anchors.image))):
            raise AlignmentError(f"the {chosen} alignment produced non-finite values; nothing stored")
        _save(store, transform, models, anchors, metrics)
        disparity = procrustes_disparity(anchors.image, anchors.audio)
    return {"anchors": len(anchors), "videos": anchors.n_videos,
            "procrustes_disparity": None if disparity is None else round(disparity, 4),
            "procrustes_disparity_no_reflection": None if proper is None else round(proper, 4),
            "methods": {k: _round(v) for k, v in metrics.items()}, "chosen": chosen}


def align_to_pipe(conn, db_path: str, image_model: str | None, audio_model: str | None) -> None:
    """Run align_library in a child process, reporting over ``conn`` (the desktop app's
    "Align photos with music"): ("progress", done, total) as it goes, then ("done",
    result) or ("failed", message). The fit's TensorFlow stays out of the app's
    process, and stopping it is killing the child: nothing is stored before the end,
    and then in one transaction."""
    try:
        result = align_library(db_path, image_model=image_model, audio_model=audio_model,
                               progress=lambda done, total: conn.send(("progress", done, total)))
        conn.send(("done", result))
    except Exception as exc:  # reported to the app, which shows it
        conn.send(("failed", str(exc)))
    finally:
        conn.close()
