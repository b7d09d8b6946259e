"""Our FastAGI server: Asterisk's `AGI(agi://host:port/script)` served on `asyncio.start_server`.

panoramisk's fast_agi is not used (see shared STYLE.md): it spins on a connection that closes
before its environment, reads one line per reply so the asynchronous `HANGUP` notice puts every
later reply off by one, and loses `result=-1`, `(timeout)` and multi-line `520` replies.

The wire format, as Asterisk 22 sends it (tests/fixtures/ami/*.agi): LF line endings; an
environment block of `agi_xxx: value` lines ended by a blank line; then one reply per command,
`200 result=N [(data)] [endpos=M]`, `510 ...`, `511 ...` or a multi-line `520-` ... `520 End of
proper usage.`; and, about 40 ms after the channel hangs up, one extra `HANGUP` line that can
arrive anywhere, even between a command and its reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hotline.errors import HotlineError

logger = logging.getLogger(__name__)

AgiHandler = Callable[["AgiSession"], Awaitable[Any]]

# `200 result=1 (value)`, `200 result= (timeout)`, `200 result=35 (dtmf) endpos=5298`: the data
# is greedy so a variable's value may itself hold parentheses (res_agi.c does not escape them).
_SUCCESS = re.compile(r"result=(?P<result>\S*)(?: \((?P<data>.*)\))?(?: endpos=(?P<endpos>-?\d+))?")
_STATUS = re.compile(r"(?P<status>\d{3})(?P<sep>[ -])(?P<rest>.*)")
# res_agi.c's ast_agi_send(... "HANGUP\n") once the channel is gone (agi_handle_command/run_agi).
_HANGUP_NOTICE = "HANGUP"
_USAGE_END = "520 "
# Missing prompts are logged once each; past this many distinct names (a flow that builds names
# from input), every further miss is logged.
MISSING_PROMPTS_LOGGED = 1000


class AgiError(HotlineError):
    """Asterisk refused an AGI command or did not answer it in time."""

    status_code = 502
    error_id = "agi-error"


class ChannelHungUp(AgiError):
    """The channel hung up: Asterisk answered -1 or 511, or closed the FastAGI connection."""

    error_id = "channel-hung-up"


@dataclass(frozen=True)
class AgiResult:
    """One reply to one AGI command, parsed.

    `result` is the text after `result=` as sent (`""` for `200 result= (timeout)`); `data` the
    parenthesised part (a variable's value, `timeout`, `dtmf`); `text` the whole reply, lines
    joined by LF (a `520` usage reply spans several).
    """

    status: int
    text: str
    result: str = ""
    data: str | None = None
    endpos: int | None = None

    @property
    def hung_up(self) -> bool:
        """Asterisk's two ways of saying the channel is gone: `result=-1` and `511`."""
        return self.status == 511 or (self.status == 200 and self.result == "-1")


@dataclass(frozen=True)
class RecordedFile:
    """What RECORD FILE reports: the DTMF digit that ended it (None: timeout or silence) and
    `endpos`, the length recorded in samples."""

    ended_by: str | None
    endpos: int


def parse_reply(lines: list[str]) -> AgiResult:
    """Parse one reply (one line, or the lines of a `520-` usage reply) into an AgiResult."""
    text = "\n".join(lines)
    match = _STATUS.fullmatch(lines[0])
    if match is None:
        raise AgiError(f"unreadable AGI reply {text!r}", reply=text)
    status = int(match["status"])
    if status != 200:
        return AgiResult(status, text)
    success = _SUCCESS.fullmatch(match["rest"])
    if success is None:
        raise AgiError(f"unreadable AGI reply {text!r}", reply=text)
    endpos = success["endpos"]
    return AgiResult(
        status, text, success["result"], success["data"], None if endpos is None else int(endpos)
    )


def quote(value: str) -> str:
    """An AGI argument in double quotes; res_agi.c's parse_args honours backslash escapes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _digit(code: str) -> str | None:
    """STREAM FILE / WAIT FOR DIGIT / RECORD FILE answer the ASCII code of a digit, 0 for none."""
    return chr(int(code)) if code not in ("", "0") else None


class AgiSession:
    """One FastAGI connection: the channel's environment and its command/reply dialog.

    `hung_up` turns true once Asterisk has said the channel is gone (the `HANGUP` notice, a
    `-1` or `511` reply, or a closed socket). Commands still work after it: GET VARIABLE and
    NOOP succeed on a dead channel, media commands get `511`, which the typed helpers raise as
    ChannelHungUp. A prompt that does not exist on the PBX is not a hang-up: see `stream_file`.

    `missing_prompts` remembers the prompts already reported missing, so each is logged once;
    the server shares one among its sessions.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        env: Mapping[str, str],
        *,
        command_timeout: float,
        missing_prompts: set[tuple[str, str]] | None = None,
    ) -> None:
        self.env = dict(env)
        self.command_timeout = command_timeout
        self.hung_up = False
        self.missing_prompts = set() if missing_prompts is None else missing_prompts
        self._reader = reader
        self._writer = writer
        self._gone = False

    @property
    def script(self) -> str:
        return self.env.get("agi_network_script", "")

    @property
    def channel(self) -> str:
        return self.env.get("agi_channel", "?")

    @property
    def language(self) -> str:
        """The channel's language when AGI() started (`CHANNEL(language)`; prompts are looked up
        under it)."""
        return self.env.get("agi_language", "")

    async def command(self, text: str, *, timeout: float | None = None) -> AgiResult:
        """Send one AGI command and return its reply, whatever its status.

        Raises ChannelHungUp once Asterisk has closed the connection, and AgiError when no reply
        comes within `timeout` (default `command_timeout`); after a timeout the dialog is out of
        step, so the session is dropped.
        """
        result = await self._exchange(text, timeout)
        if result.hung_up:
            self.hung_up = True
        return result

    async def _exchange(self, text: str, timeout: float | None) -> AgiResult:
        """One command and its reply; only the HANGUP notice and a closed socket mark the
        session hung up here (what `-1` means depends on the command)."""
        if "\n" in text or "\r" in text:
            raise ValueError(f"an AGI command is one line: {text!r}")
        if self._gone:
            raise self._closed()
        try:
            async with asyncio.timeout(self.command_timeout if timeout is None else timeout):
                self._writer.write(text.encode() + b"\n")
                await self._writer.drain()
                return await self._read_reply()
        except (TimeoutError, asyncio.LimitOverrunError) as exc:
            # No reply, or a line past the reader's 64 KiB limit: whatever comes next would be
            # taken for the next command's reply, so the connection is dropped.
            self._gone = True
            self._writer.transport.abort()
            raise AgiError(
                f"{self.channel}: no readable reply to {text!r} ({type(exc).__name__})",
                channel=self.channel,
            ) from None
        except (ConnectionError, asyncio.IncompleteReadError):
            self._gone = True
            self.hung_up = True
            raise self._closed() from None

    def _closed(self) -> ChannelHungUp:
        return ChannelHungUp(f"{self.channel}: FastAGI connection closed", channel=self.channel)

    async def _read_line(self) -> str:
        line = await self._reader.readuntil(b"\n")
        # Replies carry variable values, which are caller data: never fail on their bytes.
        return line[:-1].decode("utf-8", errors="replace")

    async def _read_reply(self) -> AgiResult:
        line = await self._read_line()
        # The HANGUP notice is not a reply: note it and keep reading, so that the reply to this
        # command is the one returned (panoramisk returned the notice and fell one behind).
        while line == _HANGUP_NOTICE:
            self.hung_up = True
            line = await self._read_line()
        lines = [line]
        # res_agi.c sends a usage reply as `520-Invalid command syntax...`, the usage text, then
        # `520 End of proper usage.`; the reply ends only there.
        if line.startswith("520-"):
            while not lines[-1].startswith(_USAGE_END):
                lines.append(await self._read_line())
        return parse_reply(lines)

    async def _checked(self, text: str, *, timeout: float | None = None) -> AgiResult:
        """command(), raising ChannelHungUp on `-1`/`511` and AgiError on `510`/`520`."""
        return self._check(text, await self.command(text, timeout=timeout))

    def _check(self, text: str, result: AgiResult) -> AgiResult:
        if result.hung_up:
            raise ChannelHungUp(f"{self.channel}: hung up during {text!r}", channel=self.channel)
        if result.status != 200:
            raise AgiError(f"{self.channel}: {text!r} refused: {result.text}", reply=result.text)
        return result

    async def _play(self, text: str, prompt: str, *, timeout: float | None = None) -> AgiResult | None:
        """_checked() for a command that plays `prompt` first; None if the prompt does not exist.

        res_agi.c answers a sound file it cannot open with `200 result=-1` at once (STREAM FILE
        also `endpos=0`; GET DATA through ast_app_getdata_full), the very reply a hang-up gives,
        but no `HANGUP` notice follows and the channel lives on. So a `-1` on a session that saw
        no hang-up is checked with CHANNEL STATUS, which answers the channel's state on a live
        channel and `511` on a dead one.
        """
        result = await self._exchange(text, timeout)
        if result.status == 200 and result.result == "-1" and await self._alive():
            self._prompt_missing(prompt)
            return None
        if result.hung_up:
            self.hung_up = True
        return self._check(text, result)

    async def _alive(self) -> bool:
        if self.hung_up:
            return False
        try:
            status = await self.command("CHANNEL STATUS")
        except ChannelHungUp:
            return False
        return status.status == 200 and status.result.isdigit() and not self.hung_up

    def _prompt_missing(self, prompt: str) -> None:
        key = (prompt, self.language)
        if key in self.missing_prompts:
            logger.debug("prompt %r (language %s) missing again on %s", prompt, self.language,
                         self.channel, extra={"action": "agi-prompt-missing"})
            return
        if len(self.missing_prompts) < MISSING_PROMPTS_LOGGED:
            self.missing_prompts.add(key)
        logger.warning("prompt %r (language %s) does not exist on the PBX; call flows go on "
                       "without it (first seen on %s)", prompt, self.language or "?", self.channel,
                       extra={"action": "agi-prompt-missing"})

    async def answer(self) -> None:
        """ANSWER the channel (`200 result=0`)."""
        await self._checked("ANSWER")

    async def get_variable(self, name: str) -> str | None:
        """A channel variable's value; None when unset (`200 result=0`)."""
        return self._value(await self._checked(f"GET VARIABLE {name}"))

    async def get_full_variable(self, expression: str) -> str | None:
        """An expression such as `${CALLERID(num)}` evaluated on the channel; None when unset."""
        return self._value(await self._checked(f"GET FULL VARIABLE {expression}"))

    @staticmethod
    def _value(result: AgiResult) -> str | None:
        # `200 result=1 (value)`, or `200 result=0` for a variable that is not set.
        return result.data if result.result == "1" else None

    async def set_variable(self, name: str, value: str) -> None:
        """SET VARIABLE name "value"."""
        await self._checked(f"SET VARIABLE {name} {quote(value)}")

    async def stream_file(self, name: str, escape_digits: str = "") -> str | None:
        """Play a sound file; return the escape digit that interrupted it, if any.

        A sound file missing on the PBX is logged (once per name and language) and skipped.
        """
        result = await self._play(f"STREAM FILE {name} {quote(escape_digits)}", name)
        return None if result is None else _digit(result.result)

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> str | None:
        """Play `prompt` and collect up to `max_digits` digits; None when none came in time.

        A prompt missing on the PBX is logged (once per name and language) and the digits are
        collected without it (an empty prompt: ast_app_getdata_full then only reads digits).
        """
        timeout = self.command_timeout + timeout_ms / 1000 * max_digits
        result = await self._play(f"GET DATA {prompt} {timeout_ms} {max_digits}", prompt,
                                  timeout=timeout)
        if result is None:
            result = await self._checked(f'GET DATA "" {timeout_ms} {max_digits}', timeout=timeout)
        return result.result or None

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        """Wait for one DTMF digit; None when none came within `timeout_ms`."""
        result = await self._checked(
            f"WAIT FOR DIGIT {timeout_ms}", timeout=self.command_timeout + timeout_ms / 1000
        )
        return _digit(result.result)

    async def record_file(
        self, path: str, file_format: str, escape_digits: str, timeout_ms: int, *, beep: bool = True
    ) -> RecordedFile:
        """RECORD FILE to `path` (no extension) until an escape digit, `timeout_ms` or hang-up."""
        command = f"RECORD FILE {path} {file_format} {quote(escape_digits)} {timeout_ms} 0"
        result = await self._checked(
            command + (" BEEP" if beep else ""), timeout=self.command_timeout + timeout_ms / 1000
        )
        ended_by = _digit(result.result) if result.data == "dtmf" else None
        return RecordedFile(ended_by, result.endpos or 0)

    async def verbose(self, message: str, level: int = 1) -> None:
        """Write `message` to the Asterisk console log at verbosity `level`."""
        await self._checked(f"VERBOSE {quote(message)} {level}")

    async def hangup(self) -> None:
        """HANGUP the channel (`200 result=1`); Asterisk then sends its HANGUP notice."""
        await self._checked("HANGUP")
        self.hung_up = True


