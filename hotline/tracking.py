"""Applies what the AMI links report to the call trackers, saves calls in batches, publishes them.

This is the thin shell around the pure `hotline.calls.CallTracker`: it owns the clock-free
trackers (one per PBX), the database writes and the notifications. Writes are batched: a burst of
thousands of events becomes a few upserts, and a database outage delays calls, never loses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker

from hotline.ami import AmiEvent, LinkState, Reconciliation
from hotline.calls import Call, CallTracker, Leg
from hotline.db.calls import LEG_FIELDS, RECORD_FIELDS, call_json, live_calls, save_calls
from hotline.errors import ConfigError
from hotline.web.live import CallHub, Telemetry

log = logging.getLogger(__name__)

EndedCallHandler = Callable[[Call, int], Awaitable[None]]

BATCH_SIZE = 500
FLUSH_INTERVAL = 0.05
RETRY_MAX = 30.0
# At stop, how long the tracker keeps trying to save what the database refuses before it writes
# the calls to the unsaved-calls file (well inside the example unit's TimeoutStopSec=90).
STOP_GRACE_SECONDS = 20.0


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
        unsaved: Path = Path("./var/unsaved-calls.json"),
    ) -> None:
        self.trackers = trackers
        self.queue = queue
        self.sessions = sessions
        self.hub = hub
        self.telemetry = telemetry
        self.on_call_ended = list(on_call_ended)
        self.unsaved = unsaved
        self._dirty: dict[tuple[str, str], Call] = {}
        # The calls read back from `unsaved` not saved since: the file goes once this is empty.
        self._unsaved_keys: set[tuple[str, str]] = set()
        self._retry_delay = 0.0

    async def restore(self) -> None:
        """Give each tracker the calls the database still has in progress (daemon restart), and
        queue for saving those the last run could not save (newer than any row of theirs)."""
        kept = _check_unsaved(self.unsaved)
        for call in kept:
            self._dirty[(call.pbx, call.linkedid)] = call
            if call.pbx in self.trackers:
                self.trackers[call.pbx].restore([call])
        self._unsaved_keys = set(self._dirty)
        if kept:
            log.warning("%d calls the last run could not save are read back from %s and saved now",
                        len(kept), self.unsaved, extra={"action": "save-calls"})
        async with self.sessions() as session:
            for pbx, tracker in self.trackers.items():
                # A call restored from the file already is newer than its row: restore skips it.
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
            if self._unsaved_keys:
                self._unsaved_keys -= batch.keys()
                if not self._unsaved_keys:
                    # Saved: the file would only bring back older states of these calls.
                    self.unsaved.unlink(missing_ok=True)
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
            await self._save_before_stop()

    async def _save_before_stop(self) -> None:
        """Keep trying to save what is left for STOP_GRACE_SECONDS; then write what the database
        still refuses to the unsaved-calls file, for the next start."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_GRACE_SECONDS
        await self.flush()
        while self._dirty and loop.time() < deadline:
            await asyncio.sleep(min(self._retry_delay, max(0.0, deadline - loop.time())))
            await self.flush()
        if not self._dirty:
            return
        left = list(self._dirty.values())
        try:
            _write_unsaved(self.unsaved, left)
        except OSError as exc:
            # Nowhere to keep them: name every call so the operator can find it on the PBX (CDR).
            log.critical("the database refused %d calls until shutdown and %s cannot be written (%s):"
                         " LOST: %s", len(left), self.unsaved, exc,
                         " ".join(f"{c.pbx}/{c.linkedid}" for c in left), extra={"action": "save-calls"})
            return
        log.error("the database refused %d calls until shutdown: kept in %s, saved at the next start",
                  len(left), self.unsaved, extra={"action": "save-calls"})


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



def _check_unsaved(path: Path) -> list[Call]:
    """The calls kept in `path`, once it is known the file can be written at shutdown: found out
    then, during an outage, it would lose the very calls it is there to keep."""
    key = "database.unsaved_calls"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(path.parent, os.W_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as exc:
        raise ConfigError(f"{key}: {path}: cannot write there: [Errno {exc.errno}] {exc.strerror}", key=key) from None
    try:
        return _read_unsaved(path)
    except OSError as exc:
        raise ConfigError(f"{key}: {path}: cannot read it: [Errno {exc.errno}] {exc.strerror}", key=key) from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ConfigError(f"{key}: {path}: not a file of unsaved calls ({exc}); move it aside", key=key) from None


def _read_unsaved(path: Path) -> list[Call]:
    """The calls a previous run wrote to `path` at shutdown (none if there is no file)."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    return [
        Call(
            **{name: _time(name, value) for name, value in call.items() if name != "legs"},
            legs={uniqueid: Leg(**{name: _time(name, value) for name, value in leg.items()})
                  for uniqueid, leg in call["legs"].items()},
        )
        for call in kept
    ]


def _write_unsaved(path: Path, calls: list[Call]) -> None:
    """Replace `path` with `calls` atomically: a crash while writing leaves the old file whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as file:
        json.dump([dataclasses.asdict(call) for call in calls], file, ensure_ascii=False, default=_iso)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _time(name: str, value: Any) -> Any:
    # Every datetime field of Call and Leg ends in _at.
    return datetime.fromisoformat(value) if name.endswith("_at") and value is not None else value
