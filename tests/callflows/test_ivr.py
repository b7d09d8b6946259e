"""The IVR flow against capture c's Asterisk side, and the turns the capture did not take."""

from __future__ import annotations

import asyncio
import logging

import pytest

from callflows.ivr import Ivr
from hotline.config import IvrMenu
from tests.fakes.agi import call, load_agi_capture, with_env

IVR = load_agi_capture("c-hotline-inbound-call.1")
GET_DATA = 4  # index of GET DATA among the capture's commands
WELCOME = 3  # index of the first STREAM FILE
DEAD = b"511 Command Not Permitted on a dead channel or intercept routine\n"
# res_agi.c's answer to STREAM FILE of a sound file that does not exist, and to GET DATA with
# such a prompt: at once, and with no HANGUP notice after it.
NO_FILE = b"200 result=-1 endpos=0\n"
CHANNEL_UP = b"200 result=6\n"  # CHANNEL STATUS on a live, answered channel (AST_STATE_UP)

MENUS = [
    IvrMenu(hotline="12345", welcome="hotline/12345-welcome", prompt="hotline/12345-menu",
            thanks="hotline/12345-thanks", choices="12", digit_timeout=8.0),
    IvrMenu(hotline="12319", welcome="hotline/12319-welcome", prompt="hotline/12319-menu",
            thanks="hotline/12319-thanks", choices="123", thanks_escape=""),
    IvrMenu(hotline="12319", language="zh", welcome="hotline/12319-welcome-zh",
            prompt="hotline/12319-menu-zh", thanks="hotline/12319-thanks-zh"),
    IvrMenu(language="zh", welcome="zh-welcome", prompt="zh-menu", thanks="zh-thanks"),
]


async def test_replaying_capture_c_reproduces_the_server_side_byte_for_byte(agi_server):
    server = await agi_server({"ivr": Ivr([])})
    async with asyncio.timeout(3):
        assert await call(server.port, IVR) == IVR.sent


@pytest.mark.parametrize("reply", [b"200 result= (timeout)\n", b"200 result=9\n"])
async def test_no_valid_choice_leaves_ivr_choice_empty(agi_server, reply):
    server = await agi_server({"ivr": Ivr([])})
    replies = list(IVR.replies)
    replies[GET_DATA] = reply
    async with asyncio.timeout(3):
        sent = await call(server.port, IVR, replies)
    expected = IVR.sent.replace(b'IVR_CHOICE "2"', b'IVR_CHOICE ""').replace(
        b"choice 2", b"no choice"
    )
    assert sent == expected


async def test_an_unknown_hotline_gets_the_default_menu(agi_server):
    server = await agi_server({"ivr": Ivr(MENUS)})
    replies = list(IVR.replies)
    replies[1] = b"200 result=0\n"  # HOTLINE not set on the channel
    async with asyncio.timeout(3):
        assert await call(server.port, IVR, replies) == IVR.sent


@pytest.mark.parametrize(
    ("hotline", "language", "sounds", "get_data", "thanks_escape", "choice"),
    [
        ("12345", "en", "hotline/12345-", "8000 1", "#", "2"),
        ("12345", "zh", "hotline/12345-", "8000 1", "#", "2"),
        ("12319", "en", "hotline/12319-", "5000 1", "", "2"),
        ("12319", "zh", "hotline/12319-", "5000 1", "#", "2"),
        # 3 is a choice on 12319's menu only.
        ("12345", "en", "hotline/12345-", "8000 1", "#", None),
    ],
)
async def test_each_hotline_and_language_gets_its_own_menu(
    agi_server, hotline, language, sounds, get_data, thanks_escape, choice
):
    server = await agi_server({"ivr": Ivr(MENUS)})
    replies = list(IVR.replies)
    replies[1] = f"200 result=1 ({hotline})\n".encode()
    if choice is None:
        replies[GET_DATA] = b"200 result=3\n"
    environment = with_env(IVR.environment, agi_language=language.encode())
    async with asyncio.timeout(3):
        sent = (await call(server.port, IVR, replies, environment=environment)).decode()
    suffix = "-zh" if (hotline, language) == ("12319", "zh") else ""
    commands = sent.splitlines()
    assert commands[WELCOME] == f'STREAM FILE {sounds}welcome{suffix} ""'
    assert commands[GET_DATA] == f"GET DATA {sounds}menu{suffix} {get_data}"
    assert commands[GET_DATA + 1] == f'SET VARIABLE IVR_CHOICE "{choice or ""}"'
    assert commands[GET_DATA + 2] == f'STREAM FILE {sounds}thanks{suffix} "{thanks_escape}"'


