"""The FastAGI server over real TCP, driven by a fake Asterisk replaying capture bytes.

Each case is one of panoramisk's failure modes (shared STYLE.md) or one of the reply formats
Asterisk 22 sent in the captures (tests/fixtures/ami/*.agi).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from callflows.fastagi import (
    AgiError,
    AgiResult,
    AgiSession,
    ChannelHungUp,
    FastAgiServer,
    RecordedFile,
)
from callflows.ivr import Ivr
from tests.fakes.agi import FakeAgiChannel, call, load_agi_capture, with_env

ivr = Ivr([])  # the built-in menu: the sounds of capture c
IVR = load_agi_capture("c-hotline-inbound-call.1")
SURVEY = load_agi_capture("e-callback-survey.1")
DEAD = b"511 Command Not Permitted on a dead channel or intercept routine\n"
USAGE = (
    b"520-Invalid command syntax.  Proper usage follows:\n"
    b" Usage: GET DATA <file to be streamed> [timeout] [maxdigits]\n"
    b"   Stream the given <file to be streamed>, and receive DTMF data.\n"
    b"520 End of proper usage.\n"
)


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_connect_and_close_or_stay_silent_neither_freezes_nor_stops_the_server(
    agi_server, caplog
):
    # A long grace: if a probe's session were stuck (panoramisk spins on it), shutdown would
    # wait for it and overrun the timeout below.
    server = await agi_server({"ivr": ivr}, grace=30.0)
    stop = asyncio.Event()
    serving = asyncio.create_task(server.serve(stop))
    async with asyncio.timeout(3):
        probe = await FakeAgiChannel.connect(server.port)
        await probe.close()
        half = await FakeAgiChannel.connect(server.port)
        await half.send(IVR.environment[:40])
        await half.close()
        silent = await FakeAgiChannel.connect(server.port)

        assert await call(server.port, IVR) == IVR.sent
        assert await silent.wait_closed_by_server() == b""
        await silent.close()
        assert await call(server.port, IVR) == IVR.sent

        stop.set()
        await serving
    assert "sent no environment" in caplog.text
    assert not errors(caplog)


async def test_non_utf8_environment_is_decoded_leniently_and_the_call_served(agi_server, caplog):
    seen: asyncio.Queue[dict[str, str]] = asyncio.Queue()

    async def menu(session: AgiSession) -> None:
        seen.put_nowait(session.env)
        await ivr(session)

    server = await agi_server({"ivr": menu})
    environment = with_env(IVR.environment, agi_calleridname=b"\xb1\xe8 Citizen")
    async with asyncio.timeout(3):
        assert await call(server.port, IVR, environment=environment) == IVR.sent
        env = await seen.get()
    assert env["agi_calleridname"] == "\ufffd\ufffd Citizen"
    assert env["agi_channel"] == "Local/12345@hotline-in-000001b6;2"
    assert env["agi_accountcode"] == ""
    assert "not UTF-8" in caplog.text


async def test_unknown_script_is_logged_and_closed_and_the_server_keeps_serving(
    agi_server, caplog
):
    server = await agi_server({"ivr": ivr})
    environment = with_env(IVR.environment, agi_network_script=b"nosuch")
    async with asyncio.timeout(3):
        assert await call(server.port, IVR, environment=environment) == b""
        assert await call(server.port, IVR) == IVR.sent
    assert "no route for script 'nosuch'" in caplog.text


def test_sync_handlers_are_refused_at_registration() -> None:
    def survey(session: AgiSession) -> None:
        """A plain function: it could not await a single command."""

    with pytest.raises(TypeError, match="'survey'.*must be an async function"):
        FastAgiServer({"ivr": ivr, "survey": survey})


async def test_an_async_callable_object_is_a_handler() -> None:
    class Flow:
        async def __call__(self, session: AgiSession) -> None:
            await session.answer()

    assert FastAgiServer({"flow": Flow()}).routes


async def test_a_failing_handler_is_logged_once_closed_and_the_server_keeps_serving(
    agi_server, caplog
):
    async def broken(session: AgiSession) -> None:
        await session.answer()
        raise RuntimeError("menu data missing")

    server = await agi_server({"ivr": broken, "survey": ivr})
    async with asyncio.timeout(3):
        assert await call(server.port, IVR) == b"ANSWER\n"
        environment = with_env(IVR.environment, agi_network_script=b"survey")
        assert await call(server.port, IVR, environment=environment) == IVR.sent
    [record] = errors(caplog)
    assert record.getMessage() == "FastAGI ivr on Local/12345@hotline-in-000001b6;2 failed"
    assert "menu data missing" in caplog.text


async def one_command(
    agi_server, action: Callable[[AgiSession], Awaitable[Any]], replies: list[bytes]
) -> tuple[Any, AgiSession, bytes]:
    """Run `action` in a handler over TCP, the fake answering with `replies`; return what it
    returned (or raised), the session and the bytes the server sent."""
    outcome: asyncio.Queue[tuple[Any, AgiSession]] = asyncio.Queue()

    async def handler(session: AgiSession) -> None:
        try:
            outcome.put_nowait((await action(session), session))
        except AgiError as exc:
            outcome.put_nowait((exc, session))

    server = await agi_server({"ivr": handler})
    async with asyncio.timeout(3):
        sent = await call(server.port, IVR, replies)
        returned, session = await outcome.get()
    return returned, session, sent


async def command_then_noop(session: AgiSession) -> tuple[AgiResult, bool, AgiResult]:
    """A command, whether the session saw a hang-up, then a second command: its reply proves
    the dialog is still in step."""
    first = await session.command("GET VARIABLE X")
    return first, session.hung_up, await session.command("NOOP")


@pytest.mark.parametrize(
    ("reply", "expected", "hung_up"),
    [
        (b"200 result=0\n", AgiResult(200, "200 result=0", "0"), False),
        (b"200 result=1 (12345)\n", AgiResult(200, "200 result=1 (12345)", "1", "12345"), False),
        (b"200 result=1 ()\n", AgiResult(200, "200 result=1 ()", "1", ""), False),
        (b"200 result=1 (a (b) c)\n", AgiResult(200, "200 result=1 (a (b) c)", "1", "a (b) c"),
         False),
        (b"200 result= (timeout)\n", AgiResult(200, "200 result= (timeout)", "", "timeout"), False),
        (b"200 result=0 endpos=11234\n",
         AgiResult(200, "200 result=0 endpos=11234", "0", None, 11234), False),
        (b"200 result=35 (dtmf) endpos=5298\n",
         AgiResult(200, "200 result=35 (dtmf) endpos=5298", "35", "dtmf", 5298), False),
        (b"200 result=-1\n", AgiResult(200, "200 result=-1", "-1"), True),
        (b"510 Invalid or unknown command\n", AgiResult(510, "510 Invalid or unknown command"),
         False),
        (DEAD, AgiResult(511, DEAD.decode().rstrip()), True),
        (USAGE, AgiResult(520, USAGE.decode().rstrip()), False),
        # The asynchronous notice between the command and its reply: the reply is still read.
        (b"HANGUP\n200 result=1 (4)\n", AgiResult(200, "200 result=1 (4)", "1", "4"), True),
        (b"HANGUP\n" + DEAD, AgiResult(511, DEAD.decode().rstrip()), True),
    ],
)
async def test_replies_are_parsed_and_the_dialog_stays_in_step(
    agi_server, reply, expected, hung_up
):
    (first, saw_hangup, second), _, sent = await one_command(
        agi_server, command_then_noop, [reply, b"200 result=0\n"]
    )
    assert first == expected
    assert saw_hangup is hung_up
    assert second == AgiResult(200, "200 result=0", "0")
    assert sent == b"GET VARIABLE X\nNOOP\n"


async def test_a_hangup_notice_before_the_command_marks_the_session(agi_server):
    async def notice_then_command(session: AgiSession) -> tuple[bool, str | None, bool]:
        before = session.hung_up
        await session.answer()
        return before, await session.get_variable("CASE_ID"), session.hung_up

    returned, _, sent = await one_command(
        agi_server, notice_then_command, [b"200 result=0\nHANGUP\n", b"200 result=1 (C-1)\n"]
    )
    assert returned == (False, "C-1", True)
    assert sent == b"ANSWER\nGET VARIABLE CASE_ID\n"


@pytest.mark.parametrize(
    ("action", "command", "reply", "expected"),
    [
        (lambda s: s.get_variable("CASE_ID"), b"GET VARIABLE CASE_ID\n", b"200 result=0\n", None),
        (lambda s: s.get_variable("EMPTY"), b"GET VARIABLE EMPTY\n", b"200 result=1 ()\n", ""),
        (lambda s: s.get_full_variable("${CALLERID(name)}"),
         b"GET FULL VARIABLE ${CALLERID(name)}\n", "200 result=1 (张三)\n".encode(), "张三"),
        (lambda s: s.set_variable("NOTE", 'said "hi" \\o/'),
         b'SET VARIABLE NOTE "said \\"hi\\" \\\\o/"\n', b"200 result=1\n", None),
        (lambda s: s.stream_file("vm-goodbye", "#"), b'STREAM FILE vm-goodbye "#"\n',
         b"200 result=35 endpos=1200\n", "#"),
        (lambda s: s.stream_file("hello-world"), b'STREAM FILE hello-world ""\n',
         b"200 result=0 endpos=11234\n", None),
        (lambda s: s.get_data("beep", 5000, 1), b"GET DATA beep 5000 1\n",
         b"200 result= (timeout)\n", None),
        (lambda s: s.get_data("beep", 5000, 4), b"GET DATA beep 5000 4\n",
         b"200 result=12 (timeout)\n", "12"),
        (lambda s: s.wait_for_digit(5000), b"WAIT FOR DIGIT 5000\n", b"200 result=57\n", "9"),
        (lambda s: s.wait_for_digit(5000), b"WAIT FOR DIGIT 5000\n", b"200 result=0\n", None),
        (lambda s: s.record_file("/tmp/r", "wav", "#", 5000),
         b'RECORD FILE /tmp/r wav "#" 5000 0 BEEP\n',
         b"200 result=0 (timeout) endpos=0\n", RecordedFile(None, 0)),
        (lambda s: s.record_file("/tmp/r", "wav", "#", 5000, beep=False),
         b'RECORD FILE /tmp/r wav "#" 5000 0\n', b"200 result=35 (dtmf) endpos=5298\n",
         RecordedFile("#", 5298)),
        (lambda s: s.verbose("IVR finished, choice 2"), b'VERBOSE "IVR finished, choice 2" 1\n',
         b"200 result=1\n", None),
    ],
)
async def test_typed_commands(agi_server, action, command, reply, expected):
    returned, _, sent = await one_command(agi_server, action, [reply])
    assert returned == expected
    assert sent == command


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"200 result=-1\n", ChannelHungUp),
        (DEAD, ChannelHungUp),
        (b"510 Invalid or unknown command\n", AgiError),
        (USAGE, AgiError),
        # Beyond the reader's 64 KiB line limit: the session is dropped, not left out of step.
        (b"200 result=1 (" + b"x" * 70_000 + b")\n", AgiError),
    ],
)
async def test_typed_commands_raise_on_hangup_and_refusal(agi_server, reply, error):
    returned, session, _ = await one_command(
        agi_server, lambda s: s.get_data("beep", 5000, 1), [reply]
    )
    assert type(returned) is error
    assert session.hung_up is (error is ChannelHungUp)


async def test_asterisk_closing_the_socket_ends_the_session_with_channel_hung_up(
    agi_server, caplog
):
    async def two_commands(session: AgiSession) -> list[str]:
        outcomes = []
        for _ in range(2):
            try:
                await session.stream_file("hello-world")
            except ChannelHungUp as exc:
                outcomes.append(type(exc).__name__)
        return outcomes

    returned, session, sent = await one_command(agi_server, two_commands, [])
    # The fake closed without a reply; the second command fails at once, writing nothing.
    assert returned == ["ChannelHungUp", "ChannelHungUp"]
    assert session.hung_up
    assert sent == b'STREAM FILE hello-world ""\n'
    assert not errors(caplog)


async def ivr_call_at_answer(port: int) -> FakeAgiChannel:
    """A call to the IVR whose ANSWER the fake has read and not yet answered."""
    channel = await FakeAgiChannel.connect(port)
    await channel.send(IVR.environment)
    assert await channel.read_command() == b"ANSWER\n"
    return channel


async def test_a_command_without_reply_times_out_and_the_connection_is_closed(agi_server):
    server = await agi_server({"ivr": ivr}, command_timeout=0.1)
    async with asyncio.timeout(3):
        channel = await ivr_call_at_answer(server.port)
        assert await channel.wait_closed_by_server() == b""
        await channel.close()


async def stop_during_a_call(server: FastAgiServer) -> tuple[FakeAgiChannel, asyncio.Task[None]]:
    """Serve, start an IVR call, and set the stop event while its ANSWER awaits a reply."""
    stop = asyncio.Event()
    serving = asyncio.create_task(server.serve(stop))
    channel = await ivr_call_at_answer(server.port)
    stop.set()
    return channel, serving


async def test_shutdown_lets_a_call_in_flight_finish_within_the_grace(agi_server):
    finished: asyncio.Queue[str | None] = asyncio.Queue()

    async def menu(session: AgiSession) -> None:
        finished.put_nowait(await ivr(session))

    server = await agi_server({"ivr": menu}, grace=5.0)
    async with asyncio.timeout(3):
        channel, serving = await stop_during_a_call(server)
        await channel.send(IVR.replies[0])
        assert await channel.replay(IVR.replies[1:]) == IVR.sent
        await channel.close()
        assert await finished.get() == "2"
        await serving
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", server.port)


async def test_shutdown_closes_a_call_that_outlasts_the_grace(agi_server, caplog):
    server = await agi_server({"ivr": ivr}, grace=0.1)
    async with asyncio.timeout(3):
        channel, serving = await stop_during_a_call(server)
        await serving
        assert await channel.wait_closed_by_server() == b""
        await channel.close()
    assert not errors(caplog)


async def survey(session: AgiSession) -> dict[str, Any]:
    """A minimal survey issuing capture e's commands (the real flow is a later issue's)."""
    await session.answer()
    case_id = await session.get_variable("CASE_ID")
    score = await session.get_data("beep", 6000, 1)
    await session.command(f"SET VARIABLE SURVEY_SCORE {score}")
    await session.stream_file("auth-thankyou")
    extra = await session.wait_for_digit(5000)
    recorded = await session.record_file(
        f"/opt/asterisk/var/spool/asterisk/survey/{case_id}", "wav", "#", 5000
    )
    await session.hangup()
    stored = await session.get_variable("SURVEY_SCORE")
    try:
        await session.stream_file("vm-goodbye")
    except ChannelHungUp:
        refused = True
    noop = await session.command("NOOP after hangup")
    return {"case": case_id, "score": score, "extra": extra, "recorded": recorded,
            "stored": stored, "refused": refused, "noop": noop.text, "hung_up": session.hung_up}


@pytest.mark.parametrize("notices_before_command", [False, True])
async def test_survey_capture_replays_through_the_hangup_notice_and_511(
    agi_server, notices_before_command
):
    outcome: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def handler(session: AgiSession) -> None:
        outcome.put_nowait(await survey(session))

    server = await agi_server({"survey": handler})
    async with asyncio.timeout(3):
        sent = await call(server.port, SURVEY, notices_before_command=notices_before_command)
        result = await outcome.get()
    assert sent == SURVEY.sent
    assert result == {
        "case": "CASE-2024-0001", "score": "4", "extra": "9",
        "recorded": RecordedFile("#", 5298),
        # Read after the HANGUP notice: the reply to this command, not one behind.
        "stored": "4", "refused": True, "noop": "200 result=0", "hung_up": True,
    }


async def test_a_value_that_would_split_the_command_is_refused_before_sending(agi_server):
    async def inject(session: AgiSession) -> str:
        try:
            await session.set_variable("NOTE", "x\nHANGUP")
        except ValueError as exc:
            return str(exc)
        return "sent"

    returned, _, sent = await one_command(agi_server, inject, [])
    assert returned.startswith("an AGI command is one line")
    assert sent == b""
