"""Transcript texts as a service to other features: the survey campaign shows the transcripts of
its spoken suggestions (`Transcripts` port of hotline/surveys/transcripts.py) without reading this
feature's tables itself, and each one it shows is audited here, as the recordings API audits
its own transcript reads (api.py `_reader`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.users import Actor
from recordings.holds import BATCH, newest_recordings
from recordings.jobs import ACTIVE, FAILED
from recordings.store import Transcript, TranscriptionJob, audit


@dataclass(frozen=True)
class CallText:
    """A call's transcript text, or None with the state that says why."""

    text: str | None
    state: str


class TranscriptTexts:
    """The transcripts of calls, in the caller's transaction."""

    async def texts(self, session: AsyncSession, call_ids: Sequence[int], reader: Actor,
                    purpose: str) -> dict[int, CallText]:
        """Each call's newest kept recording's transcript text, else "no speech" (transcribed, no
        word heard), "pending" (its newest job queued or running), "failed", "not queued" (no job: unreadable audio, or transcription
        off), or "no recording" (none kept: never archived, or deleted by retention, which
        deletes its transcript too). `reader` is audited
        reading each text returned, for `purpose`."""
        calls = list(dict.fromkeys(call_ids))
        newest = await newest_recordings(session, calls)
        recordings = list(newest.values())
        texts: dict[int, str] = {}
        states: dict[int, str] = {}
        for start in range(0, len(recordings), BATCH):
            chunk = recordings[start:start + BATCH]
            texts.update((await session.execute(
                select(Transcript.recording_id, Transcript.text).where(Transcript.recording_id.in_(chunk)))).all())
            jobs = await session.execute(
                select(TranscriptionJob.recording_id, TranscriptionJob.state)
                .where(TranscriptionJob.recording_id.in_(chunk)).order_by(TranscriptionJob.id))
            states.update({recording_id: state for recording_id, state in jobs})
        found: dict[int, CallText] = {}
        for call_id in calls:
            recording_id = newest.get(call_id)
            if recording_id is None:
                found[call_id] = CallText(None, "no recording")
            elif recording_id in texts and texts[recording_id].strip():
                audit(session, reader, "transcript.read", call_id=call_id, recording_id=recording_id, detail=purpose)
                found[call_id] = CallText(texts[recording_id], "transcribed")
            elif recording_id in texts:
                # Transcribed, and vosk heard no word: nothing personal is shown, nothing audited.
                found[call_id] = CallText(None, "no speech")
            else:
                state = states.get(recording_id)
                found[call_id] = CallText(None, "pending" if state in ACTIVE else "failed" if state == FAILED
                                          else "not queued")
        return found
