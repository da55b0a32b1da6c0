"""Find models by name.

Indexing workers receive model *names* (plain strings cross process boundaries
cheaply) and build the model here; each process builds a model once.

The default model of a modality is the first entry of its list whose ``available()``
says its weights are present, so the trained models take over from the interim
``baseline`` as soon as their weights are shipped in ``resources/models``.
"""

from __future__ import annotations

import importlib
import logging
import threading

from emobrowser.core.errors import ModelError
from emobrowser.models.base import AudioModel, ImageModel

# name -> "module:Class", most preferred first.
IMAGE_MODELS: dict[str, str] = {
    "image-va": "emobrowser.models.image_model:ImageVAModel",
    "baseline-image": "emobrowser.models.baseline:BaselineImageModel",
}
AUDIO_MODELS: dict[str, str] = {
    "audio-va": "emobrowser.models.audio_model:AudioVAModel",
    "baseline-audio": "emobrowser.models.baseline:BaselineAudioModel",
}

log = logging.getLogger(__name__)
_cache: dict[tuple[str, str], object] = {}
_lock = threading.Lock()


def _load_class(spec: str):
    module_name, class_name = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        log.warning("model module %s cannot be imported", module_name, exc_info=True)
        return None
    return getattr(module, class_name)


def _resolve(table: dict[str, str], name: str | None, kind: str):
    if name == "baseline":
        name = f"baseline-{kind}"
    if name is not None:
        if name not in table:
            raise ModelError(f"unknown {kind} model {name!r}; known: {', '.join(table)}")
        cls = _load_class(table[name])
        if cls is None or not cls.available():
            raise ModelError(f"{kind} model {name!r} is not installed (its weights are missing)")
        return name, cls
    for candidate, spec in table.items():
        cls = _load_class(spec)
        if cls is not None and cls.available():
            return candidate, cls
    raise ModelError(f"no {kind} model is available")


def _get(table: dict[str, str], name: str | None, kind: str):
    resolved, cls = _resolve(table, name, kind)
    key = (kind, resolved)
    with _lock:
        if key not in _cache:
            _cache[key] = cls()
        return _cache[key]


def image_model(name: str | None = None) -> ImageModel:
    """Return the image model called ``name``, or the best available one."""
    return _get(IMAGE_MODELS, name, "image")


def audio_model(name: str | None = None) -> AudioModel:
    """Return the audio model called ``name``, or the best available one."""
    return _get(AUDIO_MODELS, name, "audio")


def default_names() -> tuple[str, str]:
    """Return the names of the default (image, audio) models without building them."""
    return _resolve(IMAGE_MODELS, None, "image")[0], _resolve(AUDIO_MODELS, None, "audio")[0]
