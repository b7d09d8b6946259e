"""Cases in the database, on SQLite and PostgreSQL: numbers, history, departments, concurrency,
holds and the points a case causes in the window and staff scores."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from hotline.cases.calendar import SHANGHAI
from hotline.cases.store import (
    CaseFilter, act_on_case, file_case, import_calendar, keep_holds, list_cases, mark_overdue_cases,
    read_departments, save_departments, verify_histories, view_case, case_services,
)
from hotline.cases.workflow import Conflict, IllegalTransition
from hotline.config import CasesConfig
from hotline.errors import Forbidden, InvalidInput, NotFound
from recordings.store import Recording
from scoring.rubrics import find_rubric
from scoring.scorecards import parse_period, score_period
from scoring.store import OccurrenceEntry, ledger_for_period
from tests.cases.conftest import COMPLAINT, OPERATOR, POLICE, SUPERVISOR, SUPERVISOR_2, T0, URBAN


async def walk(session, number, services, *steps, at=T0):
    view = None
    for n, (viewer, action, params) in enumerate(steps, start=1):
        view = await act_on_case(session, number, action, params, viewer, at + timedelta(minutes=n), services)
    return view


def to_feedback(department="police"):
    handler = POLICE if department == "police" else URBAN
    return [(OPERATOR, "register", {}), (SUPERVISOR, "dispatch", {"department": department}),
            (handler, "acknowledge", {}), (handler, "feedback", {"text": "已约谈当事人"})]


async def month_total(sessions, rubric_id: str, subject: str):
    rubric = find_rubric(rubric_id)
    period = parse_period("month", "2026-12")
    async with sessions() as session:
        subjects, entries = await ledger_for_period(session, rubric, period)
    board = score_period(rubric, subjects, entries, period)
    return next(card for card in board.cards if card.subject.id == subject)


async def test_a_filed_case_gets_the_day_s_next_number_its_deadline_and_a_first_step(sessions, services):
    async with sessions() as session:
        first = await file_case(session, COMPLAINT | {"call_id": 1, "transcript_offset": 42.5}, OPERATOR.actor, T0, services)
        second = await file_case(session, {"type": "inquiry", "channel": "12345", "description": "社保卡补办"},
                                 OPERATOR.actor, T0, services)
        city = await file_case(session, {"type": "report", "channel": "12319", "description": "井盖缺失",
                                         "address": "花园路12号", "grid_code": "410106010203"}, OPERATOR.actor, T0, services)
    assert (first.case.number, second.case.number) == ("12345-20261201-0001", "12345-20261201-0002")
    assert city.case.number == "12319-20261201-0001"
    assert first.case.due_at == datetime(2026, 12, 18, 17, 30, tzinfo=SHANGHAI)
    assert first.callers == [("13800000001", "张三")]
    assert first.calls[0]["id"] == 1 and first.calls[0]["transcript_offset"] == 42.5
    assert [s.action for s in first.history] == ["file"] and first.case.hotline == "12345"
    # 00:30 on 2 December in Beijing is still 1 December in UTC: the local day numbers it.
    async with sessions() as session:
        late = await file_case(session, COMPLAINT, OPERATOR.actor, datetime(2026, 12, 2, 0, 30, tzinfo=SHANGHAI), services)
    assert late.case.number == "12345-20261202-0001"


async def test_a_refused_filing_takes_no_number(sessions, services):
    async with sessions() as session:
        with pytest.raises(InvalidInput):
            await file_case(session, COMPLAINT | {"type": "gossip"}, OPERATOR.actor, T0, services)
        with pytest.raises(NotFound):
            await file_case(session, COMPLAINT | {"call_id": 99}, OPERATOR.actor, T0, services)
        with pytest.raises(NotFound):
            await file_case(session, COMPLAINT | {"department": "nowhere"}, OPERATOR.actor, T0, services)
        filed = await file_case(session, COMPLAINT, OPERATOR.actor, T0, services)
    assert filed.case.number == "12345-20261201-0001"


async def test_a_case_walks_to_closed_with_every_step_in_its_history(sessions, services):
    async with sessions() as session:
        number = (await file_case(session, COMPLAINT, OPERATOR.actor, T0, services)).case.number
        await walk(session, number, services, *to_feedback())
        closed = await act_on_case(session, number, "verify", {"passed": True, "substantiated": False},
                                   SUPERVISOR, T0 + timedelta(hours=1), services)
        assert closed.case.status == "closed" and closed.case.department == "police"
        assert closed.case.department_window == "gongan"
        assert [s.action for s in closed.history] == ["file", "register", "dispatch", "acknowledge", "feedback", "verify"]
        assert await verify_histories(session) == []


async def test_an_illegal_step_or_wrong_role_changes_nothing(sessions, services):
    async with sessions() as session:
        number = (await file_case(session, COMPLAINT, OPERATOR.actor, T0, services)).case.number
        before = await view_case(session, number, SUPERVISOR)
        with pytest.raises(IllegalTransition):
            await act_on_case(session, number, "verify", {"passed": True, "substantiated": True}, SUPERVISOR, T0, services)
        with pytest.raises(Forbidden):
            await act_on_case(session, number, "dispatch", {"department": "police"}, OPERATOR, T0, services)
        after = await view_case(session, number, SUPERVISOR)
    assert after.case == before.case and after.version == before.version and len(after.history) == 1


async def test_a_handler_sees_and_acts_only_on_their_department_s_cases(sessions, services):
    async with sessions() as session:
        number = (await file_case(session, COMPLAINT, OPERATOR.actor, T0, services)).case.number
        await walk(session, number, services, (OPERATOR, "register", {}), (SUPERVISOR, "dispatch", {"department": "police"}))
        with pytest.raises(NotFound):
            await view_case(session, number, URBAN)
        with pytest.raises(NotFound):
            await act_on_case(session, number, "acknowledge", {}, URBAN, T0, services)
        assert (await list_cases(session, CaseFilter(), URBAN, T0, services))[0] == []
        mine, _ = await list_cases(session, CaseFilter(), POLICE, T0, services)
        assert [v.case.number for v in mine] == [number]
        # A returned case leaves the department: its handler no longer sees it.
        await act_on_case(session, number, "return", {"reason": "非本单位职责"}, POLICE, T0, services)
        with pytest.raises(NotFound):
            await view_case(session, number, POLICE)


async def test_two_supervisors_on_one_case_one_wins_the_other_gets_a_conflict(sessions, services):
    async with sessions() as session:
        filed = await file_case(session, COMPLAINT, OPERATOR.actor, T0, services)
        await act_on_case(session, filed.case.number, "register", {}, OPERATOR, T0, services)
    async with sessions() as one, sessions() as two:
        seen = (await view_case(one, filed.case.number, SUPERVISOR)).version
        await act_on_case(one, filed.case.number, "dispatch", {"department": "police"}, SUPERVISOR, T0, services, version=seen)
        with pytest.raises(Conflict) as error:
            await act_on_case(two, filed.case.number, "dispatch", {"department": "urban"}, SUPERVISOR_2, T0, services, version=seen)
    assert error.value.status_code == 409
    async with sessions() as session:
        view = await view_case(session, filed.case.number, SUPERVISOR)
    assert view.case.department == "police" and [s.action for s in view.history][-1] == "dispatch"
    assert len(view.history) == 3


@pytest.mark.postgresql
async def test_two_supervisors_at_the_same_moment_on_postgresql(sessions, services):
    async with sessions() as session:
        filed = await file_case(session, COMPLAINT, OPERATOR.actor, T0, services)
        await act_on_case(session, filed.case.number, "register", {}, OPERATOR, T0, services)

    async def dispatch(viewer, department):
        async with sessions() as session:
            try:
                await act_on_case(session, filed.case.number, "dispatch", {"department": department}, viewer, T0, services, version=2)
                return "won"
            except Conflict:
                return "409"

    results = await asyncio.gather(dispatch(SUPERVISOR, "police"), dispatch(SUPERVISOR_2, "urban"))
    assert sorted(results) == ["409", "won"]


@pytest.mark.postgresql
async def test_two_duplicates_merged_into_each_other_at_once_one_wins(sessions, services):
    async with sessions() as session:
        a = (await file_case(session, COMPLAINT, OPERATOR.actor, T0, services)).case.number
        b = (await file_case(session, COMPLAINT, OPERATOR.actor, T0, services)).case.number

    async def merge(number, into):
        async with sessions() as session:
            try:
                await act_on_case(session, number, "merge", {"into": into}, OPERATOR, T0, services)
                return "merged"
            except IllegalTransition:
                return "409"

    assert sorted(await asyncio.gather(merge(a, b), merge(b, a))) == ["409", "merged"]


async def test_filers_at_once_get_unique_gap_free_numbers_on_either_database(sessions, services):
    async def one(n: int) -> str:
        async with sessions() as session:
            return (await file_case(session, COMPLAINT | {"call_id": 1}, OPERATOR.actor, T0, services)).case.number

    numbers = await asyncio.gather(*(one(n) for n in range(12)))
    assert sorted(numbers) == [f"12345-20261201-{k:04d}" for k in range(1, 13)]


@pytest.mark.postgresql
async def test_many_filers_at_once_get_unique_gap_free_numbers_on_postgresql(sessions, services):
    async def one(n: int) -> str:
        async with sessions() as session:
            fields = COMPLAINT if n % 7 else COMPLAINT | {"type": "gossip"}  # some are refused
            try:
                return (await file_case(session, fields, OPERATOR.actor, T0, services)).case.number
            except InvalidInput:
                return ""

    numbers = [n for n in await asyncio.gather(*(one(n) for n in range(60))) if n]
    assert len(numbers) == len(set(numbers)) == 60 - len(range(0, 60, 7))
    assert sorted(numbers) == [f"12345-20261201-{k:04d}" for k in range(1, len(numbers) + 1)]


async def test_a_tampered_history_row_is_found(sessions, services):
    async with sessions() as session:
        number = (await file_case(session, COMPLAINT, OPERATOR.actor, T0, services)).case.number
        await walk(session, number, services, *to_feedback())
        other = (await file_case(session, COMPLAINT, OPERATOR.actor, T0, services)).case.number
        await session.execute(text("UPDATE case_steps SET note = 'nothing happened' WHERE seq = 3 AND case_id = 1"))
        await session.commit()
        assert await verify_histories(session) == [(number, 3)]
        await session.execute(text("DELETE FROM case_steps WHERE seq = 1 AND case_id = 2"))
        await session.commit()
        assert await verify_histories(session) == [(number, 3), (other, 1)]
        # Deleting the newest step leaves a chain that hashes correctly but ends too early.
        await session.execute(text("UPDATE case_steps SET note = 'x' WHERE case_id = 1 AND seq = 3"))
        await session.execute(text("DELETE FROM case_steps WHERE seq = 5 AND case_id = 1"))
        await session.commit()
        assert (number, 3) in await verify_histories(session)


async def test_deleting_the_newest_steps_is_found_even_where_the_status_is_unchanged(sessions, services):
    async with sessions() as session:
        number = (await file_case(session, COMPLAINT, OPERATOR.actor, T0, services)).case.number
        # Urging and escalating leave the status as it was: the history then ends where the case
        # stands with or without them.
        await walk(session, number, services, (OPERATOR, "register", {}), (SUPERVISOR, "urge", {}),
                   (SUPERVISOR, "escalate", {"note": "三次催办未果"}))
        assert await verify_histories(session) == []
        await session.execute(text("DELETE FROM case_steps WHERE seq = 4"))
        await session.commit()
        assert await verify_histories(session, number) == [(number, 4)]
        await session.execute(text("DELETE FROM case_steps WHERE seq = 3"))
        await session.commit()
        assert await verify_histories(session, number) == [(number, 3)]
        # Nor does emptying the head hide it: every case has one.
        await session.execute(text("UPDATE cases SET head = NULL"))
        await session.commit()
        assert await verify_histories(session, number) == [(number, 3)]


async def test_the_migration_anchors_the_histories_it_finds(engine, sessions, services):
    from alembic import command

    from hotline.db import alembic_config, upgrade

    async with sessions() as session:
        number = (await file_case(session, COMPLAINT, OPERATOR.actor, T0, services)).case.number
        await walk(session, number, services, (OPERATOR, "register", {}), (SUPERVISOR, "urge", {}))

    def to_0009(connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")

    # A database from before 0010: its cases have histories and no head yet.
    async with engine.begin() as connection:
        await connection.run_sync(to_0009)
    await upgrade(engine)
    async with sessions() as session:
        assert await verify_histories(session) == []
        await session.execute(text("DELETE FROM case_steps WHERE seq = 3"))
        await session.commit()
        assert await verify_histories(session) == [(number, 3)]


async def test_a_duplicate_merged_into_a_case_keeps_every_caller(sessions, services):
    async with sessions() as session:
        first = (await file_case(session, COMPLAINT, OPERATOR.actor, T0, services)).case.number
        again = (await file_case(session, COMPLAINT | {"caller_number": "13900000002", "caller_name": "李四", "call_id": 1},
                                 OPERATOR.actor, T0, services)).case.number
        merged = await act_on_case(session, again, "merge", {"into": first}, OPERATOR, T0, services)
        target = await view_case(session, first, SUPERVISOR)
        with pytest.raises(NotFound):
            await act_on_case(session, again, "merge", {"into": "12345-20261201-0099"}, OPERATOR, T0, services)
    assert merged.case.status == "closed" and merged.case.merged_into == first
    assert target.callers == [("13800000001", "张三"), ("13900000002", "李四")]
    assert [c["id"] for c in target.calls] == [1]
    assert target.history[-1].action == "absorb"
    async with sessions() as session:
        callers, _ = await list_cases(session, CaseFilter(caller="13900000002"), SUPERVISOR, T0, services)
    assert sorted(v.case.number for v in callers) == sorted([first, again])


async def test_a_linked_recording_is_held_until_the_case_is_closed_and_its_appeal_time_is_over(sessions, services):
    async with sessions() as session:
        number = (await file_case(session, COMPLAINT | {"call_id": 1}, OPERATOR.actor, T0, services)).case.number
    async with sessions() as session:
        recording = await session.get(Recording, 1)
        assert recording.legal_hold and recording.hold_reason == f"case {number}"
        await walk(session, number, services, *to_feedback())
        await act_on_case(session, number, "verify", {"passed": True, "substantiated": False}, SUPERVISOR, T0, services)
        assert await keep_holds(session, T0 + timedelta(days=59), services) == []
        assert await keep_holds(session, T0 + timedelta(days=61), services) == [number]
    async with sessions() as session:
        assert not (await session.get(Recording, 1)).legal_hold


async def test_a_recording_ingested_after_its_case_was_filed_is_held_by_the_next_sweep(sessions, services):
    async with sessions() as session:
        await session.execute(text("UPDATE recordings SET call_id = NULL"))
        await session.commit()
        await file_case(session, COMPLAINT | {"call_id": 1}, OPERATOR.actor, T0, services)
        await session.execute(text("UPDATE recordings SET call_id = 1"))
        await session.commit()
        await keep_holds(session, T0, services)
    async with sessions() as session:
        assert (await session.get(Recording, 1)).legal_hold


async def test_a_verified_complaint_costs_the_window_and_the_staff_exactly_the_rubric_s_points_and_an_overturn_restores_them(sessions, services):
    window_before = await month_total(sessions, "yihuang-window", "gongan")
    staff_before = await month_total(sessions, "yihuang-staff", "li")
    async with sessions() as session:
        number = (await file_case(session, COMPLAINT | {"call_id": 1, "transcript_offset": 83.5}, OPERATOR.actor, T0, services)).case.number
        await walk(session, number, services, *to_feedback())
        await act_on_case(session, number, "verify", {"passed": True, "substantiated": True}, SUPERVISOR, T0, services)
    window = await month_total(sessions, "yihuang-window", "gongan")
    assert window_before.total - window.total == 10
    assert staff_before.total - (await month_total(sessions, "yihuang-staff", "li")).total == 5
    async with sessions() as session:
        evidence = (await session.scalars(select(OccurrenceEntry.evidence))).all()
    assert evidence == [f"case {number}; call 1 recording 1 transcript 83.5s"] * 2

    async with sessions() as session:
        await act_on_case(session, number, "reopen", {"reason": "当事人申诉"}, SUPERVISOR, T0, services)
        await walk(session, number, services, *to_feedback()[1:])
        # Still closed as substantiated on reopening: nothing is reversed until the outcome changes.
        assert (await month_total(sessions, "yihuang-window", "gongan")).total == window.total
        await act_on_case(session, number, "verify", {"passed": True, "substantiated": False}, SUPERVISOR, T0, services)
    assert (await month_total(sessions, "yihuang-window", "gongan")).total == window_before.total
    assert (await month_total(sessions, "yihuang-staff", "li")).total == staff_before.total
    async with sessions() as session:
        entries = (await session.scalars(select(OccurrenceEntry).order_by(OccurrenceEntry.id))).all()
    assert [e.reverses_id for e in entries] == [None, None, 1, 2]  # reversals, never edits


async def test_a_complaint_about_an_unscored_window_is_refused_at_verification_with_nothing_changed(sessions, services):
    async with sessions() as session:
        number = (await file_case(session, COMPLAINT | {"window": "nowhere", "staff": None}, OPERATOR.actor, T0, services)).case.number
        await walk(session, number, services, *to_feedback())
        with pytest.raises(NotFound, match="nowhere"):
            await act_on_case(session, number, "verify", {"passed": True, "substantiated": True}, SUPERVISOR, T0, services)
    async with sessions() as session:
        assert (await view_case(session, number, SUPERVISOR)).case.status == "feedback"


async def test_a_case_going_overdue_costs_its_department_s_window_one_occurrence_once(sessions, services):
    async with sessions() as session:
        number = (await file_case(session, COMPLAINT, OPERATOR.actor, T0, services)).case.number
        await walk(session, number, services, (OPERATOR, "register", {}), (SUPERVISOR, "dispatch", {"department": "urban"}))
        due = (await view_case(session, number, SUPERVISOR)).case.due_at
        assert await mark_overdue_cases(session, due, services) == []
        assert await mark_overdue_cases(session, due + timedelta(minutes=1), services) == [number]
        assert await mark_overdue_cases(session, due + timedelta(days=3), services) == []
        overdue, _ = await list_cases(session, CaseFilter(overdue=True), SUPERVISOR, due + timedelta(days=3), services)
        soon, _ = await list_cases(session, CaseFilter(soon_due=True), SUPERVISOR, due - timedelta(hours=3), services)
        entries = (await session.scalars(select(OccurrenceEntry))).all()
    assert [v.case.number for v in overdue] == [number] == [v.case.number for v in soon]
    assert [(e.subject_id, e.item, e.source, e.day) for e in entries] == [("chengguan", "overdue", "overdue-case", date(2026, 12, 18))]
    assert (await month_total(sessions, "yihuang-window", "chengguan")).total == 97


async def test_departments_come_from_csv_and_a_bad_line_is_named(sessions):
    text_ = "\ufeffid,name,window\nfgw,发改委,fagaiwei\nzjj,住建局,\n"
    rows = read_departments(text_, "departments.csv")
    assert [(d.id, d.name, d.window) for d in rows] == [("fgw", "发改委", "fagaiwei"), ("zjj", "住建局", None)]
    async with sessions() as session:
        assert await save_departments(session, rows) == 2
    for bad, where in [("id,name\n", "line 1"), ("id,name,window\nfgw,,x\n", "line 2"),
                       ("id,name,window\na,b,c\na,d,e\n", "line 3"), ("id,name,window\na,b\n", "line 2")]:
        with pytest.raises(InvalidInput, match=where):
            read_departments(bad, "departments.csv")


async def test_an_imported_calendar_replaces_the_shipped_year(sessions):
    async with sessions() as session:
        year = await import_calendar(session, 'year = 2027\nsource = "test notice"\n'
                                              'holidays = [{ name = "元旦", from = 2027-01-01, to = 2027-01-01 }]\n',
                                     "2027.toml", T0)
        services = await case_services(session, CasesConfig())
    assert year.year == 2027 and services.policy.calendar.covers(2027)
    assert not services.policy.calendar.is_working_day(date(2027, 1, 1))
