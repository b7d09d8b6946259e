"""Call tracking: AMI events in, calls out. Pure: no I/O and no clock, the caller passes the time.

A call is every channel ("leg") that shares one Asterisk Linkedid on one PBX. `CallTracker.feed`
applies one event and returns the call it changed; the caller saves and publishes it. A call
leaves the tracker's memory once it has ended (it is returned that one last time), so memory
follows the number of calls in progress, not the traffic.

Asterisk behaviours relied on, as recorded from Asterisk 22.10.1 (tests/fixtures/ami, `#n` is
the message index in a capture):

- Every channel starts with `Newchannel`; its `Linkedid` is the `Uniqueid` of the oldest channel
  of the call, the `;1` side of a Local pair (c #4, #5). Later channels of the call (queue
  members, dialled parties) are created with the caller's Linkedid (d #39, #40). A leg stays with
  the call it was created in, even if a bridge or transfer later changes its Linkedid.
- Events carry no time (`timestampevents=no`), hence the `at` argument everywhere.
- `CallerIDNum`/`CallerIDName` read `<unknown>` in `Newchannel` and arrive in `NewCallerid`
  (c #4, #7). The caller is what the first leg (Uniqueid == Linkedid) shows.
- The dialplan's `Answer()` is a `Newstate` to `Up` (c #14): an IVR-only call is answered then.
- `Queue()` after `Answer()`: `QueueCallerJoin` (d #37); the queue rings members with
  `DialBegin`/`DialEnd` whose `Channel` is the caller (d #49, #57); `QueueCallerLeave` comes
  *before* `AgentConnect` (d #60, #64), so leaving the queue says nothing about the outcome;
  `AgentConnect` is when the agent takes the call (queue wait = QUEUEWAIT_MS, talk =
  ANSWEREDTIME_MS, d #63, #93). A queued caller hung up, even by an AMI `Hangup`, gives
  `QueueCallerAbandon`, `QueueCallerLeave`, then the `Hangup`s (g #83, #85, #90, #92).
- The dial an `Originate` makes has `DialBegin`/`DialEnd` with only `Dest*` fields (c #15, #17);
  a dialplan `Dial()` also has the caller's fields. `DialEnd`'s `DialStatus` tells ANSWER, BUSY,
  NOANSWER, CANCEL, CONGESTION or CHANUNAVAIL.
- `OriginateResponse` `Failure` names the dial string, not the channel (`Uniqueid: <unknown>`),
  and panoramisk hands it to the Originate action rather than to event handlers, so it is used
  only when it arrives while the originated channel is still alive.
- `Hangup` (with `Cause`/`Cause-txt`) is the last event of a channel; the call ends with its last
  leg. `Cdr` is not used: it may come before its channel's `Hangup` (c #56, #60) and after the
  call ended (d #90, #92). `MixMonitorStart` carries no file name; `VarSet MIXMONITOR_FILENAME`
  does (c #28, #29). `CoreShowChannel` gives `Duration` as H:MM:SS and the running `Application`
  (g #46, #47).

Rules chosen on that basis:

- Answer: a leg going Up answers a ringing call ("answered by the dialplan", e.g. an IVR). When
  the dialplan then hands the call to a queue or a Dial(), the wait starts over (answered_at
  goes back to None) unless a person has already answered; `AgentConnect` or the dialled
  party's `DialEnd ANSWER` then answer it for good. So a queue call's wait ends when the agent
  takes it.
- Disposition when the last leg hangs up: "answered" if answered; "abandoned" if the call was
  still queued (the caller hung up waiting, or the queue timed out); else what the latest
  Dial()/Originate result said (NOANSWER and CANCEL "missed", BUSY "busy", CONGESTION and
  CHANUNAVAIL "failed"; Reason 3 "missed", 5 "busy", others "failed"); else the first leg's
  hangup cause (17 "busy"; 0, 16, 18, 19, 31 or none "missed"; others "failed").
- Hangup cause and caller: those of the first leg (Uniqueid == Linkedid, else the oldest known).
- Hotline: the HOTLINE variable mapped through `hotlines` (an unmapped value kept as is), else
  the first dialled extension `hotlines` knows, else None (the survey callback of capture e).
- Reconcile (after a reconnect): a call with no live channel left is closed at the reconcile
  time, "answered" if its answer had been seen (only its end is late), else "lost"; a live
  channel of an unknown call starts one `Duration` ago; it is queued if it runs Queue() without
  a bridge, answered at the reconcile time if it is Up or bridged by Queue() (the real answer
  time is unknown); the HOTLINE, MIXMONITOR_FILENAME and CASE_ID variables a `Status` lists on
  the live channels (g: `Variable: HOTLINE=12300`) count as if their `VarSet` had been seen.
- Odd input never raises: events without the fields needed, for unknown channels, repeated
  (`Newchannel`, `Hangup`) or late (`Cdr`, `Hangup` after the end) are ignored; a `Hangup`
  before its `Newchannel` and the Linkedid of an ended call are remembered (a bounded number)
  so that neither a late `Newchannel` nor a channel a later reconcile lists reopens them.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

RINGING, QUEUED, ANSWERED, ENDED = "ringing", "queued", "answered", "ended"

# Who answered. A call answered by the dialplan alone (IVR) waits again when the dialplan hands
# it to a queue or a Dial(); one a person answered stays answered.
BY_DIALPLAN, BY_AGENT, BY_CALLEE = "dialplan", "agent", "callee"
_PEOPLE = (BY_AGENT, BY_CALLEE)
DIALPLAN, ORIGINATE = "dialplan", "originate"

# The fields of `Call.to_dict`, in order.
CALL_FIELDS = (
    "pbx", "linkedid", "hotline", "caller_number", "caller_name", "started_at", "answered_at",
    "ended_at", "wait_seconds", "talk_seconds", "status", "disposition", "hangup_cause",
    "hangup_cause_text", "queue", "agent", "recording", "survey_case",
)

DIAL_OUTCOMES = {
    "NOANSWER": "missed", "CANCEL": "missed", "BUSY": "busy",
    "CONGESTION": "failed", "CHANUNAVAIL": "failed",
}
# OriginateResponse `Reason` is the last control frame seen: 3 ringing (no answer), 5 busy;
# 0 (no channel), 1 (hung up) and 8 (congestion) mean the call could not be placed.
ORIGINATE_OUTCOMES = {"3": "missed", "5": "busy"}
# Q.850 causes of an unanswered call with no other evidence: 17 is busy; these mean it rang (or
# was dropped) without being picked up (0 is what Local channels report, e #73); any other cause
# means it could not be placed.
BUSY_CAUSE = 17
UNANSWERED_CAUSES = frozenset({0, 16, 18, 19, 31})

# Channel variables the dialplan sets, and the call attribute each one fills.
CALL_VARIABLES = {
    "HOTLINE": "hotline", "MIXMONITOR_FILENAME": "recording", "CASE_ID": "survey_case",
}

# How many ended Linkedids (and hung-up unknown Uniqueids) are remembered so that a late or
# out-of-order `Newchannel` cannot open a call that would never end. Bounded: memory stays flat.
TOMBSTONES = 1024

UNKNOWN = "<unknown>"


@dataclass(slots=True)
class Leg:
    """One Asterisk channel of a call."""

    uniqueid: str
    channel: str
    state: str | None  # AMI ChannelStateDesc: Down, Ring, Ringing, Up, ...
    created_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    cause: int | None = None
    cause_text: str | None = None
    # Bookkeeping: DIALPLAN if a Dial() rang this leg, ORIGINATE if an Originate did; its DialEnd
    # then tells the call's outcome. Legs a queue rings stay None: the queue decides.
    dialled_by: str | None = None


@dataclass(slots=True, kw_only=True)
class Call:
    """One call: the legs sharing a Linkedid on one PBX, and what the hotline cares about."""

    pbx: str
    linkedid: str
    started_at: datetime
    hotline: str | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wait_seconds: float | None = None
    talk_seconds: float | None = None
    status: str = RINGING
    disposition: str | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None
    queue: str | None = None
    agent: str | None = None
    recording: str | None = None
    survey_case: str | None = None
    legs: dict[str, Leg] = field(default_factory=dict)
    # Bookkeeping, not part of the record: who answered, whether a queue holds the caller now,
    # and the disposition the latest Dial/Originate result gives if the call ends unanswered.
    answered_by: str | None = None
    in_queue: bool = False
    pending_disposition: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The call record, JSON-ready (ISO 8601 times), without legs or bookkeeping."""
        return call_record(self)


