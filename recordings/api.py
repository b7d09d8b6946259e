"""Recordings and transcripts: personal data, for supervisors and admins only, every access audited.

The audio is served with HTTP Range support (aiohttp's FileResponse answers `Range: bytes=...`
with 206 and `Content-Range`, and 416 for a range past the end), which is what lets a browser's
audio player seek. Each request is written to the recordings audit log before any byte is sent,
and refused attempts are logged too.
"""

from __future__ import annotations

from aiohttp import web

from hotline.errors import Forbidden, InvalidInput, NotFound
from hotline.web.auth import USER
from hotline.web.context import CONFIG, SESSIONS, query_int, query_time
from recordings.search import search_transcripts
from recordings.store import Actor, audit, recording_of_call, transcript_of_call

RECORDING_READERS = ("supervisor", "admin")

routes = web.RouteTableDef()

_CALL_ID = [{"name": "call_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
_WORD = {
    "type": "object",
    "properties": {"word": {"type": "string"}, "start": {"type": "number"},
                   "end": {"type": "number"}, "conf": {"type": "number"}},
}
OPENAPI_PATHS = {
    "/api/v1/calls/{call_id}/recording": {"get": {
        "summary": "The call's audio, seekable with Range requests (supervisor; audited)",
        "parameters": _CALL_ID + [{"name": "Range", "in": "header", "schema": {"type": "string"},
                                   "description": "bytes=START-END, bytes=START- or bytes=-SUFFIX"}],
        "responses": {"200": {"description": "The whole file", "content": {"audio/wav": {}}},
                      "206": {"description": "The requested byte range", "content": {"audio/wav": {}}},
                      "404": {"description": "No such call, or it has no recording"},
                      "416": {"description": "The range lies outside the file"}},
    }},
    "/api/v1/calls/{call_id}/transcript": {"get": {
        "summary": "The call's transcript: segments per speaker with vosk's word timings (supervisor; audited)",
        "parameters": _CALL_ID,
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
    "/api/v1/transcripts/search": {"get": {
        "summary": "Calls whose transcript contains a keyword, with the time of each hit (supervisor; audited)",
        "parameters": [
            {"name": name, "in": "query", "schema": {"type": "string"}, "description": text}
            for name, text in [
                ("q", "keyword (substring; spaces are ignored)"),
                ("hotline", "12345 or 12319"),
                ("agent", "the agent who took the call"),
                ("since", "ISO 8601; calls started at or after"),
                ("until", "ISO 8601; calls started before"),
                ("limit", "1-200 calls, default 50"),
            ]
        ],
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


# Call ids are INTEGER columns: a larger number makes PostgreSQL fail the query (and the audit
# entry) rather than find nothing.
_CALL_ID_MAX = 2**31 - 1


def _call_id(request: web.Request) -> int:
    raw = request.match_info["call_id"]
    # isdigit() alone accepts "²" and other Unicode digits, which int() then refuses.
    if not (raw.isascii() and raw.isdigit()) or int(raw) > _CALL_ID_MAX:
        raise InvalidInput(f"call id must be a number up to {_CALL_ID_MAX}, got {raw!r}", parameter="call_id")
    return int(raw)


@routes.get("/api/v1/calls/{call_id}/recording")
async def call_recording(request: web.Request) -> web.StreamResponse:
    """Stream the call's recording; Range requests give 206 partial content."""
    call_id = _call_id(request)
    await _reader(request, "recording.play", call_id, detail=request.headers.get("Range"))
    async with request.app[SESSIONS]() as session:
        recording = await recording_of_call(session, call_id)
    path = request.app[CONFIG].recordings_root / recording.path
    if not path.is_file():
        raise NotFound(f"the audio of call {call_id} is missing from the archive", call_id=call_id)
    return web.FileResponse(
        path,
        headers={
            # Personal data: no shared cache may keep a copy.
            "Cache-Control": "private, no-store",
            "Content-Disposition": f'inline; filename="call-{call_id}{path.suffix.lower()}"',
        },
    )


@routes.get("/api/v1/calls/{call_id}/transcript")
async def call_transcript(request: web.Request) -> web.Response:
    """The call's transcript, segment by segment, with word timings."""
    call_id = _call_id(request)
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
    }, headers={"Cache-Control": "private, no-store"})


@routes.get("/api/v1/transcripts/search")
async def transcripts_search(request: web.Request) -> web.Response:
    """Calls whose transcript contains `q`, newest first, with where each hit was said."""
    query = request.query.get("q", "")
    # PostgreSQL text cannot hold NUL: the audit entry keeps it escaped, the search refuses it.
    await _reader(request, "transcript.search", None, detail=f"q={query}".replace("\x00", "\\x00"))
    for name in ("q", "hotline", "agent"):
        if "\x00" in request.query.get(name, ""):
            raise InvalidInput(f"{name}: must not contain NUL characters", parameter=name)
    async with request.app[SESSIONS]() as session:
        matches = await search_transcripts(
            session,
            query,
            hotline=request.query.get("hotline") or None,
            agent=request.query.get("agent") or None,
            since=query_time(request, "since"),
            until=query_time(request, "until"),
            limit=query_int(request, "limit", 50, 1, 200),
        )
    return web.json_response({"calls": [m.to_json() for m in matches]}, headers={"Cache-Control": "private, no-store"})
