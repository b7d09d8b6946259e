"""Keyword search in transcripts: substrings across recognised words, filters, hit offsets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, update

from recordings.store import Recording
from hotline.errors import InvalidInput
from recordings import jobs
from recordings import search
from recordings.search import hit_offset, search_transcripts, searchable
from recordings.transcription import Segment
from tests.recordings.conftest import T0


def words(*timed: tuple[str, float]) -> list[dict]:
    return [{"word": w, "start": t, "end": t + 0.3, "conf": 0.9} for w, t in timed]


# What vosk-model-cn gives: words separated by spaces, so "道路坑洼" is two recognised words.
COMPLAINT = [
    Segment("agent", 0.4, 1.6, "您好 一 二 三 四 五 热线", words(("您好", 0.4), ("一", 0.7), ("二", 0.8), ("三", 0.9), ("四", 1.0), ("五", 1.1), ("热线", 1.3))),
    Segment("caller", 2.0, 4.1, "我 要 投诉 道路 坑洼", words(("我", 2.0), ("要", 2.3), ("投诉", 2.6), ("道路", 3.2), ("坑洼", 3.7))),
]
STREETLIGHT = [Segment("caller", 1.0, 2.5, "路灯 坏 了", words(("路灯", 1.0), ("坏", 1.8), ("了", 2.1)))]


@pytest.fixture
async def transcribed(sessions, add_call):
    """Three transcribed calls: two complaints about roads (12345, 12319) and a streetlight."""
    calls = []
    for n, (segments, fields) in enumerate([
        (COMPLAINT, {}),
        (COMPLAINT, {"hotline": "12319", "agent": "agent2"}),
        (STREETLIGHT, {}),
    ]):
        call = await add_call(n, **fields)
        now = datetime.now(timezone.utc)
        async with sessions() as session, session.begin():
            recording = Recording(
                call_id=call.id, source=f"{n}.wav", path=f"{n}.wav", format="pcm", size_bytes=1, sha256="0" * 64,
                condition="ok", recorded_at=call.started_at, ingested_at=now, legal_hold=False,
            )
            session.add(recording)
            await session.flush()
            await jobs.enqueue(session, recording.id)
        claim = await jobs.claim(sessions, "w", timedelta(minutes=1))
        await jobs.complete(sessions, claim, jobs.Outcome("vosk-model-cn", segments, 5.0, 1.0))
        calls.append(call)
    return calls


async def found(sessions, query, **filters):
    async with sessions() as session:
        return await search_transcripts(session, query, **filters)


async def test_a_keyword_spanning_two_recognised_words_is_found_with_its_time(sessions, transcribed):
    matches = await found(sessions, "投诉道路")
    assert [m.call_id for m in matches] == [transcribed[1].id, transcribed[0].id]  # newest first
    (hit,) = matches[0].hits
    assert (hit.offset, hit.speaker, hit.text) == (2.6, "caller", "我 要 投诉 道路 坑洼")
    assert (await found(sessions, "路 坑"))[0].hits[0].offset == 3.2  # spaces in the query are ignored


async def test_filters_by_hotline_agent_and_date(sessions, transcribed):
    assert [m.call_id for m in await found(sessions, "道路", hotline="12319")] == [transcribed[1].id]
    assert [m.call_id for m in await found(sessions, "道路", agent="agent1")] == [transcribed[0].id]
    since = T0 + timedelta(minutes=1)
    assert [m.call_id for m in await found(sessions, "道路", since=since)] == [transcribed[1].id]
    assert [m.call_id for m in await found(sessions, "道路", until=since)] == [transcribed[0].id]
    assert [m.call_id for m in await found(sessions, "路灯")] == [transcribed[2].id]
    assert await found(sessions, "地铁") == []


async def test_like_wildcards_are_literal_and_an_empty_query_is_refused(sessions, transcribed):
    assert await found(sessions, "%") == []
    assert await found(sessions, "_") == []
    with pytest.raises(InvalidInput):
        await found(sessions, "  ")


async def test_deleted_recordings_are_not_found(sessions, transcribed):
    async with sessions() as session, session.begin():
        await session.execute(update(Recording).values(deleted_at=datetime.now(timezone.utc)))
    assert await found(sessions, "道路") == []


async def test_the_api_returns_matching_calls_with_hit_offsets(api, transcribed):
    response = await api.get("/api/v1/transcripts/search", params={"q": "投诉道路", "hotline": "12345"},
                             headers=api.auth("supervisor"))
    assert response.status == 200
    (match,) = (await response.json())["calls"]
    assert match["call_id"] == transcribed[0].id
    assert match["hits"] == [{"offset": 2.6, "speaker": "caller", "text": "我 要 投诉 道路 坑洼"}]
    assert (await api.get("/api/v1/transcripts/search?q=", headers=api.auth("supervisor"))).status == 400


@pytest.mark.postgresql
@pytest.mark.parametrize("keyword", ["道路", "投诉道路"])
async def test_on_postgresql_the_character_pair_index_serves_search_for_two_characters_and_more(engine, sessions, transcribed, keyword):
    # A trigram index cannot serve a two-character keyword (LIKE '%道路%' has no trigram), and
    # most Chinese words have two characters.
    executed = []

    def record(connection, cursor, statement, parameters, context, executemany) -> None:
        executed.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        assert [m.call_id for m in await found(sessions, keyword)] == [transcribed[1].id, transcribed[0].id]
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    statement, parameters = executed[0]  # the look-up of the matching calls
    async with engine.connect() as connection:
        await connection.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(row[0] for row in await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters))
    assert "ix_transcript_segments_search_pairs" in plan


def test_hit_offsets_come_from_the_word_holding_the_match():
    segment = COMPLAINT[1]
    assert searchable(segment.text) == "我要投诉道路坑洼"
    assert hit_offset(segment.words, "我要投诉道路坑洼".find("路坑"), segment.start) == 3.2
    assert hit_offset(segment.words, 99, segment.start) == segment.start


async def test_matches_the_filters_leave_out_do_not_hide_older_ones(sessions, transcribed, monkeypatch):
    # One matching segment read at a time: the newest "道路" call (12319) is left out by the
    # filter, and the search goes on to the older one.
    monkeypatch.setattr(search, "_BATCH", 1)
    assert [m.call_id for m in await found(sessions, "道路", hotline="12345", limit=1)] == [transcribed[0].id]
    assert [m.call_id for m in await found(sessions, "道路", limit=1)] == [transcribed[1].id]
    assert [m.call_id for m in await found(sessions, "道路")] == [transcribed[1].id, transcribed[0].id]
