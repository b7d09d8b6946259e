"""Keyword search in transcripts, returning the calls that match and where in the call.

Chinese is written without spaces, and vosk puts spaces between the words it recognises, so a
keyword may span two recognised words. Segments therefore keep a `search_text` with all
whitespace removed and case folded, and a keyword is matched as a substring of it. On PostgreSQL
a GIN index on the character pairs of `search_text` (kept in `search_pairs`) finds the segments
that hold every pair of the keyword, which `LIKE '%keyword%'` then confirms: a two-character word,
the common case in Chinese, is served as well as a longer one (a trigram index cannot serve
it). A one-character keyword, and every search on SQLite, scans the segments.

Each segment carries its call's start, so the newest matching segments are found in the
segments table alone (a common word: a short walk down the index on the call's start; a rare
one: looked up in the pairs index), a batch at a time, until `limit` calls are found; only those
calls are then read, with their matching segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import Text, literal, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from recordings.store import Recording, Transcript, TranscriptSegment
from hotline.db.tables import Call
from hotline.errors import InvalidInput

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


# Matching segments read at a time (per call asked for), newest first, until a page of calls is
# found: a keyword is rarely said twice in a call, so most pages take one batch.
_BATCH = 2


def bigrams(needle: str) -> list[str]:
    """The distinct character pairs of `needle` (a segment's `search_pairs`, a keyword's)."""
    return sorted({needle[i : i + 2] for i in range(len(needle) - 1)})


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
    contains = TranscriptSegment.search_text.like(_like_pattern(needle), escape="\\")
    matching = []
    if session.bind.dialect.name == "postgresql" and len(needle) >= 2:
        matching.append(TranscriptSegment.search_pairs.op("@>")(literal(bigrams(needle), ARRAY(Text))))
    if not matching or len(needle) > 2:
        # A two-character keyword is exactly its one pair; a longer one may have its pairs
        # scattered. Leaving out the redundant LIKE also keeps PostgreSQL's estimate of the
        # matches right (its statistics know the pairs): it walks down the newest segments for
        # a common word, and looks a rare one up in the index.
        matching.append(contains)
    newest = (
        select(TranscriptSegment.call_started_at, TranscriptSegment.transcript_id)
        .where(TranscriptSegment.call_started_at.is_not(None), *matching)
        .order_by(TranscriptSegment.call_started_at.desc(), TranscriptSegment.transcript_id.desc())
        .limit(_BATCH * limit)
    )
    if since is not None:
        newest = newest.where(TranscriptSegment.call_started_at >= since)
    if until is not None:
        newest = newest.where(TranscriptSegment.call_started_at < until)
    of_calls = (
        select(Call, Recording.id, Transcript.id)
        .join(Recording, Recording.call_id == Call.id)
        .join(Transcript, Transcript.recording_id == Recording.id)
        .where(Recording.deleted_at.is_(None))
        .order_by(Call.started_at.desc(), Call.id)
    )
    if hotline is not None:
        of_calls = of_calls.where(Call.hotline == hotline)
    if agent is not None:
        of_calls = of_calls.where(Call.agent == agent)

    # Newest matching segments a batch at a time, until `limit` calls (each batch is older than
    # the one before, so the calls come out newest first).
    matches: dict[int, CallMatch] = {}
    of_transcript: dict[int, CallMatch] = {}
    after: tuple[datetime, int] | None = None
    while len(matches) < limit:
        batch = newest if after is None else newest.where(
            tuple_(TranscriptSegment.call_started_at, TranscriptSegment.transcript_id) < after
        )
        rows = (await session.execute(batch)).all()
        transcripts = {transcript_id for _, transcript_id in rows} - of_transcript.keys()
        if transcripts:
            for call, recording_id, transcript_id in await session.execute(
                of_calls.where(Transcript.id.in_(transcripts))
            ):
                match = matches.get(call.id)
                if match is None:
                    if len(matches) == limit:
                        break
                    match = matches[call.id] = CallMatch(call.id, recording_id, call.hotline, call.agent, call.started_at)
                of_transcript[transcript_id] = match
        if len(rows) < _BATCH * limit:
            break
        after = tuple(rows[-1])
    if not of_transcript:
        return []
    segments = await session.scalars(
        select(TranscriptSegment)
        .where(TranscriptSegment.transcript_id.in_(of_transcript), contains)
        .order_by(TranscriptSegment.start, TranscriptSegment.id)
    )
    for segment in segments:
        offset = hit_offset(segment.words, segment.search_text.find(needle), segment.start)
        of_transcript[segment.transcript_id].hits.append(Hit(offset, segment.speaker, segment.text))
    return list(matches.values())
