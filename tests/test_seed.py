"""`hotline db seed`: realistic synthetic calls and transcripts, loaded in bulk, for benchmarks."""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from datetime import datetime, timezone

from sqlalchemy import func, select

from hotline import synthetic
from hotline.cli import main
from hotline.db import database
from hotline.db.tables import Call
from recordings.search import search_transcripts
from recordings.store import Recording, Transcript, TranscriptSegment

CHINESE_NAME = re.compile(r"[\u4e00-\u9fff]{2,3}")


async def contents(url: str) -> dict:
    async with database(url) as sessions, sessions() as session:
        calls = (await session.scalars(select(Call).order_by(Call.id))).all()
        transcribed = (await session.scalars(
            select(Recording.call_id).join(Transcript, Transcript.recording_id == Recording.id)
        )).all()
        segments = await session.scalar(select(func.count()).select_from(TranscriptSegment))
        found = await search_transcripts(session, "噪音", limit=500)
    return {"calls": calls, "transcribed": transcribed, "segments": segments, "found": found}


def test_db_seed_fills_the_database_with_calls_and_transcripts_a_hotline_would_have(database_url, capsys, monkeypatch):
    monkeypatch.setenv("HOTLINE_DATABASE_URL", database_url)
    assert main(["db", "seed", "--calls", "2000", "--transcripts", "300", "--seed", "7"]) == 0
    assert capsys.readouterr().out.startswith("seeded 2000 calls and 300 transcripts into ")
    seeded = asyncio.run(contents(database_url))
    calls = seeded["calls"]

    assert len(calls) == 2000
    hotlines = Counter(c.hotline for c in calls)
    assert set(hotlines) == {"12345", "12319"} and hotlines["12345"] > hotlines["12319"]
    assert set(c.disposition for c in calls) == set(synthetic.DISPOSITIONS)
    assert all(c.status == "ended" and c.started_at <= c.ended_at for c in calls)
    answered = [c for c in calls if c.disposition == "answered"]
    assert all(c.agent and c.recording and c.started_at <= c.answered_at <= c.ended_at for c in answered)
    # Callers who call again (one of them often), most of them with a Chinese name.
    per_caller = Counter(c.caller_number for c in calls)
    assert len(per_caller) < 1000 and per_caller.most_common(1)[0][1] >= 10
    names = [c.caller_name for c in calls if c.caller_name]
    assert len(names) > 1000 and all(CHINESE_NAME.fullmatch(name) for name in names)

    # Transcripts belong to answered calls only, in Chinese, and search finds them.
    assert len(set(seeded["transcribed"])) == 300
    assert set(seeded["transcribed"]) <= {c.id for c in answered}
    assert seeded["segments"] >= 600
    assert 0 < len(seeded["found"]) < 300
    assert all("噪音" in hit.text.replace(" ", "") for match in seeded["found"] for hit in match.hits)


def test_db_seed_adds_after_what_is_there_and_refuses_more_transcripts_than_answered_calls(database_url, capsys, monkeypatch):
    monkeypatch.setenv("HOTLINE_DATABASE_URL", database_url)
    assert main(["db", "seed", "--calls", "50", "--transcripts", "10"]) == 0
    assert main(["db", "seed", "--calls", "50", "--transcripts", "1000"]) == 2
    assert capsys.readouterr().err.startswith("hotline: error: --transcripts: at most one per answered call")
    assert main(["db", "seed", "--calls", "-1"]) == 2

    async def add_one_more() -> list[str]:
        async with database(database_url) as sessions:
            async with sessions() as session, session.begin():
                # Ids come from the database again: the sequence was moved past the seeded rows
                # (else PostgreSQL hands out an id a seeded call has).
                now = datetime.now(timezone.utc)
                session.add(Call(pbx="main", linkedid="after-seed", status="ringing", started_at=now, updated_at=now))
            async with sessions() as session:
                return (await session.scalars(select(Call.linkedid).order_by(Call.id))).all()

    linkedids = asyncio.run(add_one_more())
    assert len(linkedids) == 51 and linkedids[-1] == "after-seed"  # the refused seed left nothing behind


def test_the_same_seed_gives_the_same_calls():
    until = datetime(2026, 12, 1, tzinfo=timezone.utc)
    first = list(synthetic.calls(random.Random(3), 300, until))
    assert first == list(synthetic.calls(random.Random(3), 300, until))
    assert first != list(synthetic.calls(random.Random(4), 300, until))
    assert [c["started_at"] for c in first] == sorted(c["started_at"] for c in first)
    assert all(until.replace(year=2025) <= c["started_at"] < until for c in first)
