"""Callers' numbers on cases as each role sees them, over real HTTP: masked for the roles of
`[centre] masked_roles` as the calls API masks them, in every place a case shows one."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from hotline.cases.workflow import canonical, step_hash
from hotline.config import Config
from tests.cases.test_api import act, filed

NUMBER, MASKED = "13800000001", "138****0001"
# The citizen's number typed into the description and a note, a second mobile number, and a
# component code (16 digits) that holds a mobile number's digits but is none.
DESCRIPTION = "窗口人员态度恶劣，请回电13800000001或13912345678；部件4101013912345678"


@pytest.fixture
def web_config() -> Config:
    # A centre whose auditors never call citizens back: supervisors see numbers masked too.
    return Config(database_url="unused", masked_roles=("supervisor", "handler"))


async def get(client, role: str, path: str) -> dict:
    response = await client.get(path, headers=client.auth(role))
    assert response.status == 200, await response.text()
    return await response.json()


async def _dispatched_case(client) -> str:
    number = (await filed(client, description=DESCRIPTION))["number"]
    await act(client, "operator", number, "register", {"note": f"来电人{NUMBER}要求尽快处理"})
    await act(client, "admin", number, "dispatch", {"department": "police"})
    return number


@pytest.mark.parametrize("role, masked", [("operator", False), ("admin", False), ("supervisor", True), ("police", True)])
async def test_each_role_sees_a_case_s_numbers_as_masked_roles_say(client, role, masked):
    number = await _dispatched_case(client)
    case = await get(client, role, f"/api/v1/cases/{number}")
    listed = await get(client, role, "/api/v1/cases")
    # Searching by the whole number finds the case for every role; a masked role sees it masked.
    found = await get(client, role, f"/api/v1/cases?caller={NUMBER}")
    assert [c["number"] for c in found["cases"]] == [number] == [c["number"] for c in listed["cases"]]
    shown = NUMBER if not masked else MASKED
    for seen in (case, listed["cases"][0], found["cases"][0]):
        assert seen["caller_number"] == shown and seen["callers"] == [{"number": shown, "name": "张三"}]
        assert seen["description"] == (DESCRIPTION if not masked else "窗口人员态度恶劣，请回电138****0001或139****5678；部件4101013912345678")
        assert [s["note"] for s in seen["history"]][:2] == [seen["description"], f"来电人{shown}要求尽快处理"]
        assert (NUMBER in json.dumps(seen)) is not masked


@pytest.mark.parametrize("role, masked", [("operator", False), ("supervisor", True)])
async def test_the_caller_s_history_shows_earlier_calls_and_cases_masked_for_a_masked_role(client, role, masked):
    number = await _dispatched_case(client)
    history = await get(client, role, f"/api/v1/callers/{NUMBER}/history")
    assert [c["number"] for c in history["cases"]] == [number]
    assert [c["id"] for c in history["calls"]] == [1]
    shown = NUMBER if not masked else MASKED
    assert history["number"] == shown == history["calls"][0]["caller_number"] == history["cases"][0]["caller_number"]
    assert (NUMBER in json.dumps(history)) is not masked


@pytest.mark.parametrize("web_config", [Config(database_url="unused", masked_roles=())])
async def test_a_department_never_sees_a_confidential_case_s_caller_whatever_masked_roles_say(client):
    plain, secret = await _dispatched_case(client), (await filed(client, confidential=True))["number"]
    await act(client, "operator", secret, "register")
    await act(client, "supervisor", secret, "dispatch", {"department": "police"})
    assert (await get(client, "police", f"/api/v1/cases/{plain}"))["caller_number"] == NUMBER
    hidden = await get(client, "police", f"/api/v1/cases/{secret}")
    assert (hidden["caller_number"], hidden["caller_name"]) == (MASKED, None)
    assert (await get(client, "supervisor", f"/api/v1/cases/{secret}"))["callers"] == [{"number": NUMBER, "name": "张三"}]


def _recovered(case: dict) -> set[str]:
    """The numbers an attacker gets back from a masked case's history by trying the 10,000 ways
    to fill each 138****0001 in a note against the step's published hash."""
    found = set()
    for step in case["history"]:
        if MASKED not in step["note"] or not step["hash"]:
            continue
        for middle in range(10_000):
            guess = f"138{middle:04d}0001"
            if step_hash(case["number"], step["seq"], step["action"], step["actor"], step["role"],
                         datetime.fromisoformat(step["at"]), step["note"].replace(MASKED, guess),
                         step["status_before"], step["status_after"], canonical(step["data"]),
                         step["prev_hash"]) == step["hash"]:
                found.add(guess)
    return found


@pytest.mark.parametrize("role", ["supervisor", "police"])
async def test_a_masked_role_cannot_recover_a_number_in_a_note_from_the_step_s_hash(client, role):
    number = await _dispatched_case(client)
    case = await get(client, role, f"/api/v1/cases/{number}")
    assert MASKED in case["history"][1]["note"]
    assert _recovered(case) == set()
    # The steps no number was masked in keep their hashes.
    assert case["history"][2]["action"] == "dispatch" and case["history"][2]["hash"]
    # A role that sees numbers whole sees every hash.
    whole = await get(client, "operator", f"/api/v1/cases/{number}")
    assert all(step["hash"] and step["prev_hash"] for step in whole["history"])
    assert _recovered({**whole, "history": [s | {"note": s["note"].replace(NUMBER, MASKED)} for s in whole["history"]]}) \
        == {NUMBER}


@pytest.mark.parametrize("web_config", [Config(database_url="unused", masked_roles=())])
async def test_a_department_cannot_confirm_a_confidential_case_s_caller_by_searching_the_number(client):
    secret = (await filed(client, confidential=True))["number"]
    await act(client, "operator", secret, "register")
    await act(client, "supervisor", secret, "dispatch", {"department": "police"})
    assert [c["number"] for c in (await get(client, "police", "/api/v1/cases"))["cases"]] == [secret]
    # Trying the numbers behind 138****0001 one by one finds nothing, the right one included.
    for guess in ("13800000002", NUMBER):
        assert (await get(client, "police", f"/api/v1/cases?caller={guess}"))["cases"] == []
    assert [c["number"] for c in (await get(client, "supervisor", f"/api/v1/cases?caller={NUMBER}"))["cases"]] == [secret]
