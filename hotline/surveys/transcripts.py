"""The campaign's narrow link to the recordings feature: the transcripts of the spoken suggestions.

A suggestion is recorded on the survey call and transcribed like any call (docs/recordings.md);
transcripts are personal data, and every one shown is written to the recordings audit log by the
feature that keeps them. The composition root fills `Transcripts` with recordings' TranscriptTexts
(recordings/texts.py); the campaign imports no recordings module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.users import Actor


@dataclass(frozen=True)
class TranscriptText:
    """A call's transcript as results show it: its text, or None with the state that says why
    (results.SUGGESTION_STATES)."""

    text: str | None
    state: str


class Transcripts(Protocol):
    async def texts(self, session: AsyncSession, call_ids: Sequence[int], reader: Actor,
                    purpose: str) -> dict[int, TranscriptText]:
        """Each call's transcript (that of its newest recording still kept), or the state that
        says why it has none: "no speech", "pending", "failed", "not queued", "no recording". One audit entry
        per transcript returned with its text, by `reader` for `purpose`, is added to the
        session's transaction: the caller commits before showing them."""
