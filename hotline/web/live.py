"""Live state shared by the daemon and the web layer: call updates and link counters."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol

from hotline.db import error_reason

# A WebSocket client that falls this far behind is cut off rather than let its backlog grow
# without bound; it reconnects and gets a fresh snapshot.
SUBSCRIBER_BACKLOG = 1000


class CallHub:
    """Fans call updates out to subscribers and keeps the calls in progress for snapshots."""

    def __init__(self) -> None:
        self.active: dict[int, dict[str, Any]] = {}
        self._subscribers: set[asyncio.Queue] = set()

    def publish(self, call: dict[str, Any]) -> None:
        """Record and broadcast one call update (the API's JSON form of the call)."""
        if call["ended_at"] is None:
            self.active[call["id"]] = call
        else:
            self.active.pop(call["id"], None)
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(call)
            except asyncio.QueueFull:
                # None tells the subscriber it was dropped; make room for it.
                self._subscribers.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue]:
        """A queue of call updates (None once this subscriber fell too far behind)."""
        queue: asyncio.Queue = asyncio.Queue(SUBSCRIBER_BACKLOG)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)


class LinkStatus(Protocol):
    """What telemetry reads from an AMI link."""

    up: bool
    events_received: int
    frames_skipped: int


# What the daemon saves on its own, each a label of hotline_saves_failed_total and a key of
# health's `writes`.
WRITES = ("calls", "recordings")


@dataclass
class Telemetry:
    """Counters the daemon keeps for /metrics and /api/v1/health."""

    links: dict[str, LinkStatus] = field(default_factory=dict)
    events_processed: int = 0
    saves_failed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(WRITES, 0))
    # What the database refuses to save right now, with why: set by a failed save, cleared by
    # the next one of the same kind that succeeds. A `select 1` still answers while every
    # write fails (a full disk, a read-only volume), so health needs this too.
    failing: dict[str, str] = field(default_factory=dict)
    # What health last found of the database (`ok` or `error: why`), so it logs only changes.
    database: str = "ok"

    def save_failed(self, what: str, error: Exception) -> None:
        """A save of `what` (one of WRITES) failed with `error`."""
        self.saves_failed[what] += 1
        self.failing[what] = error_reason(error)

    def saved(self, what: str) -> None:
        """A save of `what` succeeded: the database takes writes again."""
        self.failing.pop(what, None)

