"""A fake Asterisk for tests: the real AMI server core plus the knobs a test needs.

It replays the real captures (tests/fixtures/ami) byte for byte, optionally with fresh ids so two
replays are two calls and with `Timestamp:` headers; it answers Originate, Command, Status,
Getvar/Setvar like Asterisk 22; and it misbehaves on demand: reject logins, go silent (a
half-open link), drop the connection mid-message, send raw bytes.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

from hotline.simulator import ANSWERED, AmiRequest, AmiServer, AmiSession, Channel, epoch_stamp
from tests.captures import Frame, received_frames

# What a capture's ids look like: Uniqueid/Linkedid `1795811542.876` (also inside MixMonitor file
# names), the Local channel suffix `-000001b6;1`, and the BridgeUniqueid UUID.
UNIQUEID = re.compile(r"(?<![\d.])\d{10}\.\d+(?!\d)")
LOCAL_SUFFIX = re.compile(r"(?<=-)[0-9a-f]{8}(?=;[12])")
BRIDGE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Events the server core itself sends at login, so a replay leaves them out.
LOGIN_EVENTS = ("FullyBooted", "SuccessfulAuth")
VERSION = "Asterisk 22.10.1 built by root @ vm on a x86_64 running Linux on 2026-11-27 20:13:13 UTC"


def capture_events(name: str) -> list[Frame]:
    """The events of capture `name` a replay sends: every unsolicited event, i.e. not the
    replies to that client's actions (they carry its ActionID) nor the login's own events."""
    return [
        frame
        for frame in received_frames(name)
        if frame.text.startswith("Event: ")
        and "ActionID" not in frame.as_dict()
        and frame.as_dict()["Event"] not in LOGIN_EVENTS
    ]


class IdRewriter:
    """Maps a capture's ids to fresh ones from the server, the same old id to the same new id."""

    def __init__(self, server: AmiServer) -> None:
        self._server = server
        self._ids: dict[str, str] = {}

    def _fresh(self, old: str, new: Callable[[], str]) -> str:
        if old not in self._ids:
            self._ids[old] = new()
        return self._ids[old]

    def __call__(self, text: str) -> str:
        text = UNIQUEID.sub(lambda m: self._fresh(m[0], self._server.new_uniqueid), text)
        text = LOCAL_SUFFIX.sub(lambda m: self._fresh(m[0], self._server.new_local_suffix), text)
        return BRIDGE_ID.sub(lambda m: self._fresh(m[0], self._server.new_bridge_id), text)


def with_timestamp(text: str, stamp: float) -> str:
    """Insert `Timestamp:` right after `Privilege:`, where manager.c puts it."""
    lines = text.split("\r\n")
    for index, line in enumerate(lines):
        if line.startswith("Privilege: "):
            lines.insert(index + 1, f"Timestamp: {epoch_stamp(stamp)}")
            break
    return "\r\n".join(lines)


