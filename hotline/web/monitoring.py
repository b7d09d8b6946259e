"""Health for load balancers and Prometheus metrics: both without a token."""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from hotline import __version__
from hotline.db import error_reason
from hotline.db.users import user_for_token
from hotline.web.auth import bearer_token
from hotline.web.context import HUB, SESSIONS, TELEMETRY
from hotline.web.live import WRITES, CallHub, Telemetry

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

# Features add gauges read from the database at scrape time (cases: open and overdue), wired by
# the composition root: each is `async (app) -> [metric families]`.
METRIC_SOURCES = web.AppKey("metric_sources", list)

OPENAPI_PATHS = {
    "/api/v1/health": {"get": {
        "summary": "Liveness: 200 while the database answers and takes writes; each part's state for a"
                   " signed-in user",
        "security": [{}, {"bearer": []}],
        "responses": {
            "200": {"description": "`ok`, or `degraded` while an AMI link is down (the API still works)"},
            "503": {"description": "`error`: the database does not answer, or refuses to save calls or recordings"},
        },
    }},
    "/metrics": {"get": {
        "summary": "Prometheus metrics", "security": [],
        "responses": {"200": {"description": "Prometheus text format"}},
    }},
}


@routes.get("/api/v1/health")
async def health(request: web.Request) -> web.Response:
    """200 while the database answers and takes writes; AMI links are reported, not required
    (the API still works without them). Anyone gets the status; only a signed-in user gets the
    parts, since the driver's messages name hosts, ports, roles and databases."""
    telemetry = request.app[TELEMETRY]
    links = {name: link.up for name, link in telemetry.links.items()}
    user = None
    try:
        async with request.app[SESSIONS]() as session:
            await session.execute(text("select 1"))
            if token := bearer_token(request):
                user = await user_for_token(session, token)
        database = "ok"
    except (SQLAlchemyError, OSError) as exc:
        database = f"error: {error_reason(exc)}"
    if database != telemetry.database:
        # Once per change: a load balancer asks every few seconds.
        if database == "ok":
            log.info("health: the database answers again", extra={"action": "health"})
        else:
            log.error("health: the database does not answer: %s", database.removeprefix("error: "),
                      extra={"action": "health"})
        telemetry.database = database
    writes = {what: telemetry.failing.get(what, "ok") for what in WRITES}
    if database != "ok" or telemetry.failing:
        status = "error"
    else:
        status = "ok" if all(links.values()) else "degraded"
    body = {"status": status}
    if user is not None:
        body |= {"version": __version__, "database": database, "writes": writes, "ami": links}
    return web.json_response(body, status=503 if status == "error" else 200)


class _Collector:
    """Reads the daemon's counters at scrape time, so nothing is copied on the hot path."""

    def __init__(self, telemetry: Telemetry, hub: CallHub) -> None:
        self.telemetry = telemetry
        self.hub = hub

    def collect(self):
        up = GaugeMetricFamily("hotline_ami_link_up", "1 while the AMI link is logged in", labels=["pbx"])
        received = CounterMetricFamily("hotline_ami_events_received", "AMI events received", labels=["pbx"])
        skipped = CounterMetricFamily(
            "hotline_ami_frames_skipped", "Malformed AMI frames logged and skipped", labels=["pbx"]
        )
        for name, link in self.telemetry.links.items():
            up.add_metric([name], 1 if link.up else 0)
            received.add_metric([name], link.events_received)
            skipped.add_metric([name], link.frames_skipped)
        yield up
        yield received
        yield skipped
        yield CounterMetricFamily(
            "hotline_events_processed", "AMI events applied by the call tracker",
            value=self.telemetry.events_processed,
        )
        yield GaugeMetricFamily("hotline_active_calls", "Calls in progress", value=len(self.hub.active))
        failed = CounterMetricFamily(
            "hotline_saves_failed", "Saves the database refused (retried until they succeed)", labels=["what"]
        )
        for what, count in self.telemetry.saves_failed.items():
            failed.add_metric([what], count)
        yield failed


class _Families:
    def __init__(self, families: list) -> None:
        self.families = families

    def collect(self):
        yield from self.families


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    registry = CollectorRegistry()
    registry.register(_Collector(request.app[TELEMETRY], request.app[HUB]))
    families = []
    for source in request.app.get(METRIC_SOURCES, []):
        try:
            families += await source(request.app)
        except (SQLAlchemyError, OSError) as exc:
            # The database being down is /api/v1/health's to report; the other metrics stay up.
            log.warning("metrics: %s left out: %s", getattr(source, "__qualname__", source), exc)
    if families:
        registry.register(_Families(families))
    return web.Response(body=generate_latest(registry), content_type="text/plain", charset="utf-8")
