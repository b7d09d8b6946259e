"""Call tracking, replayed from the real captures and from event tables.

An event table reads like the AMI log it replays (in the manner of wazo call-logd's `raw_cels`):
one event a row, `t` in seconds after BASE, the channel's Channel/Uniqueid/Linkedid, then the
other headers as `Key=Value` separated by ", ".
"""

from __future__ import annotations

import gc
import tracemalloc
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from panoramisk.message import Message

from hotline.calls import Call, CallTracker, mask_number
from tests.capture_expectations import (
    EXPECTED, HOTLINES, PBX, expected_calls, feed_all, replay_into,
)
from tests.captures import received_frames

BASE = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
HEADERS = {"channel": "Channel", "uniqueid": "Uniqueid", "linkedid": "Linkedid"}


def at(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)


def events(table: str) -> list[tuple[datetime, dict[str, str]]]:
    """The rows of an event table as `(at, event)` pairs."""
    lines = [line for line in table.strip().splitlines() if line.strip()]
    columns = [cell.strip() for cell in lines[0].split("|")]
    rows = []
    for line in lines[1:]:
        cells = dict(zip(columns, (cell.strip() for cell in line.split("|"))))
        event = {"Event": cells["event"]}
        event |= {header: cells[column] for column, header in HEADERS.items() if cells[column]}
        for pair in filter(None, cells["fields"].split(", ")):
            key, _, value = pair.partition("=")
            event[key] = value
        rows.append((at(float(cells["t"])), event))
    return rows


def replay(table: str, tracker: CallTracker | None = None) -> list[Call]:
    return feed_all(tracker or CallTracker(PBX, HOTLINES), events(table))


def tracker() -> CallTracker:
    return CallTracker(PBX, HOTLINES)


# -- the real captures -----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_capture_yields_exactly_the_expected_calls(name):
    calls_tracker = tracker()

    calls = replay_into(calls_tracker, name, BASE)

    assert [call.to_dict() for call in calls] == expected_calls(name, BASE)
    assert calls_tracker.active() == []


def test_capture_without_calls_yields_none():
    assert replay_into(tracker(), "a-login-ping-logoff", BASE) == []


def test_queue_call_is_queued_not_answered_while_waiting():
    """Capture d up to the agent ringing: the dialplan's Answer() does not end the wait."""
    calls_tracker = tracker()
    for frame in received_frames("d-queue-call-agent-answers")[:49]:
        if "Event" in (event := frame.as_dict()):
            calls_tracker.feed(event, at(frame.t))

    [call] = calls_tracker.active()
    assert (call.status, call.answered_at, call.queue) == ("queued", None, "hotline")


# -- scenarios -------------------------------------------------------------------------------

def test_caller_abandons_in_queue():
    [call] = replay('''
    t    | event              | channel              | uniqueid | linkedid | fields
    0.0  | Newchannel         | PJSIP/trunk-00000001 | 1000.1   | 1000.1   | ChannelStateDesc=Ring, CallerIDNum=0612345678, CallerIDName=Citizen, Exten=68912345
    0.1  | Newstate           | PJSIP/trunk-00000001 | 1000.1   | 1000.1   | ChannelStateDesc=Up
    0.2  | VarSet             | PJSIP/trunk-00000001 | 1000.1   | 1000.1   | Variable=HOTLINE, Value=12345
    0.3  | QueueCallerJoin    | PJSIP/trunk-00000001 | 1000.1   | 1000.1   | Queue=hotline, Position=1, Count=1
    25.3 | QueueCallerAbandon | PJSIP/trunk-00000001 | 1000.1   | 1000.1   | Queue=hotline, Position=1, HoldTime=25
    25.3 | QueueCallerLeave   | PJSIP/trunk-00000001 | 1000.1   | 1000.1   | Queue=hotline, Count=0
    25.4 | Hangup             | PJSIP/trunk-00000001 | 1000.1   | 1000.1   | Cause=16, Cause-txt=Normal Clearing
    ''')

    assert call.to_dict() | {"started_at": None, "ended_at": None} == {
        "pbx": PBX, "linkedid": "1000.1", "hotline": "12345",
        "caller_number": "0612345678", "caller_name": "Citizen",
        "started_at": None, "answered_at": None, "ended_at": None,
        "wait_seconds": 25.4, "talk_seconds": 0.0, "status": "ended", "disposition": "abandoned",
        "hangup_cause": 16, "hangup_cause_text": "Normal Clearing",
        "queue": "hotline", "agent": None, "recording": None, "survey_case": None,
    }


