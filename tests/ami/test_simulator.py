"""The PBX simulator, watched through a real AmiLink: its calls are the event sequences of the
captures, CoreShowChannels tells the truth, recordings land in the spool, the call tracker
understands it all."""

from __future__ import annotations

import asyncio
import wave
from dataclasses import replace
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.ami import AmiEvent, Reconciliation
from hotline.calls import CallTracker
from hotline.simulator import ANSWERED, BUSY, PbxSimulator, Traffic
from tests.ami.conftest import RunningLink
from tests.captures import Frame, raw_bytes

FAST = 0.001  # a simulated second lasts a millisecond
# Every call reaches an agent who answers at once.
CERTAIN = Traffic(ivr_hangups=0, ring_no_answer=0, mean_patience_seconds=1e9, wrapup_seconds=0)


@pytest.fixture
async def simulate(
    tmp_path, start_link
) -> AsyncIterator[Callable[..., Awaitable[tuple[PbxSimulator, RunningLink]]]]:
    """Start a PbxSimulator (spool in tmp_path) and an AmiLink logged in to it."""
    simulators: list[PbxSimulator] = []

    async def start(traffic: Traffic = CERTAIN, **options) -> tuple[PbxSimulator, RunningLink]:
        options.setdefault("time_scale", FAST)
        simulator = PbxSimulator(traffic, spool=tmp_path / "spool", seed=7, **options)
        await simulator.start()
        simulators.append(simulator)
        running = start_link(port=simulator.port)
        await running.next(Reconciliation)
        return simulator, running

    yield start
    for simulator in simulators:
        await simulator.close()


async def call_events(running: RunningLink) -> list[AmiEvent]:
    """Every call event the simulator sent before now (a Ping's reply comes after them)."""
    await running.link.send({"Action": "Ping"})
    events = []
    while not running.sink.empty():
        item = running.sink.get_nowait()
        if isinstance(item, AmiEvent) and item.fields["Event"] not in ("FullyBooted", "SuccessfulAuth"):
            events.append(item)
    return events


async def events_so_far(running: RunningLink) -> list[dict[str, str]]:
    """The fields of every call event the simulator sent before now."""
    return [dict(event.fields) for event in await call_events(running)]


# What the captures hold that is not the call itself: the capture system's own dialplan steps
# (Newexten, the AGI commands, Playback's PLAYBACKSTATUS; a hotline's dialplan differs), device
# and queue-member states, the OriginateResponse of the client that placed the captured call, and
# the login's events.
NOT_THE_CALL = {"Newexten", "AGIExecStart", "AGIExecEnd", "DeviceStateChange", "QueueMemberStatus",
                "QueueMemberPause", "OriginateResponse", "FullyBooted", "SuccessfulAuth"}
# Values that are Asterisk's behaviour rather than the capture system's data (names, numbers, ids,
# times and the dialplan's language differ by design).
COMPARED = ("Privilege", "ChannelState", "DestChannelState", "Context", "DestContext", "Cause",
            "Cause-txt", "DialStatus", "Reason", "Disposition", "LocalOptimization",
            "BridgeNumChannels", "Position", "Count")


def capture_messages(name: str) -> list[dict[str, str]]:
    """Every event in the capture file `name`.ami, the exact bytes Asterisk sent."""
    _banner, _, messages = raw_bytes(name).decode("utf-8").partition("\r\n")
    return [
        fields for block in messages.split("\r\n\r\n")
        if "Event" in (fields := dict(Frame(0.0, block).fields))
    ]


def call_shape(events: list[dict[str, str]]) -> list[tuple]:
    """A call's events as Asterisk's behaviour shows them: name, the channels' roles (the first
    Local pair is the citizen's, `citizen;1`/`citizen;2`, the next the agent's), the variable
    set, the field names in order, and the values that do not depend on the call's data."""
    pairs: dict[str, str] = {}

    def role(channel: str | None) -> str | None:
        if channel is None:
            return None
        pair, _, side = channel.rpartition(";")
        if pair not in pairs:
            pairs[pair] = ("citizen", "agent")[len(pairs)]
        return f"{pairs[pair]};{side}"

    return [
        (
            event["Event"], role(event.get("Channel") or event.get("LocalOneChannel")),
            role(event.get("DestChannel")), event.get("Variable"),
            [key for key in event if key != "Timestamp"],
            {key: event[key] for key in COMPARED if key in event},
        )
        for event in events
        if event["Event"] not in NOT_THE_CALL and event.get("Variable") != "PLAYBACKSTATUS"
    ]


def queued_call_shape(queue_capture: str) -> list[tuple]:
    """A hotline call that reaches the queue as Asterisk 22 sends it: capture c up to the IVR's
    AGI() returning (AGISTATUS set), then `queue_capture` from its Queue() on (the step after
    MixMonitor; the captures' 12300 goes to the queue with no IVR)."""
    inbound = call_shape(capture_messages("c-hotline-inbound-call"))
    queued = call_shape(capture_messages(queue_capture))
    ivr_end = next(i for i, event in enumerate(inbound) if event[3] == "AGISTATUS")
    queue_start = next(i for i, event in enumerate(queued) if event[0] == "MixMonitorStart") + 1
    return inbound[: ivr_end + 1] + queued[queue_start:]


