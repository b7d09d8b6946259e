"""An AMI server that speaks as Asterisk 22 does on the wire, and a PBX simulator built on it.

`AmiServer` is the protocol core: the banner, CRLF framing, Login/Logoff, Ping, the permission
check, ActionID echo, event lists and the errors, with field names and order as in the real
captures (tests/fixtures/ami). `PbxSimulator` adds hotline traffic: citizens calling 12345 and
12319, an IVR, a queue, agents, abandons, failed callbacks, and MixMonitor files.

Run a demo PBX with `python -m hotline.simulator --port 5038 --rate 6 --time-scale 0.2`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

logger = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
CRLF = "\r\n"
# ChannelState numbers and their ChannelStateDesc (Asterisk's enum ast_channel_state).
STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
ANSWERED, FAILED, NO_ANSWER, BUSY = 4, 0, 3, 5

Fields = list[tuple[str, str]]


def encode_message(fields: Iterable[tuple[str, str]]) -> bytes:
    """One AMI message: `Key: value` lines, each CRLF-terminated, then an empty line."""
    return ("".join(f"{key}: {value}{CRLF}" for key, value in fields) + CRLF).encode("utf-8")


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
            now = time.time()
            head.append(("Timestamp", f"{int(now)}.{int(now % 1 * 1_000_000):06d}"))
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
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
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
            self._tasks.discard(task)
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
        now = time.time()
        session.respond(
            request,
            "Success",
            ("Ping", "Pong"),
            ("Timestamp", f"{int(now)}.{int(now % 1 * 1_000_000):06d}"),
        )

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
        await self.originate_progress(request, reason)
        self.emit("OriginateResponse", "call,all", self.originate_response(request, reason))

    def originate_reason(self, request: AmiRequest) -> int | None:
        """How an Originate ends (4 answered, 0 failed, 3 no answer, 5 busy); None: no such
        extension. The base server answers every call."""
        return ANSWERED

    async def originate_progress(self, request: AmiRequest, reason: int) -> None:
        """What happens between `queued` and the OriginateResponse; nothing by default."""

    def originate_response(self, request: AmiRequest, reason: int) -> Fields:
        """OriginateResponse as manager.c's fast_originate writes it. On failure there is no
        channel: Channel is the dial string and Uniqueid `<unknown>`."""
        dial = request.get("Channel")
        name_part, _, number_part = request.get("CallerID").rpartition("<")
        caller_num = number_part.rstrip(">").strip() or "<unknown>"
        caller_name = name_part.strip().strip('"') or "<unknown>"
        answered = reason == ANSWERED
        return [
            *request.echo(),
            ("Response", "Success" if answered else "Failure"),
            ("Channel", f"{dial}-{self.new_local_suffix()};1" if answered else dial),
            ("Context", request.get("Context")),
            ("Exten", request.get("Exten")),
            ("Reason", str(reason)),
            ("Uniqueid", self.new_uniqueid() if answered else "<unknown>"),
            ("CallerIDNum", caller_num),
            ("CallerIDName", caller_name),
        ]
