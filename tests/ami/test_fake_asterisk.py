"""The fake Asterisk (and so the simulator's AMI server core) against the real captures, byte for
byte: what the capture's client sent gets what Asterisk 22 answered, but for values that change
from run to run (times, session ids, addresses)."""

from __future__ import annotations

import asyncio
import re

from hotline.simulator import BANNER, Channel, epoch_stamp
from tests.captures import FIXTURES, Frame, raw_bytes, received_frames
from tests.fakes.asterisk import FakeAsterisk, capture_events

# Fields whose values depend on when and where the capture ran.
VOLATILE = re.compile(
    r"^(Uptime|LastReload|EventTV|SessionID|LocalAddress|RemoteAddress|SessionTV|Timestamp"
    r"|Duration|Seconds): .*$",
    re.MULTILINE,
)


def normalized(data: bytes) -> str:
    return VOLATILE.sub(r"\1: *", data.decode("utf-8"))


def sent_actions(name: str) -> dict[str, bytes]:
    """The actions the capture's client sent, by ActionID, as the exact bytes."""
    blocks = (FIXTURES / f"{name}.sent.ami").read_bytes().split(b"\r\n\r\n")
    return {
        Frame(0, block.decode()).as_dict()["ActionID"]: block + b"\r\n\r\n"
        for block in blocks
        if block
    }


class Wire:
    """A plain TCP client: the bytes on the socket, nothing interpreted."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, fake: FakeAsterisk) -> Wire:
        return cls(*await asyncio.open_connection("127.0.0.1", fake.port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def frame(self) -> bytes:
        async with asyncio.timeout(3):
            return await self.reader.readuntil(b"\r\n\r\n")

    async def replies(self, action_id: str, count: int) -> list[bytes]:
        """The next `count` messages carrying `action_id`; other messages are passed over."""
        found: list[bytes] = []
        while len(found) < count:
            data = await self.frame()
            if f"\r\nActionID: {action_id}\r\n".encode() in b"\r\n" + data:
                found.append(data)
        return found

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def logged_in(fake: FakeAsterisk, capture: str) -> Wire:
    """A session logged in with the capture's own Login, banner and login events read."""
    wire = await Wire.connect(fake)
    await wire.send(sent_actions(capture)["login-1"])
    async with asyncio.timeout(3):
        assert await wire.reader.readline() == BANNER
    for _ in range(3):  # the Login response, FullyBooted, SuccessfulAuth
        await wire.frame()
    return wire


async def test_login_ping_logoff_answers_as_the_capture(fake):
    wire = await Wire.connect(fake)
    await wire.send((FIXTURES / "a-login-ping-logoff.sent.ami").read_bytes())
    async with asyncio.timeout(3):
        received = await wire.reader.read()  # Logoff: Goodbye, then Asterisk closes
    assert normalized(received) == normalized(raw_bytes("a-login-ping-logoff"))


async def test_replay_sends_the_capture_bytes(fake):
    wire = await logged_in(fake, "c-hotline-inbound-call")
    raw = raw_bytes("c-hotline-inbound-call")
    expected, position = [], 0
    for frame in capture_events("c-hotline-inbound-call"):
        data = frame.text.encode("utf-8") + b"\r\n\r\n"
        position = raw.index(data, position)  # each replayed message is in the capture, in order
        expected.append(data)
    await fake.replay("c-hotline-inbound-call", fresh_ids=False)
    received = [await wire.frame() for _ in expected]
    assert b"".join(received) == b"".join(expected)
    await wire.close()


async def test_two_replays_are_two_calls(fake):
    wire = await logged_in(fake, "d-queue-call-agent-answers")
    first = await fake.replay("d-queue-call-agent-answers")
    second = await fake.replay("d-queue-call-agent-answers")

    def ids(frames: list[Frame], key: str) -> set[str]:
        return {f.as_dict()[key] for f in frames if key in f.as_dict()}

    assert ids(first, "Uniqueid").isdisjoint(ids(second, "Uniqueid"))
    assert ids(first, "BridgeUniqueid").isdisjoint(ids(second, "BridgeUniqueid"))
    assert ids(first, "Channel").isdisjoint(ids(second, "Channel"))
    for frames in (first, second):
        # Consistent: the Linkedid of every leg is the Uniqueid of the first `;1` channel, and
        # the Cdr's UniqueID and the MixMonitor file name follow the rewritten Uniqueid.
        newchannels = [f.as_dict() for f in frames if f.as_dict()["Event"] == "Newchannel"]
        assert ids(frames, "Linkedid") == {newchannels[0]["Uniqueid"]}
        assert ids(frames, "UniqueID") <= ids(frames, "Uniqueid")
        recording = next(f.as_dict() for f in frames if "MIXMONITOR_FILENAME" in f.text)
        assert recording["Value"].endswith(f"/{newchannels[1]['Uniqueid']}.wav")
    original = capture_events("d-queue-call-agent-answers")
    assert [f.as_dict().keys() for f in first] == [f.as_dict().keys() for f in original]
    await wire.close()


