"""The ledger in the database: append, reverse, read a period back; the CLI and API over it."""

from datetime import date, datetime, timezone
from fractions import Fraction

import pytest

from scoring.store import (
    ledger_for_period, record_occurrence, reverse_occurrence, save_subject,
)
from hotline.errors import InvalidInput, NotFound
from scoring.occurrences import Occurrence, Subject
from scoring.rubrics import find_rubric
from scoring.scorecards import parse_period, score_period
from tests.scoring.test_commands import score

YIHUANG = find_rubric("yihuang-window")
OCTOBER = parse_period("month", "2026-10")
AT = datetime(2026, 10, 31, 9, 0, tzinfo=timezone.utc)


def entry(subject: str, item: str, day: str, count: str = "1", evidence: str = "") -> Occurrence:
    return Occurrence("", subject, item, date.fromisoformat(day), Fraction(count), "complaint", evidence, "李敏", AT)


async def fill(session) -> list[Occurrence]:
    await save_subject(session, Subject("gongan", "公安局"), "window")
    await save_subject(session, Subject("guotu", "國土局"), "window")
    await save_subject(session, Subject("li", "李", date(2025, 3, 1)), "staff", window_id="guotu")
    return [
        await record_occurrence(session, "yihuang-window", entry("gongan", "verified-complaint", "2026-10-12", evidence="case:42")),
        await record_occurrence(session, "yihuang-window", entry("gongan", "late-or-early", "2026-10-13", "3")),
        await record_occurrence(session, "yihuang-window", entry("guotu", "overdue", "2026-09-30")),
        await record_occurrence(session, "yihuang-staff", entry("li", "absent-day", "2026-10-13")),
    ]


async def test_a_period_reads_back_its_rubric_s_entries_and_scores_them(sessions):
    async with sessions() as session:
        stored = await fill(session)
        subjects, entries = await ledger_for_period(session, YIHUANG, OCTOBER)
    assert [s.id for s in subjects] == ["gongan", "guotu"]
    assert [e.id for e in entries] == [stored[0].id, stored[1].id, stored[2].id]
    assert entries[1].count == 3 and entries[0].evidence == "case:42" and entries[0].entered_at == AT
    board = score_period(YIHUANG, subjects, entries, OCTOBER)
    # 公安局: 45 - 10 - 1.5 = 33.5 in 文明服務 -> 88.5; 國土局's September overdue is not October's.
    assert {c.subject.id: c.total for c in board.cards} == {"gongan": Fraction(177, 2), "guotu": 100}


async def test_a_reversal_cancels_an_entry_once_and_keeps_both_in_the_ledger(sessions):
    async with sessions() as session:
        stored = await fill(session)
        undo = await reverse_occurrence(session, int(stored[0].id), entered_by="王主任", entered_at=AT, note="投訴不實")
        assert (undo.reverses, undo.item, undo.note, undo.entered_by) == (stored[0].id, "verified-complaint", "投訴不實", "王主任")
        with pytest.raises(InvalidInput, match="already reversed"):
            await reverse_occurrence(session, int(stored[0].id), entered_by="x", entered_at=AT, note="again")
        with pytest.raises(NotFound):
            await reverse_occurrence(session, 999, entered_by="x", entered_at=AT, note="")
        subjects, entries = await ledger_for_period(session, YIHUANG, OCTOBER)
    assert len(entries) == 4
    board = score_period(YIHUANG, subjects, entries, OCTOBER)
    assert {c.subject.id: c.total for c in board.cards}["gongan"] == Fraction(197, 2)


async def test_an_entry_for_an_unknown_subject_is_refused(sessions):
    async with sessions() as session:
        with pytest.raises(NotFound, match="no subject 'nobody'"):
            await record_occurrence(session, "yihuang-window", entry("nobody", "overdue", "2026-10-01"))


def test_the_cli_records_reverses_and_scores_from_the_database(database_url, tmp_path, capsys):
    url = database_url
    score("subject add gongan 公安局", database_url=url)
    record = "record --rubric yihuang-window --subject gongan --by 李敏"
    score(f"{record} --item overdue --date 2026-10-09 --evidence case:7", database_url=url)
    score(f"{record} --item overdue --date 2026-10-10 --count 2", database_url=url)
    assert "recorded occurrence 2" in capsys.readouterr().out
    score("reverse 2 --by 王主任 --note 'entered twice'", database_url=url)
    score("month --rubric yihuang-window --month 2026-10 --explain gongan", database_url=url)
    out = capsys.readouterr().out
    assert "公安局 (gongan): total 97, rank 1" in out
    assert "overdue x1: -3 -> -3 (case:7, entry 1)" in out
    punches = tmp_path / "punches.csv"
    punches.write_text("li,2026-10-08 08:00\nli,2026-10-08 12:00\nli,2026-10-08 14:30\nli,2026-10-08 17:05\n")
    score("subject add li 李 --kind staff --window gongan --since 2025-03-01", database_url=url)
    clock = f"attendance {punches} --by 督查股 --record"
    score(f"{clock} --rubric yihuang-window --month 2026-10", database_url=url)
    # October 2026 has 22 working days: 21 without punches (42 half days, 21 x -5 = -105, so
    # 文明服務 is exhausted at 45) and an early leave on the 8th.
    assert "recorded 43 occurrences from 4 punches (0 rows skipped)" in capsys.readouterr().out
    score("month --rubric yihuang-window --month 2026-10 --format csv", database_url=url)
    assert capsys.readouterr().out.splitlines()[1] == "1,gongan,公安局,15,37,0,0,52,yes,"
    with pytest.raises(InvalidInput, match="has no item 'absent-half-day'"):
        score(f"{record} --item absent-half-day --date 2026-10-10", database_url=url)


