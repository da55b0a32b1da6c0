"""Mood words -> points on the circumplex (valence, arousal), both in [-1, 1].

The vocabulary is a small table in code (word, valence, arousal, source tag):

* ``russell1980`` - the 28 affect words of Russell, "A circumplex model of affect",
  J. Pers. Soc. Psych. 39 (1980): the angle of each word on the circle (degrees,
  counter-clockwise from +valence), as widely reproduced from that paper. The
  paper's scaling solution puts the words near a circle; we place them all at
  radius 0.8 (our choice, not the paper's).
* ``warriner2013`` - valence and arousal means of Warriner, Kuperman & Brysbaert,
  "Norms of valence, arousal, and dominance for 13,915 English lemmas", Behav. Res.
  Methods 45 (2013), 1-9 scales mapped by (x - 5) / 4. Note that its arousal scale
  is compressed (few words rate above 7 or below 2).
* ``scherer2005`` - positions read off the valence x arousal (activity) plot of
  affect terms in Scherer, "What are emotions? And how can they be measured?",
  Soc. Sci. Inf. 44 (2005), rescaled to [-1, 1].
* ``emobrowser`` - defined by us ("neutral" = the origin).

Honesty note: these numbers are approximations transcribed from memory of those
publications, not copied from their data files (which we do not ship); expect
errors of a few tenths on individual words. They are meant for "find me something
calm", not for research.

Phrases: words separated by commas, semicolons, "/", "+", "&", "and", "but", "yet",
"with" are averaged ("happy but calm"). A modifier scales its word away from
(or towards) the origin: "very calm", "slightly sad"; "not X" maps to -0.5 * X
(the opposite side, at half strength: "not sad" is mildly positive, not elated).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass

from emobrowser.core.errors import EmobrowserError


class UnknownMoodError(ValueError, EmobrowserError):
    """A mood word is not in the vocabulary; ``suggestions`` holds close known words."""

    def __init__(self, word: str, suggestions: list[str]):
        self.word, self.suggestions = word, suggestions
        hint = f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown mood word {word!r}{hint}")


class MoodPhraseError(ValueError, EmobrowserError):
    """A mood phrase is malformed, e.g. a modifier with no mood word after it."""


@dataclass(frozen=True)
class MoodWord:
    word: str
    valence: float  # [-1, 1]
    arousal: float  # [-1, 1]
    source: str


_RUSSELL_RADIUS = 0.8
_RUSSELL_ANGLES = {  # degrees, Russell (1980)
    "happy": 7.8, "delighted": 24.9, "excited": 48.6, "astonished": 69.8, "aroused": 73.8,
    "tense": 92.8, "alarmed": 96.5, "angry": 99.0, "afraid": 116.5, "annoyed": 123.0,
    "distressed": 138.0, "frustrated": 141.0, "miserable": 188.7, "sad": 207.5, "gloomy": 209.0,
    "depressed": 211.0, "bored": 241.0, "droopy": 256.7, "tired": 267.7, "sleepy": 271.9,
    "calm": 316.2, "relaxed": 318.0, "satisfied": 319.2, "at ease": 321.0, "content": 323.0,
    "serene": 328.6, "glad": 345.3, "pleased": 353.2,
}
_WARRINER = {  # (valence, arousal) means on 1-9, approximate
    "joyful": (8.21, 5.50), "cheerful": (7.95, 5.18), "ecstatic": (7.77, 6.91), "euphoric": (7.32, 6.73),
    "elated": (7.71, 6.09), "thrilled": (7.84, 7.10), "enthusiastic": (7.59, 6.14), "energetic": (7.57, 6.14),
    "lively": (7.27, 5.45), "playful": (7.82, 5.09), "amused": (7.43, 4.81), "fun": (8.37, 6.06),
    "loving": (8.14, 4.95), "romantic": (7.70, 5.82), "tender": (6.85, 3.91), "affectionate": (7.68, 4.33),
    "grateful": (7.55, 3.91), "hopeful": (7.60, 4.19), "proud": (7.48, 5.48), "confident": (7.68, 5.08),
    "inspired": (7.63, 5.50), "peaceful": (7.57, 2.05), "tranquil": (7.32, 1.95), "mellow": (6.67, 2.41),
    "soothing": (7.45, 2.27), "dreamy": (7.00, 3.14), "nostalgic": (6.00, 3.90), "sentimental": (5.95, 3.89),
    "cozy": (7.82, 2.87), "comfortable": (7.55, 2.50), "chill": (6.30, 2.20), "upbeat": (7.30, 5.80),
    "uplifting": (7.60, 5.40), "triumphant": (7.67, 6.40), "passionate": (7.70, 6.75), "sexy": (7.45, 7.05),
    "powerful": (7.05, 6.57), "energized": (7.10, 6.50), "wild": (6.15, 6.75), "intense": (5.40, 6.90),
    "epic": (6.80, 6.10), "surprised": (6.40, 6.60), "curious": (6.84, 5.00), "interested": (6.70, 4.48),
    "alert": (6.10, 5.90), "awake": (6.23, 5.09), "party": (7.86, 6.50), "love": (8.00, 5.36),
    "melancholy": (3.36, 3.26), "lonely": (2.26, 3.73), "sorrowful": (2.26, 3.96), "grief": (1.80, 4.55),
    "heartbroken": (1.62, 5.23), "hopeless": (1.95, 3.68), "mournful": (2.33, 3.86), "tragic": (1.90, 5.20),
    "somber": (4.00, 2.86), "solemn": (4.86, 2.90), "weary": (3.24, 3.10), "lethargic": (3.52, 2.36),
    "sluggish": (3.30, 2.50), "dull": (3.05, 2.05), "lazy": (4.35, 2.09), "exhausted": (3.09, 3.77),
    "drowsy": (4.95, 2.45), "apathetic": (3.50, 2.40), "indifferent": (4.40, 2.60), "anxious": (3.43, 6.35),
    "nervous": (3.05, 6.59), "worried": (2.48, 5.14), "scared": (2.37, 6.82), "terrified": (1.70, 7.17),
    "fearful": (2.16, 6.28), "panicked": (2.24, 7.05), "furious": (2.16, 7.43), "enraged": (1.95, 7.35),
    "irritated": (2.73, 5.60), "hostile": (2.32, 6.33), "aggressive": (3.50, 6.48), "disgusted": (2.47, 5.35),
    "jealous": (2.76, 5.91), "ashamed": (2.24, 4.53), "guilty": (2.40, 5.05), "embarrassed": (2.94, 5.10),
    "stressed": (2.37, 6.35), "frantic": (2.74, 6.89), "restless": (3.50, 5.32), "agitated": (2.95, 6.18),
    "dark": (4.05, 4.24), "scary": (2.60, 6.35), "spooky": (3.85, 5.50), "creepy": (2.80, 5.65),
    "eerie": (3.45, 5.00), "ominous": (2.95, 4.90), "bitter": (2.72, 4.60),
}
_SCHERER = {  # (valence, arousal) in [-1, 1], read off the figure, approximate
    "ambitious": (0.45, 0.82), "lusting": (0.25, 0.90), "conceited": (0.20, 0.80),
    "feeling superior": (0.30, 0.85), "impressed": (0.40, 0.70), "light-hearted": (0.45, 0.62),
    "convinced": (0.55, 0.40), "determined": (0.25, 0.30), "indignant": (-0.25, 0.80),
    "envious": (-0.30, 0.78), "contemptuous": (-0.55, 0.70), "defiant": (-0.20, 0.68),
    "insulted": (-0.50, 0.65), "impatient": (-0.20, 0.55), "suspicious": (-0.35, 0.45),
    "discontented": (-0.70, 0.35), "doubtful": (-0.30, -0.35), "wavering": (-0.25, -0.30),
    "hesitant": (-0.35, -0.20), "despondent": (-0.75, -0.55), "dejected": (-0.80, -0.40),
    "desperate": (-0.80, -0.45), "melancholic": (-0.05, -0.62), "languid": (0.05, -0.85),
    "pensive": (0.05, -0.60), "serious": (0.10, -0.65), "contemplative": (0.55, -0.60),
    "attentive": (0.45, -0.45), "compassionate": (0.45, -0.30), "empathic": (0.60, -0.30),
    "longing": (0.20, -0.40), "polite": (0.40, -0.15), "friendly": (0.75, 0.05),
}


def _table() -> dict[str, MoodWord]:
    words: dict[str, MoodWord] = {"neutral": MoodWord("neutral", 0.0, 0.0, "emobrowser")}
    for w, deg in _RUSSELL_ANGLES.items():
        r = math.radians(deg)
        words[w] = MoodWord(w, round(_RUSSELL_RADIUS * math.cos(r), 3), round(_RUSSELL_RADIUS * math.sin(r), 3),
                            "russell1980")
    for w, (v, a) in _WARRINER.items():
        words[w] = MoodWord(w, round((v - 5) / 4, 3), round((a - 5) / 4, 3), "warriner2013")
    for w, (v, a) in _SCHERER.items():
        words[w] = MoodWord(w, v, a, "scherer2005")
    return words


MOOD_WORDS: dict[str, MoodWord] = _table()

# Russell's circle labels for the GUI: word -> angle in degrees (counter-clockwise
# from +valence) of the word's point in MOOD_WORDS. Several sit close together
# (calm 316, relaxed 318, content 323, serene 329; sad 208, depressed 211): use
# circle_labels(min_separation_deg=...) to thin them for display.
CIRCLE_LABELS: dict[str, float] = {
    w: round(math.degrees(math.atan2(MOOD_WORDS[w].arousal, MOOD_WORDS[w].valence)) % 360, 1)
    for w in ("excited", "happy", "pleased", "relaxed", "calm", "sleepy", "bored", "sad", "miserable",
              "distressed", "angry", "tense", "alert", "content", "serene", "depressed", "delighted",
              "afraid", "tired", "astonished")
}

_MODIFIERS = {  # scale of the word's point; checked longest first
    "extremely": 1.8, "incredibly": 1.8, "totally": 1.6, "very": 1.5, "really": 1.5, "super": 1.5,
    "highly": 1.5, "deeply": 1.5, "so": 1.3, "quite": 1.2, "pretty": 1.2, "rather": 0.8, "fairly": 0.8,
    "somewhat": 0.6, "kind of": 0.6, "kinda": 0.6, "sort of": 0.6, "slightly": 0.5, "a bit": 0.5,
    "a little": 0.5, "mildly": 0.5, "barely": 0.3,
}
_NEGATIONS = {"not", "never", "no", "hardly", "isn't", "not at all"}
_NEGATION_SCALE = -0.5
_NEGATED_MAX = 0.75  # the strongest a negated word gets, as a share of the word's own point
_FILLER = {"feeling", "feel", "feels", "mood", "moods", "vibe", "vibes", "i", "am", "i'm", "im", "me",
           "the", "a", "an", "something", "kind", "of"}
_SPLIT = re.compile(r"\s*(?:[,;/+&]|\band\b|\bbut\b|\byet\b|\bwith\b)\s*")
_MAX_PHRASE = max(len(w.split()) for w in [*MOOD_WORDS, *_MODIFIERS, *_NEGATIONS])


def vocabulary() -> list[str]:
    """All known mood words, sorted (for completion in the GUI and the CLI)."""
    return sorted(MOOD_WORDS)


def _normalise(word: str) -> str | None:
    """Map simple derived forms to a vocabulary word: 'happiness', 'calmly', 'sadly'."""
    w = word.replace("light hearted", "light-hearted")
    if w in MOOD_WORDS:
        return w
    for suffix in ("ness", "ly"):
        if w.endswith(suffix) and len(w) > len(suffix) + 2:
            stem = w[: -len(suffix)]
            for cand in (stem, stem[:-1] + "y" if stem.endswith("i") else stem, stem + "e"):
                if cand in MOOD_WORDS:
                    return cand
    return None


def lookup(word: str) -> MoodWord:
    """The vocabulary entry for one word; UnknownMoodError (a ValueError) if none."""
    key = " ".join(word.lower().split())
    found = _normalise(key)
    if found is None:
        raise UnknownMoodError(word, difflib.get_close_matches(key, vocabulary(), n=5, cutoff=0.6))
    return MOOD_WORDS[found]


def mood_terms(text: str) -> list[tuple[MoodWord, float]]:
    """Split a mood phrase into (word, scale) terms; scale < 0 means negated."""
    terms: list[tuple[MoodWord, float]] = []
    # Modifiers wait for the next mood word, also past a comma ("very, very happy").
    negation, intensity, pending = 1.0, 1.0, ""
    for clause in _SPLIT.split(text.lower().strip()):
        tokens = re.findall(r"[a-z][a-z'\-]*", clause)
        i = 0
        while i < len(tokens):
            for n in range(min(_MAX_PHRASE, len(tokens) - i), 0, -1):  # longest match first
                phrase = " ".join(tokens[i:i + n])
                if phrase in _NEGATIONS:
                    negation *= _NEGATION_SCALE
                    pending = phrase
                elif phrase in _MODIFIERS:
                    intensity *= _MODIFIERS[phrase]
                    pending = phrase
                elif _normalise(phrase) is not None:
                    # Under a negation an intensifier weakens: "not very calm" is
                    # nearer neutral than "not calm", "not slightly calm" farther, but
                    # never farther than NEGATED_MAX ("not barely calm" is not "very").
                    scale = negation * intensity if negation > 0 else \
                        max(negation / intensity, -_NEGATED_MAX)
                    terms.append((MOOD_WORDS[_normalise(phrase)], scale))
                    negation, intensity, pending = 1.0, 1.0, ""
                elif n == 1 and phrase in _FILLER:
                    pass
                elif n == 1:
                    lookup(phrase)  # raises UnknownMoodError with suggestions
                else:
                    continue
                i += n
                break
    if pending:
        raise MoodPhraseError(f"{pending!r} must come before a mood word, as in {pending + ' calm'!r}")
    if not terms:
        raise UnknownMoodError(text, []) if text.strip() else ValueError("empty mood description")
    return terms


def parse_mood(text: str) -> tuple[float, float]:
    """(valence, arousal) for a mood phrase such as "calm", "very happy but calm".

    Each term's point is scaled by its modifiers and clipped to [-1, 1]; the terms
    are averaged. Raises UnknownMoodError listing close known words.
    """
    terms = mood_terms(text)
    v = sum(max(-1.0, min(1.0, w.valence * s)) for w, s in terms) / len(terms)
    a = sum(max(-1.0, min(1.0, w.arousal * s)) for w, s in terms) / len(terms)
    return (round(v, 6), round(a, 6))


def circle_labels(radius: float = 1.0, min_separation_deg: float = 0.0) -> list[tuple[str, float, float, float]]:
    """(word, angle_deg, valence, arousal) of the GUI's circle labels at ``radius``.

    With min_separation_deg > 0, labels closer than that to an already kept one
    are dropped (kept in CIRCLE_LABELS order, the more common words first).
    """
    kept: list[tuple[str, float, float, float]] = []
    for word, deg in CIRCLE_LABELS.items():
        gap = min((abs((deg - k[1] + 180) % 360 - 180) for k in kept), default=360.0)
        if gap >= min_separation_deg:
            r = math.radians(deg)
            kept.append((word, deg, radius * math.cos(r), radius * math.sin(r)))
    return kept


mood_point = parse_mood  # alias
