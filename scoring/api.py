"""Scores for supervisors: a month's, quarter's or year's scoreboard with every point's reason."""

from __future__ import annotations

from datetime import date
from typing import Awaitable, Callable, Mapping, Sequence

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.users import Actor
from hotline.web.auth import require_role
from hotline.web.context import SESSIONS
from hotline.web.openapi import Text, read, specs
from scoring.occurrences import Satisfaction
from scoring.reports import CitizenSuggestion, meeting_report_html, scoreboard_json
from scoring.rubrics import find_rubric, load_rubric, rubric_files
from scoring.scorecards import Scoreboard, parse_period, score_period
from scoring.store import ledger_for_period

SCORE_READERS = ("supervisor",)
# Only ids: find_rubric would read a path ending in .toml from the server's disk.
RUBRIC = Text(name="rubric", required=True, pattern="^[a-z0-9][a-z0-9-]*$", max_length=64,
              example="yihuang-window", description="rubric id")
# The period's text as parse_period reads it; year 0000 does not exist.
PERIODS = {
    "month": Text(name="month", required=True, pattern="^(?!0000)[0-9]{4}-(0[1-9]|1[0-2])$", max_length=7,
                  example="2026-10", description="the month, YYYY-MM"),
    "quarter": Text(name="quarter", required=True, pattern="^(?!0000)[0-9]{4}-[Qq][1-4]$", max_length=7,
                    example="2026-Q3", description="the quarter, YYYY-Qn"),
    "year": Text(name="year", required=True, pattern="^(?!0000)[0-9]{4}$", max_length=4,
                 example="2026", description="the year, YYYY"),
}

routes = web.RouteTableDef()
# The callback surveys' satisfaction between two days per window, staff member or department, as
# the composition root connects it (hotline/web/app.py); absent, scores show no surveys.
SurveySatisfaction = Callable[[AsyncSession, date, date, str], Awaitable[Mapping[str, Satisfaction]]]
SURVEYS = web.AppKey("score_surveys", SurveySatisfaction)
# The surveyed citizens' suggestions between two days with their transcripts, read by an actor
# (the audit names them); the composition root connects it too, and the reads are audited in the
# session's transaction. Absent, the report has none.
SurveySuggestions = Callable[[AsyncSession, date, date, Actor], Awaitable[Sequence[CitizenSuggestion]]]
SUGGESTIONS = web.AppKey("score_suggestions", SurveySuggestions)

OPENAPI_PATHS = {
    f"/api/v1/scores/{kind}": {
        "get": {
            "summary": f"Every subject's score, rank and award for one {kind}, with the breakdown (supervisor)",
            "parameters": specs([RUBRIC, period]),
            "responses": {
                "200": {
                    "description": "The scoreboard (docs/scoring.md): each result with its callback-survey "
                                   "`satisfaction` in the period (`surveys`, `satisfied`, `rate`, the survey "
                                   "`cases` and the `dissatisfied` ones); a year of a rubric with a survey-rated "
                                   "category (xx-city-staff 公眾評價情況) scores it from the year's rate",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["rubric", "period", "results", "ties_at_cut"],
                            }
                        }
                    },
                },
                "404": {"description": "No such rubric",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        }
    }
    for kind, period in PERIODS.items()
} | {
    "/api/v1/scores/rubrics": {"get": {
        "summary": "The rubrics scores can be read by: id, title, what they score (supervisor)",
        "responses": {"200": {"description": "The rubrics", "content": {"application/json": {"schema": {
            "type": "object", "required": ["rubrics"],
            "properties": {"rubrics": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "title": {"type": "string"},
                "subjects": {"type": "string", "enum": ["window", "staff"]},
                "categories": {"type": "object", "description": "category id -> its name in the rubric",
                               "additionalProperties": {"type": "string"}}}}}},
        }}}}},
    }},
    "/api/v1/scores/report": {"get": {
        "summary": "The monthly meeting report (HTML: ranking, chart, red flags, every deduction's reason, "
                   "callback satisfaction by department, the citizens' suggestions with their transcripts, each "
                   "one shown audited) as a download (supervisor)",
        "parameters": specs([RUBRIC, PERIODS["month"]]),
        "responses": {"200": {"description": "The report", "content": {"text/html": {}}},
                      "404": {"description": "No such rubric",
                              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
    }},
}


async def _scoreboard(request: web.Request, kind: str, report: bool = False) -> tuple[
        Scoreboard, Mapping[str, Satisfaction], Mapping[str, Satisfaction] | None, Sequence[CitizenSuggestion] | None]:
    """The scoreboard and its subjects' survey satisfaction; for the `report`, also the
    departments' and the citizens' suggestions."""
    user = require_role(request, *SCORE_READERS)
    query = read(request, [RUBRIC, PERIODS[kind]])
    rubric = find_rubric(query["rubric"])
    period = parse_period(kind, query[kind])
    surveys = request.app.get(SURVEYS)
    suggested = request.app.get(SUGGESTIONS)
    satisfaction: Mapping[str, Satisfaction] = {}
    departments = suggestions = None
    async with request.app[SESSIONS]() as session:
        subjects, entries = await ledger_for_period(session, rubric, period)
        if surveys is not None:
            satisfaction = await surveys(session, period.start, period.end, rubric.subjects)
            if report:
                departments = await surveys(session, period.start, period.end, "department")
        if report and suggested is not None:
            suggestions = await suggested(session, period.start, period.end, Actor.of_user(user, request.remote))
            await session.commit()  # the transcripts' reads, audited before the report is sent
    return score_period(rubric, subjects, entries, period, satisfaction), satisfaction, departments, suggestions


def _scores(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        board, _, _, _ = await _scoreboard(request, kind)
        return web.json_response(scoreboard_json(board))

    handler.__doc__ = f"The {kind}'s scoreboard of one rubric, from the occurrence ledger and the callback surveys."
    return handler


for _kind in PERIODS:
    routes.get(f"/api/v1/scores/{_kind}")(_scores(_kind))


@routes.get("/api/v1/scores/report")
async def scores_report(request: web.Request) -> web.Response:
    """The month's meeting report as an HTML file to download."""
    board, satisfaction, departments, suggestions = await _scoreboard(request, "month", report=True)
    return web.Response(
        text=meeting_report_html(board, satisfaction, departments, suggestions), content_type="text/html",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{board.rubric.id}-{board.period.label}.html"'},
    )


@routes.get("/api/v1/scores/rubrics")
async def scores_rubrics(request: web.Request) -> web.Response:
    """The built-in rubrics, for choosing one."""
    require_role(request, *SCORE_READERS)
    rubrics = [load_rubric(path) for path in rubric_files().values()]
    return web.json_response({"rubrics": [
        {"id": r.id, "title": r.title, "subjects": r.subjects, "categories": {c.id: c.name for c in r.categories}}
        for r in rubrics
    ]})
