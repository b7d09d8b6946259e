"""The aiohttp application: errors as JSON, authentication, the route modules and the UI."""

from __future__ import annotations

import logging
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import hotline.cases.api
import hotline.cases.open311
import hotline.surveys.api
import recordings.api
import scoring.api
from hotline.cases.desk import SurveyDesk
from hotline.config import Config
from hotline.db.users import Actor
from hotline.errors import HotlineError
from hotline.logs import printable
from hotline.surveys.results import scoring_satisfaction, weeks_between
from hotline.surveys.store import period_records, period_suggestions
from hotline.web import calls, dashboard, monitoring, openapi, signin
from hotline.web.auth import SOCKETS, USER, OpenSockets, auth_middleware
from hotline.web.context import CONFIG, HUB, SESSIONS, TELEMETRY
from hotline.web.live import CallHub, Telemetry
from recordings.holds import RecordingHolds
from recordings.texts import TranscriptTexts
from scoring.case_points import CasePoints
from scoring.occurrences import Satisfaction
from scoring.reports import CitizenSuggestion

log = logging.getLogger(__name__)

ROUTE_MODULES = (
    calls, dashboard, monitoring, openapi, signin, recordings.api, scoring.api, hotline.cases.api,
    hotline.cases.open311, hotline.surveys.api,
)


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except HotlineError as error:
        response = web.json_response(error.to_json(), status=error.status_code, headers=error.headers)
        if error.closes_connection:
            response.force_close()
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # Keep what the status needs besides the body: Allow on a 405 (RFC 9110 15.5.6).
        headers = {name: value for name, value in exc.headers.items() if name.lower() != "content-type"}
        return web.json_response(
            {"error": exc.reason.lower().replace(" ", "-"), "message": exc.reason, "details": {}},
            status=exc.status, headers=headers,
        )


class AccessLog(AbstractAccessLogger):
    """Method, path (no query string: it may carry a token), status, size, time and user.

    The path (percent-decoded: `%0A` is a newline) and the user name come from outside: they are
    written with control characters escaped, so neither can forge a line of the log.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        user = request.get(USER)
        self.logger.info(
            '%s "%s %s" %s %s %.3fs %s',
            request.remote, printable(request.method), printable(request.path), response.status,
            response.body_length, time, printable(user.name) if user else "-",
        )


async def _no_store(request: web.Request, response: web.StreamResponse) -> None:
    # Calls carry callers' names and numbers; recordings, transcripts and scores are personal
    # data: no cache, shared or private, may keep any API answer (RFC 9111 5.2.2.5).
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")


# The console: plain files shipped in the package (no build step), served by the daemon itself
# because centres run on networks without internet.
STATIC = Path(str(resources.files("hotline.web").joinpath("static")))


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Content-Type": "text/html; charset=utf-8"})


def survey_satisfaction(config: Config) -> Callable[[AsyncSession, date, date, str], Awaitable[dict[str, Satisfaction]]]:
    """Scoring's view of the callback surveys: per window, staff member or department (`by`),
    the answered and satisfied surveys of the weeks whose Thursday falls between two days, with
    their case numbers (and a department's name)."""
    # Only the departments are asked of it: no case is filed from here.
    desk = SurveyDesk(config.cases)

    async def read(session: AsyncSession, first: date, last: date, by: str) -> dict[str, Satisfaction]:
        records, names = await period_records(session, weeks_between(first, last), desk)
        return {key: Satisfaction(**counts, name=names.get(key, "") if by == "department" else "")
                for key, counts in scoring_satisfaction(records, by, cases=True).items()}

    return read


def survey_suggestions(config: Config) -> Callable[[AsyncSession, date, date, Actor],
                                                    Awaitable[list[CitizenSuggestion]]]:
    """Scoring's view of the surveyed citizens' suggestions, for the meeting report: those of
    the weeks whose Thursday falls between two days, with their transcripts as recordings gives
    them, the reads audited as the `reader`'s."""
    desk = SurveyDesk(config.cases)
    transcripts = TranscriptTexts()

    async def read(session: AsyncSession, first: date, last: date, reader: Actor) -> list[CitizenSuggestion]:
        found = await period_suggestions(session, weeks_between(first, last), desk, transcripts, reader,
                                         f"meeting report {first} to {last}")
        return [CitizenSuggestion(s.case, s.window, s.staff, s.text, s.state) for s in found]

    return read


def make_app(
    config: Config,
    sessions: async_sessionmaker,
    hub: CallHub,
    telemetry: Telemetry,
    contexts: list[Callable[[web.Application], AsyncIterator[Any]]] | None = None,
) -> web.Application:
    """The web application over `sessions`, streaming call updates from `hub`."""
    app = web.Application(middlewares=[errors_middleware, auth_middleware])
    app[CONFIG] = config
    app[SESSIONS] = sessions
    app[HUB] = hub
    app[TELEMETRY] = telemetry
    app[SOCKETS] = OpenSockets()
    app[openapi.OPENAPI] = openapi.document(ROUTE_MODULES)
    # Cases report verified complaints and late cases to the scores, and hold the recordings of
    # their calls, through these services of the two features (cases imports neither).
    app[hotline.cases.api.SCORING] = CasePoints(config.cases.window_rubric, config.cases.staff_rubrics)
    app[hotline.cases.api.RECORDINGS] = RecordingHolds()
    # Surveys file their cases through cases, with the same two services (surveys imports no cases).
    app[hotline.surveys.api.CASE_DESK] = SurveyDesk(config.cases, app[hotline.cases.api.SCORING],
                                                    app[hotline.cases.api.RECORDINGS])
    # Their results show the suggestions' transcripts, read and audited by recordings (surveys
    # imports no recordings).
    app[hotline.surveys.api.TRANSCRIPTS] = TranscriptTexts()
    # Scores read the callback surveys' satisfaction beside each score and for the XX city
    # annual public evaluation, and the meeting report the citizens' suggestions (scoring
    # imports no surveys).
    app[scoring.api.SURVEYS] = survey_satisfaction(config)
    app[scoring.api.SUGGESTIONS] = survey_suggestions(config)
    app[monitoring.METRIC_SOURCES] = [hotline.cases.api.case_metrics]
    app[calls.CALLER_HISTORY] = [hotline.cases.api.caller_cases]
    app[dashboard.DEPARTMENT_LOAD] = hotline.cases.api.department_load
    app[dashboard.SATISFACTION] = hotline.surveys.api.window_satisfaction
    for module in ROUTE_MODULES:
        app.router.add_routes(module.routes)
    app[signin.GUARD] = signin.SignInGuard()
    app.router.add_get("/", _index)
    app.router.add_static("/ui/", STATIC)
    app.on_response_prepare.append(_no_store)
    app.cleanup_ctx.append(app[SOCKETS].watch)
    app.cleanup_ctx.extend(contexts or [])
    return app