def call_record(call: Any) -> dict[str, Any]:
    """The CALL_FIELDS of `call` (tracked here or stored in the database), JSON-ready."""
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name in CALL_FIELDS
        for value in (getattr(call, name),)
    }


def originate_disposition(reason: str | None) -> str:
    """The disposition of a failed Originate from its OriginateResponse `Reason`."""
    return ORIGINATE_OUTCOMES.get(reason or "", "failed")


def _text(event: Mapping[str, Any], key: str) -> str | None:
    """Header `key` as text, None if absent or empty; a repeated header (a list in panoramisk)
    gives its first value."""
    value = event.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or value == "":
        return None
    return str(value)


def _caller(value: str | None) -> str | None:
    return None if value == UNKNOWN else value


def _state(event: Mapping[str, Any], prefix: str = "") -> str | None:
    state = _text(event, prefix + "ChannelStateDesc")
    # A handful of distinct values on thousands of legs: share one string each.
    return sys.intern(state) if state is not None else None


def _cause(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _duration(value: str | None) -> timedelta:
    """CoreShowChannel `Duration` (H:MM:SS, hours may exceed 24); zero if unreadable."""
    try:
        hours, minutes, seconds = (int(part) for part in (value or "").split(":"))
    except ValueError:
        return timedelta(0)
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _seconds(later: datetime, earlier: datetime) -> float:
    # Never negative, even if the caller's clock stepped back between two events.
    return max(0.0, (later - earlier).total_seconds())


def _unanswered(call: Call) -> str:
    """How a call that ends unanswered is counted."""
    if call.status == QUEUED:
        # Still queued at its end: the caller hung up waiting (QueueCallerAbandon, g #83) or
        # the queue timed out and the dialplan ended the call; either way it left unanswered.
        return "abandoned"
    if call.pending_disposition is not None:
        return call.pending_disposition
    if call.hangup_cause == BUSY_CAUSE:
        return "busy"
    if call.hangup_cause is None or call.hangup_cause in UNANSWERED_CAUSES:
        return "missed"
    return "failed"


def _times_as_utc(record: Call | Leg, *names: str) -> None:
    """Stored times without an offset are UTC (SQLite drops it); make them comparable with the
    aware times events come with."""
    for name in names:
        moment = getattr(record, name)
        if moment is not None and moment.tzinfo is None:
            setattr(record, name, moment.replace(tzinfo=timezone.utc))


class CallTracker:
    """The calls in progress on one PBX, advanced one AMI event at a time."""

    def __init__(self, pbx: str, hotlines: Mapping[str, str]) -> None:
        """`hotlines` maps a dialled number (or a HOTLINE variable value) to its hotline."""
        self.pbx = pbx
        self.hotlines = dict(hotlines)
        self._calls: dict[str, Call] = {}
        self._owners: dict[str, Call] = {}  # Uniqueid -> call
        self._tombstones: OrderedDict[str, None] = OrderedDict()
        self._handlers: dict[str, Callable[[Mapping[str, Any], datetime], Call | None]] = {
            "Newchannel": self._on_newchannel,
            "Newstate": self._on_newstate,
            "NewCallerid": self._on_newcallerid,
            "Newexten": self._on_newexten,
            "VarSet": self._on_varset,
            "DialBegin": self._on_dialbegin,
            "DialEnd": self._on_dialend,
            "QueueCallerJoin": self._on_queuecallerjoin,
            "QueueCallerLeave": self._on_queuecallerleave,
            "AgentConnect": self._on_agentconnect,
            "Hangup": self._on_hangup,
            "OriginateResponse": self._on_originateresponse,
        }

    def feed(self, event: Mapping[str, Any], at: datetime) -> Call | None:
        """Apply one AMI event that happened at `at`; return the call it changed, if any.

        Never raises on odd input: unknown events, missing fields, channels never seen, events
        out of order or repeated are ignored. An ended call is returned once, then forgotten.
        """
        handler = self._handlers.get(_text(event, "Event") or "")
        return handler(event, at) if handler is not None else None

    def reconcile(
        self,
        channels: Sequence[Mapping[str, Any]],
        at: datetime,
        variables: Mapping[str, Mapping[str, str]] | None = None,
    ) -> list[Call]:
        """Catch up after a (re)connect with the live channels (`CoreShowChannel` events) and
        the CALL_VARIABLES set on them (`variables`: Uniqueid -> name -> value).

        A tracked call none of whose channels is alive any more ended while the link was down:
        it is closed at `at`, "answered" if its answer had been seen (the service was given; only
        its end time is late), otherwise "lost". Live channels of calls not tracked start a call
        that began `Duration` ago. The variables fill in what `VarSet` events missed while the
        link was down would have (the hotline, the recording). Returns every call changed.
        """
        live = {uniqueid: channel for channel in channels
                if (uniqueid := _text(channel, "Uniqueid")) is not None}
        live_linkedids = {_text(channel, "Linkedid") for channel in live.values()}
        changed: dict[str, Call] = {}
        for call in list(self._calls.values()):
            for leg in call.legs.values():
                if leg.ended_at is None and leg.uniqueid not in live:
                    leg.ended_at = at
                    changed[call.linkedid] = call
            if call.linkedid not in live_linkedids and all(
                leg.ended_at is not None for leg in call.legs.values()
            ):
                self._end(call, at, lost=True)
                changed[call.linkedid] = call
        for uniqueid, channel in live.items():
            call = self._adopt(uniqueid, channel, at)
            if call is not None:
                changed[call.linkedid] = call
        for uniqueid, values in (variables or {}).items():
            call = self._owners.get(uniqueid)
            if call is None:
                continue
            for name, value in values.items():
                if self._set_variable(call, name, value):
                    changed[call.linkedid] = call
        return list(changed.values())

    def restore(self, calls: Iterable[Call]) -> None:
        """Take back the calls in progress a previous run left in the database (daemon restart).

        Call `reconcile` afterwards: it closes those that ended while the daemon was away.
        """
        for call in calls:
            if call.ended_at is not None or call.linkedid in self._calls:
                continue
            _times_as_utc(call, "started_at", "answered_at")
            for leg in call.legs.values():
                _times_as_utc(leg, "created_at", "answered_at", "ended_at")
                self._owners[leg.uniqueid] = call
            # The database keeps the record, not the bookkeeping: rebuild what can be.
            call.in_queue = call.status == QUEUED
            if call.answered_at is not None:
                call.answered_by = BY_AGENT if call.agent else BY_DIALPLAN
            self._calls[call.linkedid] = call

    def active(self) -> list[Call]:
        """The calls in progress."""
        return list(self._calls.values())

    # -- events ---------------------------------------------------------------------------

    def _on_newchannel(self, event: Mapping[str, Any], at: datetime) -> Call | None:
        uniqueid = _text(event, "Uniqueid")
        if uniqueid is None or uniqueid in self._owners or uniqueid in self._tombstones:
            return None
        linkedid = _text(event, "Linkedid") or uniqueid
        if linkedid in self._tombstones:
            return None
        call = self._open(linkedid, at)
        leg = self._add_leg(call, uniqueid, event, at)
        self._note_caller(call, leg, event)
        self._note_exten(call, event)
        self._set_state(call, leg, leg.state, at)
        return call

    def _on_newstate(self, event: Mapping[str, Any], at: datetime) -> Call | None:
        found = self._find(event, at)
        if found is None:
            return None
        call, leg = found
        return call if self._set_state(call, leg, _state(event), at) else None

    def _on_newcallerid(self, event: Mapping[str, Any], at: datetime) -> Call | None:
        found = self._find(event, at)
        return found[0] if found is not None and self._note_caller(*found, event) else None

    def _on_newexten(self, event: Mapping[str, Any], at: datetime) -> Call | None:
        found = self._find(event, at)
        return found[0] if found is not None and self._note_exten(found[0], event) else None

    def _on_varset(self, event: Mapping[str, Any], at: datetime) -> Call | None:
        name = _text(event, "Variable") or ""
        value = _text(event, "Value")
        found = self._find(event, at) if name in CALL_VARIABLES and value is not None else None
        if found is None or not self._set_variable(found[0], name, value):
            return None
        return found[0]

    def _on_dialbegin(self, event: Mapping[str, Any], at: datetime) -> Call | None:
        found = self._find(event, at, "Dest")
        if found is None:
            return None
        call, leg = found
        if _text(event, "Uniqueid") is None:
            # The Originate's own dial (only Dest* fields): the call starts with it.
            leg.dialled_by = ORIGINATE
            return call
        if call.in_queue:
            return None  # the queue ringing a member: AgentConnect or the end decides
        leg.dialled_by = DIALPLAN
        self._reopen(call, RINGING)
        return call

    def _on_dialend(self, event: Mapping[str, Any], at: datetime) -> Call | None:
        found = self._find(event, at, "Dest")
        status = _text(event, "DialStatus")
        if found is None or found[1].dialled_by is None or status is None:
            return None
        call, leg = found
        if status == "ANSWER":
            # An Originate's answer is its leg going Up (d #17 before #19), already applied: for
            # a call placed to reach the hotline's dialplan it is not a person answering.
            if leg.dialled_by == ORIGINATE:
                return None
            return call if self._answer(call, at, BY_CALLEE) else None
        if call.answered_by in _PEOPLE:
            return None
        call.pending_disposition = DIAL_OUTCOMES.get(status, "failed")
        return call

    def _on_queuecallerjoin(self, event: Mapping[str, Any], at: datetime) -> Call | None:
        found = self._find(event, at)
        if found is None or not self._join(found[0], _text(event, "Queue")):
            return None
        return found[0]

    def _on_queuecallerleave(self, event: Mapping[str, Any], at: datetime) -> Call | None:
        # The call stays "queued" (see the module notes): only stop ignoring its dials, so an
        # overflow Dial() after a queue timeout counts.
        found = self._find(event, at)
        if found is None or not found[0].in_queue:
            return None
        found[0].in_queue = False
        return found[0]

    def _on_agentconnect(self, event: Mapping[str, Any], at: datetime) -> Call | None:
        found = self._find(event, at)
        if found is None or found[0].answered_by in _PEOPLE:
            return None
        call = found[0]
        call.agent = _text(event, "MemberName") or _text(event, "Interface")
        call.queue = _text(event, "Queue") or call.queue
        self._answer(call, at, BY_AGENT)
        return call

    def _on_hangup(self, event: Mapping[str, Any], at: datetime) -> Call | None:
        found = self._find(event, at)
        if found is None:
            # A Hangup before its Newchannel: keep the late Newchannel from opening a call.
            uniqueid = _text(event, "Uniqueid")
            if uniqueid is not None:
                self._bury(uniqueid)
            return None
        call, leg = found
        if leg.ended_at is not None:
            return None  # a repeated Hangup
        leg.ended_at = at
        leg.cause = _cause(_text(event, "Cause"))
        leg.cause_text = _text(event, "Cause-txt")
        if all(other.ended_at is not None for other in call.legs.values()):
            self._end(call, at)
        return call

    def _on_originateresponse(self, event: Mapping[str, Any], at: datetime) -> Call | None:
        if _text(event, "Response") != "Failure":
            return None  # success: the channel's own events already told the answer
        call = self._owners.get(_text(event, "Uniqueid") or "") or self._originated(
            _text(event, "Channel")
        )
        if call is None or call.answered_by in _PEOPLE:
            return None
        call.pending_disposition = originate_disposition(_text(event, "Reason"))
        return call

    # -- transitions ----------------------------------------------------------------------

    def _find(
        self, event: Mapping[str, Any], at: datetime, prefix: str = ""
    ) -> tuple[Call, Leg] | None:
        """The call and leg an event is about (its `<prefix>Uniqueid`). A channel never seen
        but carrying the Linkedid of a tracked call (a call restored from the database, a
        Newchannel missed) joins that call."""
        uniqueid = _text(event, prefix + "Uniqueid")
        if uniqueid is None:
            return None
        call = self._owners.get(uniqueid)
        if call is not None:
            return call, call.legs[uniqueid]
        call = self._calls.get(_text(event, prefix + "Linkedid") or "")
        if call is None:
            return None
        return call, self._add_leg(call, uniqueid, event, at, prefix)

    def _open(self, linkedid: str, at: datetime) -> Call:
        """The tracked call `linkedid`, started at `at` if it is new."""
        call = self._calls.get(linkedid)
        if call is None:
            call = self._calls[linkedid] = Call(pbx=self.pbx, linkedid=linkedid, started_at=at)
        return call

    def _add_leg(self, call: Call, uniqueid: str, event: Mapping[str, Any], created_at: datetime,
                 prefix: str = "") -> Leg:
        channel = _text(event, prefix + "Channel") or ""
        leg = Leg(uniqueid, channel, _state(event, prefix), created_at)
        call.legs[uniqueid] = leg
        self._owners[uniqueid] = call
        return leg

    def _adopt(self, uniqueid: str, channel: Mapping[str, Any], at: datetime) -> Call | None:
        """Bring one live channel (a `CoreShowChannel`) into the tracker; return its call if
        that changed it."""
        call = self._owners.get(uniqueid)
        changed = call is None
        if call is None:
            linkedid = _text(channel, "Linkedid") or uniqueid
            if uniqueid in self._tombstones or linkedid in self._tombstones:
                return None  # a channel of an ended call: like a late Newchannel, it reopens nothing
            created_at = at - _duration(_text(channel, "Duration"))
            call = self._open(linkedid, created_at)
            call.started_at = min(call.started_at, created_at)
            leg = self._add_leg(call, uniqueid, channel, created_at)
            self._note_caller(call, leg, channel)
            self._note_exten(call, channel)
        else:
            leg = call.legs[uniqueid]
        if _text(channel, "Application") == "Queue":
            # ApplicationData is Queue()'s arguments: the queue name, then options (g #47).
            queue = (_text(channel, "ApplicationData") or "").split(",")[0] or None
            if _text(channel, "BridgeId") is None:
                changed = self._join(call, queue) or changed  # waiting: no bridge yet (g #46)
            elif call.answered_by not in _PEOPLE:
                # Queue() stays the caller's application while it bridges the caller with the
                # agent who took the call.
                call.queue = queue or call.queue
                changed = self._answer(call, at, BY_AGENT) or changed
        return call if self._set_state(call, leg, _state(channel), at) or changed else None

    def _set_state(self, call: Call, leg: Leg, state: str | None, at: datetime) -> bool:
        changed = state is not None and state != leg.state
        leg.state = state or leg.state
        # Keyed on the leg's answer, not on a state change: a leg first seen already Up (joined
        # late, or adopted after a reconnect) still answers the call.
        if leg.state == "Up" and leg.answered_at is None:
            leg.answered_at = at
            changed = True
            if call.status == RINGING:
                self._answer(call, at, BY_CALLEE if leg.dialled_by == DIALPLAN else BY_DIALPLAN)
        return changed

    def _note_caller(self, call: Call, leg: Leg, event: Mapping[str, Any]) -> bool:
        if leg is not self._first_leg(call):
            return False
        caller = (_caller(_text(event, "CallerIDNum")), _caller(_text(event, "CallerIDName")))
        if caller == (call.caller_number, call.caller_name):
            return False
        call.caller_number, call.caller_name = caller
        return True

    def _note_exten(self, call: Call, event: Mapping[str, Any]) -> bool:
        # The dialled number names the hotline until the dialplan sets HOTLINE, which wins.
        hotline = self.hotlines.get(_text(event, "Exten") or "")
        if call.hotline is not None or hotline is None:
            return False
        call.hotline = hotline
        return True

    def _set_variable(self, call: Call, name: str, value: str) -> bool:
        """Note a CALL_VARIABLES value the dialplan set; True if it changed the call."""
        attribute = CALL_VARIABLES.get(name)
        if attribute is None:
            return False
        if attribute == "hotline":
            value = self.hotlines.get(value, value)
        if getattr(call, attribute) == value:
            return False
        setattr(call, attribute, value)
        return True

    def _answer(self, call: Call, at: datetime, by: str) -> bool:
        if call.answered_by in _PEOPLE:
            return False
        call.answered_at = call.answered_at or at
        call.answered_by = by
        call.status = ANSWERED
        call.in_queue = False
        return True

    def _reopen(self, call: Call, status: str) -> bool:
        """The dialplan hands the call to a queue or a Dial(): unless a person already answered
        it, it waits again (an IVR answer does not count as the hotline answering)."""
        if call.answered_by in _PEOPLE or (call.status == status and call.answered_at is None):
            return False
        call.answered_at = call.answered_by = None
        call.status = status
        return True

    def _join(self, call: Call, queue: str | None) -> bool:
        changed = not call.in_queue or (queue is not None and queue != call.queue)
        call.in_queue = True
        call.queue = queue or call.queue
        return self._reopen(call, QUEUED) or changed

    def _end(self, call: Call, at: datetime, lost: bool = False) -> None:
        """Close the call at `at` (its last leg hung up, or reconcile found none alive) and
        forget it."""
        first = self._first_leg(call)
        if first is not None:
            call.hangup_cause, call.hangup_cause_text = first.cause, first.cause_text
        if call.answered_at is not None:
            call.disposition = ANSWERED
        else:
            call.disposition = "lost" if lost else _unanswered(call)
        call.ended_at = at
        call.status = ENDED
        call.wait_seconds = _seconds(call.answered_at or at, call.started_at)
        call.talk_seconds = _seconds(at, call.answered_at) if call.answered_at is not None else 0.0
        del self._calls[call.linkedid]
        for uniqueid in call.legs:
            self._owners.pop(uniqueid, None)
        self._bury(call.linkedid)

    @staticmethod
    def _first_leg(call: Call) -> Leg | None:
        return call.legs.get(call.linkedid) or next(iter(call.legs.values()), None)

    def _originated(self, dial_string: str | None) -> Call | None:
        """The live, unanswered call an Originate to `dial_string` created: its first leg was
        dialled by the Originate and is named `<dial string>-<sequence>` (Local channels)."""
        if dial_string is None:
            return None
        for call in self._calls.values():
            first = self._first_leg(call)
            if (first is not None and first.dialled_by == ORIGINATE and call.answered_at is None
                    and first.channel.startswith(dial_string + "-")):
                return call
        return None

    def _bury(self, key: str) -> None:
        self._tombstones[key] = None
        self._tombstones.move_to_end(key)
        if len(self._tombstones) > TOMBSTONES:
            self._tombstones.popitem(last=False)


def mask_number(number: str | None) -> str | None:
    """`number` with its middle digits hidden (13812345678 -> 138****5678), as Chinese service
    centres print callers' numbers; short numbers keep only their last two digits."""
    if not number:
        return number
    if len(number) >= 7:
        return number[:3] + "*" * (len(number) - 7) + number[-4:] if len(number) > 7 \
            else "*" * 3 + number[-4:]
    return "*" * (len(number) - 2) + number[-2:] if len(number) > 2 else "*" * len(number)
