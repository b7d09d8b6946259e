"""The cases API as an operator, a supervisor and a department's handler use it, over real HTTP."""

from __future__ import annotations

import asyncio
import re

import pytest

from hotline.cases.workflow import ACTIONS, STATUSES
from hotline.db.calls import CURSOR_PATTERN

FILE = {"type": "complaint", "channel": "12345", "description": "公安窗口工作人员态度恶劣",
        "caller_number": "13800000001", "caller_name": "张三", "window": "gongan", "staff": "li", "call_id": 1}


async def post(client, role, path, body=None, status=200):
    response = await client.post(path, json=body if body is not None else {}, headers=client.auth(role))
    payload = await response.json()
    assert response.status == status, payload
    return payload


async def act(client, role, number, action, body=None, status=200):
    return await post(client, role, f"/api/v1/cases/{number}/actions/{action}", body, status)


async def filed(client, **fields):
    return await post(client, "operator", "/api/v1/cases", FILE | fields, 201)


async def test_filing_answers_201_with_the_number_the_deadline_and_the_history(client):
    case = await filed(client)
    assert case["number"].startswith("12345-") and case["number"].endswith("-0001")
    assert case["status"] == "received" and case["type"] == "complaint"
    assert case["due_at"] and case["history"][0]["action"] == "file"
    assert case["caller_number"] == "13800000001" and case["call_id"] == 1 and case["hotline"] == "12345"
    shown = await client.get(f"/api/v1/cases/{case['number']}", headers=client.auth("supervisor"))
    assert (await shown.json())["number"] == case["number"]
    # 1.0 is the integer 1 to JSON (RFC 8259 6) and to the document's JSON Schema.
    assert (await filed(client, call_id=1.0))["call_id"] == 1


async def test_a_case_walks_through_every_action_over_http(client):
    number = (await filed(client))["number"]
    await act(client, "operator", number, "register")
    await act(client, "supervisor", number, "urge", {"note": "请尽快办理"})
    await act(client, "supervisor", number, "escalate")
    await act(client, "supervisor", number, "dispatch", {"department": "urban"})
    await act(client, "urban", number, "return", {"reason": "非本单位职责"})
    dispatched = await act(client, "supervisor", number, "dispatch", {"department": "police"})
    assert dispatched["department_window"] == "gongan" and dispatched["acknowledge_due_at"]
    await act(client, "police", number, "acknowledge")
    await act(client, "police", number, "request-extension", {"days": 3, "reason": "需调查取证"})
    extended = await act(client, "supervisor", number, "decide-extension", {"approve": True})
    assert extended["due_at"] > dispatched["due_at"]
    await act(client, "police", number, "feedback", {"text": "已批评教育当事人"})
    back = await act(client, "supervisor", number, "verify", {"passed": False})
    assert back["status"] == "handling"
    await act(client, "police", number, "feedback", {"text": "已调岗"})
    closed = await act(client, "supervisor", number, "verify", {"passed": True, "substantiated": True})
    assert closed["status"] == "closed" and closed["substantiated"] is True and closed["item"] == "verified-complaint"
    reopened = await act(client, "supervisor", number, "reopen", {"reason": "当事人申诉"})
    assert reopened["status"] == "registered"
    assert [s["action"] for s in reopened["history"]] == [
        "file", "register", "urge", "escalate", "dispatch", "return", "dispatch", "acknowledge",
        "request-extension", "decide-extension", "feedback", "verify", "feedback", "verify", "reopen"]


async def test_inquiry_resolved_on_the_call_rejected_and_merged_cases(client):
    inquiry = await filed(client, type="inquiry", window=None, staff=None)
    resolved = await act(client, "operator", inquiry["number"], "resolve", {"answer": "工作日9:00-17:30"})
    assert resolved["status"] == "resolved" and resolved["history"][-1]["note"] == "工作日9:00-17:30"
    rejected = await act(client, "operator", (await filed(client))["number"], "reject", {"reason": "重复来电"})
    assert rejected["status"] == "rejected"
    first = await filed(client)
    duplicate = await filed(client, caller_number="13900000002", caller_name="李四")
    merged = await act(client, "operator", duplicate["number"], "merge", {"into": first["number"]})
    assert merged["status"] == "closed" and merged["merged_into"] == first["number"]
    target = await (await client.get(f"/api/v1/cases/{first['number']}", headers=client.auth("operator"))).json()
    assert [c["number"] for c in target["callers"]] == ["13800000001", "13900000002"]


