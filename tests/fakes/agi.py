"""A fake Asterisk on the FastAGI side: a TCP client that plays a channel running AGI().

It replays a capture's Asterisk side (tests/fixtures/ami/X.N.agi) byte for byte: the environment
block, then one reply per command the server sends, with the asynchronous `HANGUP` notice where
the capture has it (or moved before the next command); and it misbehaves on demand: send raw
bytes, a non-UTF-8 environment, nothing at all, or close early. Every read has a timeout, so a
server that goes quiet fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ami"
HANGUP_NOTICE = b"HANGUP\n"
READ_TIMEOUT = 5.0


@dataclass(frozen=True)
class AgiCapture:
    """A recorded FastAGI connection: what Asterisk sent, cut per command, and what the server
    sent. `replies[i]` answers command i; a `HANGUP` notice belongs to the reply it preceded."""

    environment: bytes
    replies: tuple[bytes, ...]
    sent: bytes

    @property
    def commands(self) -> list[bytes]:
        return self.sent.splitlines(keepends=True)


def load_agi_capture(name: str) -> AgiCapture:
    """Capture `name` (e.g. `c-hotline-inbound-call.1`) from tests/fixtures/ami."""
    received = (FIXTURES / f"{name}.agi").read_bytes()
    environment, separator, rest = received.partition(b"\n\n")
    assert separator, f"{name}: no end to the environment block"
    replies: list[bytes] = []
    pending = b""
    for line in rest.splitlines(keepends=True):
        pending += line
        if line != HANGUP_NOTICE:
            replies.append(pending)
            pending = b""
    assert not pending, f"{name}: capture ends inside a reply"
    return AgiCapture(environment + separator, tuple(replies), (FIXTURES / f"{name}.agi.sent")
                      .read_bytes())


def with_env(environment: bytes, **fields: bytes) -> bytes:
    """`environment` with some `agi_xxx` values replaced (as raw bytes, so any encoding)."""
    lines = environment.split(b"\n")
    for index, line in enumerate(lines):
        key = line.partition(b": ")[0].decode()
        if key in fields:
            lines[index] = key.encode() + b": " + fields[key]
    return b"\n".join(lines)


Replies = tuple[bytes, ...] | list[bytes]


class FakeAgiChannel:
    """One FastAGI connection to the server under test, played from Asterisk's side."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        # Every byte the server sent, in order: compared with a capture's `.agi.sent`.
        self.received = bytearray()

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> FakeAgiChannel:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_command(self) -> bytes | None:
        """The next command line the server sent, or None if it closed the connection."""
        async with asyncio.timeout(READ_TIMEOUT):
            try:
                line = await self.reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                self.received += exc.partial
                return None
        self.received += line
        return line

    async def wait_closed_by_server(self) -> bytes:
        """Read until the server closes the connection; return what came meanwhile."""
        async with asyncio.timeout(READ_TIMEOUT):
            rest = await self.reader.read()
        self.received += rest
        return rest

    async def replay(self, replies: Replies, *, notices_before_command: bool = False) -> bytes:
        """Answer each command with the next reply, then wait for the server to close; a
        command beyond the replies gets the connection closed instead.

        With `notices_before_command`, a `HANGUP` notice goes out right after the previous
        reply, before the server's next command (as it arrived in capture e); otherwise just
        ahead of the reply (between a command and its response). Returns all the server sent.
        """
        pending = list(replies)
        while await self.read_command() is not None:
            if not pending:
                # Out of replies: hang up the way Asterisk does once the channel is gone,
                # by closing the connection (our half only, so the rest can still be read).
                self.writer.write_eof()
                break
            reply = pending.pop(0)
            if notices_before_command and pending and pending[0].startswith(HANGUP_NOTICE):
                reply += HANGUP_NOTICE
                pending[0] = pending[0].removeprefix(HANGUP_NOTICE)
            await self.send(reply)
        await self.wait_closed_by_server()
        return bytes(self.received)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def call(port: int, capture: AgiCapture, replies: Replies | None = None, *,
               environment: bytes | None = None, notices_before_command: bool = False) -> bytes:
    """Play one whole call: the capture's environment (or `environment`), then its replies (or
    `replies`); return every byte the server sent before closing."""
    channel = await FakeAgiChannel.connect(port)
    try:
        await channel.send(capture.environment if environment is None else environment)
        return await channel.replay(capture.replies if replies is None else replies,
                                    notices_before_command=notices_before_command)
    finally:
        await channel.close()
