"""The rating after the operator hung up, over FastAGI: Asterisk's side played by a scripted
caller whose replies have the shapes of capture c (GET DATA `200 result=2`, `200 result=
(timeout)`, the HANGUP notice then 511), the rating stored in a real database."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from callflows.rating import Rating
from hotline.config import IvrMenu
from hotline.db.calls import CallRatings, get_call, save_calls
from hotline.db.tables import CallRating
from hotline import calls as tracking
from tests.fakes.agi import FakeAgiChannel, load_agi_capture, with_env

ENVIRONMENT = with_env(load_agi_capture("c-hotline-inbound-call.1").environment,
                       agi_network_script=b"rating", agi_context=b"hotline-rating",
                       agi_extension=b"s", agi_priority=b"1")
LINKEDID = "1795811542.876"
UNIQUEID = "1795811542.877"  # the caller's channel, agi_uniqueid of the capture
AT = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
DEAD = b"511 Command Not Permitted on a dead channel or intercept routine\n"
MENUS = [
    IvrMenu(hotline="12345", rating="hotline/12345-rate", rating_invalid="hotline/12345-rate-again",
            rating_thanks="hotline/12345-rated", digit_timeout=6.0),
    IvrMenu(hotline="12319", language="zh", rating="hotline/12319-rate-zh",
            rating_invalid="hotline/12319-rate-again-zh", rating_thanks="hotline/12319-rated-zh",
            thanks_escape=""),
]


class Caller:
    """Answers each AGI command as Asterisk would for a caller on `hotline` pressing `keys` in
    turn (None: no key before the timeout), hanging up at the next question once they run out
    if `hangs_up`."""

    def __init__(self, keys: list[str | None], *, hotline: str = "12345", hangs_up: bool = False) -> None:
        self.keys = list(keys)
        self.hotline = hotline
        self.hangs_up = hangs_up
        self.commands: list[str] = []
        self.dead = False

    def reply(self, command: str) -> bytes:
        self.commands.append(command)
        verb = " ".join(command.split()[:2])
        if verb == "GET VARIABLE":
            return f"200 result=1 ({self.hotline})\n".encode()
        if verb == "GET FULL":
            return f"200 result=1 ({LINKEDID})\n".encode()
        if self.dead:
            return DEAD
        if verb == "GET DATA":
            if not self.keys and self.hangs_up:
                self.dead = True
                return b"200 result=-1\nHANGUP\n"
            key = self.keys.pop(0) if self.keys else None
            return b"200 result= (timeout)\n" if key is None else f"200 result={key}\n".encode()
        if verb == "STREAM FILE":
            return b"200 result=0 endpos=7679\n"
        return b"200 result=1\n"


@pytest.fixture
async def rating(sessions, agi_server):
    return await agi_server({"rating": Rating(CallRatings(sessions, lambda: AT), MENUS)})


async def call(port: int, caller: Caller, *, language: bytes = b"en") -> list[str]:
    channel = await FakeAgiChannel.connect(port)
    try:
        await channel.send(with_env(ENVIRONMENT, agi_language=language))
        async with asyncio.timeout(5):
            while (line := await channel.read_command()) is not None:
                await channel.send(caller.reply(line.decode().rstrip("\n")))
    finally:
        await channel.close()
    return caller.commands


async def stored(sessions) -> list[tuple[str, str, int, datetime]]:
    async with sessions() as session:
        rows = await session.scalars(select(CallRating))
        return [(r.linkedid, r.uniqueid, r.rating, r.rated_at) for r in rows]


@pytest.mark.parametrize(("key", "value"), [("1", 1), ("2", 2), ("3", 3)])
async def test_the_key_pressed_is_stored_on_the_call_and_thanked(rating, sessions, key, value):
    commands = await call(rating.port, Caller([key]))
    assert commands == [
        "GET VARIABLE HOTLINE", "GET FULL VARIABLE ${CHANNEL(linkedid)}",
        "GET DATA hotline/12345-rate 6000 1",
        'STREAM FILE hotline/12345-rated "#"',
    ]
    assert await stored(sessions) == [(LINKEDID, UNIQUEID, value, AT)]


async def test_a_rating_given_before_call_tracking_saved_the_call_shows_on_it_once_saved(rating, sessions):
    await call(rating.port, Caller(["2"]))
    async with sessions() as session, session.begin():
        ids = await save_calls(session, [tracking.Call(
            pbx="main", linkedid=LINKEDID, hotline="12345", status="ended", started_at=AT)])
    async with sessions() as session:
        saved = await get_call(session, ids[("main", LINKEDID)])
    assert (saved.rated.rating, saved.rated.rated_at) == (2, AT)


async def test_an_invalid_key_or_no_key_asks_again_at_most_twice(rating, sessions):
    commands = await call(rating.port, Caller(["7", None, "3"]))
    assert commands[2:] == [
        "GET DATA hotline/12345-rate 6000 1", 'STREAM FILE hotline/12345-rate-again ""',
        "GET DATA hotline/12345-rate 6000 1",
        "GET DATA hotline/12345-rate 6000 1",
        'STREAM FILE hotline/12345-rated "#"',
    ]
    assert [row[2] for row in await stored(sessions)] == [3]


@pytest.mark.parametrize("keys", [[None, None, None], ["9", "#", "0"]], ids=["silent", "wrong-keys"])
async def test_three_tries_without_a_rating_leave_the_call_unrated(rating, sessions, caplog, keys):
    commands = await call(rating.port, Caller(keys))
    assert commands.count("GET DATA hotline/12345-rate 6000 1") == 3
    assert not [c for c in commands if "rated" in c]
    assert await stored(sessions) == []
    assert f"call {LINKEDID} on Local/12345@hotline-in-000001b6;2 not rated" in caplog.text


async def test_a_caller_who_hangs_up_instead_of_rating_leaves_the_call_unrated(rating, sessions, caplog):
    commands = await call(rating.port, Caller(["8"], hangs_up=True))
    # The -1 of a hang-up looks like a missing prompt's until CHANNEL STATUS tells them apart.
    assert commands[-2:] == ["GET DATA hotline/12345-rate 6000 1", "CHANNEL STATUS"]
    assert await stored(sessions) == []
    assert "hung up during 'GET DATA hotline/12345-rate 6000 1'" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_each_hotline_and_language_hears_its_own_rating_prompts(rating, sessions):
    commands = await call(rating.port, Caller(["5", "1"], hotline="12319"), language=b"zh")
    assert commands[2:] == [
        "GET DATA hotline/12319-rate-zh 5000 1", 'STREAM FILE hotline/12319-rate-again-zh ""',
        "GET DATA hotline/12319-rate-zh 5000 1", 'STREAM FILE hotline/12319-rated-zh ""',
    ]
    assert [row[2] for row in await stored(sessions)] == [1]
