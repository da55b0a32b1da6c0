"""The audio preview in the results plays and pauses a track (QtMultimedia)."""

import pytest

from emobrowser.media import synth


def test_play_then_pause(qtbot, tmp_path):
    from emobrowser.gui.preview import AudioPreview

    preview = AudioPreview()
    if not preview.available:
        pytest.fail("QtMultimedia is missing: PySide6-Addons and libpulse0 are part of the install")
    track = str(synth.write_audio(tmp_path / "tune.mp3", synth.synth_music(3.0)))
    with qtbot.waitSignal(preview.playing_changed, timeout=10000) as started:
        assert preview.toggle(track) is True
    assert started.args == [track, True]
    qtbot.waitUntil(lambda: preview._player.position() > 0, timeout=10000)
    with qtbot.waitSignal(preview.playing_changed, timeout=10000) as paused:
        assert preview.toggle(track) is False
    assert paused.args == [track, False]
    preview.stop()  # back to the start, not playing
    qtbot.waitUntil(lambda: preview._player.position() == 0, timeout=5000)
    assert preview._player.playbackState() != preview._player.PlaybackState.PlayingState
