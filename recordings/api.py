"""Recordings and transcripts: personal data, for supervisors and admins only, every access audited.

The audio is served with HTTP Range support (RFC 9110 14: one `bytes=` range gives 206 and
`Content-Range`; a range outside the file a JSON 416; a Range header that is no single valid byte
range is ignored and the whole file sent), which is what lets a browser's audio player seek. Each
request is written to the recordings audit log before any byte is sent, and refused attempts are
logged too.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from multidict import CIMultiDict

from hotline.db.tables import MAX_ID
from hotline.db.users import Actor
from hotline.errors import Forbidden, NotFound, RangeNotSatisfiable
from hotline.web.auth import USER
from hotline.web.context import CONFIG, SESSIONS
from hotline.web.openapi import CALL_ID, Integer, Text, Time, read, specs
from recordings.marks import AuditRules, audit_marks
from recordings.search import search_transcripts
from recordings.store import audit, audit_entries, recording_of_call, transcript_of_call

RECORDING_READERS = ("supervisor", "admin")

routes = web.RouteTableDef()

SEARCH = (
    # The keyword must keep a character once whitespace is dropped (Python's and ECMAScript's
    # whitespace both), as `searchable` does.
    Text(name="q", required=True, description="keyword (substring; spaces are ignored)", example="道路",
         pattern="^[^\\x00]*[^\\s\\x00\\x1c-\\x1f\\x85\\ufeff][^\\x00]*$"),
    Text(name="hotline", description="12345 or 12319 (empty: every hotline)", example="12345"),
    Text(name="agent", description="the agent who took the call (empty: every agent)"),
    Time(name="since", description="calls started at or after this time"),
    Time(name="until", description="calls started before this time"),
    Integer(name="limit", low=1, high=200, default=50, description="calls at most"),
)
AUDIT_LOG = (
    Integer(name="before", low=1, high=MAX_ID, description="next_before of the previous page"),
    Integer(name="limit", low=1, high=200, default=50, description="entries per page"),
    Text(name="actor", description="only this user's entries (empty: everyone's)"),
    Integer(name="call_id", low=1, high=MAX_ID, description="only entries about this call"),
)
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_WORD = {
    "type": "object",
    "properties": {"word": {"type": "string"}, "start": {"type": "number"},
                   "end": {"type": "number"}, "conf": {"type": "number"}},
}
OPENAPI_PATHS = {
    "/api/v1/calls/{call_id}/recording": {"get": {
        "summary": "The call's audio, seekable with Range requests (supervisor; audited)",
        "parameters": specs([CALL_ID]) + [{
            "name": "Range", "in": "header", "schema": {"type": "string"},
            "description": "bytes=START-END, bytes=START- or bytes=-SUFFIX; anything else is ignored"}],
        "responses": {"200": {"description": "The whole file", "content": {"audio/wav": {}, "application/octet-stream": {}}},
                      "206": {"description": "The requested byte range",
                              "content": {"audio/wav": {}, "application/octet-stream": {}}},
                      "404": {"description": "No such call, or it has no recording", "content": _ERROR},
                      "416": {"description": "The range lies outside the file", "content": _ERROR}},
    }},
    "/api/v1/calls/{call_id}/transcript": {"get": {
        "summary": "The call's transcript: segments per speaker with vosk's word timings (supervisor; audited)",
        "parameters": specs([CALL_ID]),
        "responses": {"200": {"description": "The transcript", "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {
                "call_id": {"type": "integer"}, "recording_id": {"type": "integer"},
                "model": {"type": "string"}, "audio_seconds": {"type": "number"},
                "created_at": {"type": "string"},
                "segments": {"type": "array", "items": {"type": "object", "properties": {
                    "speaker": {"type": "string", "enum": ["caller", "agent", "mixed"]},
                    "start": {"type": "number"}, "end": {"type": "number"},
                    "text": {"type": "string"}, "words": {"type": "array", "items": _WORD},
                }}},
            },
        }}}},
                      "404": {"description": "No such call, no recording, or not transcribed yet"}},
    }},
    "/api/v1/calls/{call_id}/marks": {"get": {
        "summary": "Audit marks from the call's transcript: greeting, required and forbidden phrases, "
                   "each with its offset in the recording (supervisor; audited)",
        "parameters": specs([CALL_ID]),
        "responses": {"200": {"description": "The marks", "content": {"application/json": {"schema": {
            "type": "object", "required": ["call_id", "marks"],
            "properties": {"call_id": {"type": "integer"}, "marks": {"type": "array", "items": {
                "type": "object", "properties": {
                    "kind": {"type": "string", "enum": ["greeting", "required", "forbidden"]},
                    "phrase": {"type": ["string", "null"]}, "ok": {"type": "boolean"},
                    "offset": {"type": ["number", "null"]}, "speaker": {"type": ["string", "null"]}}}}},
        }}}},
                      "404": {"description": "No such call, no recording, or not transcribed yet", "content": _ERROR}},
    }},
    "/api/v1/recordings/audit": {"get": {
        "summary": "The recordings access audit, newest first, paged (supervisor; reading it is audited too)",
        "parameters": specs(AUDIT_LOG),
        "responses": {"200": {"description": "A page of entries", "content": {"application/json": {"schema": {
            "type": "object", "required": ["entries", "next_before"],
            "properties": {"next_before": {"type": ["integer", "null"]}, "entries": {"type": "array", "items": {
                "type": "object", "properties": {
                    "id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
                    "actor": {"type": "string"}, "role": {"type": ["string", "null"]},
                    "action": {"type": "string"}, "call_id": {"type": ["integer", "null"]},
                    "recording_id": {"type": ["integer", "null"]}, "remote": {"type": ["string", "null"]},
                    "detail": {"type": ["string", "null"]}}}}},
        }}}}},
    }},
    "/api/v1/transcripts/search": {"get": {
        "summary": "Calls whose transcript contains a keyword, with the time of each hit (supervisor; audited)",
        "parameters": specs(SEARCH),
        "responses": {"200": {"description": "Matching calls, newest first"}},
    }},
}


async def _reader(request: web.Request, action: str, call_id: int | None, detail: str | None = None) -> Actor:
    """The user, if a supervisor or admin; the access (or the refusal) goes to the audit log."""
    user = request[USER]
    actor = Actor.of_user(user, request.remote)
    allowed = user.role in RECORDING_READERS
    async with request.app[SESSIONS]() as session, session.begin():
        audit(session, actor, action if allowed else f"{action}.denied", call_id=call_id, detail=detail)
    if not allowed:
        raise Forbidden(f"role {user.role!r} may not access recordings", required=list(RECORDING_READERS))
    return actor


# RFC 9110 14.1.1: the unit is case-insensitive; one int-range or suffix-range. A set of several
# ranges is valid HTTP but only ever sent by clients we do not serve; it is ignored (200).
_BYTE_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.ASCII | re.IGNORECASE)
# What the archive holds: MixMonitor's WAV (WAV49 is GSM in a WAV container); anything else is
# sent as bytes.
AUDIO_TYPES = {".wav": "audio/wav", ".wav49": "audio/wav"}


def byte_range(header: str | None, size: int) -> str | None:
    """The `Range` to honour for a file of `size` bytes, normalised, or None to send it whole.

    RFC 9110 14.2: a Range that is not one valid byte range (bad syntax, last before first, other
    units, several ranges) may be ignored; a valid one that selects no byte of the file (first
    position past the end, a suffix of length 0) is unsatisfiable.
    """
    match = _BYTE_RANGE.fullmatch(header or "")
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first and last and int(last) < int(first):
        return None
    if (first and int(first) >= size) or (not first and (int(last) == 0 or size == 0)):
        raise RangeNotSatisfiable(f"the range {header!r} lies outside the {size} bytes of the file",
                                  range=header, size=size)
    return f"bytes={first}-{last}"


@routes.get("/api/v1/calls/{call_id}/recording")
async def call_recording(request: web.Request) -> web.StreamResponse:
    """Stream the call's recording; Range requests give 206 partial content."""
    call_id = CALL_ID.read(request)
    await _reader(request, "recording.play", call_id, detail=request.headers.get("Range"))
    async with request.app[SESSIONS]() as session:
        recording = await recording_of_call(session, call_id)
    path = request.app[CONFIG].recordings_root / recording.path
    if not path.is_file():
        raise NotFound(f"the audio of call {call_id} is missing from the archive", call_id=call_id)
    return _Audio(
        path,
        byte_range(request.headers.get("Range"), path.stat().st_size),
        headers={
            "Content-Type": AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream"),
            "Content-Disposition": f'inline; filename="call-{call_id}{path.suffix.lower()}"',
        },
    )


