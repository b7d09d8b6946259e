"""Speech to text with vosk: words with timings and confidence, grouped into segments per side.

A vosk model takes seconds and hundreds of MB to load, so a process loads it once into a
`Recogniser` and reuses it for every job. Each side of a call gets its own KaldiRecognizer at the
side's true sample rate (8000 for telephone audio: declaring 16 kHz for 8 kHz audio gives garbage).
Vosk cuts the stream at pauses (its endpointing); each such utterance becomes one segment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from hotline.errors import HotlineError
from recordings.audio import Side

# Half a second of 16-bit audio per AcceptWaveform call: small enough for a smooth progress bar,
# large enough that the Python loop costs nothing next to the decoder.
_CHUNK_SECONDS = 0.5


class ModelError(HotlineError):
    """The vosk model is missing or unusable."""

    error_id = "bad-model"


@dataclass(frozen=True)
class Segment:
    """One utterance of one speaker; `words` are vosk's own dicts (word, start, end, conf)."""

    speaker: str
    start: float
    end: float
    text: str
    words: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"speaker": self.speaker, "start": self.start, "end": self.end, "text": self.text, "words": self.words}


def check_model(path: Path | None) -> Path:
    """Return `path` if it looks like a vosk model directory, else raise one clear ModelError.

    Checked before any worker starts, so a wrong path is one message at start rather than a
    crash in every job.
    """
    if path is None:
        raise ModelError(
            "no vosk model configured: set [transcription] model or HOTLINE_VOSK_MODEL",
            key="transcription.model",
        )
    if not path.is_dir():
        raise ModelError(f"vosk model {path}: no such directory", path=str(path))
    has_am = (path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file()
    has_graph = any(
        (path / name).is_file()
        for name in ("graph/HCLG.fst", "graph/HCLr.fst", "HCLG.fst", "HCLr.fst")
    )
    if not (has_am and has_graph):
        raise ModelError(
            f"vosk model {path}: not a vosk model (no am/final.mdl or graph/HCLG.fst)",
            path=str(path),
        )
    return path


def model_name(path: Path) -> str:
    """The model's name as stored with each transcript (e.g. `vosk-model-small-cn-0.22`).

    A model shipped inside a Python package sits in a directory called `model`; its package
    directory names it then.
    """
    resolved = path.resolve()
    return resolved.parent.name if resolved.name == "model" else resolved.name


def segment_of(result: dict[str, Any], speaker: str) -> Segment | None:
    """The segment for one vosk result (`Result()`/`FinalResult()` JSON), None if it is silent."""
    words = result.get("result") or []
    if not words:
        return None
    text = result.get("text") or " ".join(word["word"] for word in words)
    return Segment(speaker, words[0]["start"], words[-1]["end"], text, words)


def merge(per_side: Sequence[Sequence[Segment]]) -> list[Segment]:
    """All sides' segments in the order they were spoken."""
    return sorted((s for side in per_side for s in side), key=lambda s: (s.start, s.speaker))


class Recogniser:
    """A loaded vosk model; build one per process and reuse it."""

    def __init__(self, path: Path | None) -> None:
        self.path = check_model(path)
        self.name = model_name(self.path)
        import vosk  # deferred: the daemon imports this module without needing the engine

        vosk.SetLogLevel(-1)
        self._vosk = vosk
        try:
            self.model = vosk.Model(str(self.path))
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise ModelError(f"vosk model {self.path}: cannot load ({exc})", path=str(self.path)) from None

    def transcribe_side(self, side: Side, progress: Callable[[float], None] | None = None) -> list[Segment]:
        """The segments of one side; `progress` is called with the seconds of audio consumed."""
        recognizer = self._vosk.KaldiRecognizer(self.model, side.sample_rate)
        recognizer.SetWords(True)
        pcm, chunk = side.pcm, int(side.sample_rate * _CHUNK_SECONDS) * 2
        segments: list[Segment] = []
        for offset in range(0, len(pcm), chunk):
            piece = pcm[offset : offset + chunk]
            if recognizer.AcceptWaveform(piece):
                segment = segment_of(json.loads(recognizer.Result()), side.speaker)
                if segment is not None:
                    segments.append(segment)
            if progress is not None:
                progress(len(piece) / 2 / side.sample_rate)
        segment = segment_of(json.loads(recognizer.FinalResult()), side.speaker)
        if segment is not None:
            segments.append(segment)
        return segments

    def transcribe(self, sides: Sequence[Side], progress: Callable[[float], None] | None = None) -> list[Segment]:
        """The segments of all `sides`, in spoken order."""
        return merge([self.transcribe_side(side, progress) for side in sides])


def audio_seconds(sides: Sequence[Side]) -> float:
    """The length of the longest side: the length of the call as recorded."""
    return max((len(side.audio) / 1000 for side in sides), default=0.0)
