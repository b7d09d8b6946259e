"""Synthetic calls: what months of a city's 12345/12319 hotlines look like, for scale benchmarks.

Plain data in, plain data out (a `random.Random`, a count, the end of the period; no I/O, no
clock), so that `hotline db seed` fills a database with the same calls for the same seed. The
shape follows what the call tracker stores for real traffic: ended calls of two hotlines, most
answered by a queue agent after a wait, some abandoned in the queue, missed, busy or failed;
callers who call again and again (a few very often), with Chinese caller names where the
network sends one.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterator

PBX = "main"
HOTLINES = {"12345": 0.7, "12319": 0.3}
# Share of each outcome among ended calls; `lost` is a call closed by reconciliation.
DISPOSITIONS = {"answered": 0.78, "abandoned": 0.12, "missed": 0.05, "busy": 0.02, "failed": 0.02, "lost": 0.01}
HANGUP_CAUSES = {
    "answered": (16, "Normal Clearing"), "abandoned": (16, "Normal Clearing"),
    "missed": (19, "No answer"), "busy": (17, "User busy"),
    "failed": (34, "Circuit/channel congestion"), "lost": (None, None),
}
AGENTS = 60
# The hours calls arrive in, by weight: office hours, a lunch dip, a quiet night.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 10, 18, 20, 19, 14, 10, 16, 19, 18, 15, 10, 6, 5, 4, 3, 2, 1)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志玉春梅海燕文红英鹏辉宇浩婷欣怡晨阳"
# Mobile number prefixes of the three Chinese carriers.
PREFIXES = ("138", "139", "135", "136", "137", "150", "151", "158", "187", "188", "130", "131", "132", "155",
            "186", "133", "153", "180", "189", "177")


@dataclass(frozen=True)
class Answered:
    """An answered call, as transcripts need it."""

    id: int
    hotline: str
    started_at: datetime
    talk_seconds: float


def _weighted(rng: random.Random, table: dict[str, float]) -> Iterator[str]:
    """Endless draws from `table` (value -> weight)."""
    values, cumulative = list(table), list(itertools.accumulate(table.values()))
    while True:
        yield values[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


def _start_times(rng: random.Random, count: int, until: datetime, days: int) -> list[datetime]:
    """`count` call start times in the `days` before `until`, oldest first, busier by day."""
    hours = list(itertools.accumulate(HOUR_WEIGHTS))
    seconds = []
    for _ in range(count):
        hour = bisect.bisect(hours, rng.random() * hours[-1])
        seconds.append(rng.randrange(days) * 86400 + hour * 3600 + rng.random() * 3600)
    seconds.sort()
    start = until - timedelta(days=days)
    return [start + timedelta(seconds=s) for s in seconds]


def caller_name(rng: random.Random) -> str:
    """A Chinese name: a surname and one or two given-name characters."""
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def calls(rng: random.Random, count: int, until: datetime, *, days: int = 365, first_id: int = 1) -> Iterator[dict[str, Any]]:
    """`count` ended calls (rows of the `calls` table with ids from `first_id`), oldest first,
    started in the `days` before `until`."""
    # A quarter as many callers as calls, drawn with a skew: most call once or twice, a few
    # call dozens or hundreds of times (the repeat callers a hotline knows by name).
    callers = max(1, count // 4)
    numbers = [rng.choice(PREFIXES) + f"{rng.randrange(10**8):08d}" for _ in range(callers)]
    names = [caller_name(rng) if rng.random() < 0.6 else None for _ in range(callers)]
    hotlines, dispositions = _weighted(rng, HOTLINES), _weighted(rng, DISPOSITIONS)
    for offset, started_at in enumerate(_start_times(rng, count, until, days)):
        id_ = first_id + offset
        caller = int(callers * rng.random() ** 1.5)
        hotline, disposition = next(hotlines), next(dispositions)
        linkedid = f"{started_at.timestamp():.0f}.{id_}"
        cause, cause_text = HANGUP_CAUSES[disposition]
        answered_at = agent = recording = None
        wait = talk = None
        if disposition == "answered":
            wait = round(rng.expovariate(1 / 25), 1)
            talk = round(30 + rng.expovariate(1 / 180), 1)
            answered_at = started_at + timedelta(seconds=wait)
            ended_at = answered_at + timedelta(seconds=talk)
            agent = f"坐席{1001 + rng.randrange(AGENTS)}"
            recording = f"/var/spool/asterisk/monitor/{linkedid}.wav"
        elif disposition == "abandoned":
            wait = round(rng.expovariate(1 / 60), 1)
            ended_at = started_at + timedelta(seconds=wait)
        else:
            ended_at = started_at + timedelta(seconds=round(rng.uniform(5, 40), 1))
        yield {
            "id": id_, "pbx": PBX, "linkedid": linkedid, "hotline": hotline,
            "caller_number": numbers[caller], "caller_name": names[caller],
            "status": "ended", "disposition": disposition, "started_at": started_at,
            "answered_at": answered_at, "ended_at": ended_at, "wait_seconds": wait, "talk_seconds": talk,
            "hangup_cause": cause, "hangup_cause_text": cause_text,
            "queue": f"hotline-{hotline}" if disposition in ("answered", "abandoned") else None,
            "agent": agent, "recording": recording, "survey_case": None, "updated_at": ended_at,
        }