def test_queue_timeout_counts_as_abandoned():
    """Queue(...,30) gives up: QueueCallerLeave without AgentConnect, the dialplan hangs up."""
    [call] = replay('''
    t    | event            | channel              | uniqueid | linkedid | fields
    0.0  | Newchannel       | PJSIP/trunk-00000001 | 1000.1   | 1000.1   | ChannelStateDesc=Ring, Exten=12345
    0.1  | Newstate         | PJSIP/trunk-00000001 | 1000.1   | 1000.1   | ChannelStateDesc=Up
    0.3  | QueueCallerJoin  | PJSIP/trunk-00000001 | 1000.1   | 1000.1   | Queue=hotline
    30.3 | QueueCallerLeave | PJSIP/trunk-00000001 | 1000.1   | 1000.1   | Queue=hotline
    30.4 | Hangup           | PJSIP/trunk-00000001 | 1000.1   | 1000.1   | Cause=16, Cause-txt=Normal Clearing
    ''')

    assert (call.disposition, call.answered_at, call.wait_seconds) == ("abandoned", None, 30.4)


# 12301 in the capture dialplan: Answer(), then Dial(Local/noanswer@caller-sim,5).
DIAL_FROM_IVR = '''
    t   | event      | channel                              | uniqueid | linkedid | fields
    0.0 | Newchannel | PJSIP/trunk-00000002                 | 2000.1   | 2000.1   | ChannelStateDesc=Ring, CallerIDNum=0687654321, Exten=12345
    0.1 | Newstate   | PJSIP/trunk-00000002                 | 2000.1   | 2000.1   | ChannelStateDesc=Up
    2.0 | Newchannel | Local/noanswer@caller-sim-00000003;1 | 2000.2   | 2000.1   | ChannelStateDesc=Down, Exten=noanswer
    2.0 | Newchannel | Local/noanswer@caller-sim-00000003;2 | 2000.3   | 2000.1   | ChannelStateDesc=Ring, Exten=noanswer
    2.0 | DialBegin  | PJSIP/trunk-00000002                 | 2000.1   | 2000.1   | DestChannel=Local/noanswer@caller-sim-00000003;1, DestUniqueid=2000.2, DestLinkedid=2000.1, DialString=Local/noanswer@caller-sim
    2.1 | Newstate   | Local/noanswer@caller-sim-00000003;1 | 2000.2   | 2000.1   | ChannelStateDesc=Ringing
    7.0 | DialEnd    | PJSIP/trunk-00000002                 | 2000.1   | 2000.1   | DestUniqueid=2000.2, DestLinkedid=2000.1, DialStatus={status}
    7.0 | Hangup     | Local/noanswer@caller-sim-00000003;1 | 2000.2   | 2000.1   | Cause=16, Cause-txt=Normal Clearing
    7.0 | Hangup     | Local/noanswer@caller-sim-00000003;2 | 2000.3   | 2000.1   | Cause=16, Cause-txt=Normal Clearing
    7.5 | Hangup     | PJSIP/trunk-00000002                 | 2000.1   | 2000.1   | Cause=16, Cause-txt=Normal Clearing
'''


@pytest.mark.parametrize(("status", "disposition"), [
    ("NOANSWER", "missed"), ("CANCEL", "missed"), ("BUSY", "busy"),
    ("CONGESTION", "failed"), ("CHANUNAVAIL", "failed"),
])
def test_dial_from_the_ivr_that_is_not_answered(status, disposition):
    [call] = replay(DIAL_FROM_IVR.format(status=status))

    assert (call.disposition, call.answered_at, call.wait_seconds, call.talk_seconds) == (
        disposition, None, 7.5, 0.0)
    assert (call.hangup_cause, call.hangup_cause_text) == (16, "Normal Clearing")


def test_dial_reopens_the_wait_of_a_call_the_ivr_answered():
    rows = events(DIAL_FROM_IVR.format(status="NOANSWER"))
    calls_tracker = tracker()

    feed_all(calls_tracker, rows[:2])
    [call] = calls_tracker.active()
    assert (call.status, call.answered_at) == ("answered", at(0.1))
    feed_all(calls_tracker, rows[2:5])
    assert (call.status, call.answered_at) == ("ringing", None)


