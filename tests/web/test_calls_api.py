"""The calls API as an operator's or supervisor's client sees it, over real HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hotline.db.tables import Call

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)


def stored_call(n: int, **fields) -> Call:
    values = dict(
        pbx="main", linkedid=f"1795811542.{n}", hotline="12345", caller_number=f"0612345{n:03d}",
        caller_name="张三市民", status="ended", disposition="answered",
        started_at=T0 + timedelta(minutes=n), answered_at=T0 + timedelta(minutes=n, seconds=5),
        ended_at=T0 + timedelta(minutes=n, seconds=65), wait_seconds=5.0, talk_seconds=60.0,
        hangup_cause=16, hangup_cause_text="Normal Clearing", updated_at=T0,
    )
    return Call(**(values | fields))


@pytest.fixture
async def calls(sessions):
    async with sessions() as session, session.begin():
        session.add_all(
            [stored_call(0, queue="hotline-12345", agent="坐席 王丽",
                         recording="/var/spool/asterisk/monitor/1795811542.1.wav",
                         survey_case="CASE-2026-0001")]
            + [stored_call(n) for n in range(1, 5)]
            + [stored_call(5, hotline="12319", disposition="abandoned", answered_at=None,
                           talk_seconds=0.0, queue="hotline", caller_number="13800000000")]
        )


async def test_every_api_route_but_health_and_metrics_needs_a_token(api):
    for path in ("/api/v1/calls", "/api/v1/calls/1", "/api/v1/events", "/api/v1/openapi.json"):
        response = await api.get(path)
        assert response.status == 401, path
        assert (await response.json())["error"] == "unauthorized"
    response = await api.get("/api/v1/calls", headers={"Authorization": "Bearer not-a-token"})
    assert response.status == 401
    assert (await api.get("/api/v1/health")).status == 200
    assert (await api.get("/metrics")).status == 200


async def test_a_department_handler_may_not_list_calls(api, calls):
    response = await api.get("/api/v1/calls", headers=api.auth("handler"))
    assert response.status == 403
    assert (await response.json())["error"] == "forbidden"


JSON_TYPES = {"string": str, "integer": int, "number": float, "null": type(None)}


async def test_calls_come_newest_first_with_every_documented_field(api, calls):
    document = await (await api.get("/api/v1/openapi.json", headers=api.auth("operator"))).json()
    page = document["paths"]["/api/v1/calls"]["get"]["responses"]["200"]["content"]
    documented = page["application/json"]["schema"]["properties"]["calls"]["items"]["properties"]
    response = await api.get("/api/v1/calls", headers=api.auth("operator"))
    assert response.status == 200
    body = await response.json()
    assert [c["linkedid"] for c in body["calls"]] == [f"1795811542.{n}" for n in (5, 4, 3, 2, 1, 0)]
    for call in body["calls"]:
        assert call.keys() == documented.keys()  # every documented field, and no other
        for name, value in call.items():
            kinds = documented[name]["type"]
            kinds = kinds if isinstance(kinds, list) else [kinds]
            assert type(value) in {JSON_TYPES[kind] for kind in kinds}, name
    first = body["calls"][-1]
    assert {name: value for name, value in first.items() if name != "id"} == {
        "pbx": "main", "linkedid": "1795811542.0", "hotline": "12345",
        "caller_number": "0612345000", "caller_name": "张三市民", "status": "ended",
        "disposition": "answered", "started_at": "2026-11-27T08:00:00+00:00",
        "answered_at": "2026-11-27T08:00:05+00:00", "ended_at": "2026-11-27T08:01:05+00:00",
        "wait_seconds": 5.0, "talk_seconds": 60.0, "hangup_cause": 16,
        "hangup_cause_text": "Normal Clearing", "queue": "hotline-12345", "agent": "坐席 王丽",
        "recording": "/var/spool/asterisk/monitor/1795811542.1.wav", "survey_case": "CASE-2026-0001",
    }
    assert body["next_cursor"] is None


async def test_filters_narrow_the_list(api, calls):
    async def linkedids(query: str) -> list[str]:
        response = await api.get(f"/api/v1/calls?{query}", headers=api.auth("supervisor"))
        assert response.status == 200, await response.text()
        return [c["linkedid"][-1] for c in (await response.json())["calls"]]

    assert await linkedids("hotline=12319") == ["5"]
    assert await linkedids("disposition=abandoned") == ["5"]
    assert await linkedids("caller=0612345002") == ["2"]
    assert await linkedids("since=2026-11-27T08:02:00Z&until=2026-11-27T08:04:00%2B00:00") == ["3", "2"]
    # 16:03 in Beijing is 08:03 UTC.
    assert await linkedids("since=2026-11-27T16:03:00%2B08:00") == ["5", "4", "3"]


async def test_cursor_pagination_visits_every_call_once(api, calls):
    seen, cursor = [], None
    while True:
        query = "limit=4" + (f"&cursor={cursor}" if cursor else "")
        body = await (await api.get(f"/api/v1/calls?{query}", headers=api.auth("operator"))).json()
        seen += [c["id"] for c in body["calls"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6 and len(set(seen)) == 6


@pytest.mark.parametrize("query, parameter", [
    ("since=yesterday", "since"),
    ("limit=0", "limit"),
    ("limit=ten", "limit"),
    ("disposition=hung", "disposition"),
    ("cursor=%%%", None),
])
async def test_bad_query_parameters_get_a_clear_400(api, calls, query, parameter):
    response = await api.get(f"/api/v1/calls?{query}", headers=api.auth("operator"))
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "invalid-input"
    if parameter:
        assert body["details"]["parameter"] == parameter
        assert body["message"].startswith(parameter)


async def test_one_call_and_an_unknown_call(api, calls):
    listing = await (await api.get("/api/v1/calls?limit=1", headers=api.auth("operator"))).json()
    call_id = listing["calls"][0]["id"]
    response = await api.get(f"/api/v1/calls/{call_id}", headers=api.auth("operator"))
    assert (await response.json()) == listing["calls"][0]
    response = await api.get("/api/v1/calls/999999", headers=api.auth("operator"))
    assert response.status == 404
    assert (await response.json())["error"] == "not-found"


async def test_openapi_document_lists_the_routes(api):
    response = await api.get("/api/v1/openapi.json", headers=api.auth("operator"))
    document = await response.json()
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/calls", "/api/v1/calls/{call_id}", "/api/v1/events", "/api/v1/health"} <= set(document["paths"])


async def test_websocket_sends_a_snapshot_then_live_updates(api):
    from hotline.web.context import HUB

    hub = api.server.app[HUB]
    hub.publish({"id": 7, "ended_at": None, "status": "ringing"})
    async with api.ws_connect(f"/api/v1/events?access_token={api.tokens['operator']}") as ws:
        snapshot = await ws.receive_json(timeout=5)
        assert snapshot == {"type": "snapshot", "calls": [{"id": 7, "ended_at": None, "status": "ringing"}]}
        hub.publish({"id": 7, "ended_at": "2026-11-27T08:00:09+00:00", "status": "ended"})
        update = await ws.receive_json(timeout=5)
        assert update["type"] == "call" and update["call"]["status"] == "ended"
    assert hub.active == {}


async def test_health_reports_database_and_links(api):
    body = await (await api.get("/api/v1/health")).json()
    assert body["status"] == "ok" and body["database"] == "ok"
