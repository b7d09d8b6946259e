"""Ingest: every MixMonitor file ends up in the archive with a row, whatever state it is in."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import shutil
import struct
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from hotline.calls import Call as TrackedCall
from hotline.db.tables import Call
from recordings.store import Recording, TranscriptionJob
from recordings import ingest
from recordings.audio import decode
from tests.recordings.speech import PHRASES, speak
from tests.outage import REFUSAL, writes_refused
from tests.recordings.test_audio import MIXMONITOR_WAV


async def rows(sessions, model):
    async with sessions() as session:
        return (await session.scalars(select(model).order_by(model.id))).all()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


async def test_a_finished_call_is_archived_by_day_and_call_with_a_row_and_a_job(sessions, config, add_call):
    call = await add_call(879)
    source = shutil.copy(MIXMONITOR_WAV, config.recordings_spool / "1795811555.879.wav")
    recording = await ingest.on_call_ended(sessions, config, call.id, call.recording)

    assert recording.path == f"2026/11/27/{call.id}.wav"
    archived = config.recordings_root / recording.path
    assert archived.read_bytes() == MIXMONITOR_WAV.read_bytes()
    assert not Path(source).exists()
    assert (recording.call_id, recording.condition, recording.problem) == (call.id, "ok", None)
    assert recording.sha256 == sha256(MIXMONITOR_WAV)
    assert recording.size_bytes == MIXMONITOR_WAV.stat().st_size
    assert recording.duration_seconds == pytest.approx(1.82)
    assert (recording.format, recording.sample_rate, recording.channels) == ("pcm", 8000, 1)
    (job,) = await rows(sessions, TranscriptionJob)
    assert (job.recording_id, job.state) == (recording.id, "queued")

    again = await ingest.on_call_ended(sessions, config, call.id, call.recording)
    assert again.id == recording.id
    assert len(await rows(sessions, Recording)) == 1


async def test_a_truncated_wav_is_repaired_and_flagged(sessions, config, add_call):
    call = await add_call(1)
    (config.recordings_spool / "1795811555.1.wav").write_bytes(MIXMONITOR_WAV.read_bytes()[:20_000])
    recording = await ingest.on_call_ended(sessions, config, call.id, call.recording, settle=0.2)
    assert recording.condition == "repaired"
    assert "header declared 29120 data bytes, file holds 19956" in recording.problem
    archived = config.recordings_root / recording.path
    assert archived.read_bytes()[44:] == MIXMONITOR_WAV.read_bytes()[44:20_000]
    assert recording.duration_seconds == pytest.approx(19956 / 16000)
    assert len(decode(archived).raw_data) == 19956
    assert len(await rows(sessions, TranscriptionJob)) == 1


@pytest.mark.parametrize(
    ("content", "condition"),
    [
        (b"", "empty"),
        (MIXMONITOR_WAV.read_bytes()[:44], "empty"),  # MixMonitor option b, never bridged
        (b"<html>this is not audio</html>" * 10, "not-audio"),
        (MIXMONITOR_WAV.read_bytes()[:30], "damaged"),
    ],
    ids=["zero-length", "44-byte-header", "html", "cut-header"],
)
async def test_files_that_cannot_be_transcribed_are_kept_and_flagged(sessions, config, add_call, content, condition):
    call = await add_call(2)
    (config.recordings_spool / "1795811555.2.wav").write_bytes(content)
    recording = await ingest.on_call_ended(sessions, config, call.id, call.recording, settle=0.2)
    assert recording.condition == condition
    assert recording.problem
    assert (config.recordings_root / recording.path).read_bytes() == content
    assert await rows(sessions, TranscriptionJob) == []


async def test_a_file_still_being_written_is_taken_only_when_complete(sessions, config, add_call):
    call = await add_call(3)
    path = config.recordings_spool / "1795811555.3.wav"
    audio = MIXMONITOR_WAV.read_bytes()

    async def mixmonitor() -> None:
        # As Asterisk does: a header with zero sizes, audio appended as it arrives, the sizes
        # filled in at close.
        await asyncio.sleep(0.3)
        with path.open("wb") as file:
            file.write(audio[:40] + struct.pack("<I", 0))
            file.seek(4)
            file.write(struct.pack("<I", 0))
            file.seek(44)
            for offset in range(44, len(audio), 4000):
                file.write(audio[offset : offset + 4000])
                file.flush()
                await asyncio.sleep(0.2)
            file.seek(0)
            file.write(audio[:44])

    async with asyncio.timeout(30):
        writer = asyncio.create_task(mixmonitor())
        # The writer pauses 0.2 s between chunks: a settle time above that must not cut it short.
        recording = await ingest.on_call_ended(sessions, config, call.id, call.recording, settle=1.0)
        await writer
    assert (config.recordings_root / recording.path).read_bytes() == audio
    assert recording.condition == "ok"


async def test_a_recording_that_never_appears_is_left_to_the_sweep(sessions, config, add_call):
    call = await add_call(4)
    assert await ingest.on_call_ended(sessions, config, call.id, call.recording, appear=0.2) is None


async def test_mixmonitor_r_and_t_files_travel_with_the_call(sessions, config, add_call):
    call = await add_call(5)
    spool = config.recordings_spool
    shutil.copy(MIXMONITOR_WAV, spool / "1795811555.5.wav")
    speak(spool / "1795811555.5-in.wav", PHRASES[0])
    speak(spool / "1795811555.5-out.ulaw", PHRASES[1], "-t", "ul")
    recording = await ingest.on_call_ended(sessions, config, call.id, call.recording)
    assert recording.caller_path == f"2026/11/27/{call.id}.caller.wav"
    assert recording.agent_path == f"2026/11/27/{call.id}.agent.ulaw"
    assert files_under(spool) == []


async def test_side_files_are_looked_for_off_the_event_loop(sessions, config, add_call, monkeypatch):
    # Listing a spool of thousands of files (on NFS, say) must not stall call tracking.
    listed_on = []
    real_side_files = ingest.side_files

    def side_files(main):
        listed_on.append(threading.current_thread())
        return real_side_files(main)

    monkeypatch.setattr(ingest, "side_files", side_files)
    call = await add_call(6)
    shutil.copy(MIXMONITOR_WAV, config.recordings_spool / "1795811555.6.wav")
    assert await ingest.on_call_ended(sessions, config, call.id, call.recording) is not None
    assert listed_on and threading.main_thread() not in listed_on


async def test_the_sweep_ingests_what_the_daemon_missed_and_keeps_orphans(sessions, config, add_call):
    spool = config.recordings_spool
    ended = await add_call(10)
    live = await add_call(11, status="up", ended_at=None)
    for name in ("1795811555.10.wav", "1795811555.11.wav", "unclaimed.wav"):
        shutil.copy(MIXMONITOR_WAV, spool / name)
    old = os.stat(spool / "unclaimed.wav").st_mtime - 7200
    for name in ("1795811555.10.wav", "1795811555.11.wav", "unclaimed.wav"):
        os.utime(spool / name, (old, old))

    report = await ingest.sweep(sessions, config)
    assert (report.ingested, report.orphans, report.waiting) == (1, 1, 1)
    assert files_under(spool) == ["1795811555.11.wav"]  # its call is still in progress
    by_call = {r.call_id: r for r in await rows(sessions, Recording)}
    assert by_call[ended.id].path.endswith(f"/{ended.id}.wav")
    assert by_call[None].path.endswith("/orphan-unclaimed.wav")
    assert live.id not in by_call


async def test_a_file_that_cannot_be_ingested_does_not_hold_up_the_rest_of_the_spool(sessions, config, add_call, monkeypatch):
    calls = [await add_call(n) for n in (20, 21)]
    for call in calls:
        shutil.copy(MIXMONITOR_WAV, config.recordings_spool / Path(call.recording).name)
    real_archive = ingest.archive

    def unreadable_first(source, *args):
        if source.name == "1795811555.20.wav":
            raise PermissionError(errno.EACCES, "Permission denied", str(source))
        return real_archive(source, *args)

    monkeypatch.setattr(ingest, "archive", unreadable_first)
    report = await ingest.sweep(sessions, config, min_age=0)
    assert (report.ingested, report.failed) == (1, 1)
    assert files_under(config.recordings_spool) == ["1795811555.20.wav"]  # kept for the next sweep
    assert [r.call_id for r in await rows(sessions, Recording)] == [calls[1].id]


async def test_a_young_unclaimed_file_waits_for_its_call(sessions, config):
    shutil.copy(MIXMONITOR_WAV, config.recordings_spool / "new.wav")
    report = await ingest.sweep(sessions, config, min_age=0)
    assert (report.orphans, report.waiting) == (0, 1)


async def test_a_full_sweep_registers_archive_files_that_have_no_row(sessions, config, add_call):
    call = await add_call(12)
    day = config.recordings_root / "2026/11/27"
    day.mkdir(parents=True)
    shutil.copy(MIXMONITOR_WAV, day / f"{call.id}.wav")  # moved, then the process died
    report = await ingest.sweep(sessions, config, full=True)
    assert report.registered == 1
    (recording,) = await rows(sessions, Recording)
    assert (recording.call_id, recording.path, recording.condition) == (call.id, f"2026/11/27/{call.id}.wav", "ok")
    assert (await ingest.sweep(sessions, config, full=True)).registered == 0


async def test_a_full_sweep_goes_on_past_archive_files_it_cannot_register(sessions, config, add_call, monkeypatch):
    call, missed = await add_call(13), await add_call(14)
    day = config.recordings_root / "2026/11/27"
    day.mkdir(parents=True)
    for name in ("10.wav", "99999999999.wav", "²³.wav", f"{call.id}.wav"):
        shutil.copy(MIXMONITOR_WAV, day / name)
    shutil.copy(MIXMONITOR_WAV, config.recordings_spool / Path(missed.recording).name)
    real_inspect = ingest.inspect

    def unreadable(path):
        if path.name == "10.wav":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_inspect(path)

    monkeypatch.setattr(ingest, "inspect", unreadable)
    report = await ingest.sweep(sessions, config, full=True, min_age=0)
    assert (report.registered, report.ingested) == (3, 1)
    # 10.wav stays on disk without a row, for the next full sweep.
    assert sorted((r.path, r.call_id) for r in await rows(sessions, Recording)) == [
        (f"2026/11/27/{call.id}.wav", call.id), (f"2026/11/27/{missed.id}.wav", missed.id),
        ("2026/11/27/99999999999.wav", None), ("2026/11/27/²³.wav", None),
    ]


def test_moving_across_file_systems_copies_then_removes(tmp_path, monkeypatch):
    source = shutil.copy(MIXMONITOR_WAV, tmp_path / "a.wav")

    def no_cross_device_rename(src, dst):
        if Path(src) == Path(source):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_rename(src, dst)

    real_rename = os.rename
    monkeypatch.setattr(os, "rename", no_cross_device_rename)
    moved = ingest.move(Path(source), tmp_path / "archive/x.wav")
    assert moved.read_bytes() == MIXMONITOR_WAV.read_bytes()
    assert files_under(tmp_path) == ["archive/x.wav"]


def test_an_existing_archive_file_is_never_overwritten(tmp_path):
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive/x.wav").write_bytes(b"first")
    (tmp_path / "b.wav").write_bytes(b"second")
    assert ingest.move(tmp_path / "b.wav", tmp_path / "archive/x.wav").name == "x.1.wav"
    assert (tmp_path / "archive/x.wav").read_bytes() == b"first"


async def test_the_daemon_hands_over_ended_calls_without_waiting_for_the_file(sessions, config, add_call):

    call = await add_call(20)
    ingestor = ingest.Ingestor(sessions, config)
    tracked = TrackedCall(pbx="main", linkedid="1795811555.20", started_at=call.started_at, recording=call.recording)
    stopping = asyncio.Event()
    async with asyncio.timeout(30):
        sweeping = asyncio.create_task(ingestor.run(stopping))
        await ingestor.call_ended(tracked, call.id)  # returns at once: the file is not there yet
        await ingestor.call_ended(TrackedCall(pbx="main", linkedid="x", started_at=call.started_at), 99)
        shutil.copy(MIXMONITOR_WAV, config.recordings_spool / "1795811555.20.wav")
        stopping.set()
        await sweeping  # waits for the ingest under way
    (recording,) = await rows(sessions, Recording)
    assert recording.call_id == call.id and recording.condition == "ok"


async def test_a_recording_archived_while_the_database_refused_its_row_is_registered_by_the_next_sweep(
    sessions, config, add_call, api
):
    # It was found only by the full sweep at the next start: until then the API said "no
    # recording" for a file sitting in the archive.
    from hotline.web.live import Telemetry

    call = await add_call(30)
    shutil.copy(MIXMONITOR_WAV, config.recordings_spool / "1795811555.30.wav")
    telemetry = Telemetry()
    ingestor = ingest.Ingestor(sessions, config, poll=0.05, telemetry=telemetry)
    tracked = TrackedCall(pbx="main", linkedid="1795811555.30", started_at=call.started_at, recording=call.recording)
    async with writes_refused(config.database_url, "recordings"):
        await ingestor.call_ended(tracked, call.id)
        stopping = asyncio.Event()
        stopping.set()  # the ingest under way is finished; no sweep starts
        async with asyncio.timeout(30):
            await ingestor.run(stopping)
        assert files_under(config.recordings_root) == [f"2026/11/27/{call.id}.wav"]
        assert await rows(sessions, Recording) == []
        assert telemetry.saves_failed["recordings"] == 1 and REFUSAL in telemetry.failing["recordings"]
        response = await api.get(f"/api/v1/calls/{call.id}/recording", headers=api.auth("supervisor"))
        assert response.status == 404
        # Still refused: the sweep fails, the file waits for the next one.
        with pytest.raises(SQLAlchemyError):
            await ingest.sweep(sessions, config)

    report = await ingest.sweep(sessions, config)  # the periodic sweep, not the start-up one
    assert report.registered == 1
    (recording,) = await rows(sessions, Recording)
    assert (recording.call_id, recording.path, recording.condition) == (call.id, f"2026/11/27/{call.id}.wav", "ok")
    assert [job.recording_id for job in await rows(sessions, TranscriptionJob)] == [recording.id]
    response = await api.get(f"/api/v1/calls/{call.id}/recording", headers=api.auth("supervisor"))
    assert response.status == 200 and await response.read() == MIXMONITOR_WAV.read_bytes()
    assert (await ingest.sweep(sessions, config)).registered == 0


async def test_a_refused_row_whose_call_is_gone_is_registered_as_an_orphan(sessions, config, add_call):
    # Retrying it for its call would fail the foreign key at every sweep, and stop each one.
    gone, later = await add_call(31), await add_call(32)
    shutil.copy(MIXMONITOR_WAV, config.recordings_spool / "1795811555.31.wav")
    async with writes_refused(config.database_url, "recordings"):
        with pytest.raises(SQLAlchemyError):
            await ingest.on_call_ended(sessions, config, gone.id, gone.recording)
    async with sessions() as session, session.begin():
        await session.delete(await session.get(Call, gone.id))
    shutil.copy(MIXMONITOR_WAV, config.recordings_spool / "1795811555.32.wav")

    report = await ingest.sweep(sessions, config, min_age=0)
    assert (report.registered, report.ingested) == (1, 1)
    assert sorted((r.call_id or 0, r.path) for r in await rows(sessions, Recording)) == [
        (0, f"2026/11/27/{gone.id}.wav"), (later.id, f"2026/11/27/{later.id}.wav"),
    ]
    assert (await ingest.sweep(sessions, config, min_age=0)).registered == 0


async def test_a_burst_of_ended_calls_is_ingested_together_each_file_with_its_own_side_files(sessions, config, add_call):
    from hotline.calls import Call as TrackedCall

    # Stems that are prefixes of one another ("...5.3" and "...5.30"): each call gets its own
    # r()/t() files and no other call's.
    calls = [await add_call(n) for n in range(1, 41)]
    spool = config.recordings_spool
    for call in calls:
        shutil.copy(MIXMONITOR_WAV, spool / Path(call.recording).name)
    for n in (3, 30):
        shutil.copy(MIXMONITOR_WAV, spool / f"1795811555.{n}-in.wav")
        (spool / f"1795811555.{n}-out.raw").write_bytes(bytes(160 * n))
    ingestor = ingest.Ingestor(sessions, config, poll=0.05)
    stopping = asyncio.Event()
    async with asyncio.timeout(30):
        running = asyncio.create_task(ingestor.run(stopping))
        for call in calls + calls[:5]:  # handing a call over twice is harmless
            tracked = TrackedCall(pbx="main", linkedid=call.linkedid, started_at=call.started_at, recording=call.recording)
            await ingestor.call_ended(tracked, call.id)
        stopping.set()
        await running  # lets the ingests under way finish
    recordings = {r.call_id: r for r in await rows(sessions, Recording)}
    assert sorted(recordings) == [call.id for call in calls]
    assert files_under(spool) == []
    for call in calls:
        recording = recordings[call.id]
        assert (recording.path, recording.condition) == (f"2026/11/27/{call.id}.wav", "ok")
    with_sides = {n: recordings[calls[n - 1].id] for n in (3, 30)}
    for n, recording in with_sides.items():
        assert recording.caller_path == f"2026/11/27/{calls[n - 1].id}.caller.wav"
        assert (config.recordings_root / recording.agent_path).stat().st_size == 160 * n
    assert all(r.caller_path is None for r in recordings.values() if r not in with_sides.values())
    assert len(await rows(sessions, TranscriptionJob)) == len(calls)