def test_dialled_party_answers():
    [call] = replay('''
    t    | event      | channel                          | uniqueid | linkedid | fields
    0.0  | Newchannel | PJSIP/trunk-00000002             | 2000.1   | 2000.1   | ChannelStateDesc=Ring, Exten=12319
    0.1  | Newstate   | PJSIP/trunk-00000002             | 2000.1   | 2000.1   | ChannelStateDesc=Up
    2.0  | Newchannel | PJSIP/operator-00000003          | 2000.2   | 2000.1   | ChannelStateDesc=Down
    2.0  | DialBegin  | PJSIP/trunk-00000002             | 2000.1   | 2000.1   | DestChannel=PJSIP/operator-00000003, DestUniqueid=2000.2, DestLinkedid=2000.1
    4.0  | Newstate   | PJSIP/operator-00000003          | 2000.2   | 2000.1   | ChannelStateDesc=Up
    4.0  | DialEnd    | PJSIP/trunk-00000002             | 2000.1   | 2000.1   | DestUniqueid=2000.2, DestLinkedid=2000.1, DialStatus=ANSWER
    64.0 | Hangup     | PJSIP/operator-00000003          | 2000.2   | 2000.1   | Cause=16, Cause-txt=Normal Clearing
    64.0 | Hangup     | PJSIP/trunk-00000002             | 2000.1   | 2000.1   | Cause=16, Cause-txt=Normal Clearing
    ''')

    assert (call.hotline, call.disposition, call.answered_at) == ("12319", "answered", at(4.0))
    assert (call.wait_seconds, call.talk_seconds) == (4.0, 60.0)


@pytest.mark.parametrize(("cause", "disposition"), [
    ("17", "busy"), ("19", "missed"), ("16", "missed"), ("34", "failed"), ("1", "failed"),
])
def test_unanswered_call_is_counted_by_its_hangup_cause(cause, disposition):
    [call] = replay(f'''
    t   | event      | channel              | uniqueid | linkedid | fields
    0.0 | Newchannel | PJSIP/trunk-00000004 | 4000.1   | 4000.1   | ChannelStateDesc=Ring, Exten=12345
    3.0 | Hangup     | PJSIP/trunk-00000004 | 4000.1   | 4000.1   | Cause={cause}
    ''')

    assert (call.status, call.disposition, call.hangup_cause) == ("ended", disposition, int(cause))
    assert (call.wait_seconds, call.talk_seconds) == (3.0, 0.0)


def test_originate_to_a_busy_citizen():
    """The channel's own DialEnd and Hangup come first; OriginateResponse then names only the
    dial string and `<unknown>` and must not open a second call."""
    calls_tracker = tracker()
    [call] = replay('''
    t   | event             | channel                          | uniqueid | linkedid | fields
    0.0 | Newchannel        | Local/busy@caller-sim-00000017;1 | 5000.1   | 5000.1   | ChannelStateDesc=Down, Exten=s
    0.0 | Newchannel        | Local/busy@caller-sim-00000017;2 | 5000.2   | 5000.1   | ChannelStateDesc=Ring, Exten=busy
    0.0 | VarSet            | Local/busy@caller-sim-00000017;1 | 5000.1   | 5000.1   | Variable=CASE_ID, Value=CASE-2024-0002
    0.0 | DialBegin         |                                  |          |          | DestChannel=Local/busy@caller-sim-00000017;1, DestUniqueid=5000.1, DestLinkedid=5000.1, DialString=busy@caller-sim
    0.1 | DialEnd           |                                  |          |          | DestUniqueid=5000.1, DestLinkedid=5000.1, DialStatus=BUSY
    0.1 | Hangup            | Local/busy@caller-sim-00000017;2 | 5000.2   | 5000.1   | Cause=17, Cause-txt=User busy
    0.1 | Hangup            | Local/busy@caller-sim-00000017;1 | 5000.1   | 5000.1   | Cause=0, Cause-txt=Unknown
    0.1 | OriginateResponse |                                  |          |          | ActionID=survey-CASE-2024-0002, Response=Failure, Channel=Local/busy@caller-sim, Reason=5, Uniqueid=<unknown>
    ''', calls_tracker)

    assert (call.survey_case, call.disposition, call.answered_at) == ("CASE-2024-0002", "busy", None)
    assert calls_tracker.active() == []


@pytest.mark.parametrize(("reason", "disposition"), [("0", "failed"), ("3", "missed"), ("5", "busy")])
def test_originate_failure_while_its_channel_is_still_up(reason, disposition):
    [call] = replay(f'''
    t    | event             | channel                              | uniqueid | linkedid | fields
    0.0  | Newchannel        | Local/noanswer@caller-sim-00000018;1 | 6000.1   | 6000.1   | ChannelStateDesc=Down
    0.0  | Newchannel        | Local/noanswer@caller-sim-00000018;2 | 6000.2   | 6000.1   | ChannelStateDesc=Ring
    0.0  | DialBegin         |                                      |          |          | DestChannel=Local/noanswer@caller-sim-00000018;1, DestUniqueid=6000.1, DestLinkedid=6000.1
    30.0 | OriginateResponse |                                      |          |          | Response=Failure, Channel=Local/noanswer@caller-sim, Reason={reason}, Uniqueid=<unknown>
    30.0 | Hangup            | Local/noanswer@caller-sim-00000018;1 | 6000.1   | 6000.1   | Cause=16, Cause-txt=Normal Clearing
    30.0 | Hangup            | Local/noanswer@caller-sim-00000018;2 | 6000.2   | 6000.1   | Cause=16, Cause-txt=Normal Clearing
    ''')

    assert (call.disposition, call.wait_seconds) == (disposition, 30.0)