def _async_handler(handler: object) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)
    )


class FastAgiServer:
    """FastAGI on `host:port`, routing each call by `agi_network_script` to an async handler.

    `routes` maps a script name as Asterisk sends it (`ivr` for `agi://host:4573/ivr`, no
    leading slash) to `async def handler(session: AgiSession)`. A connection that sends no
    complete environment within `environment_timeout` is closed; `grace` is how long close()
    lets calls in flight finish before closing their connections.
    """

    def __init__(
        self,
        routes: Mapping[str, AgiHandler],
        host: str = "127.0.0.1",
        port: int = 4573,
        *,
        environment_timeout: float = 5.0,
        command_timeout: float = 60.0,
        grace: float = 5.0,
    ) -> None:
        for script, handler in routes.items():
            if not _async_handler(handler):
                raise TypeError(
                    f"FastAGI route {script!r}: handler {handler!r} must be an async function"
                )
        self.routes = dict(routes)
        self.host = host
        self.environment_timeout = environment_timeout
        self.command_timeout = command_timeout
        self.grace = grace
        self._port = port
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        # Shared by every call, so a missing prompt is logged once, not once per call.
        self._missing_prompts: set[tuple[str, str]] = set()

    async def start(self) -> None:
        """Listen (port 0 picks a free port; see `port`)."""
        # A plain callback, so each call runs in a task we own and can wait for or cancel.
        self._server = await asyncio.start_server(self._accept, self.host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]
        logger.info("FastAGI listening on %s:%d", self.host, self.port,
                    extra={"action": "fastagi-listen"})

    @property
    def port(self) -> int:
        """The port listened on (the one picked, once started with port 0)."""
        return self._port

    async def serve(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then close(): the daemon's task for FastAGI."""
        if self._server is None:
            await self.start()
        try:
            await stop.wait()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop accepting, let calls in flight finish for `grace` seconds, then close them."""
        if self._server is not None:
            self._server.close()
        if self._sessions:
            _, pending = await asyncio.wait(self._sessions, timeout=self.grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._session(reader, writer))
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            env = await self._environment(reader, writer)
            if env is not None:
                await self._dispatch(AgiSession(
                    reader, writer, env, command_timeout=self.command_timeout,
                    missing_prompts=self._missing_prompts,
                ))
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _environment(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> dict[str, str] | None:
        """The environment block, or None (logged) for a connection that never sends one."""
        peer = writer.get_extra_info("peername")
        try:
            async with asyncio.timeout(self.environment_timeout):
                # Asterisk ends the environment with a blank line (LF only, see the captures).
                block = await reader.readuntil(b"\n\n")
        except asyncio.IncompleteReadError as exc:
            # A port probe or health check connects and closes: nothing to serve.
            logger.debug("FastAGI connection from %s closed after %d bytes", peer,
                         len(exc.partial), extra={"action": "fastagi-no-environment"})
            return None
        except TimeoutError:
            logger.info("FastAGI connection from %s sent no environment in %.1f s; closed", peer,
                        self.environment_timeout, extra={"action": "fastagi-no-environment"})
            return None
        except (asyncio.LimitOverrunError, ConnectionError) as exc:
            logger.warning("FastAGI connection from %s: bad environment (%s); closed", peer, exc,
                           extra={"action": "fastagi-bad-environment"})
            return None
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            # Caller names come from the network; a bad byte must not cost the call its menu.
            text = block.decode("utf-8", errors="replace")
            logger.warning("FastAGI environment from %s is not UTF-8; decoded leniently", peer,
                           extra={"action": "fastagi-bad-environment"})
        env: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition(": ")
            if sep:
                env[key] = value
            elif line.endswith(":"):
                env[line[:-1]] = ""  # `agi_accountcode: ` can lose its trailing space
        return env

    async def _dispatch(self, session: AgiSession) -> None:
        handler = self.routes.get(session.script)
        if handler is None:
            # Asterisk sets AGISTATUS=FAILURE and carries on with the dialplan.
            logger.warning("FastAGI: no route for script %r (channel %s)", session.script,
                           session.channel, extra={"action": "fastagi-no-route"})
            return
        try:
            await handler(session)
        except ChannelHungUp as exc:
            logger.info("FastAGI %s on %s: %s", session.script, session.channel, exc,
                        extra={"action": "fastagi-hung-up"})
        except Exception:
            logger.exception("FastAGI %s on %s failed", session.script, session.channel,
                             extra={"action": "fastagi-handler-failed"})
