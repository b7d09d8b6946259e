"""`hotline serve`: one lifecycle for the AMI links, call tracking, FastAGI call flows,
recordings and the web server.

After hypercorn's asyncio runner: one TaskGroup owns every long-running task; SIGTERM and
Ctrl-C set the stop event; each task cleans up in `finally`. Shutdown order matters: the AMI
links log off first, then call tracking drains what they queued and saves it, then the web
server closes. A task that fails unexpectedly takes the daemon down with a non-zero exit
instead of leaving it limping.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

from aiohttp import web

from callflows.fastagi import FastAgiServer
from callflows.followup import FollowupFlow
from callflows.ivr import Ivr
from callflows.rating import Rating
from callflows.survey import SurveyFlow
from hotline.ami import AmiLink
from hotline.cases.desk import SurveyDesk
from hotline.cases.watch import watch_forever
from hotline.calls import CallTracker
from hotline.config import Config
from hotline.errors import ConfigError
from hotline.db import check_connection, create_engine, session_factory, upgrade
from hotline.db.calls import CallRatings
from hotline.tracking import CallTracking
from hotline.web.app import make_app
from hotline.surveys.answers import SurveyAnswers
from hotline.surveys.dialer import SurveyDialer
from hotline.web.live import CallHub, Telemetry
from hotline.web.server import WebRunner
from recordings.holds import RecordingHolds
from recordings.ingest import Ingestor
from recordings.retention import retention_forever
from recordings.transcription import check_model
from recordings.workers import run_workers
from scoring.case_points import CasePoints
from scoring.survey_points import SurveyPoints

log = logging.getLogger(__name__)


def survey_desk(config: Config) -> SurveyDesk:
    """The survey campaign's case desk: cases filed through the cases workflow, which scores
    verified complaints and holds recordings through the same services as the API's."""
    return SurveyDesk(config.cases, CasePoints(config.cases.window_rubric, config.cases.staff_rubrics),
                      RecordingHolds())

INGEST_GRACE_SECONDS = 5.0


async def run(
    config: Config,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str], Awaitable[None] | None] | None = None,
) -> None:
    """Run the daemon until `stop` is set (or SIGTERM/SIGINT); `on_ready` gets the web URL."""
    stop = stop or asyncio.Event()
    if config.vosk_model is not None:
        check_model(config.vosk_model)  # a wrong model is one error at start, not one per job
    else:
        log.warning("no vosk model configured: recordings are archived and queued, not transcribed"
                    " (set transcription.model or HOTLINE_VOSK_MODEL, here or for a `hotline worker`"
                    " on another machine)")
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)

    engine = create_engine(config.database_url)
    try:
        await check_connection(engine)
        await upgrade(engine)
        sessions = session_factory(engine)
        hub, telemetry = CallHub(), Telemetry()
        queue: asyncio.Queue = asyncio.Queue()
        # At shutdown, ingests under way get a few seconds; one cut short leaves its file in the
        # spool, where the sweep at the next start takes it.
        ingestor = Ingestor(sessions, config, grace=INGEST_GRACE_SECONDS, telemetry=telemetry)
        links = [AmiLink(pbx, queue) for pbx in config.pbxs]
        telemetry.links = {link.pbx.name: link for link in links}
        tracking = CallTracking(
            {pbx.name: CallTracker(pbx.name, config.hotlines) for pbx in config.pbxs},
            queue, sessions, hub, telemetry, on_call_ended=[ingestor.call_ended],
            unsaved=config.unsaved_calls,
        )
        await tracking.restore()

        # Each dissatisfied citizen costs the staff member points when the survey ends
        # (a rubric without the item is a configuration error, said before anything starts).
        points = (SurveyPoints(config.surveys.dissatisfied_rubrics, config.surveys.dissatisfied_item)
                  if config.surveys.dissatisfied_rubrics else None)
        runner = WebRunner(make_app(config, sessions, hub, telemetry), config)
        await runner.setup()
        # The survey campaign: the dialer calls through one PBX's link, the flows write down
        # what the citizen answers; both file their cases through the same desk.
        desk = survey_desk(config)
        answers = SurveyAnswers(sessions, config.surveys, desk, points=points)
        # Without a PBX (an API-only daemon) nobody can be dialled; the flows still serve.
        survey_link = next((link for link in links if link.pbx.name == (config.surveys.pbx or links[0].pbx.name)), None)
        dialer = (SurveyDialer(sessions, config.surveys, survey_link, desk, points=points)
                  if survey_link is not None else None)
        record_dir = Path(config.surveys.record_dir) if config.surveys.record_dir else config.recordings_spool.resolve()
        # FastAGI routes by the script in the dialplan's URL: AGI(agi://host:4573/ivr).
        call_flows = {"ivr": Ivr(config.ivr_menus), "rating": Rating(CallRatings(sessions), config.ivr_menus),
                      "survey": SurveyFlow(answers, config.surveys, record_dir),
                      "followup": FollowupFlow(answers, config.surveys)}
        fastagi = FastAgiServer(call_flows, config.fastagi_host, config.fastagi_port)
        try:
            site = web.TCPSite(runner, config.web_host, config.web_port)
            async with _listening("web", config.web_host, config.web_port):
                await site.start()
            async with _listening("fastagi", config.fastagi_host, config.fastagi_port):
                await fastagi.start()
            url = _url(site)
            log.info("web UI and API at %s; FastAGI on %s:%d", url, config.fastagi_host, fastagi.port)
            if on_ready is not None:
                result = on_ready(url)
                if asyncio.iscoroutine(result):
                    await result
            links_done = asyncio.Event()
            async with asyncio.TaskGroup() as group:
                link_tasks = [group.create_task(link.run(stop)) for link in links]
                group.create_task(tracking.run(links_done))
                group.create_task(fastagi.serve(stop))
                group.create_task(ingestor.run(stop))
                group.create_task(retention_forever(sessions, config, stop))
                group.create_task(watch_forever(
                    sessions, config.cases, CasePoints(config.cases.window_rubric, config.cases.staff_rubrics),
                    RecordingHolds(), stop))
                if dialer is not None:
                    group.create_task(dialer.run(stop))
                if config.vosk_model is not None:
                    group.create_task(run_workers(config, config.workers, stop))
                await asyncio.gather(*link_tasks)
                links_done.set()
        finally:
            await fastagi.close()
            await runner.cleanup()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
        await engine.dispose()
    log.info("stopped cleanly")


@asynccontextmanager
async def _listening(section: str, host: str, port: int) -> AsyncIterator[None]:
    """Turn a port that cannot be bound into one line naming the setting."""
    try:
        yield
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(f"{section}.port: cannot listen on {host}:{port}: {reason}",
                          key=f"{section}.port") from None


def _url(site: web.TCPSite) -> str:
    """The address actually bound (port 0 picks a free one)."""
    host, port = site._server.sockets[0].getsockname()[:2]  # aiohttp exposes no public accessor
    return f"http://{host}:{port}"