def test_originate_failure_without_any_channel_records_nothing():
    calls_tracker = tracker()

    assert replay('''
    t   | event             | channel | uniqueid | linkedid | fields
    0.0 | OriginateResponse |         |          |          | Response=Failure, Channel=PJSIP/0612345678@trunk, Reason=0, Uniqueid=<unknown>
    ''', calls_tracker) == []
    assert calls_tracker.active() == []


def test_odd_events_are_ignored():
    calls_tracker = tracker()
    [call] = replay('''
    t   | event       | channel              | uniqueid | linkedid | fields
    0.0 | Hangup      | PJSIP/trunk-00000009 | 9000.9   | 9000.9   | Cause=16
    0.0 | Newchannel  | PJSIP/trunk-00000009 | 9000.9   | 9000.9   | ChannelStateDesc=Ring
    0.1 | Newstate    | PJSIP/nobody-0000000 | 8000.8   | 8000.8   | ChannelStateDesc=Up
    0.1 | FooBarEvent | PJSIP/trunk-00000007 | 7000.1   | 7000.1   | Anything=at all
    0.1 | Newchannel  |                      |          |          | ChannelStateDesc=Ring
    0.2 | Newchannel  | PJSIP/trunk-00000007 | 7000.1   | 7000.1   | ChannelStateDesc=Ring, Exten=12345
    0.2 | Newchannel  | PJSIP/trunk-00000007 | 7000.1   | 7000.1   | ChannelStateDesc=Ring, Exten=12345
    0.3 | Newstate    | PJSIP/trunk-00000007 | 7000.1   | 7000.1   |
    0.4 | VarSet      | PJSIP/trunk-00000007 | 7000.1   | 7000.1   | Variable=PLAYBACKSTATUS, Value=SUCCESS
    0.5 | DialEnd     |                      |          |          | DestUniqueid=7000.1, DialStatus=BUSY
    0.5 | Hangup      | PJSIP/trunk-00000007 | 7000.1   | 7000.1   | Cause=not-a-number
    9.0 | Hangup      | PJSIP/trunk-00000007 | 7000.1   | 7000.1   | Cause=16
    9.0 | Cdr         | PJSIP/trunk-00000007 |          |          | UniqueID=7000.1, Disposition=NO ANSWER
    9.1 | Newchannel  | PJSIP/trunk-00000008 | 7000.2   | 7000.1   | ChannelStateDesc=Ring
    ''', calls_tracker)

    # One call only: the hung-up 9000.9 and the ended 7000.1 stay closed; the first Hangup of
    # 7000.1 ended it (disposition from its unreadable cause: unknown, so missed).
    assert (call.linkedid, call.ended_at, call.hangup_cause, call.disposition) == (
        "7000.1", at(0.5), None, "missed")
    assert calls_tracker.active() == []


def test_feed_returns_none_for_events_that_change_nothing():
    calls_tracker = tracker()
    rows = events('''
    t   | event      | channel              | uniqueid | linkedid | fields
    0.0 | Newchannel | PJSIP/trunk-00000007 | 7000.1   | 7000.1   | ChannelStateDesc=Ring, CallerIDNum=0612345678
    0.1 | VarSet     | PJSIP/trunk-00000007 | 7000.1   | 7000.1   | Variable=PLAYBACKSTATUS, Value=SUCCESS
    0.1 | Newexten   | PJSIP/trunk-00000007 | 7000.1   | 7000.1   | Exten=s, Application=NoOp
    0.2 | Newstate   | PJSIP/trunk-00000007 | 7000.1   | 7000.1   | ChannelStateDesc=Ring
    ''')

    assert [calls_tracker.feed(event, moment) is not None for moment, event in rows] == [
        True, False, False, False]


