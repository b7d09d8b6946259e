"""The weekly draw: five at random, reproducible from the seed, never an excluded number."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from hypothesis import given, strategies as st

from hotline.cases.store import CaseRow
from hotline.config import SurveyConfig
from hotline.errors import InvalidInput
from hotline.surveys import store
from hotline.surveys.results import PARTIAL, UNREACHABLE
from hotline.surveys.draw import Candidate, draw, eligible, followed_up, parse_week, week_bounds, week_of

from tests.surveys.conftest import MONDAY, SHANGHAI, WEEK, case_desk, case_of


def candidate(item_id: int, phone: str | None = None, days_before: float = 3) -> Candidate:
    return Candidate(item_id, "gongan", f"staff-{item_id % 3}", phone or f"1380000{item_id:04d}",
                     MONDAY - timedelta(days=days_before))


def test_weeks_are_iso_weeks_in_the_centres_time_zone():
    assert parse_week(WEEK).isoformat() == "2026-11-30"
    assert week_bounds(WEEK, SHANGHAI) == (MONDAY, MONDAY + timedelta(days=7))
    # Sunday 23:30 UTC is already Monday in Shanghai.
    assert week_of(datetime(2026, 11, 29, 16, 30, tzinfo=ZoneInfo("UTC")), SHANGHAI) == WEEK
    for bad in ("2026-49", "2026-W54", "W49", "2026-W00"):
        with pytest.raises(InvalidInput, match="expected an ISO week such as 2026-W49"):
            parse_week(bad)


def test_eligible_keeps_the_look_back_valid_numbers_and_one_item_per_citizen():
    pool = [
        candidate(1), candidate(2, days_before=31), candidate(3, days_before=-1),
        candidate(4, phone="12345"), candidate(5, phone="13700000005", days_before=5),
        candidate(6, phone="13700000005", days_before=2), candidate(7, phone="13900000007"),
    ]
    chosen = eligible(pool, week_start=MONDAY, lookback_days=30, excluded_phones={"13900000007"})
    assert [c.item_id for c in chosen] == [1, 6]


@given(st.lists(st.integers(1, 10_000), unique=True, max_size=40), st.text(min_size=1, max_size=16),
       st.integers(0, 5), st.integers(0, 8))
def test_a_draw_is_reproducible_from_its_seed_whatever_order_the_pool_comes_in(ids, seed, round_, count):
    pool = [candidate(i) for i in ids]
    first = draw(pool, seed, round_, count)
    assert draw(list(reversed(pool)), seed, round_, count) == first
    assert len(first) == min(count, len(pool)) and len(set(first)) == len(first)


def test_different_seeds_draw_differently():
    pool = [candidate(i) for i in range(100)]
    assert draw(pool, "a", 0, 5) != draw(pool, "b", 0, 5)
    assert draw(pool, "a", 0, 5) != draw(pool, "a", 1, 5)


CONFIG = SurveyConfig()


async def test_a_week_is_drawn_once_and_a_second_call_returns_the_stored_draw(sessions, served):
    async with sessions() as session:
        first = await store.draw_week(session, WEEK, CONFIG, case_desk(), MONDAY)
    assert first.new and len(first.surveys) == 5
    assert len({s.phone for s in first.surveys}) == 5
    assert "13999999999" not in {s.phone for s in first.surveys}
    async with sessions() as session:  # a restarted daemon, or the CLI meanwhile
        again = await store.draw_week(session, WEEK, CONFIG, case_desk(), MONDAY + timedelta(hours=1))
    assert not again.new
    assert [s.case for s in again.surveys] == [s.case for s in first.surveys]
    assert again.week.seed == first.week.seed
    # Each drawn citizen is a callback-survey case in the cases workflow, about their window.
    for survey in first.surveys:
        case = (await case_of(sessions, survey.case)).case
        assert (case.type, case.channel, case.window, case.staff) == ("survey", "survey", survey.window, survey.staff)
    async with sessions() as session:
        cases = await session.scalar(select(func.count()).select_from(CaseRow))
    assert cases == 5  # the second call filed none


async def test_the_stored_seed_reproduces_the_draw(sessions, served):
    async with sessions() as session:
        drawn = await store.draw_week(session, WEEK, CONFIG, case_desk(), MONDAY)
        start, _ = week_bounds(WEEK, SHANGHAI)
        pool = eligible(await store.candidates(session, start - timedelta(days=30), start),
                        week_start=start, lookback_days=30, excluded_phones=set())
    again = draw(pool, drawn.week.seed, 0, 5)
    assert sorted(c.item_id for c in again) == sorted(s.served_item_id for s in drawn.surveys)


async def test_opted_out_and_recently_surveyed_numbers_are_never_drawn(sessions, served):
    async with sessions() as session:
        for n in range(4):
            await store.opt_out(session, f"1380000{n:04d}", by="operator", reason="test", now=MONDAY, desk=case_desk())
        last_week = await store.draw_week(session, "2026-W48", CONFIG, case_desk(), MONDAY - timedelta(days=7))
        drawn = await store.draw_week(session, WEEK, CONFIG, case_desk(), MONDAY)
    excluded = {f"1380000{n:04d}" for n in range(4)} | {s.phone for s in last_week.surveys}
    assert drawn.surveys and not excluded & {s.phone for s in drawn.surveys}


async def test_a_small_population_draws_what_there_is_and_says_so(sessions, served):
    config = SurveyConfig(per_week=20)
    async with sessions() as session:
        drawn = await store.draw_week(session, WEEK, config, case_desk(), MONDAY)
    assert len(drawn.surveys) == 12
    assert drawn.week.shortfall == "population exhausted: round 0 wanted 20 and found 12 eligible citizens"


async def test_spent_surveys_are_replaced_by_a_fresh_draw_while_the_week_lasts(sessions, served):
    async with sessions() as session:
        drawn = await store.draw_week(session, WEEK, CONFIG, case_desk(), MONDAY)
        drawn.surveys[0].status = UNREACHABLE
        drawn.surveys[1].status = PARTIAL
        await session.commit()
        assert await store.replace_spent(session, WEEK, CONFIG, case_desk(), MONDAY + timedelta(days=2)) == 2
        assert await store.replace_spent(session, WEEK, CONFIG, case_desk(), MONDAY + timedelta(days=2)) == 0
        surveys = await store.week_surveys(session, WEEK)
        assert [s.round for s in surveys] == [0, 0, 0, 0, 0, 1, 1]
        assert len({s.phone for s in surveys}) == 7
        surveys[5].status = UNREACHABLE
        await session.commit()
        # The week is over: no more replacements.
        assert await store.replace_spent(session, WEEK, CONFIG, case_desk(), MONDAY + timedelta(days=7)) == 0


async def test_opting_out_ends_the_numbers_unfinished_surveys(sessions, served):
    async with sessions() as session:
        drawn = await store.draw_week(session, WEEK, CONFIG, case_desk(), MONDAY)
        phone = drawn.surveys[0].phone
        assert await store.opt_out(session, phone, by="operator", reason="asked", now=MONDAY, desk=case_desk()) == 1
        assert await store.opt_out(session, phone, by="operator", reason="again", now=MONDAY, desk=case_desk()) == 0
        [survey] = [s for s in await store.week_surveys(session, WEEK) if s.phone == phone]
    assert survey.status == "opted-out"
    # Its case is resolved with how it ended, so it never shows as open or overdue.
    case = await case_of(sessions, survey.case)
    assert (case.case.status, case.history[-1].note) == ("resolved", "survey opted-out")
    assert (await case_of(sessions, drawn.surveys[1].case)).case.status == "received"


async def test_draw_command_prints_the_draw_and_draws_only_once(surveys_cli, served, capsys):
    assert await asyncio.to_thread(surveys_cli, "draw", "--week", WEEK) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["week"] == WEEK and len(first["seed"]) == 16
    assert len(first["drawn"]) == 5
    assert set(first["drawn"][0]) == {"case", "window", "staff", "phone"}
    assert all(re.fullmatch(r"SURV-\d{8}-\d{4}", drawn["case"]) for drawn in first["drawn"])
    assert await asyncio.to_thread(surveys_cli, "draw", "--week", WEEK) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert await asyncio.to_thread(surveys_cli, "draw", "--week", "2026-49") == 2
    assert capsys.readouterr().err == "hotline: error: week: expected an ISO week such as 2026-W49, got '2026-49'\n"


async def test_opt_out_command(surveys_cli, served, capsys):
    assert await asyncio.to_thread(surveys_cli, "opt-out", "+86 138 0000 0001") == 0
    assert capsys.readouterr().out == "13800000001 opted out; 0 survey(s) not yet finished ended as opted out\n"
    assert await asyncio.to_thread(surveys_cli, "opt-out", "110") == 2
    assert capsys.readouterr().err == "hotline: error: phone: not a Chinese mobile or landline number: '110'\n"


def test_a_share_of_closed_cases_is_followed_up_the_same_ones_every_time():
    numbers = [f"12345-20261130-{n:04d}" for n in range(1, 401)]
    picked = [number for number in numbers if followed_up(number, 0.25)]
    assert 70 < len(picked) < 130
    assert picked == [number for number in numbers if followed_up(number, 0.25)]
    assert all(followed_up(number, 1.0) for number in numbers)
