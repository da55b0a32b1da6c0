"""Plain data types shared by every sub-package."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Modality(str, enum.Enum):
    """What kind of media an item is."""

    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"


@dataclass(frozen=True)
class AVPoint:
    """A point on the circumplex: valence and arousal in [-1, 1], 0 = neutral."""

    valence: float
    arousal: float


@dataclass(frozen=True)
class Segment:
    """A stretch of an audio or video item with its own score.

    start and end are in seconds from the beginning of the file; ``source`` is the
    modality that produced the score (audio for a soundtrack, image for frames).
    """

    start: float
    end: float
    valence: float
    arousal: float
    source: Modality = Modality.AUDIO


@dataclass
class ScoreResult:
    """The outcome of scoring one file: a whole-file point or an error.

    valence/arousal are None exactly when ``error`` is set.
    """

    path: str
    modality: Modality | None
    model: str
    valence: float | None = None
    arousal: float | None = None
    error: str | None = None
    segments: list[Segment] = field(default_factory=list)
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    warning: str | None = None  # scored, but part of the file could not be used (a video's soundtrack)
