"""The operator's screen pop: when a call this operator takes from the queue is answered, the
WebSocket sends the caller, the hotline and the caller's earlier calls and cases."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hotline.cases.store import file_case
from hotline.config import Config
from hotline.db.calls import call_json
from hotline.db.tables import Call
from hotline.db.users import add_user
from hotline.web.app import make_app
from hotline.web.context import HUB
from hotline.web.live import CallHub, Telemetry
from tests.cases.conftest import COMPLAINT, OPERATOR, T0

AGENT = "Local/1001@agents"


@pytest.fixture
def masked_roles() -> tuple[str, ...]:
    return ()


@pytest.fixture
async def desk(sessions, services, masked_roles):
    """A web app whose [agents] maps queue member 1001 to operator wang; wang's and li's tokens."""
    config = Config(database_url="unused", agents={AGENT: "wang"}, masked_roles=masked_roles)
    app = make_app(config, sessions, CallHub(), Telemetry())
    client = TestClient(TestServer(app))
    await client.start_server()
    async with sessions() as session:
        client.tokens = {name: await add_user(session, name, "operator") for name in ("wang", "li")}
        await file_case(session, COMPLAINT | {"call_id": 1}, OPERATOR.actor, T0, services)
        now = datetime.now(timezone.utc)
        session.add(Call(pbx="main", linkedid="1795811999.1", hotline="12345", caller_number="13800000001",
                         caller_name="张三", status="ringing", started_at=now, updated_at=now))
        await session.commit()
    yield client
    await client.close()


async def answered(sessions, agent: str) -> dict:
    async with sessions() as session:
        call = await session.get(Call, 2)
        call.status, call.agent, call.answered_at = "answered", agent, datetime.now(timezone.utc)
        await session.commit()
        return call_json(call, call.id)


async def test_the_operator_who_takes_the_call_gets_the_caller_s_history(desk, sessions):
    hub = desk.server.app[HUB]
    async with desk.ws_connect(f"/api/v1/events?access_token={desk.tokens['wang']}") as ws, \
            desk.ws_connect(f"/api/v1/events?access_token={desk.tokens['li']}") as other:
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
        assert (await other.receive_json(timeout=5))["type"] == "snapshot"
        call = await answered(sessions, AGENT)
        hub.publish(call)
        assert (await ws.receive_json(timeout=5))["type"] == "call"
        pop = await ws.receive_json(timeout=5)
        assert pop["type"] == "screen-pop" and pop["call"]["id"] == 2 and pop["hotline"] == "12345"
        assert pop["caller"] == {"number": "13800000001", "name": "张三"}
        assert [c["id"] for c in pop["history"]["calls"]] == [1]  # the earlier call, not this one
        assert [c["number"] for c in pop["history"]["cases"]] == ["12345-20261201-0001"]
        # Another update of the same call pops nothing more; the other operator gets none at all.
        hub.publish(call | {"talk_seconds": 1.0})
        assert (await ws.receive_json(timeout=5))["type"] == "call"
        hub.publish(call | {"ended_at": call["answered_at"], "status": "ended"})
        assert (await ws.receive_json(timeout=5))["call"]["status"] == "ended"
        assert [(await other.receive_json(timeout=5))["type"] for _ in range(3)] == ["call"] * 3


@pytest.mark.parametrize("masked_roles", [("operator",)])
async def test_a_masked_operator_s_screen_pop_shows_every_number_masked(desk, sessions):
    async with desk.ws_connect(f"/api/v1/events?access_token={desk.tokens['wang']}") as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
        desk.server.app[HUB].publish(await answered(sessions, AGENT))
        assert (await ws.receive_json(timeout=5))["call"]["caller_number"] == "138****0001"
        pop = await ws.receive_json(timeout=5)
    # Found by the whole number, shown masked: the caller, the earlier call and the earlier case.
    assert pop["caller"] == {"number": "138****0001", "name": "张三"} and pop["call"]["caller_number"] == "138****0001"
    assert [c["caller_number"] for c in pop["history"]["calls"]] == ["138****0001"]
    assert [c["callers"] for c in pop["history"]["cases"]] == [[{"number": "138****0001", "name": "张三"}]]
    assert "13800000001" not in json.dumps(pop)


async def test_the_caller_history_route(desk):
    response = await desk.get("/api/v1/callers/13800000001/history",
                              headers={"Authorization": f"Bearer {desk.tokens['li']}"})
    history = await response.json()
    assert response.status == 200 and history["number"] == "13800000001"
    assert [c["id"] for c in history["calls"]] == [2, 1] and len(history["cases"]) == 1
