"""Decoding what Asterisk writes, at the right length, and keeping the two sides apart."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from recordings.audio import (
    AGENT,
    CALLER,
    MIXED,
    AudioError,
    NotAudio,
    decode,
    raw_facts,
    read_wav_header,
    repair_wav_header,
    sides,
)
from recordings.ingest import inspect
from tests.recordings.speech import FORMATS, PHRASES, speak, stereo

MIXMONITOR_WAV = Path(__file__).parents[1] / "fixtures/ami/d-queue-call-agent-answers.mixmonitor.1795811555.879.wav"


def header_of(path: Path):
    return read_wav_header(path.read_bytes()[:4096], path.stat().st_size)


def test_a_real_mixmonitor_file_is_8khz_mono_pcm_of_the_right_length():
    header = header_of(MIXMONITOR_WAV)
    assert (header.encoding, header.sample_rate, header.channels) == ("pcm", 8000, 1)
    assert header.finalised
    assert header.duration_seconds == pytest.approx(14560 / 8000)
    audio = decode(MIXMONITOR_WAV)
    assert (audio.frame_rate, audio.channels, audio.sample_width) == (8000, 1, 2)
    assert len(audio) / 1000 == pytest.approx(1.82, abs=0.001)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return speak(tmp_path_factory.mktemp("speech") / "reference.wav", PHRASES[0])


@pytest.mark.parametrize(("name", "sox_output"), FORMATS)
def test_every_asterisk_format_decodes_at_8khz_with_the_true_duration(tmp_path, reference, name, sox_output):
    expected = len(decode(reference)) / 1000
    audio = decode(speak(tmp_path / name, PHRASES[0], *sox_output))
    assert (audio.frame_rate, audio.channels, audio.sample_width) == (8000, 1, 2)
    # GSM pads the last 20 ms frame (WAV49: 40 ms block) with silence.
    assert len(audio) / 1000 == pytest.approx(expected, abs=0.04)


def test_raw_file_facts_come_from_extension_and_size(tmp_path):
    assert raw_facts(Path("x.ulaw"), 16000).duration_seconds == 2.0
    assert raw_facts(Path("x.sln16"), 64000).duration_seconds == 2.0
    gsm = raw_facts(Path("x.gsm"), 33 * 50 + 7)
    assert (gsm.duration_seconds, gsm.whole) == (1.0, False)


def test_a_header_never_finalised_is_repaired_without_touching_the_audio(tmp_path):
    path = shutil.copy(MIXMONITOR_WAV, tmp_path / "open.wav")
    data = bytearray(path.read_bytes())
    data[4:8] = data[40:44] = struct.pack("<I", 0)  # as Asterisk leaves it before closing
    path.write_bytes(bytes(data))
    header = header_of(path)
    assert not header.finalised
    assert header.duration_seconds == pytest.approx(1.82)

    repair_wav_header(path, header)
    assert header_of(path).finalised
    assert path.read_bytes()[44:] == MIXMONITOR_WAV.read_bytes()[44:]


def test_a_truncated_file_keeps_every_whole_sample(tmp_path):
    path = tmp_path / "cut.wav"
    path.write_bytes(MIXMONITOR_WAV.read_bytes()[:10_001])  # cut inside a sample
    header = header_of(path)
    assert not header.finalised
    assert header.whole_block_bytes == 10_001 - 44 - 1
    repair_wav_header(path, header)
    assert len(decode(path).raw_data) == 9_956


def test_an_empty_mixmonitor_file_is_44_bytes_of_header_and_no_audio(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(MIXMONITOR_WAV.read_bytes()[:44])
    header = header_of(path)
    assert header.duration_seconds == 0
    assert len(decode(path)) == 0


def test_non_audio_and_cut_headers_are_refused_with_a_reason(tmp_path):
    with pytest.raises(NotAudio):
        read_wav_header(b"%PDF-1.7 not audio at all", 100)
    with pytest.raises(AudioError, match="cut off"):
        read_wav_header(MIXMONITOR_WAV.read_bytes()[:30], 30)
    with pytest.raises(NotAudio):
        read_wav_header(b"", 0)


@pytest.mark.parametrize("bits", [0, 7, 12])
def test_pcm_of_a_sample_size_audioop_cannot_decode_is_damaged_audio(tmp_path, bits):
    # It passed as "ok", then decoding raised audioop.error: the worker retried it five times
    # and `hotline transcribe` ended with a traceback.
    data = bytearray(MIXMONITOR_WAV.read_bytes())
    data[34:36] = struct.pack("<H", bits)  # the fmt chunk's bits per sample
    path = tmp_path / "odd.wav"
    path.write_bytes(bytes(data))
    assert inspect(path).condition == "damaged"
    with pytest.raises(AudioError, match=f"{bits}-bit PCM"):
        decode(path)


def test_stereo_is_split_into_caller_left_and_agent_right(tmp_path):
    caller = speak(tmp_path / "caller.wav", PHRASES[0])
    agent = speak(tmp_path / "agent.wav", PHRASES[1])
    both = stereo(tmp_path / "both.wav", caller, agent)
    split = sides(both)
    assert [side.speaker for side in split] == [CALLER, AGENT]
    assert split[0].pcm[: len(decode(caller).raw_data)] == decode(caller).raw_data
    assert all(side.audio.channels == 1 and side.sample_rate == 8000 for side in split)


def test_mixmonitor_r_and_t_files_are_the_caller_and_agent_sides(tmp_path):
    caller = speak(tmp_path / "call-in.wav", PHRASES[0])
    agent = speak(tmp_path / "call-out.ulaw", PHRASES[1], "-t", "ul")
    assert [s.speaker for s in sides(MIXMONITOR_WAV, caller, agent)] == [CALLER, AGENT]
    assert [s.speaker for s in sides(MIXMONITOR_WAV)] == [MIXED]