# Events about a few channels of two calls, so that they meet: legs of one call, a second call,
# Dest* fields, repeats, and odd values; between them, reconciles after a reconnect.
UNIQUEIDS = st.sampled_from(["1.1", "1.2", "1.3", "2.1", "2.2"])
LINKEDIDS = st.sampled_from(["1.1", "2.1"])
FIELDS = st.dictionaries(
    st.sampled_from(["ChannelStateDesc", "DestChannelStateDesc", "Variable", "Value", "DialStatus",
                     "Cause", "Exten", "Response", "Reason", "Queue", "MemberName", "Channel",
                     "Application", "ApplicationData", "BridgeId", "Duration", "CallerIDNum"]),
    st.one_of(st.sampled_from(["Up", "Ring", "HOTLINE", "MIXMONITOR_FILENAME", "ANSWER", "BUSY",
                               "Failure", "12345", "<unknown>", "", "16", "17", "Queue",
                               "0:00:05"]), st.text(max_size=5)),
)
EVENTS = st.builds(
    lambda name, uniqueid, linkedid, prefix, fields: {
        "Event": name, f"{prefix}Uniqueid": uniqueid, f"{prefix}Linkedid": linkedid, **fields,
    },
    st.sampled_from(["Newchannel", "Newstate", "NewCallerid", "Newexten", "VarSet", "DialBegin",
                     "DialEnd", "QueueCallerJoin", "QueueCallerLeave", "AgentConnect", "Hangup",
                     "OriginateResponse", "Cdr", "Nonsense"]),
    UNIQUEIDS, LINKEDIDS, st.sampled_from(["", "", "Dest"]), FIELDS,
)
CHANNELS = st.lists(st.builds(
    lambda uniqueid, linkedid, fields: {"Uniqueid": uniqueid, "Linkedid": linkedid, **fields},
    UNIQUEIDS, LINKEDIDS, FIELDS,
), max_size=3)


@settings(max_examples=300, deadline=None)
# A reconcile that finds a channel of a call an earlier reconcile closed once opened it anew.
@example([("feed", {"Event": "Newchannel", "Uniqueid": "1.1", "Linkedid": "1.1"}),
          ("reconcile", []), ("reconcile", [{"Uniqueid": "1.1", "Linkedid": "1.1"}])])
@given(st.lists(st.one_of(st.tuples(st.just("feed"), EVENTS),
                          st.tuples(st.just("reconcile"), CHANNELS)), max_size=40))
def test_any_event_sequence_keeps_one_call_per_linkedid_ended_for_good_and_times_in_its_span(
    steps,
):
    calls_tracker = tracker()
    calls: dict[str, Call] = {}
    ended: dict[str, dict] = {}
    for index, (step, data) in enumerate(steps):
        changed = ([calls_tracker.feed(data, at(index))] if step == "feed"
                   else calls_tracker.reconcile(data, at(index)))
        for call in filter(None, changed):
            # An ended call is returned that one last time: nothing reopens it.
            assert call.linkedid not in ended
            # One call per Linkedid: every change to it comes back as the same call.
            assert calls.setdefault(call.linkedid, call) is call
            if call.ended_at is not None:
                ended[call.linkedid] = call.to_dict()
                assert call.started_at <= call.ended_at
                if call.answered_at is not None:
                    assert call.started_at <= call.answered_at <= call.ended_at
                span = (call.ended_at - call.started_at).total_seconds()
                assert call.wait_seconds >= 0 and call.talk_seconds >= 0
                assert call.wait_seconds + call.talk_seconds == pytest.approx(span)
        active = [call.linkedid for call in calls_tracker.active()]
        assert len(active) == len(set(active))
        assert not set(active) & set(ended)
        assert all(calls[linkedid].to_dict() == record for linkedid, record in ended.items())


# -- caller and hotline ----------------------------------------------------------------------

def test_chinese_caller_name_is_kept_and_unknown_is_none():
    calls_tracker = tracker()
    # As the AMI link hands them over: panoramisk Messages (case-insensitive keys).
    newchannel, callerid = (Message(fields) for fields in (
        {"Event": "Newchannel", "Channel": "PJSIP/trunk-0000000a", "Uniqueid": "3000.1",
         "Linkedid": "3000.1", "ChannelStateDesc": "Ring", "CallerIDNum": "<unknown>",
         "CallerIDName": "<unknown>", "Exten": "12319"},
        {"Event": "NewCallerid", "Channel": "PJSIP/trunk-0000000a", "Uniqueid": "3000.1",
         "Linkedid": "3000.1", "CallerIDNum": "13800138000", "CallerIDName": "张三市民"},
    ))

    call = calls_tracker.feed(newchannel, at(0))
    assert (call.caller_number, call.caller_name) == (None, None)
    calls_tracker.feed(callerid, at(0.1))
    assert (call.caller_number, call.caller_name, call.hotline) == ("13800138000", "张三市民", "12319")


