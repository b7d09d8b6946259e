"""`hotline cases ...`, `hotline departments import` and `hotline user add --department`, run as
a supervisor runs them, against the test's database."""

from __future__ import annotations

import asyncio
import json
import shlex
from datetime import timedelta

import pytest
from sqlalchemy import text

from hotline.cases.store import act_on_case, file_case
from hotline.cli import main
from tests.cases.conftest import COMPLAINT, OPERATOR, SUPERVISOR, T0


async def hotline(database_url: str, command: str, monkeypatch) -> int:
    """`hotline COMMAND` in a thread (it runs its own event loop, as from a shell)."""
    monkeypatch.setenv("HOTLINE_DATABASE_URL", database_url)
    return await asyncio.to_thread(main, shlex.split(command))


@pytest.fixture
async def cases(sessions, services) -> list[str]:
    async with sessions() as session:
        first = (await file_case(session, COMPLAINT | {"call_id": 1}, OPERATOR.actor, T0, services)).case.number
        await act_on_case(session, first, "register", {}, OPERATOR, T0, services)
        await act_on_case(session, first, "dispatch", {"department": "police"}, SUPERVISOR, T0, services)
        second = (await file_case(session, COMPLAINT | {"type": "inquiry"}, OPERATOR.actor, T0, services)).case.number
    return [first, second]


async def test_verify_reports_the_first_broken_link_of_a_tampered_history(sessions, cases, database_url, monkeypatch, capsys):
    assert await hotline(database_url, "cases verify", monkeypatch) == 0
    assert "2 cases: every history step verifies" in capsys.readouterr().out
    async with sessions() as session:
        # Someone with database access rewrites who dispatched the case.
        await session.execute(text("UPDATE case_steps SET actor = 'nobody' WHERE case_id = 1 AND seq = 3"))
        await session.commit()
    assert await hotline(database_url, "cases verify", monkeypatch) == 1
    assert capsys.readouterr().out == f"case {cases[0]}: history broken at step 3 (edited, deleted or out of order)\n"
    assert await hotline(database_url, f"cases verify {cases[1]}", monkeypatch) == 0
    assert await hotline(database_url, "cases verify 12345-20261201-0099", monkeypatch) == 2
    assert "no case 12345-20261201-0099" in capsys.readouterr().err


async def test_list_and_show_mask_numbers_unless_asked(cases, database_url, monkeypatch, capsys):
    assert await hotline(database_url, "cases list --format csv", monkeypatch) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("number,type,channel,status")
    assert "138****0001" in out and "13800000001" not in out and cases[0] in out and cases[1] in out
    # Times for people: Beijing time to the minute (the case was filed at 10:00 there).
    assert ",2026-12-01 10:00,2026-12-18 17:30," in out
    assert await hotline(database_url, "cases list --status dispatched --format json --full-numbers", monkeypatch) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["number"] for c in listed] == [cases[0]] and listed[0]["caller_number"] == "13800000001"
    assert await hotline(database_url, f"cases show {cases[0]}", monkeypatch) == 0
    out = capsys.readouterr().out
    assert "status: dispatched" in out and "caller: 138****0001 张三" in out and "filed_at: 2026-12-01 10:00" in out
    assert "dispatch by li.supervisor (supervisor): registered -> dispatched" in out


async def test_overdue_lists_cases_past_their_deadline(sessions, services, cases, database_url, monkeypatch, capsys):
    async with sessions() as session:
        late = (await file_case(session, COMPLAINT, OPERATOR.actor, T0 - timedelta(days=400), services)).case.number
    assert await hotline(database_url, "cases overdue --format json", monkeypatch) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(c["number"], c["list"], c["overdue"]) for c in listed if c["list"] == "overdue"] == [(late, "overdue", True)]
    assert await hotline(database_url, "cases overdue", monkeypatch) == 0
    out = capsys.readouterr().out
    assert out.startswith("overdue (1):\n") and late in out
    assert await hotline(database_url, "cases list --overdue --format csv", monkeypatch) == 0
    assert [line.split(",")[0] for line in capsys.readouterr().out.splitlines()[1:]] == [late]


async def test_departments_import_and_a_handler_of_one(database_url, sessions, monkeypatch, capsys, tmp_path):
    good = tmp_path / "departments.csv"
    good.write_text("id,name,window\nfgw,发改委,fagaiwei\nzjj,住建局,\n", encoding="utf-8")
    assert await hotline(database_url, f"departments import {good}", monkeypatch) == 0
    assert "2 departments imported" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,window\nfgw,,x\n", encoding="utf-8")
    assert await hotline(database_url, f"departments import {bad}", monkeypatch) == 2
    assert capsys.readouterr().err == f"hotline: error: {bad}: line 2: id and name are required\n"
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("id,name,window\nfgw,发改委,x\n".encode("gbk"))
    assert await hotline(database_url, f"departments import {gbk}", monkeypatch) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert await hotline(database_url, "user add zhao --role handler --department zjj", monkeypatch) == 0
    assert "(handler, department zjj)" in capsys.readouterr().out
    assert await hotline(database_url, "user add qian --role handler", monkeypatch) == 2
    assert "needs --department" in capsys.readouterr().err
    assert await hotline(database_url, "user add sun --role handler --department nowhere", monkeypatch) == 2
    assert "no department 'nowhere'" in capsys.readouterr().err
    assert await hotline(database_url, "user add portal --role open311", monkeypatch) == 0


async def test_a_calendar_import_is_counted_on_at_once(database_url, monkeypatch, capsys, tmp_path):
    notice = tmp_path / "2027.toml"
    notice.write_text('year = 2027\nsource = "国务院办公厅关于2027年部分节假日安排的通知"\n'
                      'holidays = [{ name = "元旦", from = 2027-01-01, to = 2027-01-01 }]\n', encoding="utf-8")
    assert await hotline(database_url, f"cases calendar import {notice}", monkeypatch) == 0
    assert "calendar 2027 imported: 1 holidays, 0 make-up working days" in capsys.readouterr().out
    assert await hotline(database_url, "cases calendar list", monkeypatch) == 0
    assert [line[:5] for line in capsys.readouterr().out.splitlines()] == ["2025:", "2026:", "2027:"]
    notice.write_text("year = 2027\n", encoding="utf-8")
    assert await hotline(database_url, f"cases calendar import {notice}", monkeypatch) == 2
    assert "source: name the notice" in capsys.readouterr().err
