"""Help → Keyboard shortcuts, and Help → About: the app's version, the models' versions
and the licences of the models, their training data and the third-party weights (text
from emobrowser.about). Also the window's title for a library."""

from __future__ import annotations

import html
import os

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTabWidget, QTextBrowser, QVBoxLayout, QWidget

from emobrowser import __version__, about
from emobrowser.index.store import shown

_KINDS = {"image": "Photo model", "audio": "Music model"}

SHORTCUTS = "\n".join([
    "Ctrl+O  add a folder", "F5  rescan the library", "Ctrl+Shift+A  align photos with music",
    "Ctrl+F  type a mood", "Esc  cancel the search",
    "Ctrl+L  more like the selected result", "Ctrl+R  select a region on the map",
    "Space  quick look at the selected photo or video (play or pause a song)",
    "  in the quick look: ← →  previous and next, Enter  open in the system player, Esc  close",
    "Ctrl+E  export a playlist",
    "Ctrl+Shift+C  copy the photos among the results to a folder", "Ctrl+0  reset the map",
    "F1  this list", "Ctrl+Q  quit", "",
    "Map: click to search, Shift+drag for a region, wheel to zoom, drag to pan."])


def library_title(roots: list[str]) -> str:
    """The window's name for a library: its folders' names ("Photos, Music +2 more")."""
    names = [os.path.basename(os.path.normpath(shown(r))) or shown(r) for r in roots]
    if not names:
        return "Empty library"
    title = ", ".join(names[:3])
    return title + (f" +{len(names) - 3} more" if len(names) > 3 else "")


def about_html(image_model: str | None = None, audio_model: str | None = None) -> str:
    """The About page as rich text; every piece of data is escaped."""
    e = html.escape
    parts = [f"<h2>Emobrowser {e(__version__)}</h2>",
             "<p>Finds photos, music and videos by the emotion they carry, on the valence "
             "(unpleasant → pleasant) and arousal (calm → excited) circle.</p>",
             "<p>Emobrowser's code: MIT licence.</p>", "<h3>Models</h3>"]
    for note in about.model_notes(image_model, audio_model):
        interim = " (stand-in without training)" if note.interim else ""
        parts.append(f"<p><b>{_KINDS.get(note.modality, note.modality)}: {e(note.name)} version "
                     f"{e(note.version)}</b>{interim}</p>")
        if note.training_data:
            parts.append("<p>Trained on (no image, sound or rating is shipped, only the weights):</p><ul>")
            parts += [f"<li>{e(name)}: {e(what)}. Terms: {e(terms)}.</li>" for name, what, terms in note.training_data]
            parts.append("</ul>")
    backbone, tagger = about.backbone_licence(), about.tagger_licence()
    weights = []
    if backbone is not None:
        weights.append(f"<p>The photo model sees through Google's EfficientNet-Lite3 ImageNet classifier, "
                       f"as shipped in the Python package {e(backbone[0])}; licence: {e(backbone[1])}.</p>")
    if tagger is not None:
        weights.append(f"<p>The song model listens through the music tagger published in the Python package "
                       f"{e(tagger[0])}, licence: {e(tagger[1])}; it was trained on the Million Song "
                       f"Dataset's previews and their Last.fm tags.</p>")
    if weights:
        parts += ["<h3>Third-party weights</h3>", *weights, "<p>The full notices are in the next tab.</p>"]
    return "\n".join(parts)


class AboutDialog(QDialog):
    """About Emobrowser, with the third-party notices in a second tab."""

    def __init__(self, image_model: str | None = None, audio_model: str | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About Emobrowser")
        self.summary = QTextBrowser()
        self.summary.setOpenExternalLinks(False)
        self.summary.setHtml(about_html(image_model, audio_model))
        self.notices = QTextBrowser()
        self.notices.setPlainText(about.third_party_notices())
        tabs = QTabWidget()
        tabs.addTab(self.summary, "About")
        tabs.addTab(self.notices, "Third-party notices")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(buttons)
        self.resize(620, 520)