async def test_a_language_menu_serves_every_hotline_without_one_of_its_own(agi_server):
    server = await agi_server({"ivr": Ivr(MENUS)})
    environment = with_env(IVR.environment, agi_language=b"zh")
    async with asyncio.timeout(3):
        sent = await call(server.port, IVR, environment=environment)  # HOTLINE is 12345 ...
    replies = list(IVR.replies)
    replies[1] = b"200 result=1 (12300)\n"  # ... and here a hotline without a menu
    async with asyncio.timeout(3):
        other = await call(server.port, IVR, replies, environment=environment)
    assert b"STREAM FILE hotline/12345-welcome" in sent
    assert other.splitlines()[WELCOME:GET_DATA + 1] == [
        b'STREAM FILE zh-welcome ""', b"GET DATA zh-menu 5000 1"]


async def test_a_hangup_during_the_menu_ends_the_flow_without_an_error(agi_server, caplog):
    server = await agi_server({"ivr": Ivr([])})
    # GET DATA's -1 could be a missing prompt: CHANNEL STATUS on the dead channel tells.
    replies = [*IVR.replies[:GET_DATA], b"200 result=-1\nHANGUP\n", DEAD]
    async with asyncio.timeout(3):
        sent = await call(server.port, IVR, replies)
    assert sent == b"".join(IVR.commands[: GET_DATA + 1]) + b"CHANNEL STATUS\n"
    assert "hung up during 'GET DATA beep 5000 1'" in caplog.text
    assert "does not exist" not in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_hangup_notice_seen_before_the_minus_one_needs_no_check(agi_server, caplog):
    server = await agi_server({"ivr": Ivr([])})
    replies = [*IVR.replies[:WELCOME], b"HANGUP\n200 result=-1 endpos=0\n"]
    async with asyncio.timeout(3):
        sent = await call(server.port, IVR, replies)
    assert sent == b"".join(IVR.commands[: WELCOME + 1])
    assert "hung up during 'STREAM FILE hello-world" in caplog.text


def missing_prompt_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if getattr(record, "action", None) == "agi-prompt-missing"
            and record.levelno == logging.WARNING]


async def test_a_missing_welcome_is_logged_once_by_name_and_the_menu_goes_on(agi_server, caplog):
    server = await agi_server({"ivr": Ivr([])})
    replies = [*IVR.replies[:WELCOME], NO_FILE, CHANNEL_UP, *IVR.replies[WELCOME + 1:]]
    expected = b"".join(
        [*IVR.commands[: WELCOME + 1], b"CHANNEL STATUS\n", *IVR.commands[WELCOME + 1:]]
    )
    async with asyncio.timeout(3):
        first = await call(server.port, IVR, replies)
        second = await call(server.port, IVR, replies)
    # The caller still chose 2: IVR_CHOICE is set and the closing message played.
    assert first == second == expected
    assert missing_prompt_warnings(caplog) == [
        "prompt 'hello-world' (language en) does not exist on the PBX; call flows go on without "
        "it (first seen on Local/12345@hotline-in-000001b6;2)"
    ]
    assert "hung up" not in caplog.text


async def test_a_missing_menu_prompt_still_collects_the_digit(agi_server, caplog):
    server = await agi_server({"ivr": Ivr([])})
    replies = [*IVR.replies[:GET_DATA], NO_FILE, CHANNEL_UP, *IVR.replies[GET_DATA:]]
    async with asyncio.timeout(3):
        sent = await call(server.port, IVR, replies)
    assert sent == b"".join([
        *IVR.commands[: GET_DATA + 1], b"CHANNEL STATUS\n", b'GET DATA "" 5000 1\n',
        *IVR.commands[GET_DATA + 1:],
    ])
    assert b'IVR_CHOICE "2"' in sent
    assert missing_prompt_warnings(caplog) == [
        "prompt 'beep' (language en) does not exist on the PBX; call flows go on without it "
        "(first seen on Local/12345@hotline-in-000001b6;2)"
    ]
