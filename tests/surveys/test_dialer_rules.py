"""The dialer's rules, on plain data and given times: calling window, outcomes, retries, rate."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from hotline.cases.calendar import WorkingCalendar, parse_year
from hotline.config import SurveyConfig
from hotline.surveys.dialer import (
    CallingRules, after_attempt, may_call, next_calling_time, outcome_of, starts_allowed,
)
from tests.surveys.conftest import notice

SHANGHAI = ZoneInfo("Asia/Shanghai")
CONFIG = SurveyConfig()
# The cases' working-day calendar, with a Wednesday off and a Saturday worked in lieu.
CALENDAR = WorkingCalendar([parse_year(notice(2026, [date(2026, 12, 2)], [date(2026, 12, 5)]))])
RULES = CallingRules.from_config(CONFIG, CALENDAR.is_working_day)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize("reason, outcome", [
    ("4", "answered"), ("5", "busy"), ("3", "no-answer"), ("1", "no-answer"), ("8", "congestion"),
    ("0", "failure"), ("", "failure"), (None, "failure"), ("7", "failure"),
])
def test_originate_response_reason_decides_the_outcome(reason, outcome):
    assert outcome_of(reason) == outcome


@pytest.mark.parametrize("moment, allowed", [
    (at(1, 8, 59), False), (at(1, 9), True), (at(1, 11, 59), True), (at(1, 12), False),
    (at(1, 14), True), (at(1, 17, 29), True), (at(1, 17, 30), False),
    (at(2, 10), False),  # a public holiday on a Wednesday
    (at(5, 10), True),   # a Saturday worked in lieu
    (at(6, 10), False),  # Sunday
])
def test_calls_only_in_calling_hours_of_working_days(moment, allowed):
    assert may_call(moment, RULES) is allowed


def test_calling_days_all_ignores_the_calendar():
    rules = CallingRules.from_config(SurveyConfig(calling_days="all"), CALENDAR.is_working_day)
    assert may_call(at(6, 10), rules) and may_call(at(2, 10), rules)


@pytest.mark.parametrize("after, expected", [
    (at(1, 7), at(1, 9)),
    (at(1, 10, 15), at(1, 10, 15)),
    (at(1, 12, 30), at(1, 14)),
    (at(1, 18), at(3, 9)),        # Wednesday is a holiday
    (at(4, 17, 45), at(5, 9)),    # Saturday is worked in lieu
    (at(5, 18), at(7, 9)),
])
def test_the_next_calling_time_skips_breaks_nights_and_holidays(after, expected):
    assert next_calling_time(after, RULES) == expected


def test_the_next_calling_time_keeps_the_callers_time_zone():
    utc = at(1, 12, 30).astimezone(ZoneInfo("UTC"))
    result = next_calling_time(utc, RULES)
    assert result == at(1, 14) and result.tzinfo == ZoneInfo("UTC")


def test_no_answer_retries_after_the_interval_within_hours_until_attempts_are_spent():
    first = after_attempt(1, at(1, 9, 1), CONFIG, RULES)
    assert (first.status, first.next_attempt_at) == ("pending", at(1, 11, 1))
    late = after_attempt(2, at(1, 11, 1), CONFIG, RULES)
    assert late.next_attempt_at == at(1, 14)  # 13:01 is the lunch break
    assert after_attempt(3, at(1, 14), CONFIG, RULES).status == "unreachable"


def test_a_one_minute_retry_is_honoured_for_testing():
    config = SurveyConfig(retry_minutes=1, calling_days="all", calling_hours=((time(0), time.max),))
    following = after_attempt(1, at(1, 3), config, CallingRules.from_config(config, CALENDAR.is_working_day))
    assert following.next_attempt_at == at(1, 3, 1)


@pytest.mark.parametrize("answers, status", [
    ((1, 2, 3), "completed"), ((1, None, None), "partial"), ((None, None, 2), "partial"),
    ((None, None, None), "pending"), ((), "pending"),
])
def test_answers_decide_completed_partial_or_another_attempt(answers, status):
    assert after_attempt(1, at(1, 10), CONFIG, RULES, answers).status == status


def test_opting_out_wins_over_everything():
    assert after_attempt(1, at(1, 10), CONFIG, RULES, (1, 1, 1), opted_out=True).status == "opted-out"


def test_concurrency_and_calls_per_minute_limit_the_starts():
    now = at(1, 10)
    config = SurveyConfig(concurrency=3, calls_per_minute=2)
    assert starts_allowed(now, calling=0, recent_starts=[], config=config) == 2
    assert starts_allowed(now, calling=2, recent_starts=[], config=config) == 1
    recent = [now - timedelta(seconds=30)]
    assert starts_allowed(now, calling=0, recent_starts=recent, config=config) == 1
    assert starts_allowed(now, calling=0, recent_starts=recent * 2, config=config) == 0
    assert starts_allowed(now, calling=0, recent_starts=[now - timedelta(seconds=61)] * 2, config=config) == 2
    slow = SurveyConfig(calls_per_minute=0.5)
    assert starts_allowed(now, calling=0, recent_starts=[now - timedelta(seconds=90)], config=slow) == 0
    assert starts_allowed(now, calling=0, recent_starts=[now - timedelta(seconds=121)], config=slow) == 1
