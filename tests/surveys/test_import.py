"""Served items in, by CSV (`hotline surveys import`) and by API: bad rows named, good ones kept."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from hotline.surveys.store import ServedItemRow
from tests.surveys.conftest import write_csv

ROWS = (
    "gongan,li-wei,张三,13800138000,居住证办理,2026-11-23T10:30:00+08:00",
    "gongan,li-wei,李四,12345,户口迁移,2026-11-23T11:00:00+08:00",
    "shuiwu,wang-fang,王五,0371-68912345,发票代开,2026-11-24T09:15:00",
    "gongan,li-wei,张三,+86 138 0013 8000,居住证办理,2026-11-23T02:30:00Z",
    "shuiwu,wang-fang,赵六,13900139000,发票代开,not-a-time",
)


async def stored(sessions) -> list[ServedItemRow]:
    async with sessions() as session:
        return list(await session.scalars(select(ServedItemRow).order_by(ServedItemRow.id)))


async def test_import_keeps_good_rows_names_bad_lines_and_skips_duplicates(surveys_cli, sessions, tmp_path, capsys):
    path = write_csv(tmp_path / "served.csv", *ROWS)
    assert await asyncio.to_thread(surveys_cli, "import", path) == 1
    out, err = capsys.readouterr()
    assert out == "2 served items added, 0 already known, 1 duplicate lines skipped, 2 lines refused\n"
    assert err.splitlines() == [
        f"{path}: line 3: phone: not a Chinese mobile or landline number: '12345'",
        f"{path}: line 6: completed_at: expected an ISO 8601 time such as 2026-11-27T10:30:00+08:00, got 'not-a-time'",
        f"{path}: line 5: duplicate of an earlier line, skipped",
    ]
    rows = await stored(sessions)
    assert [(r.window, r.phone) for r in rows] == [("gongan", "13800138000"), ("shuiwu", "037168912345")]

    # The next export repeats last week's rows: nothing is stored twice.
    assert await asyncio.to_thread(surveys_cli, "import", write_csv(tmp_path / "again.csv", ROWS[0], ROWS[2])) == 0
    assert capsys.readouterr().out == "0 served items added, 2 already known, 0 duplicate lines skipped, 0 lines refused\n"
    assert len(await stored(sessions)) == 2


def test_a_file_that_is_not_utf8_or_has_another_header_is_one_line(surveys_cli, tmp_path, capsys):
    gbk = write_csv(tmp_path / "gbk.csv", ROWS[0], encoding="gbk")
    assert surveys_cli("import", gbk) == 2
    assert capsys.readouterr().err == (
        f"hotline: error: {gbk}: not UTF-8 (byte 61); export the CSV as UTF-8\n"
    )
    other = tmp_path / "other.csv"
    other.write_text("window,staff,phone\ngongan,li-wei,13800138000\n", encoding="utf-8")
    assert surveys_cli("import", other) == 2
    assert capsys.readouterr().err == (
        f"hotline: error: {other}: line 1: expected the header "
        "window,staff,applicant,phone,item,completed_at, got window,staff,phone\n"
    )
    assert surveys_cli("import", tmp_path / "missing.csv") == 2
    assert "missing.csv: no such file" in capsys.readouterr().err


def test_a_row_with_extra_cells_is_refused(surveys_cli, tmp_path, capsys):
    path = write_csv(tmp_path / "extra.csv", ROWS[0] + ",surplus")
    assert surveys_cli("import", path) == 1
    assert f"{path}: line 2: (extra cells): unknown field" in capsys.readouterr().err


ITEM = {"window": "gongan", "staff": "li-wei", "applicant": "张三", "phone": "13800138000",
        "item": "居住证办理", "completed_at": "2026-11-23T10:30:00+08:00"}


async def test_api_stores_a_batch_and_reports_duplicates(api, sessions):
    later = {**ITEM, "completed_at": "2026-11-24T10:30:00+08:00"}
    response = await api.post("/api/v1/served-items", json={"items": [ITEM, later, ITEM]},
                              headers=api.auth("supervisor"))
    assert response.status == 200
    assert await response.json() == {"added": 2, "already_known": 0, "duplicates": [3]}
    response = await api.post("/api/v1/served-items", json={"items": [ITEM]}, headers=api.auth("admin"))
    assert await response.json() == {"added": 0, "already_known": 1, "duplicates": []}
    assert len(await stored(sessions)) == 2


async def test_api_refuses_bad_items_by_position_and_keeps_the_good_ones(api, sessions):
    response = await api.post(
        "/api/v1/served-items",
        json={"items": [{**ITEM, "phone": "110"}, ITEM, "not an object"]},
        headers=api.auth("supervisor"),
    )
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "invalid-input"
    assert body["details"]["added"] == 1
    assert [(p["row"], p["field"]) for p in body["details"]["problems"]][:2] == [(1, "phone"), (3, "window")]
    assert [row.phone for row in await stored(sessions)] == ["13800138000"]


async def test_api_needs_a_supervisor(api):
    for headers, status in (({}, 401), (api.auth("operator"), 403), (api.auth("handler"), 403)):
        response = await api.post("/api/v1/served-items", json={"items": [ITEM]}, headers=headers)
        assert response.status == status
    response = await api.post("/api/v1/served-items", data=b"{",
                              headers=api.auth("supervisor") | {"Content-Type": "application/json"})
    assert response.status == 400
    response = await api.post("/api/v1/served-items", data=b"{", headers=api.auth("supervisor"))
    assert response.status == 415
