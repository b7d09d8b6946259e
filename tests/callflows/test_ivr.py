"""The IVR flow against capture c's Asterisk side, and the turns the capture did not take."""

from __future__ import annotations

import asyncio
import logging

import pytest

from callflows.ivr import ivr
from tests.fakes.agi import call, load_agi_capture

IVR = load_agi_capture("c-hotline-inbound-call.1")
GET_DATA = 4  # index of GET DATA among the capture's commands


async def test_replaying_capture_c_reproduces_the_server_side_byte_for_byte(agi_server):
    server = await agi_server({"ivr": ivr})
    async with asyncio.timeout(3):
        assert await call(server.port, IVR) == IVR.sent


@pytest.mark.parametrize("reply", [b"200 result= (timeout)\n", b"200 result=9\n"])
async def test_no_valid_choice_leaves_ivr_choice_empty(agi_server, reply):
    server = await agi_server({"ivr": ivr})
    replies = list(IVR.replies)
    replies[GET_DATA] = reply
    async with asyncio.timeout(3):
        sent = await call(server.port, IVR, replies)
    expected = IVR.sent.replace(b'IVR_CHOICE "2"', b'IVR_CHOICE ""').replace(
        b"choice 2", b"no choice"
    )
    assert sent == expected


async def test_an_unknown_hotline_gets_the_default_menu(agi_server):
    server = await agi_server({"ivr": ivr})
    replies = list(IVR.replies)
    replies[1] = b"200 result=0\n"  # HOTLINE not set on the channel
    async with asyncio.timeout(3):
        assert await call(server.port, IVR, replies) == IVR.sent


async def test_a_hangup_during_the_menu_ends_the_flow_without_an_error(agi_server, caplog):
    server = await agi_server({"ivr": ivr})
    replies = [*IVR.replies[:GET_DATA], b"200 result=-1\nHANGUP\n"]
    async with asyncio.timeout(3):
        sent = await call(server.port, IVR, replies)
    assert sent == b"".join(IVR.commands[: GET_DATA + 1])
    assert "hung up during 'GET DATA beep 5000 1'" in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]