@pytest.mark.parametrize("action", sorted(ACTIONS))
async def test_an_action_from_a_status_it_cannot_start_from_is_a_409_and_changes_nothing(client, action):
    number = (await filed(client))["number"]
    await act(client, "operator", number, "resolve" if "received" not in ACTIONS[action].sources else "register",
              {"answer": "x"}, 409 if "received" not in ACTIONS[action].sources else 200)
    before = await (await client.get(f"/api/v1/cases/{number}", headers=client.auth("admin"))).json()
    if before["status"] in ACTIONS[action].sources:
        return
    # A body each action would take: `answer` is the inquiry's text, or the follow-up's key.
    answer = 3 if action == "request-reopening" else "x"
    error = await act(client, "admin", number, action, {"reason": "x", "into": number, "department": "police",
                                                        "answer": answer, "text": "x", "days": 1, "approve": True,
                                                        "passed": True, "substantiated": True}, 409)
    assert error["error"] == "illegal-transition" and error["details"]["status"] == before["status"]
    after = await (await client.get(f"/api/v1/cases/{number}", headers=client.auth("admin"))).json()
    assert after == before


async def test_a_wrong_role_is_a_403_and_changes_nothing(client):
    number = (await filed(client))["number"]
    for role, action in [("police", "register"), ("operator", "dispatch"), ("portal", "register"),
                         ("handler", "register")]:
        error = await act(client, role, number, action, {}, 403)
        assert error["error"] == "forbidden"
    await act(client, "operator", number, "register")
    for role, action, body in [("operator", "acknowledge", {}), ("supervisor", "acknowledge", {}),
                               ("police", "verify", {"passed": True})]:
        await act(client, role, number, action, body, 403)
    case = await (await client.get(f"/api/v1/cases/{number}", headers=client.auth("supervisor"))).json()
    assert case["status"] == "registered" and len(case["history"]) == 2
    assert (await client.post("/api/v1/cases", json=FILE, headers=client.auth("police"))).status == 403
    assert (await client.get("/api/v1/cases", headers=client.auth("portal"))).status == 403


async def test_bad_input_is_a_400_naming_the_field(client):
    for body, field in [({**FILE, "type": "gossip"}, "type"), ({**FILE, "description": ""}, "description"),
                        ({**FILE, "channel": "12319"}, "address"), ({**FILE, "channel": "12319", "address": "x"}, "grid_code"),
                        ({**FILE, "channel": "12319", "address": "x", "grid_code": "4101060102"}, "grid_code"),
                        ({**FILE, "call_id": "1"}, "call_id"), ({**FILE, "description": "a\x00b"}, "description"),
                        ({**FILE, "hotline": "1" * 33}, "hotline"), ({**FILE, "window": "w" * 65}, "window")]:
        error = await post(client, "operator", "/api/v1/cases", body, 400)
        assert field in error["message"], error
    as_json = client.auth("operator") | {"Content-Type": "application/json"}
    for raw in (b"{not json", b'{"type": "complaint", "transcript_offset": Infinity}', b"[" * 60_000):
        response = await client.post("/api/v1/cases", data=raw, headers=as_json)
        assert response.status == 400 and "not JSON" in (await response.json())["message"]
    response = await client.post("/api/v1/cases", data={"type": "complaint"}, headers=client.auth("operator"))
    assert response.status == 415 and (await response.json())["error"] == "unsupported-media-type"
    number = (await filed(client))["number"]
    assert "reason" in (await act(client, "operator", number, "reject", {}, 400))["message"]
    for action, body, field in [("reject", {"reason": "x", "version": "1"}, "version"),
                                ("reject", {"reason": "   "}, "reason"), ("register", {"note": 7}, "note")]:
        assert (await act(client, "operator", number, action, body, 400))["details"]["field"] == field
    assert (await act(client, "operator", number, "fly", {}, 400))["details"]["action"] == "fly"
    assert (await client.get("/api/v1/cases?status=lost", headers=client.auth("operator"))).status == 400
    assert (await client.get("/api/v1/cases?overdue=yes", headers=client.auth("operator"))).status == 400
    assert (await client.get("/api/v1/cases?cursor=zzz", headers=client.auth("operator"))).status == 400
    assert (await post(client, "operator", "/api/v1/cases", {**FILE, "call_id": 404}, 404))["error"] == "not-found"


