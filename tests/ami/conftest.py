"""Fixtures for the AMI tests: a fake Asterisk on a free port and an AmiLink running against it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest

from hotline.ami import AmiLink
from hotline.config import PbxConfig
from tests.fakes.asterisk import FakeAsterisk

T = TypeVar("T")


@pytest.fixture
async def fake() -> AsyncIterator[FakeAsterisk]:
    async with FakeAsterisk() as server:
        yield server


@pytest.fixture
def pbx(fake: FakeAsterisk) -> PbxConfig:
    """Settings that make every timer of the link short enough for tests."""
    return PbxConfig(
        name="test",
        port=fake.port,
        secret="hotline-secret",
        ping_interval=5.0,
        action_timeout=1.0,
        reconnect_min=0.05,
        reconnect_max=0.4,
    )


class RunningLink:
    """An AmiLink running in a task, with its sink and its stop event."""

    def __init__(self, link: AmiLink, sink: asyncio.Queue) -> None:
        self.link = link
        self.sink = sink
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(link.run(self.stop))

    async def finish(self) -> None:
        """Set stop and wait for run() to return."""
        self.stop.set()
        async with asyncio.timeout(5):
            await self.task

    async def next(
        self, kind: type[T], where: Callable[[T], bool] = lambda item: True, timeout: float = 3.0
    ) -> T:
        """The next sink item of `kind` matching `where`; items before it are passed over."""
        async with asyncio.timeout(timeout):
            while True:
                item = await self.sink.get()
                if isinstance(item, kind) and where(item):
                    return item

    async def items_until(self, kind: type[T], timeout: float = 3.0) -> list[Any]:
        """Every sink item up to and including the next one of `kind`."""
        items = []
        async with asyncio.timeout(timeout):
            while not isinstance(item := await self.sink.get(), kind):
                items.append(item)
        return [*items, item]


@pytest.fixture
async def start_link(pbx: PbxConfig) -> AsyncIterator[Callable[..., RunningLink]]:
    """Start an AmiLink (with `pbx` settings, overridable); stopped cleanly at the end."""
    running: list[RunningLink] = []

    def start(**overrides: Any) -> RunningLink:
        link = AmiLink(dataclasses.replace(pbx, **overrides), asyncio.Queue())
        running.append(RunningLink(link, link.sink))
        return running[-1]

    yield start
    for each in running:
        await each.finish()
