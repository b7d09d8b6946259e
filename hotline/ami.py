"""The AMI link to one Asterisk server, built on panoramisk with our own protocol layer around it.

`AmiLink.run` keeps one Manager connection alive for as long as the daemon runs and puts what it
learns into a queue, in order: a `LinkState` when the link comes up or goes down, a
`Reconciliation` (the live channels from `CoreShowChannels`, and the call variables a `Status`
lists on them) right after every login and before
any event of that connection, then one `AmiEvent` per event. Actions go through `send`, which
never waits longer than `PbxConfig.action_timeout`.

panoramisk 1.4 is used for what it does well (action/response correlation, event dispatch) and
corrected where it fails on a real Asterisk 22 (see shared/STYLE.md): we frame the byte stream
ourselves, own the login check, the ping watchdog and the reconnect backoff, and never let it
re-send an action after a reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from panoramisk import actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from panoramisk.message import Message

from hotline.calls import CALL_VARIABLES
from hotline.config import PbxConfig
from hotline.errors import AmiError

logger = logging.getLogger(__name__)

__all__ = ["AmiEvent", "AmiLink", "AmiProtocol", "LinkState", "Message", "Reconciliation"]

# Asterisk ends every message with an empty line (manager.c writes "\r\n" after the last header).
FRAME_END = b"\r\n\r\n"
BANNER_PREFIX = b"Asterisk Call Manager/"
# The largest message seen on a real system is a `Command` output or a `Status` with many
# `Variable:` lines, a few tens of KiB; anything past this is garbage and is skipped, not buffered.
MAX_FRAME_BYTES = 256 * 1024
LOGOFF_TIMEOUT = 2.0

ActionFields = Mapping[str, "str | Sequence[str]"]


@dataclass(frozen=True)
class AmiEvent:
    """One event Asterisk sent, stamped with when it happened.

    `fields` holds the headers as Asterisk spelled them; a header Asterisk repeats within one
    event comes as a list of its values (panoramisk's way). Events tied to one of our actions
    (OriginateResponse) come as panoramisk's Message, whose keys are case-insensitive.
    """

    pbx: str
    at: datetime
    fields: Mapping[str, str]


@dataclass(frozen=True)
class Reconciliation:
    """The channels alive on the PBX right after a (re)connect, one `CoreShowChannel` each, and
    the dialplan's call variables (`CALL_VARIABLES`) set on them, by Uniqueid."""

    pbx: str
    at: datetime
    channels: list[Mapping[str, str]]
    variables: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class LinkState:
    """The link came up (logged in and reconciled) or went down, and why."""

    pbx: str
    at: datetime
    up: bool
    reason: str


def _now() -> datetime:
    return datetime.now(UTC)


def _fields(message: Message, *, drop: tuple[str, ...] = ()) -> Mapping[str, str]:
    """A message's headers, read-only; panoramisk also stores its (empty) body as `content`."""
    left_out = ("content", *drop)
    return MappingProxyType({k: v for k, v in message.items() if k.lower() not in left_out})


def _headers(text: str) -> dict[str, Any] | None:
    """A message's `Key: value` lines as a dict (a repeated key keeps every value, in a list, as
    panoramisk does); None if a line has no colon."""
    headers: dict[str, Any] = {}
    for line in text.split("\r\n"):
        key, colon, value = line.partition(":")
        if not colon:
            return None
        value = value[1:] if value.startswith(" ") else value
        if key in headers:
            previous = headers[key]
            headers[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            headers[key] = value
    return headers


def _event_time(message: Mapping[str, Any], received_at: datetime) -> datetime:
    """The event's `Timestamp:` (manager.conf `timestampevents=yes`), else the time it arrived."""
    stamp = message.get("Timestamp")
    if isinstance(stamp, str):
        try:
            return datetime.fromtimestamp(float(stamp), UTC)
        except (ValueError, OverflowError, OSError):
            logger.warning("unreadable event Timestamp %r; using the receive time", stamp)
    return received_at


class AmiProtocol(AMIProtocol):
    """panoramisk's AMIProtocol with framing and decoding done on bytes.

    panoramisk decodes each TCP read on its own with errors ignored, so a UTF-8 character split
    across two reads (a Chinese `CallerIDName`) loses bytes. We cut the byte stream at the empty
    line first and decode each whole message strictly: Asterisk only ever splits between
    messages on ASCII, so a message that still fails to decode is malformed, and it alone is
    skipped. A message with a line lacking a colon, or larger than MAX_FRAME_BYTES, is skipped
    too, and the connection stays up.
    """

    def __init__(
        self,
        manager: Manager,
        on_skipped: Callable[[], None],
        on_event: Callable[[Mapping[str, Any], datetime], None],
    ) -> None:
        super().__init__()
        self._manager = manager
        self._on_skipped = on_skipped
        self._on_event = on_event
        self._buffer = bytearray()
        self._scanned = 0
        self._discarding = False
        self._banner_seen = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # panoramisk sets these in Manager.connection_made, after data may already have arrived.
        self.factory = self._manager
        self.encoding = "utf-8"
        self.log = logger

    def send(self, data: actions.Action, as_list: bool | None = None) -> asyncio.Future[Any]:
        """Register the action for its reply and write it.

        Unlike panoramisk's, this never logs the action (a failed write would log a Login with
        its Secret), and as_list=None lets the reply itself tell a list (`EventList: start`).
        """
        data.as_list = as_list
        self.responses[data.id] = data
        self.transport.write(str(data).encode(self.encoding))
        return data.future

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._banner_seen and not self._take_banner():
            return
        # Cut every whole message out of the buffer, then drop them from it at once: one read
        # can hold hundreds of messages (Asterisk bursts), and deleting each would be quadratic.
        # Everything in one read arrived at the same moment: one clock reading serves them all.
        received_at = _now()
        start = 0
        while not self.closed:
            end = self._buffer.find(FRAME_END, max(start, self._scanned))
            if end < 0:
                break
            frame = bytes(self._buffer[start:end])
            start = end + len(FRAME_END)
            if self._discarding:
                # The tail of an oversized message: dropped, already counted.
                self._discarding = False
            elif len(frame) > MAX_FRAME_BYTES:
                self._skip("message larger than %d bytes" % MAX_FRAME_BYTES, frame)
            else:
                self._frame_received(frame, received_at)
        del self._buffer[:start]
        self._hold_partial()

    def _take_banner(self) -> bool:
        """Strip the one-line banner; Asterisk sends it before any message, without a blank line.

        Returns False while the first bytes may still turn out to be the banner.
        """
        end = self._buffer.find(b"\r\n")
        if end < 0 and len(self._buffer) < 1024:
            if BANNER_PREFIX.startswith(bytes(self._buffer[: len(BANNER_PREFIX)])):
                return False
        self._banner_seen = True
        if end >= 0 and self._buffer.startswith(BANNER_PREFIX):
            self.version = self._buffer[len(BANNER_PREFIX) : end].decode("ascii", "replace")
            logger.debug("AMI banner: version %s", self.version)
            del self._buffer[: end + 2]
        return True

    def _hold_partial(self) -> None:
        if len(self._buffer) <= MAX_FRAME_BYTES:
            # Resume the search where it stopped; keep 3 bytes in case the end marker is split.
            self._scanned = max(0, len(self._buffer) - len(FRAME_END) + 1)
            return
        if not self._discarding:
            self._skip("message larger than %d bytes" % MAX_FRAME_BYTES, bytes(self._buffer[:200]))
            self._discarding = True
        del self._buffer[: -(len(FRAME_END) - 1)]
        self._scanned = 0

    def _frame_received(self, frame: bytes, received_at: datetime) -> None:
        frame = frame.lstrip(b"\r\n")
        if not frame:
            return
        try:
            text = frame.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._skip(f"invalid UTF-8 at byte {exc.start}", frame)
            return
        headers = _headers(text)
        if headers is None:
            # Asterisk 22 sends even Command output as `Output:` headers: every line has a colon.
            self._skip("a line without a colon", frame)
        elif "Event" in headers and "ActionID" not in headers and headers["Event"] != "Shutdown":
            # An event that answers no action of ours goes straight to the link as plain headers:
            # building panoramisk's case-insensitive Message and dispatching it was half of the
            # daemon's time per event (benchmarks/ami_ingest.py). Shutdown stays with panoramisk,
            # which ends the connection on it.
            self._on_event(headers, received_at)
        elif (message := Message.from_line(text)) is None:
            self._skip("neither an Event nor a Response", frame)
        else:
            self.handle_message(message)

    def handle_message(self, message: Message) -> None:
        """Route a message to its pending action or, for an event, to the link's callback.

        An OriginateResponse is both the reply to our Originate and the call's outcome, but
        panoramisk gives it to the action alone; the call tracker gets it as an event too.
        """
        pending = self.responses.get(message.id) or self.responses.get(message.action_id)
        super().handle_message(message)
        if pending is not None and message.get("Event") == "OriginateResponse":
            self.factory.dispatch(message)

    def _skip(self, why: str, frame: bytes) -> None:
        logger.warning("skipped a malformed AMI message (%s): %r", why, frame[:200],
                       extra={"action": "ami-skip"})
        self._on_skipped()

    def close(self) -> None:
        """Close the socket and fail every action still waiting for its reply.

        panoramisk would keep unanswered actions and send them again after the next login: an
        Originate queued before a drop would ring the citizen twice. The caller decides instead.
        """
        pending = {id(action): action for action in self.responses.values()}
        self.responses.clear()
        for action in pending.values():
            if not action.future.done():
                action.future.set_exception(AmiError("the AMI connection closed before the reply"))
        if not self.closed:
            self.closed = True
            self.transport.close()


class _LinkManager(Manager):
    """panoramisk's Manager kept for event dispatch only.

    Its own reconnect (a fixed delay, no backoff), login (no check) and pinger (Pong ignored)
    are replaced by AmiLink; a lost connection is reported to the link instead.
    """

    def __init__(self, on_lost: Callable[[Exception | Message | None], None]) -> None:
        super().__init__(encoding="utf-8", log=logger)
        self._on_lost = on_lost

    def connection_lost(self, exc: Exception | Message | None) -> None:
        self._on_lost(exc)

    async def send_awaiting_actions(self, *_: Any) -> None:
        """Nothing to re-send after a login: AmiProtocol.close fails unanswered actions."""


class _LinkDown(Exception):
    """This connection is over; the message is the reason."""


class AmiLink:
    """One supervised AMI connection to one PBX, feeding `sink` (see the module docstring).

    The sink must be unbounded: the link never waits on its consumer (Asterisk would buffer,
    then drop us) and never loses an event.
    """

    def __init__(self, pbx: PbxConfig, sink: asyncio.Queue) -> None:
        if sink.maxsize:
            raise ValueError("AmiLink needs an unbounded sink (asyncio.Queue() without maxsize)")
        self.pbx = pbx
        self.sink = sink
        self.up = False
        self.events_received = 0
        self.frames_skipped = 0
        self._manager = _LinkManager(self._connection_lost)
        self._manager.register_event("*", self._event_received)
        self._protocol: AmiProtocol | None = None
        self._lost: asyncio.Future[str] | None = None
        self._held: list[AmiEvent] | None = None
        self._state: tuple[bool, str] | None = None

    # -- public API -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until `stop` is set, then log off. Never raises but on cancellation."""
        failures = 0
        try:
            while not stop.is_set():
                try:
                    await self._connection(stop)
                except _LinkDown as exc:
                    reason = str(exc)
                except AmiError as exc:
                    # An action failed because the connection went: say why it went.
                    lost = self._lost
                    reason = lost.result() if lost is not None and lost.done() else str(exc)
                except OSError as exc:
                    reason = f"cannot reach {self.pbx.host}:{self.pbx.port}: {exc.strerror or exc}"
                except TimeoutError:
                    reason = f"{self.pbx.host}:{self.pbx.port} did not answer in time"
                except Exception as exc:  # a bug must not end the link: log it and reconnect
                    logger.exception("AMI link to %s failed unexpectedly", self.pbx.name)
                    reason = f"unexpected error: {exc!r}"
                else:
                    break
                if self._state is not None and self._state[0]:
                    failures = 0  # it was up: start the backoff again from reconnect_min
                self._set_state(False, reason)
                if stop.is_set():
                    break
                delay = self._backoff(failures)
                failures += 1
                logger.info("AMI %s: reconnecting in %.2f s", self.pbx.name, delay)
                await self._wait(stop, delay)
        finally:
            self._close()
            self._set_state(False, "stopped")

    async def send(self, action: ActionFields) -> list[Message]:
        """Send one action and return every message of its reply (one, or a whole event list).

        Raises AmiError when the link is down, Asterisk answers `Response: Error`, the
        connection drops or no complete reply comes within `action_timeout`.
        """
        return await self._request(action, self.pbx.action_timeout)

    async def originate(
        self,
        channel: str,
        *,
        context: str,
        exten: str,
        priority: int = 1,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        ring_timeout: float = 30.0,
        action_id: str | None = None,
    ) -> Message:
        """Originate a call asynchronously and return its correlated `OriginateResponse`.

        Asterisk answers `Originate successfully queued` at once and sends the OriginateResponse
        (same ActionID) when the call is answered or fails: check its `Response`
        (`Success`/`Failure`) and `Reason` (4 answered, 0 failed, 3 no answer, 5 busy). A
        non-existent extension is refused at once with AmiError.
        """
        action: dict[str, str | Sequence[str]] = {
            "Action": "Originate",
            "Channel": channel,
            "Context": context,
            "Exten": exten,
            "Priority": str(priority),
            "Timeout": str(int(ring_timeout * 1000)),
            # panoramisk waits for the OriginateResponse only when Async is not "false".
            "Async": "true",
        }
        if caller_id is not None:
            action["CallerID"] = caller_id
        if variables:
            action["Variable"] = [f"{name}={value}" for name, value in variables.items()]
        if action_id is not None:
            action["ActionID"] = action_id
        replies = await self._request(action, self.pbx.action_timeout + ring_timeout)
        outcome = replies[-1]
        if outcome.get("Event") != "OriginateResponse":
            raise AmiError(f"Originate on {self.pbx.name}: no OriginateResponse", pbx=self.pbx.name)
        return outcome

    # -- one connection ---------------------------------------------------------------------

    async def _connection(self, stop: asyncio.Event) -> None:
        """Connect, log in, reconcile, then watch the link until stop (log off) or failure."""
        loop = asyncio.get_running_loop()
        self._lost = loop.create_future()
        # Every event of this connection waits until the Reconciliation is in the sink; the
        # first (FullyBooted) arrives in the same read as the Login response.
        self._held = []
        async with asyncio.timeout(self.pbx.action_timeout):
            _, protocol = await loop.create_connection(
                lambda: AmiProtocol(self._manager, self._frame_skipped, self._event_parsed),
                self.pbx.host,
                self.pbx.port,
            )
        self._protocol = protocol
        try:
            await self._login()
            self.up = True
            channels = await self._reconcile()
            variables = await self._channel_variables() if channels else {}
            self._set_state(True, "logged in")
            self.sink.put_nowait(Reconciliation(self.pbx.name, _now(), channels, variables))
            held, self._held = self._held, None
            for event in held:
                self.sink.put_nowait(event)
            await self._watch(stop)
            await self._logoff()
        finally:
            self._close()

    async def _login(self) -> None:
        try:
            await self._exchange(
                {
                    "Action": "Login",
                    "Username": self.pbx.username,
                    "Secret": self.pbx.secret,
                    "Events": "on",
                },
                self.pbx.action_timeout,
            )
        except AmiError as exc:
            if "reply" not in exc.details:
                raise  # no answer at all: a timeout or a drop, not a refusal
            raise _LinkDown(f"login refused: {exc.details['reply']}") from None
        logger.info("AMI %s: logged in to %s:%d", self.pbx.name, self.pbx.host, self.pbx.port)

    async def _reconcile(self) -> list[Mapping[str, str]]:
        replies = await self._exchange({"Action": "CoreShowChannels"}, self.pbx.action_timeout)
        channels = [
            _fields(reply, drop=("actionid",))
            for reply in replies
            if reply.get("Event") == "CoreShowChannel"
        ]
        logger.info("AMI %s: %d live channels at reconnect", self.pbx.name, len(channels))
        return channels

    async def _channel_variables(self) -> dict[str, dict[str, str]]:
        """The call variables set on each live channel, by Uniqueid.

        A call that began while the link was down was seen setting none of them (its `VarSet`
        events went nowhere); without them it would have no hotline and no recording. One
        `Status` for every channel with `Variables:` lists them (g: `Variable: HOTLINE=12300`
        once per name, `(null)` for one not set).
        """
        try:
            replies = await self._exchange(
                {"Action": "Status", "Variables": ",".join(CALL_VARIABLES)}, self.pbx.action_timeout
            )
        except AmiError as exc:
            if "reply" not in exc.details:
                raise  # no answer: the link is in trouble, not just this action
            logger.warning("AMI %s: no channel variables at reconnect (%s); calls that began "
                           "meanwhile may lack their hotline or recording", self.pbx.name, exc)
            return {}
        found: dict[str, dict[str, str]] = {}
        for reply in replies:
            uniqueid = reply.get("Uniqueid")
            if reply.get("Event") != "Status" or not uniqueid:
                continue
            values = reply.get("Variable") or []
            for assignment in [values] if isinstance(values, str) else values:
                name, equals, value = assignment.partition("=")
                if equals and name in CALL_VARIABLES and value not in ("", "(null)"):
                    found.setdefault(uniqueid, {})[name] = value
        return found

    async def _watch(self, stop: asyncio.Event) -> None:
        """Ping every ping_interval; a missing Pong means a half-open link (no FIN ever came)."""
        assert self._lost is not None
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                await asyncio.wait(
                    {stopping, self._lost},
                    timeout=self.pbx.ping_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if stop.is_set():
                    return
                if self._lost.done():
                    raise _LinkDown(self._lost.result())
                try:
                    await self._exchange({"Action": "Ping"}, self.pbx.action_timeout)
                except AmiError:
                    if self._lost.done():
                        raise _LinkDown(self._lost.result()) from None
                    raise _LinkDown(
                        f"no Pong within {self.pbx.action_timeout:g} s (half-open link)"
                    ) from None
        finally:
            stopping.cancel()

    async def _logoff(self) -> None:
        """Say goodbye so Asterisk logs a clean logoff, not a lost session."""
        self.up = False
        try:
            await self._exchange({"Action": "Logoff"}, min(LOGOFF_TIMEOUT, self.pbx.action_timeout))
        except AmiError as exc:
            logger.info("AMI %s: no Goodbye at logoff (%s)", self.pbx.name, exc)

    # -- actions ----------------------------------------------------------------------------

    async def _request(self, action: ActionFields, timeout: float) -> list[Message]:
        if not self.up:
            raise AmiError(f"AMI link to {self.pbx.name} is down", pbx=self.pbx.name)
        return await self._exchange(action, timeout)

    async def _exchange(self, action: ActionFields, timeout: float) -> list[Message]:
        protocol = self._protocol
        name = str(action.get("Action", "?"))
        if protocol is None or protocol.closed:
            raise AmiError(f"AMI link to {self.pbx.name} is down", pbx=self.pbx.name, action=name)
        for key, value in action.items():
            values = [value] if isinstance(value, str) else list(value)
            # A CR or LF in a value would end the header early and let the rest be read as
            # further headers (or a whole second action) by Asterisk.
            if any("\r" in text or "\n" in text for text in [key, *values]):
                raise AmiError(f"{name}: {key} holds a line break", pbx=self.pbx.name, action=name)
        request = actions.Action(dict(action))
        try:
            async with asyncio.timeout(timeout):
                reply = await protocol.send(request)
        except TimeoutError:
            self._forget(protocol, request)
            raise AmiError(
                f"{name} on {self.pbx.name}: no reply within {timeout:g} s",
                pbx=self.pbx.name,
                action=name,
            ) from None
        replies = reply if isinstance(reply, list) else [reply]
        first = replies[0]
        if not first.success:
            message = first.get("Message", "")
            raise AmiError(
                f"{name} refused by {self.pbx.name}: {message}",
                pbx=self.pbx.name,
                action=name,
                reply=message,
            )
        return replies

    @staticmethod
    def _forget(protocol: AmiProtocol, request: actions.Action) -> None:
        """Drop a timed-out action so a late reply is not matched to it."""
        for key in [key for key, action in protocol.responses.items() if action is request]:
            del protocol.responses[key]

    # -- callbacks from panoramisk (sync, must not raise) -------------------------------------

    def _event_received(self, manager: Manager, message: Message) -> None:
        """The one panoramisk callback (events tied to an action of ours, e.g. OriginateResponse)."""
        self._event_parsed(message, _now())

    def _event_parsed(self, fields: Mapping[str, Any], received_at: datetime) -> None:
        """Stamp an event and queue it, nothing else (this runs inside data_received)."""
        self.events_received += 1
        event = AmiEvent(self.pbx.name, _event_time(fields, received_at), fields)
        if self._held is not None:
            self._held.append(event)
        else:
            self.sink.put_nowait(event)

    def _frame_skipped(self) -> None:
        self.frames_skipped += 1

    def _connection_lost(self, exc: Exception | Message | None) -> None:
        self.up = False
        if isinstance(exc, Message):  # panoramisk passes the `Event: Shutdown` message
            reason = "Asterisk is shutting down"
        elif exc is not None:
            reason = f"connection lost: {getattr(exc, 'strerror', None) or exc}"
        else:
            reason = "connection closed by Asterisk"
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(reason)

    # -- helpers ----------------------------------------------------------------------------

    def _close(self) -> None:
        self.up = False
        self._held = None
        if self._protocol is not None:
            self._protocol.close()
            self._protocol = None

    def _set_state(self, up: bool, reason: str) -> None:
        if self._state == (up, reason):
            return
        self._state = (up, reason)
        level = logging.INFO if up or reason == "stopped" else logging.ERROR
        logger.log(level, "AMI %s %s: %s", self.pbx.name, "up" if up else "down", reason,
                   extra={"action": "ami-link-up" if up else "ami-link-down"})
        self.sink.put_nowait(LinkState(self.pbx.name, _now(), up, reason))

    def _backoff(self, failures: int) -> float:
        """Capped exponential backoff with jitter, so many daemons do not reconnect in step."""
        # The exponent is capped: after ~1,000 failures (hours of outage) 2**n overflows a float.
        ceiling = min(self.pbx.reconnect_max, self.pbx.reconnect_min * 2 ** min(failures, 30))
        return random.uniform(ceiling / 2, ceiling)

    @staticmethod
    async def _wait(stop: asyncio.Event, delay: float) -> None:
        try:
            async with asyncio.timeout(delay):
                await stop.wait()
        except TimeoutError:
            pass
