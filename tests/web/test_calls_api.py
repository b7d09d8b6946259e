"""The calls API as an operator's or supervisor's client sees it, over real HTTP."""

from __future__ import annotations

import base64
import json
import socket
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hotline import __version__
from hotline.config import Config
from hotline.db import create_engine, session_factory
from hotline.db.calls import CallRatings
from hotline.db.tables import Call
from hotline.web.app import make_app
from hotline.web.live import CallHub, Telemetry

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
    # The caller of call 0 rated it 1 (satisfied) before call tracking had saved it.
    await CallRatings(sessions, lambda: T0 + timedelta(seconds=80)).rate("1795811542.0", "1795811542.1", 1)
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


JSON_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool, "null": type(None)}


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
        "recorded": True, "survey_case": "CASE-2026-0001",
        "rating": 1, "rated_at": "2026-11-27T08:01:20+00:00",
    }
    assert {c["rating"] for c in body["calls"][:-1]} == {None}
    assert body["next_cursor"] is None


async def test_a_call_says_whether_it_was_recorded_but_never_where_the_file_lies(api, sessions, calls):
    async with sessions() as session, session.begin():
        session.add(stored_call(9, recording="/srv/hotline/var/spool/1796131866.4.wav"))
    body = await (await api.get("/api/v1/calls", headers=api.auth("operator"))).json()
    recorded = {c["linkedid"]: c["recorded"] for c in body["calls"]}
    assert recorded["1795811542.9"] is True and recorded["1795811542.1"] is False
    assert "/srv/" not in json.dumps(body) and "recording" not in body["calls"][0]
    one = await (await api.get(f"/api/v1/calls/{body['calls'][0]['id']}", headers=api.auth("operator"))).json()
    assert one["recorded"] is True and "/srv/" not in json.dumps(one)


async def test_one_call_shows_its_rating_and_a_second_rating_replaces_the_first(api, sessions, calls):
    body = await (await api.get("/api/v1/calls?caller=0612345000", headers=api.auth("supervisor"))).json()
    url = f"/api/v1/calls/{body['calls'][0]['id']}"
    one = await (await api.get(url, headers=api.auth("supervisor"))).json()
    assert (one["rating"], one["rated_at"]) == (1, "2026-11-27T08:01:20+00:00")
    await CallRatings(sessions, lambda: T0 + timedelta(seconds=90)).rate("1795811542.0", "1795811542.1", 3)
    one = await (await api.get(url, headers=api.auth("supervisor"))).json()
    assert (one["rating"], one["rated_at"]) == (3, "2026-11-27T08:01:30+00:00")


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


async def test_health_without_ami_links_is_ok_with_each_part_named_for_a_signed_in_user(api):
    response = await api.get("/api/v1/health", headers=api.auth("operator"))
    assert response.status == 200
    assert await response.json() == {"status": "ok", "version": __version__, "database": "ok",
                                     "writes": {"calls": "ok", "recordings": "ok"}, "ami": {}}


async def test_health_tells_an_anonymous_caller_only_ok_degraded_or_error(api):
    # A load balancer needs the status; the version, the database's and the PBXs' details are
    # for signed-in users (a wrong token is no sign-in).
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = await api.get("/api/v1/health", headers=headers)
        assert response.status == 200 and await response.json() == {"status": "ok"}


async def test_health_is_503_when_the_database_does_not_answer_naming_no_host_or_port(caplog):
    # A PostgreSQL port where nothing listens: every connection is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/hotline")
    client = TestClient(TestServer(make_app(Config(), session_factory(engine), CallHub(), Telemetry())))
    await client.start_server()
    try:
        responses = [await client.get("/api/v1/health") for _ in range(2)]
        bodies = [await response.text() for response in responses]
    finally:
        await client.close()
        await engine.dispose()
    # Anyone may ask: the driver's message (host, port, role and database names) is not theirs.
    assert [response.status for response in responses] == [503, 503]
    assert [json.loads(body) for body in bodies] == [{"status": "error"}] * 2
    # The operator finds it in the log, once per change rather than once per probe.
    [logged] = [r.getMessage() for r in caplog.records if r.name == "hotline.web.monitoring"]
    assert "Connect call failed" in logged and str(port) in logged


def _cursor(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


# Each of these used to be a plain-text 500 with a traceback in the log (on SQLite, PostgreSQL or
# both): every one is a JSON 400 naming the parameter, on both databases.
@pytest.mark.parametrize("path, parameter", [
    ("/api/v1/calls/999999999999999999999999999999", "call_id"),
    ("/api/v1/calls/2147483648", "call_id"),
    ("/api/v1/calls/%D9%A3", "call_id"),
    ("/api/v1/calls?since=9999-12-31T23:59:59-23:59", "since"),
    ("/api/v1/calls?since=0001-01-01T00:00%2B14:00", "since"),
    ("/api/v1/calls?until=0000-06-01T00:00:00Z", "until"),
    ("/api/v1/calls?since=", "since"),
    ("/api/v1/calls?cursor=" + _cursor('["2026-01-01T00:00:00",1]'), "cursor"),
    ("/api/v1/calls?cursor=" + _cursor('["2026-01-01T00:00:00+00:00",2147483648]'), "cursor"),
    ("/api/v1/calls?cursor=" + _cursor('["2026-01-01T00:00:00+00:00",9223372036854775808]'), "cursor"),
    ("/api/v1/calls?cursor=" + _cursor('["2026-01-01T00:00:00+00:00",Infinity]'), "cursor"),
    ("/api/v1/calls?cursor=" + _cursor('["2026-01-01T00:00:00+00:00",1e400]'), "cursor"),
    ("/api/v1/calls?cursor=" + _cursor('[' * 3000), "cursor"),
    ("/api/v1/calls?caller=%00", "caller"),
    ("/api/v1/calls?hotline=%00", "hotline"),
    ("/api/v1/calls?limit=", "limit"),
    ("/api/v1/calls?limit=%D9%A3", "limit"),
    ("/api/v1/calls?disposition=", "disposition"),
], ids=lambda value: value if len(value) < 60 else value[:40] + "...")
async def test_crafted_input_is_a_json_400_naming_the_parameter(api, calls, path, parameter):
    response = await api.get(path, headers=api.auth("operator"))
    assert response.status == 400, await response.text()
    body = await response.json()
    assert body["error"] == "invalid-input" and body["details"]["parameter"] == parameter


async def test_a_bearer_token_of_invalid_utf8_is_a_json_401(api):
    response = await api.get("/api/v1/calls", headers={"Authorization": b"Bearer \xff\xfe".decode("latin-1")})
    assert response.status == 401
    assert (await response.json())["error"] == "unauthorized"


async def test_a_405_says_which_methods_are_allowed(api):
    # RFC 9110 15.5.6: a 405 must carry Allow.
    response = await api.post("/api/v1/calls", headers=api.auth("operator"))
    assert response.status == 405
    assert set(response.headers["Allow"].split(",")) >= {"GET"}
    assert (await response.json())["error"] == "method-not-allowed"
