"""What Help → About says: the app's version, the models' versions and the licences of
the models, of the data they were trained on and of the third-party weights they hold.

Qt-free, so the command line could print the same. The training data's terms repeat
the model cards (docs/model_card_image.md, docs/model_card_audio.md), which are not
installed with the app; the third-party weights' licences come from the shipped
``resources/THIRD_PARTY_NOTICES.md``, ``resources/models/image_backbone.json`` and
``resources/models/music_tagger.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from emobrowser.core import paths

NOTICES_FILE = "THIRD_PARTY_NOTICES.md"

# (dataset, what it gave, its terms), per model name; see the model cards.
TRAINING_DATA = {
    "image-va": [
        ("OASIS (Kurdi, Lozano & Banaji, 2017)", "765 rated photos",
         "free for research use; the photos are under their own Pixabay, Wikimedia and Flickr licences"),
        ("Emotion6 (Peng et al., CVPR 2015)", "1,683 rated photos",
         "academic research use only: treat the photo model as a research artefact"),
    ],
    "audio-va": [
        ("DEAM / MediaEval Emotion in Music (Aljanaki, Yang & Soleymani, 2017)",
         "ratings and audio features of 1,532 songs", "research, non-commercial use"),
        ("4Q audio emotion dataset (Panda, Malheiro & Paiva, 2018)", "700 labelled clips", "research use"),
    ],
}


@dataclass
class ModelNote:
    """One model as About shows it."""

    modality: str  # "image" or "audio"
    name: str
    version: str
    interim: bool
    training_data: list[tuple[str, str, str]]


def model_notes(image_model: str | None = None, audio_model: str | None = None) -> list[ModelNote]:
    """The models the window uses (building them loads no weights)."""
    from emobrowser.models import registry

    notes = []
    for modality, model in (("image", registry.image_model(image_model)), ("audio", registry.audio_model(audio_model))):
        info = model.info
        notes.append(ModelNote(modality, info.name, info.version, info.interim, TRAINING_DATA.get(info.name, [])))
    return notes


def _weights_source(meta_file: str) -> tuple[str, str] | None:
    """(package, licence) from a shipped pretrained network's metadata file, or None."""
    try:
        card = json.loads((paths.models_dir() / meta_file).read_text(encoding="utf-8"))
        source = card["source"]
        return source["package"], source["licence"]
    except (OSError, ValueError, KeyError):
        return None


def backbone_licence() -> tuple[str, str] | None:
    """(package, licence) of the photo model's pretrained backbone, or None if it is not shipped."""
    return _weights_source("image_backbone.json")


def tagger_licence() -> tuple[str, str] | None:
    """(package, licence) of the song model's pretrained music tagger, or None if it is not shipped."""
    return _weights_source("music_tagger.json")


def third_party_notices() -> str:
    """The shipped third-party notices (Markdown), or a line saying they are missing."""
    try:
        return (paths.resources_dir() / NOTICES_FILE).read_text(encoding="utf-8")
    except OSError:
        return f"{NOTICES_FILE} is missing from this installation."
