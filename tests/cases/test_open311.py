"""Open311 GeoReport v2: a client files a request with its api_key, form-encoded as the
specification writes it; the request is a case, and its status comes back through Open311."""

from __future__ import annotations

from tests.cases.test_api import act

FORM = {"service_code": "inquiry", "description": "社保卡丢失如何补办?", "address_string": "金水区花园路12号",
        "first_name": "三", "last_name": "张", "phone": "13800000003", "email": "zhang@example.cn"}


async def open311_post(client, form, key="portal", status=200):
    response = await client.post("/open311/v2/requests.json", data=form | {"api_key": client.tokens[key]})
    body = await response.json()
    assert response.status == status, body
    return body


async def open311_get(client, path, key="portal", expect=200, **params):
    response = await client.get(f"/open311/v2/{path}", params=params | {"api_key": client.tokens[key]})
    body = await response.json()
    assert response.status == expect, body
    return body


async def test_a_request_filed_through_open311_is_a_case_and_its_status_comes_back(client):
    [created] = await open311_post(client, FORM)
    number = created["service_request_id"]
    assert number.startswith("WEB-") and created["service_notice"].startswith("due by ")
    case = await (await client.get(f"/api/v1/cases/{number}", headers=client.auth("operator"))).json()
    assert (case["type"], case["channel"], case["status"]) == ("inquiry", "web", "received")
    assert case["caller_name"] == "张三" and case["caller_number"] == "13800000003"
    assert case["history"][0]["actor"] == "portal" and case["address"] == "金水区花园路12号"

    [seen] = await open311_get(client, f"requests/{number}.json")
    assert seen["status"] == "open" and seen["service_code"] == "inquiry" and seen["status_notes"] is None
    assert seen["requested_datetime"].endswith("+08:00") and seen["expected_datetime"]

    await act(client, "operator", number, "resolve", {"answer": "携带身份证到社保窗口补办,当场可取。"})
    [closed] = await open311_get(client, f"requests/{number}.json")
    assert closed["status"] == "closed" and closed["status_notes"] == "携带身份证到社保窗口补办,当场可取。"
    listed = await open311_get(client, "requests.json", status="closed")
    assert [r["service_request_id"] for r in listed] == [number]
    assert await open311_get(client, "requests.json", status="open") == []


async def test_a_dispatched_request_names_the_agency_responsible(client):
    [created] = await open311_post(client, FORM | {"service_code": "report", "lat": "34.7466", "long": "113.6254",
                                                   "address_string": ""})
    number = created["service_request_id"]
    await act(client, "operator", number, "register")
    await act(client, "supervisor", number, "dispatch", {"department": "urban"})
    [seen] = await open311_get(client, "requests.json", service_request_id=f"{number},WEB-19990101-0001")
    assert seen["agency_responsible"] == "城管局" and seen["address"] == "34.746600,113.625400"
    assert await open311_get(client, "requests.json", service_code="complaint") == []


async def test_services_are_the_case_types(client):
    services = await (await client.get("/open311/v2/services.json")).json()
    assert {s["service_code"] for s in services} == {"complaint", "inquiry", "help", "suggestion", "report", "praise"}
    assert all(s["metadata"] is False and s["type"] == "realtime" for s in services)
    definition = await (await client.get("/open311/v2/services/report.json")).json()
    assert definition == {"service_code": "report", "attributes": []}
    missing = await client.get("/open311/v2/services/gossip.json")
    assert missing.status == 404 and (await missing.json())[0]["code"] == 404


async def test_errors_are_the_specification_s_array_and_change_nothing(client):
    for form, key, status, text in [
        (FORM, "operator", 403, "not an open311 user"),
        (FORM | {"service_code": "survey"}, "portal", 400, "service_code"),
        (FORM | {"description": ""}, "portal", 400, "description"),
        (FORM | {"colour": "red"}, "portal", 400, "colour"),
        (FORM | {"lat": "north", "long": "113"}, "portal", 400, "lat"), (FORM | {"lat": "34.7"}, "portal", 400, "long"),
    ]:
        [error] = await open311_post(client, form, key, status)
        assert error["code"] == status and text in error["description"]
    key = {"api_key": client.tokens["portal"]}
    for headers, raw, status in [({"Content-Type": "multipart/form-data"}, b"service_code=inquiry", 400),
                                 ({"Content-Type": "application/json"}, b'{"service_code": "inquiry"}', 415),
                                 ({"Content-Type": "multipart/form-data; boundary=b"},
                                  b'--b\r\nContent-Disposition: form-data; name="\xf1\x97\xa8\x9c\x15\xc3\x84"\r\n\r\nx\r\n--b--\r\n', 400)]:
        response = await client.post("/open311/v2/requests.json", params=key, data=raw, headers=headers)
        assert response.status == status and (await response.json())[0]["code"] == status
    [error] = await open311_get(client, "requests.json", expect=400, start_date="2026-12-01T08:00:00")
    assert "start_date" in error["description"]
    response = await client.post("/open311/v2/requests.json", data=FORM)
    assert response.status == 403 and "api_key" in (await response.json())[0]["description"]
    assert (await client.get("/open311/v2/requests.json")).status == 403
    [error] = await open311_get(client, "requests/WEB-20261201-0099.json", expect=404)
    assert error["code"] == 404
    listed = await (await client.get("/api/v1/cases", headers=client.auth("supervisor"))).json()
    assert listed["cases"] == []


async def test_only_requests_filed_through_open311_are_shown(client):
    phone = await client.post("/api/v1/cases", json={"type": "inquiry", "channel": "12345", "description": "x"},
                              headers=client.auth("operator"))
    number = (await phone.json())["number"]
    await open311_get(client, f"requests/{number}.json", expect=404)
    assert await open311_get(client, "requests.json") == []
