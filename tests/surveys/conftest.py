"""Served items as the centre's system exports them, and a way to run `hotline surveys ...`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hotline.ami import AmiLink, LinkState
from hotline.cases.desk import SurveyDesk
from hotline.cases.store import CaseView, Viewer, import_calendar, view_case
from hotline.cases.workflow import Actor
from hotline.cli import main
from hotline.config import CasesConfig, PbxConfig
from hotline.surveys import store
from hotline.surveys.served import ServedItem
from tests.fakes.asterisk import FakeAsterisk

HEADER = "window,staff,applicant,phone,item,completed_at"
SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEK = "2026-W49"
MONDAY = datetime(2026, 11, 30, tzinfo=SHANGHAI)


@pytest.fixture
def surveys_cli(database_url, monkeypatch) -> Callable[..., int]:
    """`surveys_cli("import", path)` runs `hotline surveys import PATH` on the test database."""
    monkeypatch.setenv("HOTLINE_DATABASE_URL", database_url)

    def run(*args: str | Path, config: Path | None = None) -> int:
        options = ["--config", str(config)] if config else []
        return main([*options, "surveys", *map(str, args)])

    return run


def case_desk() -> SurveyDesk:
    """The cases workflow as the campaign's case desk (the daemon adds scoring and recordings)."""
    return SurveyDesk(CasesConfig())


async def case_of(sessions, number: str) -> CaseView:
    """Case `number` as a supervisor sees it."""
    async with sessions() as session:
        return await view_case(session, number, Viewer(Actor("test", "supervisor")))


def notice(year: int, holidays: Sequence[date] = (), workdays: Sequence[date] = ()) -> str:
    """A State Council holiday notice for `year` as `hotline cases calendar import` reads it."""
    days = ", ".join(f'{{ name = "假", from = {day}, to = {day} }}' for day in holidays)
    return (f'year = {year}\nsource = "test notice"\nholidays = [{days}]\n'
            f'workdays = [{", ".join(map(str, workdays))}]\n')


async def import_notice(sessions, year: int, holidays: Sequence[date] = (), workdays: Sequence[date] = ()) -> None:
    """Replace `year`'s calendar, as an operator does with `hotline cases calendar import`."""
    async with sessions() as session:
        await import_calendar(session, notice(year, holidays, workdays), "test", MONDAY)


def write_csv(path: Path, *lines: str, encoding: str = "utf-8") -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding=encoding)
    return path


class Clock:
    """The time the dialer sees: set and moved by the test, never read from the machine."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
async def fake_pbx() -> AsyncIterator[tuple[FakeAsterisk, AmiLink]]:
    """A fake Asterisk and an AmiLink logged in to it (stopped after the test)."""
    async with FakeAsterisk() as fake:
        pbx = PbxConfig(name="test", port=fake.port, secret="hotline-secret", ping_interval=5.0,
                        action_timeout=1.0, reconnect_min=0.05, reconnect_max=0.2)
        link = AmiLink(pbx, asyncio.Queue())
        stop = asyncio.Event()
        task = asyncio.create_task(link.run(stop))
        await wait_until_up(link)
        yield fake, link
        stop.set()
        async with asyncio.timeout(5):
            await task


async def wait_until_up(link: AmiLink) -> None:
    """Wait for the link's next `LinkState` up (never a sleep: its sink says when)."""
    async with asyncio.timeout(5):
        while True:
            item = await link.sink.get()
            if isinstance(item, LinkState) and item.up:
                return


@pytest.fixture
async def served(sessions):
    """Twelve citizens served last week, one of them twice, plus one served too long ago."""
    items = [
        ServedItem("gongan", f"staff-{n % 3}", f"市民{n}", f"1380000{n:04d}", "居住证办理",
                   MONDAY - timedelta(days=1 + n % 6, hours=n))
        for n in range(12)
    ]
    items.append(ServedItem("shuiwu", "staff-9", "市民0", "13800000000", "发票代开", MONDAY - timedelta(hours=3)))
    items.append(ServedItem("shuiwu", "staff-9", "旧", "13999999999", "发票代开", MONDAY - timedelta(days=40)))
    async with sessions() as session:
        await store.add_served_items(session, items, MONDAY)
