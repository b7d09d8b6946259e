"""Case figures per department, window and hotline: the API (JSON, CSV, XLSX), the CLI, and the
/metrics gauges of open and overdue cases."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from openpyxl import load_workbook

from hotline.cases.calendar import SHANGHAI
from hotline.cases.statistics import COLUMNS, tally
from hotline.cases.store import act_on_case, cases_filed_between, file_case
from tests.cases.conftest import COMPLAINT, OPERATOR, POLICE, SUPERVISOR, T0, URBAN
from tests.cases.test_commands import hotline


async def december(sessions, services) -> None:
    """Four cases filed on 1 December 2026: one closed on time and substantiated, one resolved on
    the call, one returned then acknowledged late and left open past its deadline, one on 12319."""
    async with sessions() as session:
        on_time = (await file_case(session, COMPLAINT, OPERATOR.actor, T0, services)).case.number
        for viewer, action, params in [(OPERATOR, "register", {}), (SUPERVISOR, "dispatch", {"department": "police"}),
                                       (POLICE, "acknowledge", {}), (POLICE, "feedback", {"text": "已处理"}),
                                       (SUPERVISOR, "verify", {"passed": True, "substantiated": True})]:
            await act_on_case(session, on_time, action, params, viewer, T0 + timedelta(hours=1), services)
        inquiry = (await file_case(session, COMPLAINT | {"type": "inquiry"}, OPERATOR.actor, T0, services)).case.number
        await act_on_case(session, inquiry, "resolve", {"answer": "已答复"}, OPERATOR, T0, services)
        late = (await file_case(session, COMPLAINT | {"window": None}, OPERATOR.actor, T0, services)).case.number
        for viewer, action, params, at in [
            (OPERATOR, "register", {}, T0), (SUPERVISOR, "dispatch", {"department": "police"}, T0),
            (POLICE, "return", {"reason": "非本单位"}, T0), (SUPERVISOR, "dispatch", {"department": "urban"}, T0),
            (URBAN, "acknowledge", {}, T0 + timedelta(days=3)),
        ]:
            await act_on_case(session, late, action, params, viewer, at, services)
        await file_case(session, {"type": "report", "channel": "12319", "description": "井盖缺失", "address": "x",
                                  "grid_code": "410106010203"}, OPERATOR.actor, T0, services)


async def test_figures_per_department_count_each_case_once(sessions, services):
    await december(sessions, services)
    async with sessions() as session:
        cases = await cases_filed_between(session, T0 - timedelta(hours=10), T0 + timedelta(days=30), SUPERVISOR)
    rows = {row.group: row.as_row() for row in tally(cases, "department", T0 + timedelta(days=40))}
    assert set(rows) == {"(none)", "police", "urban", "total"}
    police, urban, total = rows["police"], rows["urban"], rows["total"]
    assert (police["received"], police["closed"], police["closed_on_time"], police["on_time_rate"]) == (1, 1, 1, 1.0)
    assert police["substantiated"] == 1 and police["acknowledged_on_time"] == 1
    assert (urban["returned"], urban["acknowledged_on_time"], urban["overdue"], urban["closed"]) == (1, 0, 1, 0)
    assert urban["on_time_rate"] is None
    assert (total["received"], total["registered"], total["resolved_on_call"], total["dispatched"]) == (4, 2, 1, 2)
    hotlines = {row.group: row.received for row in tally(cases, "hotline", T0)}
    assert hotlines == {"12345": 3, "12319": 1, "total": 4}


async def test_the_api_gives_json_csv_and_xlsx_and_a_handler_only_their_department(client, sessions, services):
    await december(sessions, services)
    query = "/api/v1/statistics/cases?from=2026-12-01&to=2026-12-01"
    body = await (await client.get(query, headers=client.auth("supervisor"))).json()
    assert body["period"] == "2026-12-01..2026-12-01" and body["rows"][-1]["received"] == 4
    csv = await (await client.get(query + "&format=csv", headers=client.auth("supervisor"))).text()
    assert csv.splitlines()[0] == ",".join(COLUMNS) and csv.splitlines()[-1].startswith("total,4,")
    xlsx = await (await client.get(query + "&format=xlsx&by=window", headers=client.auth("supervisor"))).read()
    sheet = load_workbook(io.BytesIO(xlsx)).active
    assert [c.value for c in sheet[1]] == list(COLUMNS) and sheet.cell(sheet.max_row, 2).value == 4
    mine = await (await client.get(query, headers=client.auth("police"))).json()
    assert [row["group"] for row in mine["rows"]] == ["police", "total"]
    assert (await client.get(query, headers=client.auth("operator"))).status == 403
    for bad in ("?month=2026-13", "?from=2026-12-02&to=2026-12-01", "", "?month=2026-12&by=street"):
        response = await client.get(f"/api/v1/statistics/cases{bad}", headers=client.auth("supervisor"))
        assert response.status == 400, bad


async def test_metrics_gauge_open_and_overdue_cases(client, sessions, services):
    async with sessions() as session:
        await file_case(session, COMPLAINT, OPERATOR.actor, T0 - timedelta(days=400), services)
        await file_case(session, COMPLAINT, OPERATOR.actor, datetime.now(SHANGHAI), services)
    text = await (await client.get("/metrics")).text()
    assert 'hotline_cases_open{status="received"} 2.0' in text
    assert "hotline_cases_overdue 1.0" in text


async def test_cases_stats_on_the_command_line(sessions, services, database_url, monkeypatch, capsys, tmp_path):
    await december(sessions, services)
    assert await hotline(database_url, "cases stats --month 2026-12", monkeypatch) == 0
    out = capsys.readouterr().out
    assert out.startswith("cases by department, 2026-12\n") and out.splitlines()[-1].split()[:2] == ["total", "4"]
    assert await hotline(database_url, f"cases stats --by window --month 2026-12 --format xlsx --output {tmp_path}/s.xlsx",
                         monkeypatch) == 0
    assert load_workbook(tmp_path / "s.xlsx").active.cell(1, 1).value == "group"
    assert await hotline(database_url, "cases stats --month 12-2026", monkeypatch) == 2
    assert "period:" in capsys.readouterr().err