async def test_a_handler_sees_only_their_department_s_cases_and_masked_numbers(client):
    number = (await filed(client))["number"]
    await act(client, "operator", number, "register")
    await act(client, "supervisor", number, "dispatch", {"department": "police"})
    other = await client.get(f"/api/v1/cases/{number}", headers=client.auth("urban"))
    assert other.status == 404 and (await other.json())["error"] == "not-found"
    await act(client, "urban", number, "acknowledge", {}, 404)
    mine = await (await client.get(f"/api/v1/cases/{number}", headers=client.auth("police"))).json()
    assert mine["caller_number"] == "138****0001" and mine["callers"][0]["number"] == "138****0001"
    listed = await (await client.get("/api/v1/cases", headers=client.auth("urban"))).json()
    assert listed["cases"] == []
    listed = await (await client.get("/api/v1/cases", headers=client.auth("police"))).json()
    assert [c["number"] for c in listed["cases"]] == [number]
    full = await (await client.get(f"/api/v1/cases/{number}", headers=client.auth("supervisor"))).json()
    assert full["caller_number"] == "13800000001"


async def test_a_confidential_case_hides_the_caller_s_name_from_the_department(client):
    number = (await filed(client, confidential=True))["number"]
    await act(client, "operator", number, "register")
    await act(client, "supervisor", number, "dispatch", {"department": "police"})
    seen = await (await client.get(f"/api/v1/cases/{number}", headers=client.auth("police"))).json()
    assert seen["caller_name"] is None and seen["caller_number"] == "138****0001"


async def test_two_supervisors_sending_the_same_version_one_wins_one_gets_409(client):
    number = (await filed(client))["number"]
    version = (await act(client, "operator", number, "register"))["version"]
    first, second = await asyncio.gather(
        client.post(f"/api/v1/cases/{number}/actions/dispatch", json={"department": "police", "version": version},
                    headers=client.auth("supervisor")),
        client.post(f"/api/v1/cases/{number}/actions/dispatch", json={"department": "urban", "version": version},
                    headers=client.auth("supervisor-2")),
    )
    assert sorted([first.status, second.status]) == [200, 409]
    loser = await (second if second.status == 409 else first).json()
    assert loser["error"] in ("conflict", "illegal-transition")
    case = await (await client.get(f"/api/v1/cases/{number}", headers=client.auth("supervisor"))).json()
    assert [s["action"] for s in case["history"]].count("dispatch") == 1


async def test_the_list_filters_and_pages_with_a_cursor(client):
    numbers = [(await filed(client))["number"] for _ in range(5)]
    inquiry = (await filed(client, type="inquiry"))["number"]
    await act(client, "operator", numbers[0], "register")
    await act(client, "supervisor", numbers[0], "dispatch", {"department": "police"})

    async def listed(query):
        response = await client.get(f"/api/v1/cases?{query}", headers=client.auth("supervisor"))
        assert response.status == 200
        return await response.json()

    assert [c["number"] for c in (await listed("type=inquiry"))["cases"]] == [inquiry]
    assert [c["number"] for c in (await listed("status=dispatched"))["cases"]] == [numbers[0]]
    assert [c["number"] for c in (await listed("department=police"))["cases"]] == [numbers[0]]
    assert len((await listed("window=gongan"))["cases"]) == 6
    assert (await listed("overdue=true"))["cases"] == []
    assert len((await listed("caller=13800000001"))["cases"]) == 6
    seen, query = [], "limit=2"
    while True:
        page = await listed(query)
        seen += [c["number"] for c in page["cases"]]
        if not page["next_cursor"]:
            break
        # One cursor format for cases and calls, the one the document states.
        assert re.fullmatch(CURSOR_PATTERN, page["next_cursor"]), page["next_cursor"]
        query = f"limit=2&cursor={page['next_cursor']}"
    assert seen == sorted(numbers + [inquiry], reverse=True)


