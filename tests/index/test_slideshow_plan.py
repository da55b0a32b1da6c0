"""The slideshow's choice of photos: spans, nearest photos, no repeats, smooth steps."""

import numpy as np
import pytest

from emobrowser.core.errors import MediaError
from emobrowser.index.slideshow import (REPEAT_MARGIN, SMOOTH_SLACK, PhotoChooser, SlideshowError, SlideshowPlan,
                                        SongTimeline, cut_spans, plan_shots, random_mean_distance, span_targets)


def timeline(values, step=0.5):
    """A 0.5 s timeline from (valence, arousal) per step."""
    values = np.asarray(values, float).reshape(-1, 2)
    start = np.arange(len(values)) * step
    return SongTimeline(start, start + step, values[:, 0], values[:, 1])


def steady(seconds, point=(0.0, 0.0)):
    return timeline([point] * int(seconds / 0.5))


def test_a_steady_song_is_cut_every_s_seconds():
    spans = cut_spans(steady(12), 12.0, 3.0)
    assert spans == [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0), (9.0, 12.0)]
    assert cut_spans(steady(4), 4.0, 3.0) == [(0.0, 4.0)]  # shorter than 1.5 S: one span


def test_a_cut_moves_to_a_nearby_change_of_emotion():
    # calm for 7 s, then tense: the nominal cut at 6 s moves to the change at 7 s
    song = timeline([(-0.5, -0.5)] * 14 + [(0.6, 0.7)] * 10)
    cuts = [end for _start, end in cut_spans(song, 12.0, 3.0)[:-1]]
    assert 7.0 in cuts and 6.0 not in cuts
    # a change farther away than S / 3 leaves the cut where it was
    far = timeline([(-0.5, -0.5)] * 16 + [(0.6, 0.7)] * 8)
    assert [end for _s, end in cut_spans(far, 12.0, 3.0)[:-1]][:2] == [3.0, 6.0]


def test_spans_cover_the_song_and_stay_near_s_seconds():
    rng = np.random.default_rng(0)
    song = timeline(np.cumsum(rng.normal(0, 0.15, (2 * 95, 2)), axis=0).clip(-1, 1))
    spans = cut_spans(song, 95.0, 4.0)
    assert spans[0][0] == 0.0 and spans[-1][1] == 95.0
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    lengths = np.diff([s for s, _e in spans] + [95.0])
    assert lengths[:-1].min() >= 4.0 - 4.0 / 3 - 1e-9 and lengths[:-1].max() <= 4.0 + 4.0 / 3 + 1e-9
    assert 2.0 <= lengths[-1] <= 6.0 + 4.0 / 3


def test_a_span_target_is_the_mean_of_its_steps():
    song = timeline([(0.0, 0.0), (0.2, 0.4), (1.0, -1.0), (0.0, 0.0)])
    targets = span_targets(song, [(0.0, 1.0), (1.0, 2.0)])
    assert np.allclose(targets, [[0.1, 0.2], [0.5, -0.5]])


def test_the_nearest_photo_is_chosen_and_not_repeated_while_others_are_near():
    photos = np.array([[0.5, 0.5], [0.45, 0.5], [-0.5, -0.5], [0.55, 0.45]])
    chooser = PhotoChooser(photos)
    first = chooser.choose((0.5, 0.5))
    assert first == 0
    second = chooser.choose((0.5, 0.5))
    assert second in (1, 3)  # the far photo 2 is never a substitute
    third = chooser.choose((0.5, 0.5))
    assert {first, second, third} == {0, 1, 3}
    # all near photos used: the one shown longest ago repeats, not the far one
    assert chooser.choose((0.5, 0.5)) == first


def test_a_far_unused_photo_does_not_replace_a_near_repeat():
    photos = np.array([[0.5, 0.5], [0.5 - REPEAT_MARGIN - 0.1, 0.5]])
    chooser = PhotoChooser(photos)
    assert [chooser.choose((0.5, 0.5)) for _ in range(3)] == [0, 0, 0]