class FakeAsterisk(AmiServer):
    """AmiServer with replay and failure injection; `await FakeAsterisk().start()` or `async with`.

    Logins fail fast by default (auth_failure_delay=0.05) so tests stay quick.
    """

    def __init__(self, *, auth_failure_delay: float = 0.05, **server: Any) -> None:
        super().__init__(auth_failure_delay=auth_failure_delay, **server)
        self.pings = 0
        self.login_attempts = 0
        self.reject_logins = False
        self.requests: list[AmiRequest] = []
        # Popped in order for each Originate: a Reason code, or None for "Extension does not
        # exist."; when empty every Originate is answered.
        self.originate_outcomes: list[int | None] = []
        self.originate_delay = 0.0
        self.commands: dict[str, list[str]] = {"core show version": [VERSION]}
        self.login_times: list[float] = []
        self._silent: set[AmiSession] = set()
        self._changed = asyncio.Condition()

    # -- behaviour on the wire ---------------------------------------------------------------

    async def handle(self, session: AmiSession, request: AmiRequest) -> None:
        self.requests.append(request)
        if session not in self._silent:
            await super().handle(session, request)
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 3.0) -> None:
        """Wait until `predicate()` holds, checked after every action the fake handles."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    def accepts(self, request: AmiRequest) -> bool:
        self.login_attempts += 1
        self.login_times.append(time.monotonic())
        return not self.reject_logins and super().accepts(request)

    async def action_ping(self, session: AmiSession, request: AmiRequest) -> None:
        self.pings += 1
        await super().action_ping(session, request)

    def originate_reason(self, request: AmiRequest) -> int | None:
        return self.originate_outcomes.pop(0) if self.originate_outcomes else ANSWERED

    async def originate_progress(self, request: AmiRequest, reason: int) -> None:
        await asyncio.sleep(self.originate_delay)

    async def action_command(self, session: AmiSession, request: AmiRequest) -> None:
        """CLI output, one `Output:` header per line, as Asterisk 22 answers `Command`."""
        command = request.get("Command")
        lines = self.commands.get(command)
        if lines is None:
            words = " ".join(command.split()[:2])
            lines = [f"No such command '{command}' (type 'core show help {words}' for other "
                     "possible commands)"]
            response = "Error"
        else:
            response = "Success"
        session.respond(
            request,
            response,
            ("Message", "Command output follows"),
            *[("Output", line) for line in lines],
        )

    # -- test controls ----------------------------------------------------------------------

    def silence(self) -> None:
        """From now on the current sessions get nothing, not even a Pong: a half-open link."""
        self._silent |= self.sessions

    def drop(self, partial: bytes = b"") -> None:
        """Write `partial` (e.g. half a message) to every session, then cut the connections."""
        for session in list(self.sessions):
            session.write(partial)
            session.writer.transport.abort()

    def happen(self, text: str, *, send: bool = True) -> None:
        """Event `text` happens on the PBX: `channels` follow it as Asterisk's would (so
        CoreShowChannels and Status tell the truth afterwards), and it goes to the logged-in
        sessions unless `send` is False (a link that is down misses it)."""
        fields = dict(line.split(": ", 1) for line in text.split("\r\n") if ": " in line)
        name, uniqueid = fields.get("Event"), fields.get("Uniqueid", "")
        if name == "Newchannel":
            self.channels[uniqueid] = Channel(
                name=fields["Channel"], uniqueid=uniqueid, linkedid=fields["Linkedid"],
                context=fields["Context"], exten=fields["Exten"],
                state=int(fields["ChannelState"]), caller_num=fields["CallerIDNum"],
                caller_name=fields["CallerIDName"],
            )
        elif (channel := self.channels.get(uniqueid)) is not None:
            if name == "Hangup":
                del self.channels[uniqueid]
            elif name == "Newstate":
                channel.state = int(fields["ChannelState"])
            elif name == "VarSet":
                channel.variables[fields["Variable"]] = fields["Value"]
        if send:
            self.broadcast(text.encode("utf-8") + b"\r\n\r\n")

    async def send_raw(self, *chunks: bytes) -> None:
        """Write `chunks` in order to every logged-in session (malformed messages, part of one).
        How TCP cuts them into reads is its own business: a test that needs a split read sends
        the parts in two calls and waits for the first to be read."""
        for chunk in chunks:
            self.broadcast(chunk)
            for session in list(self.sessions):
                await session.writer.drain()

    async def replay(
        self,
        name: str,
        *,
        fresh_ids: bool = True,
        timestamp_base: float | None = None,
        speed: float | None = None,
    ) -> list[Frame]:
        """Send capture `name`'s events to every logged-in session and return them as sent.

        fresh_ids rewrites Uniqueid/Linkedid/UniqueID/DestUniqueid, Local channel suffixes and
        bridge ids consistently, so two replays are two calls. timestamp_base adds the header
        `Timestamp: base + t` (timestampevents=yes). speed replays at that multiple of real
        time; None sends everything at once.
        """
        rewrite = IdRewriter(self) if fresh_ids else None
        sent: list[Frame] = []
        previous = None
        for frame in capture_events(name):
            if speed is not None and previous is not None:
                await asyncio.sleep((frame.t - previous) / speed)
            previous = frame.t
            text = rewrite(frame.text) if rewrite else frame.text
            if timestamp_base is not None:
                text = with_timestamp(text, timestamp_base + frame.t)
            self.broadcast(text.encode("utf-8") + b"\r\n\r\n")
            sent.append(Frame(frame.t, text))
        for session in list(self.sessions):
            await session.writer.drain()
        return sent
