"""Keyword search in transcripts, returning the calls that match and where in the call.

Chinese is written without spaces, and vosk puts spaces between the words it recognises, so a
keyword may span two recognised words. Segments therefore keep a `search_text` with all
whitespace removed and case folded, and a keyword is matched as a substring of it. On PostgreSQL
a pg_trgm GIN index serves `LIKE '%keyword%'` (for keywords of three characters or more; shorter
ones still work, by scanning); on SQLite the search scans the segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from recordings.store import Recording, Transcript, TranscriptSegment
from hotline.db.tables import Call
from hotline.errors import InvalidInput

# Segments read per search: a bound on the work one request can cause.
_SEGMENT_LIMIT = 1000


def searchable(text: str) -> str:
    """`text` as search sees it: no whitespace, case folded (for the odd Latin word)."""
    return "".join(text.split()).casefold()


def hit_offset(words: Sequence[dict[str, Any]], position: int, default: float) -> float:
    """The start time of the word holding character `position` of the segment's search text."""
    consumed = 0
    for word in words:
        consumed += len(searchable(word["word"]))
        if position < consumed:
            return word["start"]
    return default


@dataclass(frozen=True)
class Hit:
    """Where a keyword was said: seconds from the start of the recording, by whom, in what."""

    offset: float
    speaker: str
    text: str


@dataclass(frozen=True)
class CallMatch:
    """A call whose transcript contains the keyword, with every place it occurs."""

    call_id: int
    recording_id: int
    hotline: str | None
    agent: str | None
    started_at: datetime
    hits: list[Hit] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "recording_id": self.recording_id,
            "hotline": self.hotline,
            "agent": self.agent,
            "started_at": self.started_at.isoformat(),
            "hits": [{"offset": h.offset, "speaker": h.speaker, "text": h.text} for h in self.hits],
        }


def _like_pattern(needle: str) -> str:
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_transcripts(
    session: AsyncSession,
    query: str,
    *,
    hotline: str | None = None,
    agent: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
) -> list[CallMatch]:
    """The calls (newest first, at most `limit`) whose transcripts contain `query`, filtered by
    hotline, agent and call start time (`since` inclusive, `until` exclusive)."""
    needle = searchable(query)
    if not needle:
        raise InvalidInput("the search needs a keyword", q=query)
    statement = (
        select(TranscriptSegment, Recording.id, Call)
        .join(Transcript, TranscriptSegment.transcript_id == Transcript.id)
        .join(Recording, Transcript.recording_id == Recording.id)
        .join(Call, Recording.call_id == Call.id)
        .where(
            TranscriptSegment.search_text.like(_like_pattern(needle), escape="\\"),
            Recording.deleted_at.is_(None),
        )
        .order_by(Call.started_at.desc(), Call.id, TranscriptSegment.start)
        .limit(_SEGMENT_LIMIT)
    )
    if hotline is not None:
        statement = statement.where(Call.hotline == hotline)
    if agent is not None:
        statement = statement.where(Call.agent == agent)
    if since is not None:
        statement = statement.where(Call.started_at >= since)
    if until is not None:
        statement = statement.where(Call.started_at < until)

    matches: dict[int, CallMatch] = {}
    for segment, recording_id, call in await session.execute(statement):
        match = matches.get(call.id)
        if match is None:
            if len(matches) == limit:
                break
            match = matches[call.id] = CallMatch(call.id, recording_id, call.hotline, call.agent, call.started_at)
        offset = hit_offset(segment.words, segment.search_text.find(needle), segment.start)
        match.hits.append(Hit(offset, segment.speaker, segment.text))
    return list(matches.values())