@pytest.mark.parametrize(("agent_hangs_up", "capture"), [
    (1.0, "d-queue-call-agent-answers"), (0.0, "f-queue-call-caller-hangs-up"),
])
async def test_an_answered_call_is_the_capture_sequence(simulate, agent_hangs_up, capture):
    simulator, running = await simulate(replace(CERTAIN, agent_hangs_up=agent_hangs_up), agents=1)
    assert await simulator.inbound_call("12345", "13800138000", "张三市民") == "answered"
    events = await events_so_far(running)

    assert call_shape(events) == queued_call_shape(capture)
    linkedids = {e["Linkedid"] for e in events if "Linkedid" in e}
    first = events[0]
    assert linkedids == {first["Uniqueid"]} and first["Channel"].endswith(";1")
    variables = {e["Variable"]: e["Value"] for e in events if e["Event"] == "VarSet"}
    assert variables["HOTLINE"] == "12345"
    callerid = next(e for e in events if e["Event"] == "NewCallerid")
    assert (callerid["CallerIDNum"], callerid["CallerIDName"]) == ("13800138000", "张三市民")
    connect = next(e for e in events if e["Event"] == "AgentConnect")
    assert connect["Queue"] == "hotline-12345" and connect["MemberName"].startswith("坐席")

    with wave.open(variables["MIXMONITOR_FILENAME"]) as recording:
        assert (recording.getframerate(), recording.getsampwidth(), recording.getnchannels()) == (
            8000, 2, 1,
        )
        assert recording.getnframes() > 0
    assert simulator.channels == {}
    replies = await running.link.send({"Action": "CoreShowChannels"})
    assert replies[-1]["ListItems"] == "0"


async def test_a_caller_out_of_patience_abandons(simulate):
    simulator, running = await simulate(
        Traffic(ivr_hangups=0, mean_patience_seconds=5), agents=0
    )
    assert await simulator.inbound_call("12319") == "abandoned"
    events = await events_so_far(running)
    assert call_shape(events) == queued_call_shape("h-queue-caller-abandons")
    recording = next(e["Value"] for e in events if e.get("Variable") == "MIXMONITOR_FILENAME")
    assert Path(recording).stat().st_size == 44  # never bridged: MixMonitor's empty WAV


async def test_core_show_channels_lists_a_call_waiting_in_the_queue(simulate):
    simulator, running = await simulate(
        Traffic(ivr_hangups=0, mean_patience_seconds=1e9), agents=0
    )
    call = asyncio.create_task(simulator.inbound_call("12345", "13900000000", "Li Wei"))
    joined = await running.next(AmiEvent, lambda e: e.fields["Event"] == "QueueCallerJoin")
    replies = await running.link.send({"Action": "CoreShowChannels"})
    channels = [r for r in replies if r.get("Event") == "CoreShowChannel"]
    assert [c["Channel"][-2:] for c in channels] == [";1", ";2"]
    assert {c["Linkedid"] for c in channels} == {joined.fields["Linkedid"]}
    assert channels[1]["Application"] == "Queue"
    assert channels[1]["CallerIDName"] == "Li Wei"
    status = await running.link.send(
        {"Action": "Status", "Channel": channels[1]["Channel"], "Variables": "HOTLINE"}
    )
    assert status[1]["Variable"] == "HOTLINE=12345"
    call.cancel()


async def test_callbacks_ring_and_are_answered_or_fail(simulate):
    simulator, running = await simulate(Traffic(originate_outcomes=((ANSWERED, 1.0),)))
    outcome = await running.link.originate(
        "Local/13800138000@caller-sim", context="survey-out", exten="s",
        caller_id='"12345热线" <12345>', variables={"CASE_ID": "CASE-2024-0001"},
    )
    assert (outcome["Response"], outcome["Reason"]) == ("Success", "4")
    live = await running.link.send({"Action": "Status", "Channel": outcome["Channel"],
                                    "Variables": "CASE_ID"})
    assert live[1]["Variable"] == "CASE_ID=CASE-2024-0001"
    assert live[1]["Uniqueid"] == outcome["Uniqueid"]

    simulator.traffic = Traffic(originate_outcomes=((BUSY, 1.0),))
    busy = await running.link.originate("Local/13900000000@caller-sim", context="survey-out",
                                        exten="s")
    assert (busy["Response"], busy["Reason"], busy["Uniqueid"]) == ("Failure", "5", "<unknown>")


async def test_timestampevents_stamp_every_event(simulate):
    simulator, running = await simulate(agents=1, timestampevents=True)
    before = datetime.now(UTC)
    await simulator.inbound_call("12345")
    after = datetime.now(UTC)
    events = await call_events(running)

    assert len(events) > 50  # the whole call, queue and agent included
    stamps = [datetime.fromtimestamp(float(event.fields["Timestamp"]), UTC) for event in events]
    assert [event.at for event in events] == stamps  # the link dates each event by its stamp
    assert stamps == sorted(stamps)
    # Microsecond stamps (Asterisk's `%ld.%06lu`) of the moment each event was sent.
    assert before - timedelta(milliseconds=1) <= stamps[0] and stamps[-1] <= after


async def test_poisson_traffic_is_understood_by_the_call_tracker(simulate):
    simulator, running = await simulate(
        Traffic(calls_per_minute=600, wrapup_seconds=0), agents=3, time_scale=0.002
    )
    stop = asyncio.Event()
    traffic = asyncio.create_task(simulator.run(stop))
    tracker = CallTracker("test", {"12345": "12345", "12319": "12319"})
    ended = []
    async with asyncio.timeout(20):
        while len(ended) < 12:
            item = await running.sink.get()
            if isinstance(item, AmiEvent):
                call = tracker.feed(item.fields, item.at)
                if call is not None and call.ended_at is not None:
                    ended.append(call)
    stop.set()
    await traffic
    assert {call.hotline for call in ended} <= {"12345", "12319"}
    assert all(call.recording and call.recording.endswith(".wav") for call in ended)
    assert all(call.caller_number and call.caller_number.startswith("1") for call in ended)
    with_agent = [call for call in ended if call.agent]
    assert all(call.answered_at is not None for call in with_agent)
