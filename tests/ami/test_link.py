"""AmiLink against the fake Asterisk over real TCP: login, watchdog, reconnects, framing, actions."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from hotline.ami import AmiEvent, AmiLink, LinkState, Reconciliation
from hotline.config import PbxConfig
from hotline.errors import AmiError
from hotline.simulator import ANSWERED, BUSY, Channel, encode_message
from tests.ami.conftest import RunningLink
from tests.fakes.asterisk import VERSION, FakeAsterisk, capture_events


def newchannel(caller_name: str) -> bytes:
    channel = Channel(
        "Local/12345@hotline-in-000001b6;1", "1795811542.876", "1795811542.876",
        "hotline-in", "12345", caller_num="13800138000", caller_name=caller_name,
    )
    return encode_message([("Event", "Newchannel"), ("Privilege", "call,all"), *channel.snapshot()])


def waiting_citizen(uniqueid: str, leg: int) -> Channel:
    return Channel(
        f"Local/12300@hotline-in-00000016;{leg}", uniqueid, "1795811307.44", "hotline-in",
        "12300", state=6, caller_num="0633333333", caller_name="李四",
        application="Queue", application_data="hotline,t,,,30",
    )


async def next_call_event(running: RunningLink) -> AmiEvent:
    """The next event that is not one of the login's own."""
    return await running.next(
        AmiEvent, lambda e: e.fields["Event"] not in ("FullyBooted", "SuccessfulAuth")
    )


# -- login ---------------------------------------------------------------------------------


async def test_login_brings_the_link_up_then_reconciles_before_any_event(fake, start_link):
    running = start_link()
    items = await running.items_until(Reconciliation)
    assert [type(item) for item in items] == [LinkState, Reconciliation]
    assert items[0].up and items[0].reason == "logged in"
    assert running.link.up
    # FullyBooted and SuccessfulAuth came in the same read as the Login response: held back.
    first = await running.next(AmiEvent)
    assert first.fields["Event"] == "FullyBooted"
    login = fake.requests[0]
    assert (login.name, login.get("Username"), login.get("Events")) == ("Login", "hotline", "on")


async def test_wrong_secret_reports_down_and_retries_with_backoff(fake, start_link, caplog):
    fake.reject_logins = True
    running = start_link()
    down = await running.next(LinkState)
    assert not down.up
    assert down.reason == "login refused: Authentication failed"
    await fake.wait_for(lambda: fake.login_attempts >= 4)
    assert not running.task.done()  # no exception escaped run()
    gaps = [b - a for a, b in zip(fake.login_times, fake.login_times[1:])]
    # Each retry waits at least half the backoff (jitter) plus the fake's 50 ms refusal delay.
    assert all(gap >= 0.05 for gap in gaps), gaps
    assert all(gap < 0.4 + 0.05 + 0.5 for gap in gaps), gaps  # capped at reconnect_max
    assert "hotline-secret" not in caplog.text

    fake.reject_logins = False
    items = await running.items_until(Reconciliation)
    # One LinkState for the whole failing period, not one per attempt.
    assert [item.up for item in items if isinstance(item, LinkState)] == [True]


def test_backoff_grows_to_the_cap_and_stays_there_through_a_long_outage(pbx):
    link = AmiLink(pbx, asyncio.Queue())
    assert pbx.reconnect_min / 2 <= link._backoff(0) <= pbx.reconnect_min
    assert pbx.reconnect_max / 2 <= link._backoff(3) <= pbx.reconnect_max
    assert pbx.reconnect_max / 2 <= link._backoff(100_000) <= pbx.reconnect_max


async def test_unreachable_pbx_is_reported_and_run_never_raises(start_link, pbx):
    async with FakeAsterisk() as closed:
        port = closed.port
    running = start_link(port=port)
    down = await running.next(LinkState)
    assert not down.up and down.reason.startswith(f"cannot reach 127.0.0.1:{port}")
    await running.finish()
    assert running.task.result() is None


# -- watchdog and reconnects ------------------------------------------------------------------


async def test_ping_watchdog_detects_a_silent_server_and_reconnects(fake, start_link):
    running = start_link(ping_interval=0.1, action_timeout=0.3)
    await running.next(Reconciliation)
    await fake.wait_for(lambda: fake.pings >= 1)
    fake.silence()  # the TCP connection stays open, but nothing comes back: half-open
    down = await running.next(LinkState)
    assert (down.up, down.reason) == (False, "no Pong within 0.3 s (half-open link)")
    up = await running.next(LinkState)
    assert up.up
    await running.next(Reconciliation)