class _Audio(web.FileResponse):
    """A file served with only the byte range `byte_range` decided on.

    FileResponse reads the Range header itself and answers bad syntax with an empty 416, so it
    is shown a request whose Range is the normalised one, or none.
    """

    def __init__(self, path: Path, honoured: str | None, headers: dict[str, str]) -> None:
        super().__init__(path, headers=headers)
        self.honoured = honoured

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        headers = CIMultiDict(request.headers)
        headers.popall("Range", None)
        if self.honoured is not None:
            headers["Range"] = self.honoured
        return await super().prepare(request.clone(headers=headers))


@routes.get("/api/v1/calls/{call_id}/transcript")
async def call_transcript(request: web.Request) -> web.Response:
    """The call's transcript, segment by segment, with word timings."""
    call_id = CALL_ID.read(request)
    await _reader(request, "transcript.read", call_id)
    async with request.app[SESSIONS]() as session:
        transcript = await transcript_of_call(session, call_id)
    return web.json_response({
        "call_id": call_id,
        "recording_id": transcript.recording_id,
        "model": transcript.model,
        "audio_seconds": transcript.audio_seconds,
        "created_at": transcript.created_at.isoformat(),
        "segments": [
            {"speaker": s.speaker, "start": s.start, "end": s.end, "text": s.text, "words": s.words}
            for s in transcript.segments
        ],
    })


