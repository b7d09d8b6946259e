"""Audit marks of a call from its transcript: was the greeting given, were the required phrases
said, was a forbidden phrase said, each with where in the recording. Pure: transcript segments
and the centre's rules in, marks out.

Only the agent's side is judged when the recording has the sides apart (a caller who says "不知道"
breaks no rule); a mixed recording is judged whole. Phrases are matched as search matches
keywords: whitespace dropped, case folded, so a phrase vosk split into two words still matches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping, Sequence

from recordings.search import hit_offset, searchable


@dataclass(frozen=True)
class AuditRules:
    """What every call should and should not have (configuration `[audit]`)."""

    greetings: Sequence[str]
    greeting_seconds: float
    required: Sequence[str]
    forbidden: Sequence[str]


@dataclass(frozen=True)
class AuditMark:
    """One finding: `ok` says whether it is as it should be; `offset` (seconds) where it was said."""

    kind: str  # greeting | required | forbidden
    phrase: str | None
    ok: bool
    offset: float | None = None
    speaker: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _occurrences(segments: Iterable[Mapping[str, Any]], phrase: str) -> list[tuple[float, str]]:
    """(offset, speaker) of every place `phrase` was said, in time order."""
    needle = searchable(phrase)
    found = []
    for segment in segments:
        text = searchable(segment["text"])
        position = text.find(needle)
        while needle and position >= 0:
            found.append((hit_offset(segment["words"] or [], position, segment["start"]), segment["speaker"]))
            position = text.find(needle, position + len(needle))
    return sorted(found)


def audit_marks(segments: Sequence[Mapping[str, Any]], rules: AuditRules) -> list[AuditMark]:
    """The marks of one transcript (`segments` as the transcript API gives them) under `rules`."""
    judged = [s for s in segments if s["speaker"] == "agent"] or [s for s in segments if s["speaker"] == "mixed"]
    marks = []
    greetings = sorted(
        (offset, speaker, phrase)
        for phrase in rules.greetings
        for offset, speaker in _occurrences(judged, phrase)
        if offset <= rules.greeting_seconds
    )
    if greetings:
        offset, speaker, phrase = greetings[0]
        marks.append(AuditMark("greeting", phrase, True, offset, speaker))
    elif rules.greetings:
        marks.append(AuditMark("greeting", None, False))
    for phrase in rules.required:
        said = _occurrences(judged, phrase)
        marks.append(AuditMark("required", phrase, bool(said), *(said[0] if said else (None, None))))
    for phrase in rules.forbidden:
        marks.extend(AuditMark("forbidden", phrase, False, offset, speaker)
                     for offset, speaker in _occurrences(judged, phrase))
    return marks