async def test_reconnects_after_each_drop_and_reconciles_first(fake, start_link):
    fake.channels["1795811307.45"] = waiting_citizen("1795811307.45", 2)
    running = start_link()
    first = await running.next(Reconciliation)
    assert [c["Uniqueid"] for c in first.channels] == ["1795811307.45"]
    for _ in range(2):
        # Cut in the middle of a message: its first half must never surface as an event.
        fake.drop(partial=b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: Local/1")
        down = await running.next(LinkState)
        assert not down.up and down.reason.startswith("connection"), down.reason
        items = await running.items_until(Reconciliation)
        assert not any(isinstance(item, AmiEvent) for item in items)
        assert [type(item) for item in items[-2:]] == [LinkState, Reconciliation]
        assert items[-1].channels == first.channels
        assert (await running.next(AmiEvent)).fields["Event"] == "FullyBooted"
    assert fake.logins == 3


async def test_reconciliation_carries_the_call_variables_of_the_live_channels(fake, start_link):
    citizen, line = waiting_citizen("1795811307.44", 1), waiting_citizen("1795811307.45", 2)
    line.variables = {"HOTLINE": "12345", "MIXMONITOR_FILENAME": "/spool/1795811307.45.wav",
                      "QUEUENAME": "hotline"}
    fake.channels = {channel.uniqueid: channel for channel in (citizen, line)}
    running = start_link()
    reconciliation = await running.next(Reconciliation)
    assert reconciliation.variables == {
        "1795811307.45": {"HOTLINE": "12345", "MIXMONITOR_FILENAME": "/spool/1795811307.45.wav"},
    }
    [status] = [request for request in fake.requests if request.name == "Status"]
    assert status.get("Variables") == "HOTLINE,MIXMONITOR_FILENAME,CASE_ID"


class StatusRefused(FakeAsterisk):
    """An Asterisk whose AMI user may not run Status (manager.conf `read` without `call`)."""

    async def action_status(self, session, request) -> None:
        session.respond(request, "Error", ("Message", "Permission denied"))


async def test_a_refused_status_costs_the_variables_not_the_link(caplog):
    async with StatusRefused() as server:
        server.channels["1795811307.45"] = waiting_citizen("1795811307.45", 2)
        link = AmiLink(PbxConfig(name="test", port=server.port, secret="hotline-secret",
                                 action_timeout=1.0), asyncio.Queue())
        running = RunningLink(link, link.sink)
        try:
            reconciliation = await running.next(Reconciliation)
            assert [c["Uniqueid"] for c in reconciliation.channels] == ["1795811307.45"]
            assert reconciliation.variables == {}
            assert link.up
        finally:
            await running.finish()
    assert "AMI test: no channel variables at reconnect (Status refused by test: Permission " \
        "denied)" in caplog.text


async def test_no_live_channel_needs_no_status(fake, start_link):
    running = start_link()
    assert (await running.next(Reconciliation)).variables == {}
    assert [request.name for request in fake.requests] == ["Login", "CoreShowChannels"]


async def test_a_shutdown_event_ends_the_connection_and_the_link_comes_back(fake, start_link):
    running = start_link()
    await running.next(Reconciliation)
    await fake.send_raw(
        b"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\nRestart: True\r\n\r\n"
    )
    down = await running.next(LinkState)
    assert (down.up, down.reason) == (False, "Asterisk is shutting down")
    await running.next(Reconciliation)


# -- framing ------------------------------------------------------------------------------


async def test_a_chinese_caller_name_split_between_two_reads_survives(fake, start_link):
    running = start_link()
    await running.next(Reconciliation)
    # Watch what each read from the socket hands the link's protocol (a spy: every read still
    # goes through), so the second part is sent only once the first has been read on its own.
    protocol = running.link._protocol
    reads: asyncio.Queue[bytes] = asyncio.Queue()
    received = protocol.data_received

    def read(data: bytes) -> None:
        reads.put_nowait(data)
        received(data)

    protocol.data_received = read
    data = newchannel("张三市民")
    cut = data.index("张".encode()) + 1  # inside the three bytes of 张
    await fake.send_raw(data[:cut])
    async with asyncio.timeout(3):
        first = await reads.get()
    assert first.endswith(data[:cut])  # this read ends one byte into 张
    await fake.send_raw(data[cut:])
    event = await next_call_event(running)
    assert event.fields["CallerIDName"] == "张三市民"


async def test_malformed_messages_are_skipped_and_the_link_stays_up(fake, start_link):
    running = start_link()
    await running.next(Reconciliation)
    await fake.send_raw(
        b"Event: Newexten\r\nthis line has no colon\r\n\r\n",
        b"Event: Newexten\r\nAppData: " + b"x" * (1024 * 1024) + b"\r\n\r\n",
        b"Event: Newchannel\r\nCallerIDName: \xff\xfe\xe5\r\n\r\n",
        newchannel("王芳"),
    )
    event = await next_call_event(running)
    assert event.fields["CallerIDName"] == "王芳"
    assert running.link.frames_skipped == 3
    assert running.link.up
    assert running.sink.empty()  # no LinkState down came with them
    assert (await running.link.send({"Action": "Ping"}))[0]["Ping"] == "Pong"


async def test_event_time_is_the_timestamp_header_when_asterisk_sends_one(fake, start_link):
    running = start_link()
    await running.next(Reconciliation)
    base = 1795811542.0
    sent = await fake.replay("c-hotline-inbound-call", timestamp_base=base)
    first = await next_call_event(running)
    assert first.fields["Uniqueid"] == dict(sent[0].fields)["Uniqueid"]
    assert abs(first.at - datetime.fromtimestamp(base + sent[0].t, UTC)) < timedelta(milliseconds=1)


async def test_event_time_is_the_receive_time_without_timestamp(fake, start_link):
    running = start_link()
    await running.next(Reconciliation)
    before = datetime.now(UTC)
    await fake.replay("d-queue-call-agent-answers")
    event = await next_call_event(running)
    assert "Timestamp" not in event.fields
    assert before <= event.at <= datetime.now(UTC)


async def test_a_whole_capture_arrives_event_for_event(fake, start_link):
    running = start_link()
    await running.next(Reconciliation)
    sent = await fake.replay("d-queue-call-agent-answers")
    got = [await next_call_event(running) for _ in sent]
    assert [dict(e.fields) for e in got] == [dict(frame.fields) for frame in sent]
    assert running.link.events_received >= len(sent)


async def test_a_burst_of_thousands_of_events_arrives_whole_and_in_order(fake, start_link):
    running = start_link()
    await running.next(Reconciliation)
    sent = []
    for _ in range(40):  # about 3,900 events, 1.7 MB, as fast as the socket takes them
        sent += await fake.replay("c-hotline-inbound-call")
    async with asyncio.timeout(10):
        got = [await next_call_event(running) for _ in sent]
    assert [dict(e.fields) for e in got] == [dict(frame.fields) for frame in sent]
    assert running.link.frames_skipped == 0


# -- actions ------------------------------------------------------------------------------


async def test_originate_returns_the_correlated_originate_response(fake, start_link):
    fake.originate_outcomes = [ANSWERED]
    fake.originate_delay = 0.05
    running = start_link()
    await running.next(Reconciliation)
    outcome = await running.link.originate(
        "Local/s@caller-sim",
        context="survey-out",
        exten="s",
        caller_id='"12319热线" <12319>',
        variables={"CASE_ID": "CASE-2024-0001", "SURVEY_KIND": "callback"},
        action_id="survey-CASE-2024-0001",
    )
    assert outcome["Event"] == "OriginateResponse"
    assert outcome["ActionID"] == "survey-CASE-2024-0001"
    assert (outcome["Response"], outcome["Reason"]) == ("Success", "4")
    assert outcome["Channel"].startswith("Local/s@caller-sim-")
    assert outcome["CallerIDName"] == "12319热线"
    request = fake.requests[-1]
    assert request.get_all("Variable") == ["CASE_ID=CASE-2024-0001", "SURVEY_KIND=callback"]
    assert request.get("Async") == "true"
    # panoramisk hands the OriginateResponse to the action only; the link also puts it in the
    # sink, once, for the call tracker.
    event = await running.next(AmiEvent, lambda e: e.fields["Event"] == "OriginateResponse")
    assert event.fields["ActionID"] == "survey-CASE-2024-0001"
    await running.link.send({"Action": "Ping"})
    while not running.sink.empty():
        assert running.sink.get_nowait().fields["Event"] != "OriginateResponse"


async def test_originate_failure_form(fake, start_link):
    fake.originate_outcomes = [BUSY]
    running = start_link()
    await running.next(Reconciliation)
    outcome = await running.link.originate(
        "Local/13800138000@outbound", context="survey-out", exten="s", caller_id="<12345>"
    )
    assert (outcome["Response"], outcome["Reason"]) == ("Failure", "5")
    assert outcome["Channel"] == "Local/13800138000@outbound"
    assert outcome["Uniqueid"] == "<unknown>"


async def test_originate_to_a_missing_extension_is_refused(fake, start_link):
    fake.originate_outcomes = [None]
    running = start_link()
    await running.next(Reconciliation)
    with pytest.raises(AmiError, match="Extension does not exist"):
        await running.link.originate("Local/99@nowhere", context="nowhere", exten="99")


async def test_an_action_without_reply_times_out(fake, start_link):
    running = start_link(action_timeout=0.2, ping_interval=60)
    await running.next(Reconciliation)
    fake.silence()
    started = time.monotonic()
    with pytest.raises(AmiError, match="no reply within 0.2 s"):
        await running.link.send({"Action": "Getvar", "Channel": "x", "Variable": "HOTLINE"})
    assert time.monotonic() - started < 1.0
    assert running.link._protocol is not None and not running.link._protocol.responses


async def test_send_while_down_raises(pbx):
    link = AmiLink(pbx, asyncio.Queue())
    with pytest.raises(AmiError, match="is down"):
        await link.send({"Action": "Ping"})


async def test_a_line_break_in_a_value_is_refused_not_sent(fake, start_link):
    running = start_link()
    await running.next(Reconciliation)
    with pytest.raises(AmiError, match="line break"):
        await running.link.send(
            {"Action": "Setvar", "Channel": "x", "Variable": "A", "Value": "1\r\nAction: Command"}
        )
    assert [r.name for r in fake.requests] == ["Login", "CoreShowChannels"]


async def test_a_drop_fails_the_pending_action_instead_of_resending_it(fake, start_link):
    fake.originate_delay = 5
    running = start_link()
    await running.next(Reconciliation)
    pending = asyncio.create_task(
        running.link.originate("Local/12345@hotline-in", context="caller-sim", exten="s")
    )
    await fake.wait_for(lambda: fake.requests[-1].name == "Originate")
    fake.drop()
    with pytest.raises(AmiError, match="closed before the reply"):
        await pending
    await running.next(Reconciliation)
    assert [r.name for r in fake.requests].count("Originate") == 1


async def test_core_show_channels_lists_live_channels(fake, start_link):
    fake.channels["1795811307.44"] = waiting_citizen("1795811307.44", 1)
    fake.channels["1795811307.45"] = waiting_citizen("1795811307.45", 2)
    running = start_link()
    reconciliation = await running.next(Reconciliation)
    assert [c["Channel"] for c in reconciliation.channels] == [
        "Local/12300@hotline-in-00000016;1",
        "Local/12300@hotline-in-00000016;2",
    ]
    assert reconciliation.channels[1]["CallerIDName"] == "李四"
    assert reconciliation.channels[1]["Application"] == "Queue"
    assert "ActionID" not in reconciliation.channels[0]
    replies = await running.link.send({"Action": "CoreShowChannels"})
    assert [r.get("Event") for r in replies] == [
        None, "CoreShowChannel", "CoreShowChannel", "CoreShowChannelsComplete",
    ]
    assert replies[-1]["ListItems"] == "2"


async def test_core_show_channels_empty_list(fake, start_link):
    running = start_link()
    assert (await running.next(Reconciliation)).channels == []
    replies = await running.link.send({"Action": "CoreShowChannels"})
    assert replies[0]["EventList"] == "start"
    assert (replies[-1]["Event"], replies[-1]["ListItems"]) == ("CoreShowChannelsComplete", "0")


async def test_command_status_getvar_setvar(fake, start_link):
    citizen = waiting_citizen("1795811307.45", 2)
    citizen.variables["HOTLINE"] = "12345"
    fake.channels[citizen.uniqueid] = citizen
    running = start_link()
    await running.next(Reconciliation)
    send = running.link.send

    assert (await send({"Action": "Command", "Command": "core show version"}))[0]["Output"] == VERSION
    with pytest.raises(AmiError, match="Command output follows"):
        await send({"Action": "Command", "Command": "no such cli command"})

    status = await send({"Action": "Status", "Channel": citizen.name, "Variables": "HOTLINE,CASE_ID"})
    assert [r.get("Event") for r in status] == [None, "Status", "StatusComplete"]
    assert status[1]["Variable"] == ["HOTLINE=12345", "CASE_ID=(null)"]

    await send({"Action": "Setvar", "Channel": citizen.name, "Variable": "TICKET", "Value": "T-42"})
    value = await send({"Action": "Getvar", "Channel": citizen.name, "Variable": "TICKET"})
    assert value[0]["Value"] == "T-42"
    varset = await next_call_event(running)
    assert (varset.fields["Event"], varset.fields["Value"]) == ("VarSet", "T-42")
    with pytest.raises(AmiError, match="No such channel"):
        await send({"Action": "Getvar", "Channel": "Local/nope-00000000;1", "Variable": "X"})


# -- stop -----------------------------------------------------------------------------------


async def test_stop_logs_off_cleanly(fake, start_link):
    running = start_link()
    await running.next(Reconciliation)
    await running.finish()
    assert fake.requests[-1].name == "Logoff"
    last = await running.next(LinkState)
    assert (last.up, last.reason) == (False, "stopped")
    assert not running.link.up
    assert not fake.sessions


async def test_a_bounded_sink_is_refused(pbx):
    with pytest.raises(ValueError, match="unbounded"):
        AmiLink(pbx, asyncio.Queue(maxsize=10))


def test_capture_events_leave_out_replies_and_login_events():
    names = [frame.as_dict()["Event"] for frame in capture_events("c-hotline-inbound-call")]
    assert names[0] == "Newchannel" and names[-1] == "Cdr"
    assert "FullyBooted" not in names and "OriginateResponse" not in names
