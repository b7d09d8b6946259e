"""An AMI server that speaks as Asterisk 22 does on the wire, and a PBX simulator built on it.

`AmiServer` is the protocol core: the banner, CRLF framing, Login/Logoff, Ping, the permission
check, ActionID echo, event lists and the errors, with field names and order as in the real
captures (tests/fixtures/ami). `PbxSimulator` adds hotline traffic: citizens calling 12345 and
12319, an IVR, a queue, agents, abandons, failed callbacks, and MixMonitor files.

Run a demo PBX with `python -m hotline.simulator --port 5038 --rate 6 --time-scale 0.2`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import math
import random
import signal
import time
import uuid
import wave
from array import array
from collections import Counter
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
CRLF = "\r\n"
# ChannelState numbers and their ChannelStateDesc (Asterisk's enum ast_channel_state).
STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
ANSWERED, FAILED, NO_ANSWER, BUSY = 4, 0, 3, 5

Fields = list[tuple[str, str]]


def event_class(name: str) -> str:
    """The Privilege of a call event: app_queue raises its Queue*/Agent* events in the `agent`
    class (EVENT_FLAG_AGENT), the channel core in `call` (captures d, f and g)."""
    return "agent,all" if name.startswith(("Queue", "Agent")) else "call,all"


def encode_message(fields: Iterable[tuple[str, str]]) -> bytes:
    """One AMI message: `Key: value` lines, each CRLF-terminated, then an empty line."""
    return ("".join(f"{key}: {value}{CRLF}" for key, value in fields) + CRLF).encode("utf-8")


def caller_id(text: str) -> tuple[str, str]:
    """Number and name of a `"Name" <number>` caller id, `<unknown>` for what is missing."""
    name, bracket, number = text.rpartition("<")
    if not bracket:
        name, number = "", text
    return number.rstrip(">").strip() or "<unknown>", name.strip().strip('"') or "<unknown>"


def epoch_stamp(now: float) -> str:
    """Asterisk's `Timestamp:` value, seconds and microseconds: 1795811268.055743."""
    return f"{now:.6f}"


