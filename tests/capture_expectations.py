"""The calls each real capture must yield, written by reading the capture, not by running code.

Times are seconds since the replay base: a capture's frame arriving `t` seconds after connect is
fed at `base + t` (here by `replay_into`; in the end-to-end test the fake Asterisk stamps it with
`Timestamp: base + t`). `expected_calls` turns a capture's records into what `Call.to_dict()`
gives for a base time. Message numbers (`#n`) index `received_frames(name)`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from hotline.calls import Call, CallTracker
from tests.captures import received_frames

PBX = "main"
# The default mapping (hotline.config), plus 12300: the capture system's queue entry for 12345
# (its dialplan sets HOTLINE=${EXTEN}).
HOTLINES = {"12345": "12345", "68912345": "12345", "12319": "12319", "12300": "12345"}
MONITOR = "/opt/asterisk/var/spool/asterisk/monitor/"
TIMES = ("started_at", "answered_at", "ended_at")

EXPECTED: dict[str, list[dict[str, Any]]] = {
    # IVR call: the dialplan answers (#14 ;2 Up), the citizen presses 2 and hangs up (#60 ;1,
    # cause 16), the last leg goes at #63.
    "c-hotline-inbound-call": [{
        "pbx": PBX, "linkedid": "1795811542.876", "hotline": "12345",
        "caller_number": "0612345678", "caller_name": "Citizen",
        "started_at": 0.302528, "answered_at": 0.303076, "ended_at": 9.757489,
        "wait_seconds": 0.000548, "talk_seconds": 9.454413,
        "status": "ended", "disposition": "answered",
        "hangup_cause": 16, "hangup_cause_text": "Normal Clearing",
        "queue": None, "agent": None, "recording": MONITOR + "1795811542.877.wav",
        "survey_case": None,
    }],
    # Queue call: answered by the dialplan (#15), queued at #37 (wait starts over), AgentConnect
    # at #64 (talk 3.32879 s, Asterisk's ANSWEREDTIME_MS says 3328), last Hangup #103.
    "d-queue-call-agent-answers": [{
        "pbx": PBX, "linkedid": "1795811555.878", "hotline": "12345",
        "caller_number": "0698765432", "caller_name": "Queue Caller",
        "started_at": 0.30311, "answered_at": 1.807595, "ended_at": 5.136385,
        "wait_seconds": 1.504485, "talk_seconds": 3.32879,
        "status": "ended", "disposition": "answered",
        "hangup_cause": 16, "hangup_cause_text": "Normal Clearing",
        "queue": "hotline", "agent": "Agent One", "recording": MONITOR + "1795811555.879.wav",
        "survey_case": None,
    }],
    # The same queue call, but the citizen hangs up while talking (#76 ;1 Hangup(), cause 16 at
    # #81): answered at AgentConnect (#66), the last leg, the agent's ;2, goes at #102.
    "f-queue-call-caller-hangs-up": [{
        "pbx": PBX, "linkedid": "1796135248.0", "hotline": "12345",
        "caller_number": "0698765432", "caller_name": "Queue Caller",
        "started_at": 0.306271, "answered_at": 1.810668, "ended_at": 3.31082,
        "wait_seconds": 1.504397, "talk_seconds": 1.500152,
        "status": "ended", "disposition": "answered",
        "hangup_cause": 16, "hangup_cause_text": "Normal Clearing",
        "queue": "hotline", "agent": "Agent One",
        "recording": "/tmp/tt/pbx/spool/monitor/1796135248.1.wav",
        "survey_case": None,
    }],
    # Survey callback: the citizen answers (#19 ;2 Up); the survey hangs up, the first leg
    # reports cause 0 (#73), the last leg goes at #76. No HOTLINE variable, extension `s`.
    "e-callback-survey": [{
        "pbx": PBX, "linkedid": "1795811296.42", "hotline": None,
        "caller_number": "12319", "caller_name": "Hotline",
        "started_at": 0.30333, "answered_at": 0.303919, "ended_at": 7.825523,
        "wait_seconds": 0.000589, "talk_seconds": 7.521604,
        "status": "ended", "disposition": "answered",
        "hangup_cause": 0, "hangup_cause_text": "Unknown",
        "queue": None, "agent": None, "recording": None,
        "survey_case": "CASE-2024-0001",
    }],
    # A caller waits in the queue (member paused) and hangs up: the citizen's ;1 goes at #55
    # (cause 16), QueueCallerAbandon at #54, the last leg at #61. Never answered.
    "h-queue-caller-abandons": [{
        "pbx": PBX, "linkedid": "1796135467.0", "hotline": "12345",
        "caller_number": "0655555555", "caller_name": "Impatient Caller",
        "started_at": 0.609638, "answered_at": None, "ended_at": 3.612999,
        "wait_seconds": 3.003361, "talk_seconds": 0.0,
        "status": "ended", "disposition": "abandoned",
        "hangup_cause": 16, "hangup_cause_text": "Normal Clearing",
        "queue": "hotline", "agent": None,
        "recording": "/tmp/tt/pbx/spool/monitor/1796135467.1.wav",
        "survey_case": None,
    }],
    # A caller waits in the queue (member paused) and is hung up by AMI: QueueCallerAbandon
    # (#83), Hangup ;1 (#90, cause 16), Hangup ;2 (#92). CoreShowChannel/Status events in
    # between change nothing.
    "g-action-responses": [{
        "pbx": PBX, "linkedid": "1795811307.44", "hotline": "12345",
        "caller_number": "0633333333", "caller_name": "Waiting Citizen",
        "started_at": 0.303345, "answered_at": None, "ended_at": 1.813127,
        "wait_seconds": 1.509782, "talk_seconds": 0.0,
        "status": "ended", "disposition": "abandoned",
        "hangup_cause": 16, "hangup_cause_text": "Normal Clearing",
        "queue": "hotline", "agent": None, "recording": MONITOR + "1795811307.45.wav",
        "survey_case": None,
    }],
}


def expected_calls(name: str, base: datetime) -> list[dict[str, Any]]:
    """The `Call.to_dict()` records capture `name` must yield when replayed from `base`."""
    return [
        record | {
            key: (base + timedelta(seconds=record[key])).isoformat()
            for key in TIMES
            if record[key] is not None
        }
        for record in EXPECTED[name]
    ]


def replay_into(tracker: CallTracker, name: str, base: datetime) -> list[Call]:
    """Feed every event of capture `name` to `tracker` at `base + t`; return the calls it
    changed, in the order they first changed, as they stand at the end."""
    return feed_all(
        tracker,
        ((base + timedelta(seconds=frame.t), event)
         for frame in received_frames(name)
         if "Event" in (event := frame.as_dict())),
    )


def feed_all(
    tracker: CallTracker, events: Iterable[tuple[datetime, Mapping[str, Any]]]
) -> list[Call]:
    """Feed `(at, event)` pairs in order; return the calls changed, in order of first change."""
    calls: dict[str, Call] = {}
    for at, event in events:
        call = tracker.feed(event, at)
        if call is not None:
            calls.setdefault(call.linkedid, call)
    return list(calls.values())