async def test_timestamps_go_after_privilege(fake):
    wire = await logged_in(fake, "c-hotline-inbound-call")
    sent = await fake.replay("c-hotline-inbound-call", timestamp_base=1795811542.0)
    lines = sent[0].text.split("\r\n")
    assert lines[:2] == ["Event: Newchannel", "Privilege: call,all"]
    assert lines[2] == f"Timestamp: {epoch_stamp(1795811542.0 + sent[0].t)}"
    await wire.close()


def capture_channels(name: str, action_id: str) -> list[Channel]:
    """The channels a capture's CoreShowChannels (`action_id`) listed, as the fake's channels."""
    channels = []
    for frame in received_frames(name):
        fields = frame.as_dict()
        if fields.get("Event") != "CoreShowChannel" or fields["ActionID"] != action_id:
            continue
        channels.append(
            Channel(
                fields["Channel"], fields["Uniqueid"], fields["Linkedid"], fields["Context"],
                fields["Exten"], state=int(fields["ChannelState"]),
                priority=int(fields["Priority"]), caller_num=fields["CallerIDNum"],
                caller_name=fields["CallerIDName"], connected_num=fields["ConnectedLineNum"],
                connected_name=fields["ConnectedLineName"], application=fields["Application"],
                application_data=fields["ApplicationData"],
            )
        )
    return channels


async def test_action_replies_match_the_capture(fake):
    name = "g-action-responses"
    for channel in capture_channels(name, "g-coreshowchannels"):
        fake.channels[channel.uniqueid] = channel
    fake.channels["1795811307.45"].variables["HOTLINE"] = "12300"
    frames = received_frames(name)
    fake.commands["core show channels"] = [
        line[len("Output: "):]
        for f in frames
        if "ActionID: g-command-multi" in f.text
        for line in f.text.split("\r\n")
        if line.startswith("Output: ")
    ]
    wire = await logged_in(fake, name)
    actions = sent_actions(name)
    for action_id in (
        "g-coreshowchannels", "g-status", "g-status-one", "g-getvar", "g-setvar", "g-command",
        "g-command-multi", "g-command-bad", "g-unknown", "g-getvar-nochan",
    ):
        expected = [
            f.text.encode() + b"\r\n\r\n" for f in frames if f.as_dict().get("ActionID") == action_id
        ]
        await wire.send(actions[action_id])
        got = await wire.replies(action_id, len(expected))
        assert [normalized(g) for g in got] == [normalized(e) for e in expected], action_id
    await wire.close()


async def test_unknown_action_also_raises_request_bad_format(fake):
    wire = await logged_in(fake, "g-action-responses")
    await wire.send(sent_actions("g-action-responses")["g-unknown"])
    await wire.replies("g-unknown", 1)
    event = await wire.frame()
    capture = next(f for f in received_frames("g-action-responses") if "RequestBadFormat" in f.text)
    assert normalized(event) == normalized(capture.text.encode() + b"\r\n\r\n")
    await wire.close()


async def test_an_action_before_login_is_denied_and_the_session_stays_open(fake):
    wire = await Wire.connect(fake)
    await wire.send(b"Action: Ping\r\nActionID: early\r\n\r\n")
    assert await wire.reader.readline() == BANNER
    assert await wire.frame() == (
        b"Response: Error\r\nActionID: early\r\nMessage: Permission denied\r\n\r\n"
    )
    await wire.send(sent_actions("a-login-ping-logoff")["login-1"])
    assert (await wire.frame()).startswith(b"Response: Success\r\nActionID: login-1\r\n")
    await wire.close()


async def test_a_wrong_secret_is_refused_then_the_socket_closed(fake):
    wire = await Wire.connect(fake)
    await wire.send(b"Action: Login\r\nActionID: l\r\nUsername: hotline\r\nSecret: nope\r\n\r\n")
    async with asyncio.timeout(3):
        received = await wire.reader.read()
    assert received == BANNER + (
        b"Response: Error\r\nActionID: l\r\nMessage: Authentication failed\r\n\r\n"
    )


async def test_empty_core_show_channels_matches_the_capture(fake):
    wire = await logged_in(fake, "g-action-responses")
    await wire.send(sent_actions("g-action-responses")["g-coreshowchannels-empty"])
    got = await wire.replies("g-coreshowchannels-empty", 2)
    expected = [
        f.text.encode() + b"\r\n\r\n"
        for f in received_frames("g-action-responses")
        if "ActionID: g-coreshowchannels-empty" in f.text
    ]
    assert got == expected
    await wire.close()
