"""Scores for supervisors: a month's, quarter's or year's scoreboard with every point's reason."""

from __future__ import annotations

import re
from typing import Awaitable, Callable

from aiohttp import web

from hotline.errors import InvalidInput
from hotline.web.auth import require_role
from hotline.web.context import SESSIONS
from scoring.reports import scoreboard_json
from scoring.rubrics import find_rubric
from scoring.scorecards import parse_period, score_period
from scoring.store import ledger_for_period

SCORE_READERS = ("supervisor",)
RUBRIC_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
PERIODS = {"month": "2026-10", "quarter": "2026-Q3", "year": "2026"}

routes = web.RouteTableDef()

OPENAPI_PATHS = {
    f"/api/v1/scores/{kind}": {
        "get": {
            "summary": f"Every subject's score, rank and award for one {kind}, with the breakdown (supervisor)",
            "parameters": [
                {
                    "name": "rubric",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "rubric id, e.g. yihuang-window",
                },
                {
                    "name": kind,
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": f"e.g. {example}",
                },
            ],
            "responses": {
                "200": {
                    "description": "The scoreboard (docs/scoring.md)",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["rubric", "period", "results", "ties_at_cut"],
                            }
                        }
                    },
                },
                "404": {"description": "No such rubric"},
            },
        }
    }
    for kind, example in PERIODS.items()
}


def _scores(kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        require_role(request, *SCORE_READERS)
        missing = [name for name in ("rubric", kind) if not request.query.get(name)]
        if missing:
            raise InvalidInput(f"{missing[0]}: required", parameter=missing[0])
        rubric_id = request.query["rubric"]
        if not RUBRIC_ID.fullmatch(rubric_id):
            # Only ids: find_rubric would read a path ending in .toml from the server's disk.
            raise InvalidInput(
                f"rubric: expected an id such as yihuang-window, got {rubric_id!r}", parameter="rubric"
            )
        rubric = find_rubric(rubric_id)
        period = parse_period(kind, request.query[kind])
        async with request.app[SESSIONS]() as session:
            subjects, entries = await ledger_for_period(session, rubric, period)
        return web.json_response(scoreboard_json(score_period(rubric, subjects, entries, period)))

    handler.__doc__ = f"The {kind}'s scoreboard of one rubric, from the occurrence ledger."
    return handler


for _kind in PERIODS:
    routes.get(f"/api/v1/scores/{_kind}")(_scores(_kind))
