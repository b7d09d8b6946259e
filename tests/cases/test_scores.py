"""A verified complaint filed from a call moves its window's monthly score by exactly the rubric's
points, and the scoreboard (CLI --explain and API) names the case, call and recording behind it."""

from __future__ import annotations

import argparse
import asyncio
import shlex

from datetime import datetime

from hotline.cases.calendar import SHANGHAI
from hotline.config import Config
from scoring.commands import add_commands
from tests.cases.test_api import act, filed


def this_month() -> str:
    """The API files and verifies at the present moment: its points land in this local month."""
    return datetime.now(SHANGHAI).strftime("%Y-%m")


def score(command: str, database_url: str) -> int:
    parser = argparse.ArgumentParser(prog="hotline")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["score", *shlex.split(command)])
    return args.func(args, Config(database_url=database_url))


async def board(client) -> dict:
    response = await client.get(f"/api/v1/scores/month?rubric=yihuang-window&month={this_month()}",
                                headers=client.auth("supervisor"))
    assert response.status == 200
    return await response.json()


def gongan(scoreboard: dict) -> dict:
    return next(r for r in scoreboard["results"] if r["subject"] == "gongan")


async def verified(client, substantiated: bool, number: str | None = None) -> str:
    if number is None:
        number = (await filed(client, transcript_offset=83.5))["number"]
        await act(client, "operator", number, "register")
    else:
        await act(client, "supervisor", number, "reopen", {"reason": "当事人申诉"})
    await act(client, "supervisor", number, "dispatch", {"department": "police"})
    await act(client, "police", number, "acknowledge")
    await act(client, "police", number, "feedback", {"text": "已核查"})
    await act(client, "supervisor", number, "verify", {"passed": True, "substantiated": substantiated})
    return number


async def test_a_verified_complaint_is_traced_to_its_case_in_the_api_and_an_overturn_restores_the_score(client):
    before = gongan(await board(client))
    number = await verified(client, True)
    after = gongan(await board(client))
    assert before["total"] - after["total"] == 10
    [line] = [line for line in after["breakdown"] if line["item"] == "verified-complaint"]
    assert line["evidence"] == f"case {number}; call 1 recording 1 transcript 83.5s"
    assert line["source"] == "complaint" and line["entered_by"] == "supervisor-1"
    await verified(client, False, number)
    assert gongan(await board(client))["total"] == before["total"]


async def test_score_month_explain_shows_the_case_behind_the_point(client, database_url, capsys):
    number = await verified(client, True)
    # The CLI runs its own event loop, as it does from a shell.
    assert await asyncio.to_thread(
        score, f"month --rubric yihuang-window --month {this_month()} --explain gongan", database_url) == 0
    out = capsys.readouterr().out
    assert f"verified-complaint x1: -10 -> -10 (case {number}; call 1 recording 1 transcript 83.5s, entry 1)" in out