def event_tv(now: float) -> str:
    """Asterisk's EventTV/SessionTV format, e.g. 2026-11-27T20:27:47.053+0000."""
    stamp = datetime.fromtimestamp(now, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000"


@dataclass
class Channel:
    """A live channel as Asterisk snapshots it in every channel event."""

    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    state: int = 0
    priority: int = 1
    caller_num: str = "<unknown>"
    caller_name: str = "<unknown>"
    connected_num: str = "<unknown>"
    connected_name: str = "<unknown>"
    language: str = "en"
    account_code: str = ""
    application: str = ""
    application_data: str = ""
    bridge_id: str = ""
    created_at: float = field(default_factory=time.time)
    answered_at: float | None = None
    variables: dict[str, str] = field(default_factory=dict)

    def snapshot(self, prefix: str = "") -> Fields:
        """The channel fields every channel event carries, optionally prefixed (`Dest`, ...)."""
        return [
            (f"{prefix}Channel", self.name),
            (f"{prefix}ChannelState", str(self.state)),
            (f"{prefix}ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
            (f"{prefix}CallerIDNum", self.caller_num),
            (f"{prefix}CallerIDName", self.caller_name),
            (f"{prefix}ConnectedLineNum", self.connected_num),
            (f"{prefix}ConnectedLineName", self.connected_name),
            (f"{prefix}Language", self.language),
            (f"{prefix}AccountCode", self.account_code),
            (f"{prefix}Context", self.context),
            (f"{prefix}Exten", self.exten),
            (f"{prefix}Priority", str(self.priority)),
            (f"{prefix}Uniqueid", self.uniqueid),
            (f"{prefix}Linkedid", self.linkedid),
        ]

    def duration(self) -> str:
        """How long the channel has lived, as CoreShowChannel's `Duration: HH:MM:SS`."""
        seconds = int(time.time() - self.created_at)
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class AmiRequest:
    """An action a client sent: ordered headers, read case-insensitively as Asterisk does."""

    def __init__(self, fields: Fields) -> None:
        self.fields = fields

    @classmethod
    def parse(cls, block: bytes) -> AmiRequest:
        fields = []
        for line in block.decode("utf-8", "replace").split(CRLF):
            key, sep, value = line.partition(":")
            if sep:
                fields.append((key.strip(), value.strip()))
        return cls(fields)

    def get(self, key: str, default: str = "") -> str:
        return next((v for k, v in self.fields if k.lower() == key.lower()), default)

    def get_all(self, key: str) -> list[str]:
        return [v for k, v in self.fields if k.lower() == key.lower()]

    @property
    def name(self) -> str:
        return self.get("Action")

    def echo(self) -> Fields:
        """The `ActionID` field to echo in a reply, or nothing when the action had none."""
        action_id = self.get("ActionID")
        return [("ActionID", action_id)] if action_id else []


class AmiSession:
    """One client connection to the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.authenticated = False
        self.username = ""
        self.events = True
        self.started = time.time()
        self.session_id = f"0x{id(self):x}"
        local = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        remote = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        self.local_address = f"IPV4/TCP/{local[0]}/{local[1]}"
        self.remote_address = f"IPV4/TCP/{remote[0]}/{remote[1]}"

    def write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def respond(self, request: AmiRequest, response: str, *fields: tuple[str, str]) -> None:
        """A response block: Response, the echoed ActionID (only if the action had one), fields."""
        self.write(encode_message([("Response", response), *request.echo(), *fields]))

    def close(self) -> None:
        self.writer.close()


class AmiServer:
    """The Asterisk Manager Interface as Asterisk 22 speaks it, on 127.0.0.1 (port 0 allowed).

    A subclass adds an action by defining `async def action_<name in lower case>(session,
    request)`; live channels are kept in `channels` (by Uniqueid) for CoreShowChannels/Status.
    `timestampevents` adds the `Timestamp:` header of manager.conf's option to every event;
    `auth_failure_delay` is how long a wrong secret waits before its refusal (about 1 s on a
    real Asterisk; tests want less).
    """

    def __init__(
        self,
        *,
        username: str = "hotline",
        secret: str = "hotline-secret",
        timestampevents: bool = False,
        auth_failure_delay: float = 1.0,
    ) -> None:
        self.username = username
        self.secret = secret
        self.timestampevents = timestampevents
        self.auth_failure_delay = auth_failure_delay
        self.channels: dict[str, Channel] = {}
        self.sessions: set[AmiSession] = set()
        self.logins = 0
        self.started = time.time()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: set[asyncio.Task[None]] = set()
        self._uniqueids = itertools.count(1)
        self._local_ids = itertools.count(1)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, host, port)

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the server first"
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Connection handlers end by themselves once their socket is aborted. Cancelling them
        # instead makes Python 3.11's start_server log a CancelledError traceback.
        if self._connections:
            await asyncio.wait(self._connections, timeout=1.0)
        for task in self._connections:
            task.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> AmiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- ids --------------------------------------------------------------------------------

    def new_uniqueid(self) -> str:
        """A fresh Uniqueid, `<epoch>.<sequence>` like Asterisk's."""
        return f"{int(time.time())}.{next(self._uniqueids)}"

    def new_local_suffix(self) -> str:
        """A fresh Local channel suffix: 8 hex digits, as in `Local/12345@hotline-in-000001b6;1`."""
        return f"{next(self._local_ids):08x}"

    @staticmethod
    def new_bridge_id() -> str:
        """A fresh BridgeUniqueid (Asterisk uses a UUID)."""
        return str(uuid.uuid4())

    # -- events -----------------------------------------------------------------------------

    def event_bytes(self, name: str, privilege: str, fields: Sequence[tuple[str, str]]) -> bytes:
        """An unsolicited event as manager.c builds it: Event, Privilege, [Timestamp], fields."""
        head = [("Event", name), ("Privilege", privilege)]
        if self.timestampevents:
            head.append(("Timestamp", epoch_stamp(time.time())))
        return encode_message([*head, *fields])

    def emit(self, name: str, privilege: str, fields: Sequence[tuple[str, str]]) -> None:
        """Send an event to every logged-in session that asked for events."""
        self.broadcast(self.event_bytes(name, privilege, fields))

    def broadcast(self, data: bytes) -> None:
        for session in list(self.sessions):
            if session.authenticated and session.events:
                session.write(data)

    @staticmethod
    def security_fields(severity: str) -> Fields:
        """The head of every security event (SuccessfulAuth, RequestBadFormat, ...)."""
        return [
            ("EventTV", event_tv(time.time())),
            ("Severity", severity),
            ("Service", "AMI"),
            ("EventVersion", "1"),
        ]

    # -- connection -------------------------------------------------------------------------

    def spawn(self, work: Coroutine[object, object, None]) -> None:
        """Run background work (a call, an originate) that close() cancels."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("simulated work failed", exc_info=task.exception())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        session = AmiSession(reader, writer)
        self.sessions.add(session)
        try:
            session.write(BANNER)
            while not writer.is_closing():
                try:
                    block = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    break
                await self.handle(session, AmiRequest.parse(block))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self.sessions.discard(session)
            self._connections.discard(task)
            writer.close()

    async def handle(self, session: AmiSession, request: AmiRequest) -> None:
        """Answer one action, as manager.c's process_message does."""
        name = request.name.lower()
        if not session.authenticated and name not in ("login", "logoff"):
            session.respond(request, "Error", ("Message", "Permission denied"))
            return
        handler = getattr(self, f"action_{name}", None) if name.isalnum() else None
        if handler is None:
            session.respond(
                request,
                "Error",
                (
                    "Message",
                    f"Invalid/unknown command: {request.name}. "
                    "Use Action: ListCommands to show available commands.",
                ),
            )
            self.emit(
                "RequestBadFormat",
                "security,all",
                [
                    *self.security_fields("Error"),
                    ("SessionID", session.session_id),
                    ("LocalAddress", session.local_address),
                    ("RemoteAddress", session.remote_address),
                    ("RequestType", f"Action: {request.name}"),
                    ("SessionTV", event_tv(session.started)),
                    ("AccountID", session.username),
                ],
            )
            return
        await handler(session, request)

    # -- actions ----------------------------------------------------------------------------

    def accepts(self, request: AmiRequest) -> bool:
        """Whether a Login's credentials are good."""
        return request.get("Username") == self.username and request.get("Secret") == self.secret

    async def action_login(self, session: AmiSession, request: AmiRequest) -> None:
        if not self.accepts(request):
            # Asterisk sleeps about a second on a failed login, answers, then hangs up.
            await asyncio.sleep(self.auth_failure_delay)
            session.respond(request, "Error", ("Message", "Authentication failed"))
            await session.writer.drain()
            session.close()
            return
        self.logins += 1
        session.authenticated = True
        session.username = request.get("Username")
        session.events = request.get("Events", "on").lower() not in ("off", "no", "false")
        session.respond(request, "Success", ("Message", "Authentication accepted"))
        if session.events:
            # Sent straight to the new session (astman_append): no Privilege-based Timestamp.
            uptime = int(time.time() - self.started)
            session.write(
                encode_message(
                    [
                        ("Event", "FullyBooted"),
                        ("Privilege", "system,all"),
                        ("Uptime", str(uptime)),
                        ("LastReload", str(uptime)),
                        ("Status", "Fully Booted"),
                    ]
                )
            )
        self.emit(
            "SuccessfulAuth",
            "security,all",
            [
                *self.security_fields("Informational"),
                ("AccountID", session.username),
                ("SessionID", session.session_id),
                ("LocalAddress", session.local_address),
                ("RemoteAddress", session.remote_address),
                ("UsingPassword", "0"),
                ("SessionTV", event_tv(session.started)),
            ],
        )

    async def action_logoff(self, session: AmiSession, request: AmiRequest) -> None:
        session.respond(request, "Goodbye", ("Message", "Thanks for all the fish."))
        await session.writer.drain()
        session.close()

    async def action_ping(self, session: AmiSession, request: AmiRequest) -> None:
        session.respond(request, "Success", ("Ping", "Pong"), ("Timestamp", epoch_stamp(time.time())))

    def event_list(
        self, session: AmiSession, request: AmiRequest, message: str, items: list[Fields],
        complete: str, *, extra: Fields = (),
    ) -> None:
        """A list action's reply: start response, the items, then the Complete event.

        Each item is a whole event (Event first); its ActionID goes where the capture shows it.
        """
        session.respond(request, "Success", ("EventList", "start"), ("Message", message))
        for item in items:
            session.write(encode_message(item))
        session.write(
            encode_message(
                [
                    ("Event", complete),
                    *request.echo(),
                    ("EventList", "Complete"),
                    ("ListItems", str(len(items))),
                    *extra,
                ]
            )
        )

    async def action_coreshowchannels(self, session: AmiSession, request: AmiRequest) -> None:
        items = [
            [
                ("Event", "CoreShowChannel"),
                *request.echo(),
                *channel.snapshot(),
                ("Application", channel.application),
                ("ApplicationData", channel.application_data),
                ("Duration", channel.duration()),
                ("BridgeId", channel.bridge_id),
            ]
            for channel in self.channels.values()
        ]
        self.event_list(session, request, "Channels will follow", items, "CoreShowChannelsComplete")

    def channel_named(self, name: str) -> Channel | None:
        return next((channel for channel in self.channels.values() if channel.name == name), None)

    async def action_status(self, session: AmiSession, request: AmiRequest) -> None:
        wanted = request.get("Channel")
        if wanted:
            channel = self.channel_named(wanted)
            if channel is None:
                session.respond(request, "Error", ("Message", "No such channel"))
                return
            channels = [channel]
        else:
            channels = list(self.channels.values())
        names = [n.strip() for n in request.get("Variables").split(",") if n.strip()]
        items = [
            [
                ("Event", "Status"),
                ("Privilege", "Call"),
                *channel.snapshot(),
                ("Type", "Local"),
                ("DNID", ""),
                ("EffectiveConnectedLineNum", channel.connected_num),
                ("EffectiveConnectedLineName", channel.connected_name),
                ("TimeToHangup", "0"),
                ("BridgeID", channel.bridge_id),
                ("Application", channel.application),
                ("Data", channel.application_data),
                ("Nativeformats", "(slin)"),
                ("Readformat", "slin"),
                ("Readtrans", ""),
                ("Writeformat", "slin"),
                ("Writetrans", ""),
                ("Callgroup", "0"),
                ("Pickupgroup", "0"),
                ("Seconds", str(int(time.time() - channel.created_at))),
                *[("Variable", f"{n}={channel.variables.get(n, '(null)')}") for n in names],
                *request.echo(),
            ]
            for channel in channels
        ]
        self.event_list(
            session, request, "Channel status will follow", items, "StatusComplete",
            extra=[("Items", str(len(items)))],
        )

    async def action_getvar(self, session: AmiSession, request: AmiRequest) -> None:
        channel = self.channel_named(request.get("Channel"))
        if channel is None:
            session.respond(request, "Error", ("Message", "No such channel"))
            return
        name = request.get("Variable")
        session.respond(
            request, "Success", ("Variable", name), ("Value", channel.variables.get(name, ""))
        )

    async def action_setvar(self, session: AmiSession, request: AmiRequest) -> None:
        channel = self.channel_named(request.get("Channel"))
        if channel is None:
            session.respond(request, "Error", ("Message", "No such channel"))
            return
        name, value = request.get("Variable"), request.get("Value")
        channel.variables[name] = value
        session.respond(request, "Success", ("Message", "Variable Set"))
        self.emit(
            "VarSet",
            "dialplan,all",
            [*channel.snapshot(), ("Variable", name), ("Value", value)],
        )

    async def action_originate(self, session: AmiSession, request: AmiRequest) -> None:
        """Async Originate: `queued` at once, the OriginateResponse (same ActionID) later."""
        reason = self.originate_reason(request)
        if reason is None:
            session.respond(request, "Error", ("Message", "Extension does not exist."))
            return
        session.respond(request, "Success", ("Message", "Originate successfully queued"))
        # Asterisk dials in another thread; the session keeps answering actions meanwhile.
        self.spawn(self._originate(request, reason))

    async def _originate(self, request: AmiRequest, reason: int) -> None:
        channel = await self.originate_progress(request, reason)
        self.emit("OriginateResponse", "call,all", self.originate_response(request, reason, channel))

    def originate_reason(self, request: AmiRequest) -> int | None:
        """How an Originate ends (4 answered, 0 failed, 3 no answer, 5 busy); None: no such
        extension. The base server answers every call."""
        return ANSWERED

    async def originate_progress(self, request: AmiRequest, reason: int) -> Channel | None:
        """What happens between `queued` and the OriginateResponse: returns the answered
        channel, if the server models one. The base server models none."""
        return None

    def originate_response(
        self, request: AmiRequest, reason: int, channel: Channel | None = None
    ) -> Fields:
        """OriginateResponse as manager.c's fast_originate writes it. On failure there is no
        channel: Channel is the dial string and Uniqueid `<unknown>`."""
        dial = request.get("Channel")
        caller_num, caller_name = caller_id(request.get("CallerID"))
        if reason != ANSWERED:
            name, uniqueid = dial, "<unknown>"
        elif channel is not None:
            name, uniqueid = channel.name, channel.uniqueid
        else:
            name, uniqueid = f"{dial}-{self.new_local_suffix()};1", self.new_uniqueid()
        return [
            *request.echo(),
            ("Response", "Success" if reason == ANSWERED else "Failure"),
            ("Channel", name),
            ("Context", request.get("Context")),
            ("Exten", request.get("Exten")),
            ("Reason", str(reason)),
            ("Uniqueid", uniqueid),
            ("CallerIDNum", caller_num),
            ("CallerIDName", caller_name),
        ]


# -- the PBX simulator ------------------------------------------------------------------------

UP, RING = 6, 4
# The variables app_queue sets on the caller's channel, cleared when Queue() starts.
QUEUE_VARIABLES = ("ANSWEREDTIME", "ANSWEREDTIME_MS", "DIALEDTIME", "DIALEDTIME_MS", "QUEUEWAIT",
                   "QUEUEWAIT_MS")
CAUSE_TEXT = {16: "Normal Clearing", 17: "User busy", 19: "No answer", 21: "Call Rejected"}
MONITOR_DIR = "/var/spool/asterisk/monitor"
SAMPLE_RATE = 8000
CITIZEN_NAMES = (
    "张三市民", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄晓明", "周婷", "吴刚", "徐丽华",
    "孙志强", "马秀英", "朱建国", "胡玉兰", "郭德明",
)
LATIN_NAMES = ("Citizen", "Li Wei", "Wang Fang", "Zhang Min", "Chen Jie", "Anna Schmidt", "John Smith")
AGENT_NAMES = ("坐席 王丽", "坐席 李强", "坐席 张敏", "坐席 刘波", "坐席 陈晨", "坐席 杨洋", "坐席 赵磊", "坐席 周静")


@dataclass(frozen=True)
class Traffic:
    """The call mix PbxSimulator generates. Durations are simulated seconds (see time_scale)."""

    # About 4.3 Erlangs on the default six agents: most calls answered, some abandons.
    calls_per_minute: float = 2.0
    hotlines: tuple[tuple[str, float], ...] = (("12345", 0.7), ("12319", 0.3))
    ivr_seconds: tuple[float, float] = (5.0, 15.0)
    ivr_hangups: float = 0.05
    mean_patience_seconds: float = 90.0
    ring_seconds: tuple[float, float] = (2.0, 8.0)
    ring_no_answer: float = 0.1
    agent_ring_timeout: float = 15.0
    mean_talk_seconds: float = 120.0
    wrapup_seconds: float = 10.0
    agent_hangs_up: float = 0.6
    chinese_names: float = 0.8
    # Outcomes of an Originate (a callback or survey call) by OriginateResponse Reason.
    originate_outcomes: tuple[tuple[int, float], ...] = (
        (ANSWERED, 0.7), (BUSY, 0.15), (NO_ANSWER, 0.1), (FAILED, 0.05),
    )
    callback_seconds: tuple[float, float] = (20.0, 90.0)


@dataclass(frozen=True)
class Agent:
    """A queue member, reached through a Local channel as in the captures' `agents` context."""

    exten: str
    name: str

    @property
    def interface(self) -> str:
        return f"Local/{self.exten}@agents/n"


@dataclass
class Bridge:
    """A basic two-party bridge."""

    uniqueid: str
    members: list[Channel] = field(default_factory=list)

    def fields(self) -> Fields:
        return [
            ("BridgeUniqueid", self.uniqueid),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
            ("BridgeNumChannels", str(len(self.members))),
            ("BridgeVideoSourceMode", "none"),
        ]


def write_recording(path: Path, seconds: float, seed: int) -> None:
    """A stand-in MixMonitor file: 8 kHz 16-bit mono, citizen and agent taking turns (two
    tones with noise). Zero seconds gives the 44-byte empty WAV MixMonitor leaves for a call
    that was never bridged (option `b`)."""
    rng = random.Random(seed)
    voices = []
    for pitch in (220, 330):  # whole-hertz tones repeat every second: build one, then tile it
        second = array("h")
        for n in range(SAMPLE_RATE):
            tone = 5000 * math.sin(2 * math.pi * pitch * n / SAMPLE_RATE)
            second.append(int(tone * (0.6 + 0.4 * math.sin(math.pi * n / SAMPLE_RATE))
                              + rng.gauss(0, 400)))
        voices.append(second.tobytes())
    whole, rest = divmod(int(seconds * SAMPLE_RATE), SAMPLE_RATE)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        for index in range(whole):
            out.writeframes(voices[index // 3 % 2])  # a turn every three seconds
        out.writeframes(voices[whole // 3 % 2][: rest * 2])


class PbxSimulator(AmiServer):
    """A hotline PBX on an AMI socket: citizens call 12345 and 12319 (Poisson arrivals), pass an
    IVR, wait in a queue and talk to an agent or give up; callbacks the daemon originates ring,
    are answered or fail. A call an agent answers, whoever hangs up, and a call abandoned in the
    queue are the event sequences Asterisk 22 sent in captures c (the IVR), d, f and h (the
    queue), event by event and field by field (tests/ami/test_simulator.py); a hang-up in the
    IVR, an agent who does not answer and the callbacks are assembled from the same captures'
    pieces (c, e), not recorded whole. CoreShowChannels lists the live channels, and with a
    spool directory each call leaves its MixMonitor WAV there.

    time_scale multiplies every duration: 1.0 is real time, 0.1 a demo where a three-minute
    call takes 18 s, 0.001 a test.
    """

    def __init__(
        self,
        traffic: Traffic = Traffic(),
        *,
        agents: int = 6,
        time_scale: float = 1.0,
        spool: Path | None = None,
        seed: int | None = None,
        **server: Any,
    ) -> None:
        super().__init__(**server)
        self.traffic = traffic
        self.time_scale = time_scale
        self.spool = spool.resolve() if spool is not None else None
        self.random = random.Random(seed)
        self.agents = [
            Agent(f"agent{n}", AGENT_NAMES[(n - 1) % len(AGENT_NAMES)]) for n in range(1, agents + 1)
        ]
        self.outcomes: Counter[str] = Counter()
        self._free_agents: asyncio.Queue[Agent] = asyncio.Queue()
        for agent in self.agents:
            self._free_agents.put_nowait(agent)
        self._queued: dict[str, list[Channel]] = {}

    # -- traffic ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Start calls at Poisson arrival times until `stop` is set."""
        rate = self.traffic.calls_per_minute / 60
        numbers, weights = zip(*self.traffic.hotlines)
        while not stop.is_set():
            gap = self.random.expovariate(rate) * self.time_scale
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(gap):
                    await stop.wait()
            if not stop.is_set():
                self.spawn(self.inbound_call(self.random.choices(numbers, weights)[0]))

    async def inbound_call(
        self, hotline: str, caller_num: str | None = None, caller_name: str | None = None
    ) -> str:
        """One citizen's call to `hotline`, start to end; returns its outcome: `answered`,
        `abandoned` (hung up waiting in the queue) or `ivr-hangup`."""
        number = caller_num or self._citizen_number()
        name = caller_name or self._citizen_name()
        citizen, line = self._local_pair(hotline, "hotline-in")
        self._dialled(citizen, line, number, name, dial_string=f"{hotline}@hotline-in")
        citizen.context, citizen.exten = "caller-sim", "citizen"
        self._newexten(citizen, 1, "Wait", "600")

        self._newexten(line, 3, "Set", "CHANNEL(language)=zh")
        line.language = "zh"
        self._newexten(line, 4, "Set", f"HOTLINE={hotline}")
        self._varset(line, "HOTLINE", hotline)
        recording = self._recording_name(line)
        self._newexten(line, 5, "MixMonitor", f"{recording},b")
        self._varset(line, "MIXMONITOR_FILENAME", recording)
        self._channel_event("MixMonitorStart", line)
        self._newexten(line, 6, "AGI", "agi://127.0.0.1:4573/ivr")
        await self._pause(self.random.uniform(*self.traffic.ivr_seconds))
        if self.random.random() < self.traffic.ivr_hangups:
            await self._citizen_hangs_up(citizen, line)
            return self._outcome("ivr-hangup")
        digit = self.random.choice("1234")
        self._channel_event("DTMFBegin", line, ("Digit", digit), ("Direction", "Received"),
                            privilege="dtmf,all")
        self._channel_event("DTMFEnd", line, ("Digit", digit), ("DurationMs", "100"),
                            ("Direction", "Received"), privilege="dtmf,all")
        self._varset(line, "IVR_CHOICE", digit)
        self._varset(line, "AGISTATUS", "SUCCESS")

        queue = f"hotline-{hotline}"
        self._newexten(line, 7, "Queue", f"{queue},t,,,300")
        # app_queue clears what it sets when the caller leaves (captures d and f #30-#35).
        for variable in QUEUE_VARIABLES:
            self._varset(line, variable, "")
        waiting = self._queued.setdefault(queue, [])
        waiting.append(line)
        joined = time.monotonic()
        self._channel_event("QueueCallerJoin", line, ("Queue", queue),
                            ("Position", str(len(waiting))), ("Count", str(len(waiting))))
        self._channel_event("MusicOnHoldStart", line, ("Class", "default"))
        patience = self.random.expovariate(1 / self.traffic.mean_patience_seconds)
        answered = await self._ring_agents(line, queue, deadline=joined + patience * self.time_scale)
        waited = time.monotonic() - joined
        position = waiting.index(line) + 1
        waiting.remove(line)
        if answered is None:
            await self._abandon(citizen, line, queue, position, waited)
            return self._outcome("abandoned")
        agent, agent_side, ring = answered
        await self._talk(citizen, line, agent, agent_side, queue, position, waited, ring)
        return self._outcome("answered")

    async def _ring_agents(
        self, line: Channel, queue: str, deadline: float
    ) -> tuple[Agent, tuple[Channel, Channel], int] | None:
        """Ring free agents in turn until one answers or the caller's patience runs out."""
        while True:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    agent = await self._free_agents.get()
            except TimeoutError:
                return None
            # The member's Local pair as app_queue dials it (captures d and f #39-#49): the
            # caller id reaches ;1 at once, its connected line only when the agent answers.
            member, phone = self._local_pair(agent.exten, "agents", linkedid=line.linkedid)
            self._newexten(member, 1, "AppQueue", "(Outgoing Line)")
            self._new_callerid(member, line.caller_num, line.caller_name)
            for channel in (member, phone):
                self._varset(channel, "DIALEDPEERNUMBER", agent.interface.removeprefix("Local/"))
            self._caller_id(phone, line.caller_num, line.caller_name)
            self._local_bridge(member, phone, optimize=False)
            member_fields = [("Queue", queue), ("Interface", agent.interface),
                             ("MemberName", agent.name)]
            self._dial("AgentCalled", line, member, *member_fields)
            self._dial("DialBegin", line, member, ("DialString", agent.interface))
            self._newexten(phone, 1, "NoOp", f"{agent.name} rings")
            if self.random.random() < self.traffic.ring_no_answer:
                await self._pause(self.traffic.agent_ring_timeout)
                self._dial("DialEnd", line, member, ("DialStatus", "NOANSWER"))
                self._dial("AgentRingNoAnswer", line, member, *member_fields,
                           ("RingTime", str(int(self.traffic.agent_ring_timeout * self.time_scale))))
                self._hang_up([member, phone], cause=19)
                self._free_agents.put_nowait(agent)
                continue
            ring = self.random.uniform(*self.traffic.ring_seconds)
            await self._pause(ring)
            self._newexten(phone, 2, "Answer", "")
            self._newstate(phone, UP)
            self._newstate(member, UP)
            self._new_connected_line(member, line.caller_num, line.caller_name)
            self._dial("DialEnd", line, member, ("DialStatus", "ANSWER"))
            return agent, (member, phone), int(ring * self.time_scale)

    async def _talk(
        self, citizen: Channel, line: Channel, agent: Agent, agent_side: tuple[Channel, Channel],
        queue: str, position: int, waited: float, ring: int,
    ) -> None:
        hold = int(waited)
        member, phone = agent_side
        member_fields = [("Queue", queue), ("Interface", agent.interface), ("MemberName", agent.name)]
        self._channel_event("MusicOnHoldStop", line)
        self._left_queue(line, queue, position)
        self._queue_times(line, waited, 0.0, "QUEUEWAIT", "QUEUEWAIT_MS")
        self._dial("AgentConnect", line, member, *member_fields, ("HoldTime", str(hold)),
                   ("RingTime", str(ring)))
        bridge = Bridge(self.new_bridge_id())
        self.emit("BridgeCreate", "call,all", bridge.fields())
        for channel in (member, line):
            bridge.members.append(channel)
            channel.bridge_id = bridge.uniqueid
            self.emit("BridgeEnter", "call,all", [*bridge.fields(), *channel.snapshot()])
        self._varset(member, "BRIDGEPEER", line.name)
        self._varset(line, "BRIDGEPEER", member.name)
        started = time.monotonic()
        # Talk times are skewed (many short answers, a few long cases): lognormal, sigma 0.6,
        # mu chosen so that the mean is mean_talk_seconds (mean = exp(mu + sigma**2 / 2)).
        talk = self.random.lognormvariate(math.log(self.traffic.mean_talk_seconds) - 0.18, 0.6)
        await self._pause(talk)
        talked = time.monotonic() - started
        await self._record(line, talked)
        complete = [*member_fields, ("HoldTime", str(hold)), ("TalkTime", str(int(talked)))]
        line_cdr = dict(destination=line.exten, context="hotline-in", last_app="Queue",
                        last_data=f"{queue},t,,,300", destination_channel=member.name)
        if self.random.random() < self.traffic.agent_hangs_up:
            # Capture d: the agent's side ends, app_queue completes, the bridge empties, and the
            # citizen's Local pair is torn down last.
            self._cdr(phone, destination=agent.exten, context="agents", last_app="Answer",
                      last_data="")
            self._channel_event("SoftHangupRequest", phone, ("Cause", "16"))
            self._channel_event("HangupRequest", member, ("Cause", "16"))
            self._gone(phone)
            self._dial("AgentComplete", line, member, *complete, ("Reason", "agent"))
            self._varset(member, "BRIDGEPEER", "")
            self._varset(line, "BRIDGEPEER", "")
            self._bridge_leave(bridge, member)
            self._gone(member)
            self._bridge_leave(bridge, line)
            self._citizen_cdr(citizen)
            self._queue_times(line, waited, talked, "ANSWEREDTIME")
            self._cdr(line, **line_cdr)
            self._queue_times(line, waited, talked, "ANSWEREDTIME_MS", "DIALEDTIME",
                              "DIALEDTIME_MS")
            self._channel_event("SoftHangupRequest", line, ("Cause", "16"))
            self._channel_event("HangupRequest", citizen, ("Cause", "16"))
            self.emit("BridgeDestroy", "call,all", bridge.fields())
            self._channel_event("SoftHangupRequest", citizen, ("Cause", "16"))
            self._gone(citizen)
            self._gone(line)
        else:
            # Capture f: the citizen's side ends first, then the bridge, then the agent's pair.
            self._channel_event("SoftHangupRequest", citizen, ("Cause", "16"))
            self._channel_event("HangupRequest", line, ("Cause", "16"))
            self._dial("AgentComplete", line, member, *complete, ("Reason", "caller"))
            self._citizen_cdr(citizen)
            self._gone(citizen)
            self._varset(line, "BRIDGEPEER", "")
            self._varset(member, "BRIDGEPEER", "")
            self._bridge_leave(bridge, line)
            self._queue_times(line, waited, talked, "ANSWEREDTIME", "ANSWEREDTIME_MS",
                              "DIALEDTIME", "DIALEDTIME_MS")
            self._channel_event("SoftHangupRequest", line, ("Cause", "16"))
            self._bridge_leave(bridge, member)
            self.emit("BridgeDestroy", "call,all", bridge.fields())
            self._channel_event("HangupRequest", phone, ("Cause", "16"))
            self._gone(member)
            self._gone(line)
            self._channel_event("SoftHangupRequest", phone, ("Cause", "16"))
            self._gone(phone)
            self._cdr(line, **line_cdr)
            self._cdr(phone, destination=agent.exten, context="agents", last_app="Answer",
                      last_data="")
        self.spawn(self._wrap_up(agent))

    def _queue_times(self, line: Channel, waited: float, talked: float, *names: str) -> None:
        """Set app_queue's QUEUE_VARIABLES `names` on the caller's channel, in that order (it
        differs by outcome: captures d, f, h): seconds and milliseconds waited, talked, and
        since the caller joined the queue."""
        seconds = {"QUEUEWAIT": waited, "ANSWEREDTIME": talked, "DIALEDTIME": waited + talked}
        for name in names:
            value = seconds[name.removesuffix("_MS")]
            self._varset(line, name, str(int(value * 1000 if name.endswith("_MS") else value)))

    async def _wrap_up(self, agent: Agent) -> None:
        await self._pause(self.traffic.wrapup_seconds)
        self._free_agents.put_nowait(agent)

    async def _abandon(
        self, citizen: Channel, line: Channel, queue: str, position: int, waited: float
    ) -> None:
        """The citizen hangs up waiting (capture h): the citizen's side ends, app_queue records
        the wait and the abandon, then the caller's channel leaves the queue and hangs up."""
        await self._record(line, 0)
        self._citizen_cdr(citizen)
        self._channel_event("SoftHangupRequest", citizen, ("Cause", "16"))
        self._channel_event("HangupRequest", line, ("Cause", "16"))
        self._channel_event("MusicOnHoldStop", line)
        self._queue_times(line, waited, 0.0, "QUEUEWAIT", "QUEUEWAIT_MS", "DIALEDTIME",
                          "DIALEDTIME_MS", "ANSWEREDTIME", "ANSWEREDTIME_MS")
        self._varset(line, "ABANDONED", "TRUE")
        self._channel_event("QueueCallerAbandon", line, ("Queue", queue), ("Position", str(position)),
                            ("OriginalPosition", str(position)), ("HoldTime", str(int(waited))))
        self._gone(citizen)
        self._left_queue(line, queue, position)
        self._channel_event("SoftHangupRequest", line, ("Cause", "16"))
        self._gone(line)
        self._cdr(line, destination=line.exten, context="hotline-in", last_app="Queue",
                  last_data=f"{queue},t,,,300")

    def _left_queue(self, line: Channel, queue: str, position: int) -> None:
        """QueueCallerLeave and the position app_queue sets as the caller leaves (d #60-#61)."""
        self._channel_event("QueueCallerLeave", line, ("Queue", queue), ("Position", str(position)),
                            ("Count", str(len(self._queued[queue]))))
        self._varset(line, "QUEUEPOSITION", str(position))

    async def _citizen_hangs_up(self, citizen: Channel, line: Channel) -> None:
        self._channel_event("SoftHangupRequest", citizen, ("Cause", "16"))
        self._channel_event("HangupRequest", line, ("Cause", "16"))
        self._varset(line, "AGISTATUS", "HANGUP")
        await self._record(line, 0)
        self._hang_up([citizen, line])
        self._citizen_cdr(citizen)
        self._cdr(line, destination=line.exten, context="hotline-in", last_app="AGI",
                  last_data="agi://127.0.0.1:4573/ivr")

    # -- Originate --------------------------------------------------------------------------

    def originate_reason(self, request: AmiRequest) -> int | None:
        if not request.get("Channel") or not (request.get("Exten") or request.get("Application")):
            return None
        outcomes, weights = zip(*self.traffic.originate_outcomes)
        return self.random.choices(outcomes, weights)[0]

    async def originate_progress(self, request: AmiRequest, reason: int) -> Channel | None:
        """Ring the callee; if it answers, run the call in the requested context until the
        callee hangs up (a survey or a callback)."""
        ring = self.random.uniform(*self.traffic.ring_seconds)
        timeout = float(request.get("Timeout") or 30000) / 1000
        if reason != ANSWERED:
            await self._pause(min(ring, timeout) if reason != NO_ANSWER else timeout)
            self.outcomes[f"originate-{reason}"] += 1
            return None
        dial = request.get("Channel")
        exten, _, context = dial.removeprefix("Local/").partition("@")
        outgoing, callee = self._local_pair(exten, context)
        number, name = caller_id(request.get("CallerID"))
        await self._pause(ring)
        self._dialled(outgoing, callee, number, name, dial_string=dial.removeprefix("Local/"))
        outgoing.context, outgoing.exten = request.get("Context"), request.get("Exten")
        for variable in request.get_all("Variable"):
            key, _, value = variable.partition("=")
            self._varset(outgoing, key, value)
        self._newexten(outgoing, int(request.get("Priority") or 1), "AGI",
                       f"agi://127.0.0.1:4573/{outgoing.context}")
        self.spawn(self._callback(outgoing, callee))
        self.outcomes["originate-4"] += 1
        return outgoing

    async def _callback(self, outgoing: Channel, callee: Channel) -> None:
        await self._pause(self.random.uniform(*self.traffic.callback_seconds))
        self._channel_event("SoftHangupRequest", callee, ("Cause", "16"))
        self._hang_up([callee, outgoing])
        self._cdr(outgoing, destination=outgoing.exten, context=outgoing.context, last_app="AGI",
                  last_data=outgoing.application_data)
        self._cdr(callee, destination=callee.exten, context=callee.context, last_app="Answer",
                  last_data="")

    # -- the events of the dialplan steps -------------------------------------------------------

    def _local_pair(
        self, exten: str, context: str, linkedid: str | None = None
    ) -> tuple[Channel, Channel]:
        """A Local channel pair `;1`/`;2`; the call's Linkedid is the first `;1`'s Uniqueid."""
        suffix = self.new_local_suffix()
        first_id = self.new_uniqueid()
        pair = (
            Channel(f"Local/{exten}@{context}-{suffix};1", first_id, linkedid or first_id,
                    context, exten, state=0),
            Channel(f"Local/{exten}@{context}-{suffix};2", self.new_uniqueid(),
                    linkedid or first_id, context, exten, state=RING),
        )
        for channel in pair:
            self.channels[channel.uniqueid] = channel
            self._channel_event("Newchannel", channel)
        return pair

    def _dialled(
        self, outgoing: Channel, callee: Channel, number: str, name: str, dial_string: str
    ) -> None:
        """The start of an originated Local call (capture c #4-#17): caller ids, the Local
        bridge, the callee answering, and the Dest-only DialBegin/DialEnd."""
        self._newexten(outgoing, 1, "AppDial2", "(Outgoing Line)")
        self._caller_id(outgoing, number, name)
        self._caller_id(callee, number, name)
        self._local_bridge(outgoing, callee, optimize=True)
        self._newexten(callee, 1, "NoOp", f'Call to {callee.exten} from "{name}" <{number}>')
        self._newexten(callee, 2, "Answer", "")
        self._newstate(callee, UP)
        self._dial("DialBegin", None, outgoing, ("DialString", dial_string))
        self._newstate(outgoing, UP)
        self._dial("DialEnd", None, outgoing, ("DialStatus", "ANSWER"))

    def _channel_event(
        self, name: str, channel: Channel, *fields: tuple[str, str], privilege: str | None = None
    ) -> None:
        self.emit(name, privilege or event_class(name), [*channel.snapshot(), *fields])

    def _dial(self, name: str, caller: Channel | None, dest: Channel, *fields: tuple[str, str]) -> None:
        """A Dial*/Agent* event: the caller's fields (none for an Originate), then Dest*."""
        self.emit(name, event_class(name), [*(caller.snapshot() if caller else []),
                                            *dest.snapshot("Dest"), *fields])

    def _newexten(self, channel: Channel, priority: int, application: str, data: str) -> None:
        channel.priority = priority
        channel.application, channel.application_data = application, data
        self._channel_event("Newexten", channel, ("Extension", channel.exten),
                            ("Application", application), ("AppData", data),
                            privilege="dialplan,all")

    def _newstate(self, channel: Channel, state: int) -> None:
        channel.state = state
        if state == UP:
            channel.answered_at = time.time()
        self._channel_event("Newstate", channel)

    def _varset(self, channel: Channel, name: str, value: str) -> None:
        channel.variables[name] = value
        self._channel_event("VarSet", channel, ("Variable", name), ("Value", value),
                            privilege="dialplan,all")

    def _caller_id(self, channel: Channel, number: str, name: str) -> None:
        self._new_callerid(channel, number, name)
        self._new_connected_line(channel, number, name)

    def _new_callerid(self, channel: Channel, number: str, name: str) -> None:
        channel.caller_num, channel.caller_name = number, name
        self._channel_event("NewCallerid", channel,
                            ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))

    def _new_connected_line(self, channel: Channel, number: str, name: str) -> None:
        channel.connected_num, channel.connected_name = number, name
        self._channel_event("NewConnectedLine", channel)

    def _local_bridge(self, one: Channel, two: Channel, *, optimize: bool) -> None:
        self.emit("LocalBridge", "call,all", [
            *one.snapshot("LocalOne"), *two.snapshot("LocalTwo"), ("Context", two.context),
            ("Exten", two.exten), ("LocalOptimization", "Yes" if optimize else "No"),
        ])

    def _hang_up(self, channels: list[Channel], cause: int = 16) -> None:
        """Hang up a Local pair: the request reaches the other side, then both Hangups."""
        for other in channels[1:]:
            self._channel_event("HangupRequest", other, ("Cause", str(cause)))
        for channel in channels:
            self._gone(channel, cause)

    def _gone(self, channel: Channel, cause: int = 16) -> None:
        """The channel's Hangup: it leaves CoreShowChannels."""
        self.channels.pop(channel.uniqueid, None)
        self._channel_event("Hangup", channel, ("Cause", str(cause)),
                            ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown")))

    def _bridge_leave(self, bridge: Bridge, channel: Channel) -> None:
        bridge.members.remove(channel)
        channel.bridge_id = ""
        self.emit("BridgeLeave", "call,all", [*bridge.fields(), *channel.snapshot()])

    def _citizen_cdr(self, citizen: Channel) -> None:
        """The Cdr of the citizen's side of the call (`;1`, waiting in caller-sim)."""
        self._cdr(citizen, destination=citizen.exten, context=citizen.context, last_app="Wait",
                  last_data="600")

    def _cdr(
        self, channel: Channel, *, destination: str, context: str, last_app: str, last_data: str,
        destination_channel: str = "",
    ) -> None:
        """The Cdr event cdr_manager sends; times are local, like Asterisk's."""
        end = time.time()
        answer = channel.answered_at

        def local(moment: float | None) -> str:
            return "" if moment is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))

        self.emit("Cdr", "cdr,all", [
            ("AccountCode", channel.account_code), ("Source", channel.caller_num),
            ("Destination", destination), ("DestinationContext", context),
            ("CallerID", f'"{channel.caller_name}" <{channel.caller_num}>'),
            ("Channel", channel.name), ("DestinationChannel", destination_channel),
            ("LastApplication", last_app), ("LastData", last_data),
            ("StartTime", local(channel.created_at)), ("AnswerTime", local(answer)),
            ("EndTime", local(end)), ("Duration", str(int(end - channel.created_at))),
            ("BillableSeconds", str(int(end - answer)) if answer else "0"),
            ("Disposition", "ANSWERED" if answer else "NO ANSWER"),
            ("AMAFlags", "DOCUMENTATION"), ("UniqueID", channel.uniqueid), ("UserField", ""),
        ])

    # -- helpers ----------------------------------------------------------------------------

    async def _pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self.time_scale)

    def _recording_name(self, channel: Channel) -> str:
        directory = str(self.spool) if self.spool is not None else MONITOR_DIR
        return f"{directory}/{channel.uniqueid}.wav"

    async def _record(self, line: Channel, seconds: float) -> None:
        """Write the call's MixMonitor file (MixMonitor closes it when the channel hangs up)."""
        if self.spool is None:
            return
        self.spool.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(
            write_recording, self.spool / f"{line.uniqueid}.wav", seconds, self.random.getrandbits(32)
        )

    def _citizen_number(self) -> str:
        return f"1{self.random.choice('3589')}{self.random.randrange(10**9):09d}"

    def _citizen_name(self) -> str:
        names = CITIZEN_NAMES if self.random.random() < self.traffic.chinese_names else LATIN_NAMES
        return self.random.choice(names)

    def _outcome(self, outcome: str) -> str:
        self.outcomes[outcome] += 1
        return outcome


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m hotline.simulator`: a simulated hotline PBX on an AMI port, until Ctrl-C."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5038)
    parser.add_argument("--username", default="hotline")
    parser.add_argument("--secret", default="hotline-secret")
    parser.add_argument("--rate", type=float, default=2.0, help="calls per simulated minute")
    parser.add_argument("--agents", type=int, default=6)
    parser.add_argument("--time-scale", type=float, default=0.2)
    parser.add_argument("--spool", type=Path, help="write MixMonitor WAV files here")
    parser.add_argument("--timestampevents", action="store_true")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(_simulate(args))


async def _simulate(args: argparse.Namespace) -> None:
    simulator = PbxSimulator(
        Traffic(calls_per_minute=args.rate), agents=args.agents, time_scale=args.time_scale,
        spool=args.spool, seed=args.seed, username=args.username, secret=args.secret,
        timestampevents=args.timestampevents,
    )
    await simulator.start(args.host, args.port)
    logger.info("simulated PBX: AMI on %s:%d", args.host, simulator.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await simulator.run(stop)
    finally:
        await simulator.close()
        logger.info("calls: %s", dict(simulator.outcomes))


if __name__ == "__main__":
    main()
