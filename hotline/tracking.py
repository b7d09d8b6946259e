"""Applies what the AMI links report to the call trackers, saves calls in batches, publishes them.

This is the thin shell around the pure `hotline.calls.CallTracker`: it owns the clock-free
trackers (one per PBX), the database writes and the notifications. Writes are batched: a burst of
thousands of events becomes a few upserts, and a database outage delays calls, never loses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Awaitable, Callable, Iterable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker

from hotline.ami import AmiEvent, LinkState, Reconciliation
from hotline.calls import Call, CallTracker, Leg
from hotline.db.calls import LEG_FIELDS, RECORD_FIELDS, call_json, live_calls, save_calls
from hotline.web.live import CallHub, Telemetry

log = logging.getLogger(__name__)

EndedCallHandler = Callable[[Call, int], Awaitable[None]]

BATCH_SIZE = 500
FLUSH_INTERVAL = 0.05
RETRY_MAX = 30.0


class CallTracking:
    """Consumes the AMI links' queue until told to stop, then drains it and saves everything."""

    def __init__(
        self,
        trackers: dict[str, CallTracker],
        queue: asyncio.Queue,
        sessions: async_sessionmaker,
        hub: CallHub,
        telemetry: Telemetry,
        on_call_ended: Iterable[EndedCallHandler] = (),
    ) -> None:
        self.trackers = trackers
        self.queue = queue
        self.sessions = sessions
        self.hub = hub
        self.telemetry = telemetry
        self.on_call_ended = list(on_call_ended)
        self._dirty: dict[tuple[str, str], Call] = {}
        self._retry_delay = 0.0

    async def restore(self) -> None:
        """Give each tracker the calls the database still has in progress (daemon restart)."""
        async with self.sessions() as session:
            for pbx, tracker in self.trackers.items():
                tracker.restore([_from_row(row) for row in await live_calls(session, pbx)])

    def apply(self, item: AmiEvent | Reconciliation | LinkState) -> None:
        if isinstance(item, AmiEvent):
            changed = self.trackers[item.pbx].feed(item.fields, item.at)
            self.telemetry.events_processed += 1
            if changed is not None:
                self._dirty[(changed.pbx, changed.linkedid)] = changed
        elif isinstance(item, Reconciliation):
            settled = self.trackers[item.pbx].reconcile(item.channels, item.at, item.variables)
            for call in settled:
                self._dirty[(call.pbx, call.linkedid)] = call
            if settled:
                log.info("pbx %s: reconciliation closed or picked up %d calls", item.pbx,
                         len(settled), extra={"action": "reconcile"})
        # A LinkState needs nothing here: the link logs its own ups and downs.

    async def flush(self) -> None:
        """Save every changed call, then publish them and hand ended ones to their handlers."""
        while self._dirty:
            batch = dict(list(self._dirty.items())[:BATCH_SIZE])
            for key in batch:
                del self._dirty[key]
            # Snapshot before awaiting: the trackers keep changing these objects meanwhile.
            calls = list(batch.values())
            snapshots = [call_json(call, None) for call in calls]
            try:
                async with self.sessions() as session, session.begin():
                    ids = await save_calls(session, calls)
            except (SQLAlchemyError, OSError) as exc:
                self.telemetry.save_failed("calls", exc)
                # Keep the batch (a newer state of the same call, if any, wins) and back off.
                self._dirty = batch | self._dirty
                self._retry_delay = min(RETRY_MAX, max(0.5, self._retry_delay * 2))
                log.error("saving %d calls failed (%s); retrying in %.1fs", len(batch), exc,
                          self._retry_delay, extra={"action": "save-calls"})
                return
            self._retry_delay = 0.0
            self.telemetry.saved("calls")
            for call, snapshot in zip(calls, snapshots):
                call_id = ids[(call.pbx, call.linkedid)]
                self.hub.publish(snapshot | {"id": call_id})
                if call.ended_at is not None:
                    await self._call_ended(call, call_id)

    async def _call_ended(self, call: Call, call_id: int) -> None:
        for handler in self.on_call_ended:
            try:
                await handler(call, call_id)
            except Exception:  # a failing downstream must not stop call tracking
                log.exception("handling the end of call %s failed", call_id)

    async def run(self, links_done: asyncio.Event) -> None:
        """Apply queued items, flushing every FLUSH_INTERVAL or BATCH_SIZE calls, until the links
        are done and the queue is empty."""
        loop = asyncio.get_running_loop()
        last_flush = loop.time()
        try:
            while not (links_done.is_set() and self.queue.empty()):
                # Apply everything already queued without awaiting per item: a burst of AMI
                # events costs no event-loop round trips.
                while not self.queue.empty() and len(self._dirty) < BATCH_SIZE:
                    self.apply(self.queue.get_nowait())
                interval = max(FLUSH_INTERVAL, self._retry_delay)
                if self._dirty and (
                    len(self._dirty) >= BATCH_SIZE or loop.time() - last_flush >= interval
                ):
                    await self.flush()
                    last_flush = loop.time()
                if self.queue.empty():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(interval):
                            self.apply(await self.queue.get())
        finally:
            await self.flush()


def _from_row(row) -> Call:
    """A stored call back in the tracker's own form."""
    return Call(
        pbx=row.pbx,
        linkedid=row.linkedid,
        **{name: getattr(row, name) for name in RECORD_FIELDS},
        legs={
            leg.uniqueid: Leg(uniqueid=leg.uniqueid, **{name: getattr(leg, name) for name in LEG_FIELDS})
            for leg in row.legs
        },
    )

