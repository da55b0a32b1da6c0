"""Mood words and phrases -> circumplex points."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emobrowser.core.errors import EmobrowserError
from emobrowser.index.moods import (
    CIRCLE_LABELS,
    MOOD_WORDS,
    MoodPhraseError,
    UnknownMoodError,
    circle_labels,
    lookup,
    mood_terms,
    parse_mood,
    vocabulary,
)


def test_vocabulary_size_sources_and_range():
    assert len(MOOD_WORDS) >= 100 and vocabulary() == sorted(vocabulary())
    assert {w.source for w in MOOD_WORDS.values()} >= {"russell1980", "warriner2013", "scherer2005"}
    for w in MOOD_WORDS.values():
        assert -1 <= w.valence <= 1 and -1 <= w.arousal <= 1, w
    assert sum(w.source == "russell1980" for w in MOOD_WORDS.values()) == 28


@pytest.mark.parametrize("word,quadrant", [
    ("happy", (1, 1)), ("excited", (1, 1)), ("calm", (1, -1)), ("relaxed", (1, -1)), ("serene", (1, -1)),
    ("sad", (-1, -1)), ("depressed", (-1, -1)), ("bored", (-1, -1)), ("angry", (-1, 1)),
    ("afraid", (-1, 1)), ("tense", (-1, 1)), ("furious", (-1, 1)), ("peaceful", (1, -1)),
    ("joyful", (1, 1)), ("lonely", (-1, -1)),
])
def test_known_words_land_in_their_quadrant(word, quadrant):
    v, a = parse_mood(word)
    assert (math.copysign(1, v), math.copysign(1, a)) == quadrant


def test_phrases():
    calm, happy = parse_mood("calm"), parse_mood("happy")
    both = parse_mood("happy but calm")
    assert both == pytest.approx(((calm[0] + happy[0]) / 2, (calm[1] + happy[1]) / 2))
    assert parse_mood("Happy, CALM") == both == parse_mood("happy and calm")
    very = parse_mood("very calm")
    assert math.hypot(*very) > math.hypot(*calm)
    assert math.hypot(*parse_mood("slightly calm")) < math.hypot(*calm)
    sad = parse_mood("sad")
    assert parse_mood("not sad") == pytest.approx((-0.5 * sad[0], -0.5 * sad[1]))
    assert parse_mood("feeling superior") == (MOOD_WORDS["feeling superior"].valence,
                                              MOOD_WORDS["feeling superior"].arousal)
    assert parse_mood("at ease") == parse_mood("At  Ease")
    assert parse_mood("happiness") == happy and parse_mood("calmly") == calm
    assert [t[0].word for t in mood_terms("a bit tense, tired")] == ["tense", "tired"]
    assert parse_mood("neutral") == (0.0, 0.0)
    # every negation is recognised, the three-word one included
    assert parse_mood("not at all calm") == parse_mood("not calm") == pytest.approx(
        (-0.5 * calm[0], -0.5 * calm[1]))


def test_an_intensifier_under_a_negation_weakens_it():
    strength = {t: math.hypot(*parse_mood(t)) for t in ("not calm", "not very calm", "not slightly calm")}
    assert strength["not very calm"] < strength["not calm"] < strength["not slightly calm"]
    assert parse_mood("not very calm")[0] < 0 < parse_mood("very calm")[0]  # still the opposite side
    assert parse_mood("not not calm")[0] > 0  # a double negation stays on calm's side
    # a weakener under a negation never makes it stronger than three quarters of the word
    calm = parse_mood("calm")
    assert parse_mood("not barely calm") == pytest.approx((-0.75 * calm[0], -0.75 * calm[1]))
    # a repeated modifier carries over the comma
    assert [s for _, s in mood_terms("very, very happy")] == [pytest.approx(2.25)]


@pytest.mark.parametrize("text,word", [("happy, very", "very"), ("calm not", "not"), ("extremely", "extremely"),
                                       ("sad but a bit", "a bit")])
def test_a_modifier_without_a_mood_word_is_an_error(text, word):
    with pytest.raises(MoodPhraseError, match=f"{word!r} must come before a mood word"):
        parse_mood(text)


def test_unknown_word_lists_suggestions():
    with pytest.raises(UnknownMoodError) as info:
        parse_mood("happy and exctied")
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, EmobrowserError)
    assert err.word == "exctied" and "excited" in err.suggestions and "excited" in str(err)
    with pytest.raises(UnknownMoodError):
        lookup("zzzzqqq")
    with pytest.raises(ValueError):
        parse_mood("   ")


@given(st.lists(st.sampled_from(sorted(MOOD_WORDS)), min_size=1, max_size=4),
       st.sampled_from(["", "very ", "extremely ", "slightly ", "not "]))
def test_any_phrase_stays_in_range(words, modifier):
    v, a = parse_mood(", ".join(modifier + w for w in words))
    assert -1 <= v <= 1 and -1 <= a <= 1


def test_circle_labels():
    assert len(CIRCLE_LABELS) >= 16
    for word in ("excited", "happy", "pleased", "relaxed", "calm", "sleepy", "bored", "sad", "miserable",
                 "distressed", "angry", "tense", "alert", "content", "serene", "depressed"):
        assert 0 <= CIRCLE_LABELS[word] < 360
    assert CIRCLE_LABELS["happy"] == 7.8 and CIRCLE_LABELS["sleepy"] == 271.9  # Russell (1980)
    thin = circle_labels(radius=1.0, min_separation_deg=15)
    angles = [t[1] for t in thin]
    assert all(abs((x - y + 180) % 360 - 180) >= 15 for i, x in enumerate(angles) for y in angles[:i])
    assert all(math.hypot(t[2], t[3]) == pytest.approx(1.0) for t in thin)