def test_repeated_header_uses_its_first_value():
    calls_tracker = tracker()
    calls_tracker.feed({"Event": "Newchannel", "Uniqueid": "3000.1", "Linkedid": "3000.1"}, at(0))

    call = calls_tracker.feed({"Event": "VarSet", "Uniqueid": "3000.1", "Linkedid": "3000.1",
                               "Variable": ["CASE_ID", "OTHER"], "Value": ["CASE-1", "x"]}, at(1))

    assert call.survey_case == "CASE-1"


@pytest.mark.parametrize(("exten", "variable", "hotline"), [
    ("68912345", None, "12345"),     # the dialled number, looked up
    ("s", "12300", "12345"),         # the HOTLINE variable, mapped
    ("12319", "99999", "99999"),     # an unmapped HOTLINE value is kept, and wins over Exten
    ("s", None, None),
])
def test_hotline(exten, variable, hotline):
    table = f'''
    t   | event      | channel              | uniqueid | linkedid | fields
    0.0 | Newchannel | PJSIP/trunk-0000000b | 3100.1   | 3100.1   | ChannelStateDesc=Ring, Exten={exten}
    '''
    if variable:
        table += f"0.1 | VarSet | PJSIP/trunk-0000000b | 3100.1 | 3100.1 | Variable=HOTLINE, Value={variable}"

    [call] = replay(table)

    assert call.hotline == hotline


# -- reconnects and restarts -----------------------------------------------------------------

RINGING_CALL = '''
    t   | event      | channel              | uniqueid | linkedid | fields
    0.0 | Newchannel | PJSIP/trunk-0000000c | 3200.1   | 3200.1   | ChannelStateDesc=Ring, Exten=12345
'''
ANSWERED_CALL = '''
    t   | event      | channel              | uniqueid | linkedid | fields
    0.0 | Newchannel | PJSIP/trunk-0000000d | 3300.1   | 3300.1   | ChannelStateDesc=Ring, Exten=12345
    1.0 | Newstate   | PJSIP/trunk-0000000d | 3300.1   | 3300.1   | ChannelStateDesc=Up
'''


def test_reconcile_closes_calls_whose_hangup_was_missed():
    calls_tracker = tracker()
    [ringing] = replay(RINGING_CALL, calls_tracker)
    [answered] = replay(ANSWERED_CALL, calls_tracker)

    # The link was down when both hung up; it comes back with nothing alive.
    changed = calls_tracker.reconcile([], at(60))

    assert changed == [ringing, answered]
    assert [(call.status, call.disposition, call.ended_at) for call in changed] == [
        ("ended", "lost", at(60)), ("ended", "answered", at(60))]
    assert (ringing.wait_seconds, answered.wait_seconds, answered.talk_seconds) == (60.0, 1.0, 59.0)
    assert calls_tracker.active() == []
    assert calls_tracker.feed(events(RINGING_CALL)[0][1], at(61)) is None


def test_reconcile_leaves_live_calls_alone():
    calls_tracker = tracker()
    [call] = replay(ANSWERED_CALL, calls_tracker)
    channel = {"Event": "CoreShowChannel", "Channel": "PJSIP/trunk-0000000d", "Uniqueid": "3300.1",
               "Linkedid": "3300.1", "ChannelStateDesc": "Up", "Duration": "00:00:09"}

    assert calls_tracker.reconcile([channel], at(10)) == []
    assert calls_tracker.active() == [call]


def test_reconcile_picks_up_a_call_that_began_while_the_link_was_down():
    """The two CoreShowChannel events of capture g: a caller waiting in queue `hotline`."""
    channels = [frame.as_dict() for frame in received_frames("g-action-responses")
                if frame.as_dict().get("Event") == "CoreShowChannel"]
    calls_tracker = tracker()

    [call] = calls_tracker.reconcile(channels, at(100))

    assert call.to_dict() == {
        "pbx": PBX, "linkedid": "1795811307.44", "hotline": "12345",
        "caller_number": "0633333333", "caller_name": "Waiting Citizen",
        "started_at": at(99).isoformat(), "answered_at": None, "ended_at": None,
        "wait_seconds": None, "talk_seconds": None, "status": "queued", "disposition": None,
        "hangup_cause": None, "hangup_cause_text": None,
        "queue": "hotline", "agent": None, "recording": None, "survey_case": None,
    }
    assert sorted(call.legs) == ["1795811307.44", "1795811307.45"]
    assert calls_tracker.active() == [call]