async def test_every_case_route_and_action_is_in_the_openapi_document(client):
    document = await (await client.get("/api/v1/openapi.json", headers=client.auth("operator"))).json()
    assert {"post", "get"} <= set(document["paths"]["/api/v1/cases"])
    assert "get" in document["paths"]["/api/v1/cases/{number}"]
    for action in ACTIONS:
        assert "post" in document["paths"][f"/api/v1/cases/{{number}}/actions/{action}"], action
    for path in ("/api/v1/departments", "/api/v1/departments/{id}", "/api/v1/statistics/cases",
                 "/api/v1/callers/{number}/history", "/open311/v2/services.json", "/open311/v2/requests.json",
                 "/open311/v2/requests/{service_request_id}.json", "/open311/v2/services/{service_code}.json"):
        assert path in document["paths"], path
    schema = document["paths"]["/api/v1/cases"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]["status"]["enum"]) == set(STATUSES)


async def test_departments_are_listed_and_only_an_admin_adds_one(client):
    added = await client.put("/api/v1/departments/zjj", json={"name": "住建局", "window": "zhujian"},
                             headers=client.auth("admin"))
    assert added.status == 200 and (await added.json()) == {"id": "zjj", "name": "住建局", "window": "zhujian"}
    assert (await client.put("/api/v1/departments/x", json={"name": "x"}, headers=client.auth("supervisor"))).status == 403
    assert (await client.put("/api/v1/departments/x", json={}, headers=client.auth("admin"))).status == 400
    listed = await (await client.get("/api/v1/departments", headers=client.auth("police"))).json()
    assert [d["id"] for d in listed["departments"]] == ["police", "urban", "zjj"]


# How to bring a fresh case to each status an action starts from, as the admin.
TO_STATUS = {
    "received": [], "registered": [("register", {})],
    "dispatched": [("register", {}), ("dispatch", {"department": "police"})],
    "handling": [("register", {}), ("dispatch", {"department": "police"}), ("acknowledge", {})],
    "feedback": [("register", {}), ("dispatch", {"department": "police"}), ("acknowledge", {}),
                 ("feedback", {"text": "x"})],
    "resolved": [("resolve", {"answer": "x"})],
}
BODIES = {"resolve": {"answer": "x"}, "reject": {"reason": "x"}, "merge": {"into": "12345-20261201-0001"},
          "dispatch": {"department": "police"}, "return": {"reason": "x"},
          "request-extension": {"days": 2, "reason": "x"}, "decide-extension": {"approve": True},
          "feedback": {"text": "x"}, "verify": {"passed": True}, "reopen": {"reason": "x"}}


@pytest.mark.parametrize("action", sorted(ACTIONS))
async def test_every_role_that_may_not_take_an_action_gets_a_403_and_changes_nothing(client, action):
    await filed(client, type="inquiry")  # the merge target
    start = next(status for status in ACTIONS[action].sources if status in TO_STATUS)
    number = (await filed(client, type="inquiry"))["number"]
    for step, body in TO_STATUS[start]:
        await act(client, "admin", number, step, body)
    before = await (await client.get(f"/api/v1/cases/{number}", headers=client.auth("admin"))).json()
    for role in ("operator", "supervisor", "police", "portal"):
        if role.replace("police", "handler") in ACTIONS[action].roles:
            continue
        error = await act(client, role, number, action, BODIES.get(action, {}), 403)
        assert error["error"] == "forbidden" and action in error["message"]
    assert await (await client.get(f"/api/v1/cases/{number}", headers=client.auth("admin"))).json() == before