async def test_supervisors_read_scores_over_the_api(api, sessions):
    async with sessions() as session:
        await fill(session)
    response = await api.get("/api/v1/scores/month?rubric=yihuang-window&month=2026-10", headers=api.auth("supervisor"))
    assert response.status == 200
    body = await response.json()
    assert [(r["subject"], r["total"], r["rank"], r["red_flag"]) for r in body["results"]] == [
        ("guotu", 100, 1, True), ("gongan", 88.5, 2, True),
    ]
    assert body["results"][1]["breakdown"][0]["evidence"] == "case:42"
    year = await api.get("/api/v1/scores/year?rubric=yihuang-window&year=2026", headers=api.auth("admin"))
    assert (await year.json())["results"][0]["total"] == 99.75  # 國土局: 40 - 3/12 in 辦件規範
    staff = await api.get("/api/v1/scores/quarter?rubric=yihuang-staff&quarter=2026-Q4", headers=api.auth("supervisor"))
    assert (await staff.json())["results"][0]["categories"]["diligence"] == 28.33


@pytest.mark.parametrize(
    ("query", "role", "status"),
    [
        ("month?rubric=yihuang-window&month=2026-10", "operator", 403),
        ("month?rubric=yihuang-window&month=2026-10", "handler", 403),
        ("month?rubric=yihuang-window&month=October", "supervisor", 400),
        ("month?month=2026-10", "supervisor", 400),
        ("month?rubric=nowhere&month=2026-10", "supervisor", 404),
        ("month?rubric=/etc/passwd.toml&month=2026-10", "supervisor", 400),
        ("year?rubric=yihuang-window&year=0000", "supervisor", 400),
    ],
)
async def test_the_scores_api_checks_role_and_parameters(api, query, role, status):
    response = await api.get(f"/api/v1/scores/{query}", headers=api.auth(role))
    assert response.status == status


def test_attendance_for_a_window_rubric_refuses_staff_without_a_window_and_records_nothing(
    database_url, tmp_path, capsys,
):
    # 王 has no window: his absences used to go into the window rubric's ledger under his own
    # id, and from then on every scoreboard of that year failed with "unknown subject 'wang'".
    url = database_url
    score("subject add gongan 公安局", database_url=url)
    score("subject add li 李 --kind staff --window gongan", database_url=url)
    score("subject add wang 王 --kind staff", database_url=url)
    punches = tmp_path / "punches.csv"
    punches.write_text("li,2026-10-08 08:00\nwang,2026-10-08 12:00\n")
    with pytest.raises(InvalidInput, match=r"punches.csv:2: 'wang' has no window in the database"):
        score(f"attendance {punches} --by 督查股 --record --rubric yihuang-window --month 2026-10", database_url=url)
    capsys.readouterr()
    score("month --rubric yihuang-window --month 2026-10 --format csv", database_url=url)
    # Nothing of the refused run was kept, not even 李's entries for 公安局.
    assert capsys.readouterr().out.splitlines()[1] == "1,gongan,公安局,15,40,45,0,100,yes,"


def test_an_occurrence_for_a_subject_of_the_wrong_kind_is_refused(database_url, capsys):
    url = database_url
    score("subject add gongan 公安局", database_url=url)
    score("subject add wang 王 --kind staff", database_url=url)
    with pytest.raises(InvalidInput, match="'wang' is a staff"):
        score("record --rubric yihuang-window --subject wang --item overdue --date 2026-10-09 --by 李敏", database_url=url)
    score("month --rubric yihuang-window --month 2026-10 --format csv", database_url=url)
    assert capsys.readouterr().out.splitlines()[-1] == "1,gongan,公安局,15,40,45,0,100,yes,"


@pytest.mark.parametrize("count", ["1/3", "0.001", "100000000"])
async def test_a_count_the_ledger_cannot_hold_exactly_is_refused(sessions, count):
    # NUMERIC(10, 2) stored 1/3 as 0.33 and 0.001 as 0, and PostgreSQL refused 10^8.
    async with sessions() as session:
        await save_subject(session, Subject("gongan", "公安局"), "window")
        with pytest.raises(InvalidInput, match="at most two decimals"):
            await record_occurrence(session, "yihuang-window", entry("gongan", "overdue", "2026-10-09", count))
        assert await ledger_for_period(session, YIHUANG, OCTOBER) == ([Subject("gongan", "公安局")], [])