def test_reconcile_takes_hotline_and_recording_from_the_live_channels_variables():
    # A call to a local number whose dialplan sets HOTLINE, begun while the link was down: the
    # channel's extension names no hotline; the Status of its channels lists the variables.
    channels = [
        {"Event": "CoreShowChannel", "Channel": "Local/68912319@hotline-in-00000001;1",
         "Uniqueid": "3800.1", "Linkedid": "3800.1", "ChannelStateDesc": "Up",
         "Exten": "hold", "Duration": "00:00:05"},
        {"Event": "CoreShowChannel", "Channel": "Local/68912319@hotline-in-00000001;2",
         "Uniqueid": "3800.2", "Linkedid": "3800.1", "ChannelStateDesc": "Up",
         "Exten": "hotline", "Application": "Wait", "Duration": "00:00:05"},
    ]
    variables = {"3800.2": {"HOTLINE": "12319", "MIXMONITOR_FILENAME": "/spool/3800.2.wav"}}

    [call] = tracker().reconcile(channels, at(100), variables)

    assert (call.hotline, call.recording, call.survey_case) == ("12319", "/spool/3800.2.wav", None)


def test_reconcile_fills_in_the_variables_a_tracked_call_set_while_the_link_was_down():
    calls_tracker = tracker()
    [call] = replay(ANSWERED_CALL, calls_tracker)
    channel = {"Event": "CoreShowChannel", "Channel": "PJSIP/trunk-0000000d", "Uniqueid": "3300.1",
               "Linkedid": "3300.1", "ChannelStateDesc": "Up", "Duration": "00:00:09"}

    changed = calls_tracker.reconcile([channel], at(10), {"3300.1": {"CASE_ID": "CASE-2026-7"}})

    assert changed == [call] and call.survey_case == "CASE-2026-7"
    assert calls_tracker.reconcile([channel], at(11), {"3300.1": {"CASE_ID": "CASE-2026-7"}}) == []


def test_reconcile_adopts_an_answered_call_from_its_oldest_channel():
    channels = [
        {"Event": "CoreShowChannel", "Channel": "PJSIP/trunk-0000000e", "Uniqueid": "3400.1",
         "Linkedid": "3400.1", "ChannelStateDesc": "Up", "CallerIDNum": "0611111111",
         "Exten": "12319", "Application": "AGI", "Duration": "00:01:05"},
        {"Event": "CoreShowChannel", "Channel": "PJSIP/operator-0000000f", "Uniqueid": "3400.2",
         "Linkedid": "3400.1", "ChannelStateDesc": "Up", "Duration": "0:00:30"},
    ]

    [call] = tracker().reconcile(channels, at(100))

    assert (call.started_at, call.answered_at, call.status) == (at(35), at(100), "answered")
    assert (call.caller_number, call.hotline) == ("0611111111", "12319")


def test_reconcile_sees_a_queue_caller_bridged_with_an_agent_as_answered():
    calls_tracker = tracker()
    replay('''
    t   | event           | channel              | uniqueid | linkedid | fields
    0.0 | Newchannel      | PJSIP/trunk-00000011 | 3700.1   | 3700.1   | ChannelStateDesc=Ring, Exten=12345
    0.1 | Newstate        | PJSIP/trunk-00000011 | 3700.1   | 3700.1   | ChannelStateDesc=Up
    0.2 | QueueCallerJoin | PJSIP/trunk-00000011 | 3700.1   | 3700.1   | Queue=hotline
    ''', calls_tracker)
    # The AgentConnect was lost with the link; Queue() is still the caller's application.
    channel = {"Event": "CoreShowChannel", "Channel": "PJSIP/trunk-00000011", "Uniqueid": "3700.1",
               "Linkedid": "3700.1", "ChannelStateDesc": "Up", "Application": "Queue",
               "ApplicationData": "hotline,t,,,30", "BridgeId": "f22d25b7", "Duration": "00:00:40"}

    [call] = calls_tracker.reconcile([channel], at(40))

    assert (call.status, call.answered_at, call.queue) == ("answered", at(40), "hotline")