def test_a_nearly_as_close_photo_nearer_the_previous_one_is_preferred():
    # the target (0.3, 0) lies between photo 1 (0.4 away) and photo 2 (a hair farther,
    # but on the side of photo 0, shown before it): 2 is shown, the smaller jump
    photos = np.array([[0.3, -0.9], [0.3, 0.4], [0.3, -0.4 - SMOOTH_SLACK / 2]])
    chooser = PhotoChooser(photos)
    assert chooser.choose((0.3, -0.9)) == 0
    assert chooser.choose((0.3, 0.0)) == 2
    # without a previous photo, the closer one
    assert PhotoChooser(photos[1:]).choose((0.3, 0.0)) == 0
    # beyond the slack, closeness wins over smoothness
    photos[2] = [0.3, -0.4 - 2 * SMOOTH_SLACK]
    chooser = PhotoChooser(photos)
    chooser.choose((0.3, -0.9))
    assert chooser.choose((0.3, 0.0)) == 1


def test_an_unreadable_photo_is_passed_over_once():
    asked = []

    def usable(i):
        asked.append(i)
        if i == 0:
            raise MediaError("truncated JPEG (no end-of-image marker)")

    song = steady(6, (0.5, 0.5))
    shots, skipped = plan_shots(song, 6.0, 3.0, [10, 11], ["a.jpg", "b.jpg"], [[0.5, 0.5], [0.4, 0.4]], usable)
    assert [s.photo_id for s in shots] == [11, 11]
    assert skipped == [("a.jpg", "truncated JPEG (no end-of-image marker)")]
    assert asked == [0, 1]  # each photo checked once
    with pytest.raises(SlideshowError, match="none of the 1 photos could be read"):
        plan_shots(song, 6.0, 3.0, [10], ["a.jpg"], [[0.5, 0.5]], usable)


def test_plan_errors():
    with pytest.raises(SlideshowError, match="no emotion timeline"):
        plan_shots(timeline(np.zeros((0, 2))), 6.0, 3.0, [1], ["a.jpg"], [[0, 0]])
    with pytest.raises(SlideshowError, match="no photos"):
        plan_shots(steady(6), 6.0, 3.0, [], [], np.zeros((0, 2)))


def test_a_song_that_moves_gets_photos_that_move_with_it():
    rng = np.random.default_rng(1)
    photos = rng.uniform(-1, 1, (60, 2))
    song = timeline([(-0.7, -0.6)] * 12 + [(0.7, 0.8)] * 12 + [(0.6, -0.5)] * 12 + [(-0.5, 0.6)] * 12)
    shots, _ = plan_shots(song, 24.0, 2.0, np.arange(60), [f"{i}.jpg" for i in range(60)], photos)
    plan = SlideshowPlan("song", 24.0, shots, 60, random_mean_distance(shots, photos))
    assert plan.distinct == len(shots) and plan.repeats == 0 and plan.repeat_note() is None
    assert plan.mean_distance <= 0.5 * plan.random_mean_distance
    # the baseline is the expectation over the pool: the mean of every photo's distance
    targets = np.array([[s.song_valence, s.song_arousal] for s in shots])
    expected = np.mean([np.linalg.norm(photos - t, axis=1).mean() for t in targets])
    assert plan.random_mean_distance == pytest.approx(expected)  # equal spans: plain mean


def test_fewer_photos_than_spans_repeat_and_say_so():
    photos = np.array([[0.0, 0.0], [0.1, 0.0]])
    shots, _ = plan_shots(steady(12), 12.0, 2.0, [1, 2], ["a.jpg", "b.jpg"], photos)
    plan = SlideshowPlan("song", 12.0, shots, 2, random_mean_distance(shots, photos))
    assert len(shots) == 6 and plan.distinct == 2
    assert [s.photo_id for s in shots] == [1, 2, 1, 2, 1, 2]  # the one shown longest ago comes back
    assert plan.repeat_note() == "only 2 photos for 6 spans, so 4 spans repeat a photo"