@routes.get("/api/v1/transcripts/search")
async def transcripts_search(request: web.Request) -> web.Response:
    """Calls whose transcript contains `q`, newest first, with where each hit was said."""
    raw = request.query.get("q", "")
    # PostgreSQL text cannot hold NUL: the audit entry keeps it escaped, the search refuses it.
    await _reader(request, "transcript.search", None, detail=f"q={raw}".replace("\x00", "\\x00"))
    query = read(request, SEARCH)
    async with request.app[SESSIONS]() as session:
        matches = await search_transcripts(
            session,
            query["q"],
            hotline=query["hotline"] or None,
            agent=query["agent"] or None,
            since=query["since"],
            until=query["until"],
            limit=query["limit"],
        )
    return web.json_response({"calls": [m.to_json() for m in matches]})


@routes.get("/api/v1/calls/{call_id}/marks")
async def call_marks(request: web.Request) -> web.Response:
    """The audit marks of the call's transcript under the centre's `[audit]` rules."""
    call_id = CALL_ID.read(request)
    await _reader(request, "transcript.read", call_id, detail="marks")
    async with request.app[SESSIONS]() as session:
        transcript = await transcript_of_call(session, call_id)
    config = request.app[CONFIG]
    rules = AuditRules(config.audit_greetings, config.audit_greeting_seconds, config.audit_required,
                       config.audit_forbidden)
    segments = [{"speaker": s.speaker, "start": s.start, "text": s.text, "words": s.words}
                for s in transcript.segments]
    return web.json_response({"call_id": call_id, "marks": [m.to_json() for m in audit_marks(segments, rules)]})


@routes.get("/api/v1/recordings/audit")
async def audit_log(request: web.Request) -> web.Response:
    """Who listened to or read what, newest first."""
    query = read(request, AUDIT_LOG)
    await _reader(request, "audit.read", None)
    async with request.app[SESSIONS]() as session:
        entries, next_before = await audit_entries(
            session, before=query["before"], limit=query["limit"], actor=query["actor"] or None,
            call_id=query["call_id"],
        )
    return web.json_response({
        "entries": [
            {"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "role": e.role, "action": e.action,
             "call_id": e.call_id, "recording_id": e.recording_id, "remote": e.remote, "detail": e.detail}
            for e in entries
        ],
        "next_before": next_before,
    })