def test_restored_call_is_closed_by_reconcile_or_continued_by_events():
    # What the database gives back: naive UTC times (SQLite), legs, no bookkeeping.
    naive = BASE.replace(tzinfo=None)
    gone = Call(pbx=PBX, linkedid="3500.1", started_at=naive, status="ringing")
    alive = Call(pbx=PBX, linkedid="3600.1", started_at=naive, status="queued", queue="hotline")
    calls_tracker = tracker()
    calls_tracker.restore([gone, alive])
    channel = {"Event": "CoreShowChannel", "Channel": "PJSIP/trunk-00000010", "Uniqueid": "3600.1",
               "Linkedid": "3600.1", "ChannelStateDesc": "Up", "Application": "Queue",
               "ApplicationData": "hotline,t,,,30", "Duration": "00:00:20"}

    changed = [(call.linkedid, call.status) for call in calls_tracker.reconcile([channel], at(20))]
    [*_, ended] = replay('''
    t    | event        | channel              | uniqueid | linkedid | fields
    30.0 | AgentConnect | PJSIP/trunk-00000010 | 3600.1   | 3600.1   | Queue=hotline, MemberName=Agent One
    90.0 | Hangup       | PJSIP/trunk-00000010 | 3600.1   | 3600.1   | Cause=16, Cause-txt=Normal Clearing
    ''', calls_tracker)

    assert changed == [("3500.1", "ended"), ("3600.1", "queued")]
    assert (gone.disposition, gone.ended_at) == ("lost", at(20))
    assert ended is alive
    assert (alive.disposition, alive.agent, alive.wait_seconds, alive.talk_seconds) == (
        "answered", "Agent One", 30.0, 60.0)


# -- memory ----------------------------------------------------------------------------------

def concurrent_calls(count: int) -> list[tuple[datetime, dict[str, str]]]:
    """`count` queue calls as capture d shows them: a Local pair, then an agent's Local pair."""
    rows = []
    for n in range(count):
        linkedid = f"1795811555.{4 * n}"
        for side, uniqueid in ((1, linkedid), (2, f"1795811555.{4 * n + 1}")):
            rows.append({"Event": "Newchannel", "Channel": f"Local/12300@hotline-in-{n:08x};{side}",
                         "Uniqueid": uniqueid, "Linkedid": linkedid, "ChannelStateDesc": "Ring",
                         "CallerIDNum": "0698765432", "CallerIDName": "张三市民", "Exten": "12300"})
        rows.append({"Event": "Newstate", "Uniqueid": linkedid, "Linkedid": linkedid,
                     "ChannelStateDesc": "Up"})
        rows.append({"Event": "VarSet", "Uniqueid": linkedid, "Linkedid": linkedid,
                     "Variable": "MIXMONITOR_FILENAME",
                     "Value": f"/opt/asterisk/var/spool/asterisk/monitor/{linkedid}.wav"})
        rows.append({"Event": "QueueCallerJoin", "Uniqueid": linkedid, "Linkedid": linkedid,
                     "Queue": "hotline"})
        for side, uniqueid in ((1, f"1795811555.{4 * n + 2}"), (2, f"1795811555.{4 * n + 3}")):
            rows.append({"Event": "Newchannel", "Channel": f"Local/agent1@agents-{n:08x};{side}",
                         "Uniqueid": uniqueid, "Linkedid": linkedid, "ChannelStateDesc": "Down"})
        rows.append({"Event": "AgentConnect", "Uniqueid": linkedid, "Linkedid": linkedid,
                     "Queue": "hotline", "MemberName": "Agent One"})
    return [(at(index / 1000), row) for index, row in enumerate(rows)]


def hangups(count: int) -> list[tuple[datetime, dict[str, str]]]:
    return [(at(600), {"Event": "Hangup", "Uniqueid": f"1795811555.{leg}", "Cause": "16",
                       "Linkedid": f"1795811555.{leg - leg % 4}", "Cause-txt": "Normal Clearing"})
            for leg in range(4 * count)]


def test_memory_per_thousand_concurrent_calls_and_none_kept_once_ended():
    gc.collect()
    tracemalloc.start()
    try:
        calls_tracker = tracker()
        baseline = tracemalloc.get_traced_memory()[0]
        # The events are made under the trace and dropped: what the tracker keeps of them counts.
        rows = concurrent_calls(1000)
        feed_all(calls_tracker, rows)
        del rows
        gc.collect()
        in_progress = tracemalloc.get_traced_memory()[0] - baseline
        rows = hangups(1000)
        feed_all(calls_tracker, rows)
        del rows
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()

    assert calls_tracker.active() == []
    assert in_progress < 10_000_000, f"{in_progress / 1e6:.1f} MB per 1,000 calls"
    # Only the bounded set of ended Linkedids remains.
    assert after < 400_000, f"{after / 1e3:.0f} kB left after every call ended"


def test_phone_numbers_are_masked_as_call_centres_show_them():
    # One masking for calls and cases alike (hotline/web/calls.py, hotline/cases/api.py).
    assert mask_number("13800000001") == "138****0001"
    assert mask_number("0371689123") == "037***9123" and mask_number("1234567") == "***4567"
    assert mask_number("12345") == "***45" and mask_number("110") == "*10" and mask_number(None) is None
