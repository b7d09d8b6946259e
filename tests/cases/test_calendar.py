"""Deadlines in Chinese working days: weekends, public holidays, make-up working days (调休),
office hours and the turn of the year, on the calendars shipped from the State Council notices."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from hotline.cases.calendar import CalendarError, OfficeHours, WorkingCalendar, parse_year
from hotline.cases.calendar import SHANGHAI
from hotline.cases.store import shipped_years


def shipped() -> WorkingCalendar:
    return WorkingCalendar(shipped_years())


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


CALENDAR = shipped()


def test_the_shipped_notices_hold_their_published_days_off_and_make_up_days():
    year = CALENDAR.years[2026]
    assert "2026年部分节假日安排" in year.source
    assert len(year.holidays) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert sorted(year.workdays) == [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28),
                                     date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10)]
    assert len(CALENDAR.years[2025].holidays) == 1 + 8 + 3 + 5 + 3 + 8
    assert CALENDAR.years[2025].names[date(2025, 1, 29)] == "春节"


def test_a_limit_starts_the_next_working_day_and_ends_at_the_close_of_office():
    # Filed Tuesday 1 December 2026: one working day is Wednesday, until 17:30 Beijing time.
    assert CALENDAR.add_working_days(local(2026, 12, 1, 10, 0), 1) == local(2026, 12, 2, 17, 30)


def test_a_weekend_is_not_counted():
    assert CALENDAR.add_working_days(local(2026, 11, 27, 16, 0), 1) == local(2026, 11, 30, 17, 30)
    # 13 working days from Tuesday 1 December: 2 + 5 + 5 + 1 days, over two weekends.
    assert CALENDAR.add_working_days(local(2026, 12, 1, 10, 0), 13) == local(2026, 12, 18, 17, 30)


def test_a_public_holiday_is_not_counted():
    # Wednesday 30 September 2026; 1-7 October is the National Day holiday.
    assert CALENDAR.add_working_days(local(2026, 9, 30, 9, 0), 1) == local(2026, 10, 8, 17, 30)
    assert not CALENDAR.is_working_day(date(2026, 10, 5))


def test_a_make_up_working_day_counts_though_it_is_a_saturday():
    # Friday 9 October 2026; Saturday 10 October is worked instead of a National Day weekday.
    assert CALENDAR.add_working_days(local(2026, 10, 9, 9, 0), 1) == local(2026, 10, 10, 17, 30)
    assert CALENDAR.is_working_day(date(2026, 10, 10))
    assert not CALENDAR.is_working_day(date(2026, 10, 17))


def test_a_limit_runs_over_the_year_end_into_the_next_notice():
    # 31 December 2025; 1-3 January 2026 are off and Sunday 4 January is worked.
    assert CALENDAR.add_working_days(local(2025, 12, 31, 11, 0), 1) == local(2026, 1, 4, 17, 30)
    assert CALENDAR.add_working_days(local(2025, 12, 31, 11, 0), 2) == local(2026, 1, 5, 17, 30)


def test_a_utc_time_is_counted_on_the_centre_s_local_day():
    # 20:00 UTC on Friday is 04:00 on Saturday in Beijing: the local day decides.
    start = datetime.fromisoformat("2026-11-27T20:00:00+00:00")
    assert CALENDAR.add_working_days(start, 1) == local(2026, 11, 30, 17, 30)


def test_half_a_working_day_counts_only_office_hours():
    # 12319 acknowledgement: half of 9:00-12:00 + 13:30-17:30 is 3.5 hours.
    assert OfficeHours().day_length.total_seconds() == 7 * 3600
    # Friday 16:00: 1.5 hours on Friday, 2 on Monday morning.
    assert CALENDAR.add(local(2026, 11, 27, 16, 0), 0.5) == local(2026, 11, 30, 11, 0)
    # 11:00: one hour before lunch, the rest after the 13:30 opening.
    assert CALENDAR.add(local(2026, 12, 1, 11, 0), 0.5) == local(2026, 12, 1, 16, 0)
    # Filed at lunch or on a holiday: the clock starts at the next opening.
    assert CALENDAR.add_working_hours(local(2026, 12, 1, 12, 30), 1) == local(2026, 12, 1, 14, 30)
    assert CALENDAR.add_working_hours(local(2026, 10, 3, 10, 0), 1) == local(2026, 10, 8, 10, 0)
    # Late on a make-up Saturday: the rest of the half day runs into Monday... of 12 October.
    assert CALENDAR.add(local(2026, 10, 10, 17, 0), 0.5) == local(2026, 10, 12, 12, 0)


def test_office_hours_are_configuration():
    evening = WorkingCalendar(CALENDAR.years.values(), OfficeHours(((time(8, 0), time(20, 0)),)))
    assert evening.add(local(2026, 12, 1, 19, 0), 0.5) == local(2026, 12, 2, 13, 0)
    with pytest.raises(CalendarError):
        OfficeHours(((time(13, 0), time(12, 0)),))


def test_a_year_without_a_notice_counts_weekends_only_and_says_so():
    assert not CALENDAR.covers(2027) and CALENDAR.covers(2026)
    assert CALENDAR.add_working_days(local(2027, 1, 1, 10, 0), 1) == local(2027, 1, 4, 17, 30)


@pytest.mark.parametrize("text, complaint", [
    ('year = 2026\nsource = "x"\nworkdays = [2026-10-12]', "2026-10-12 is not a weekend day"),
    ('year = 2026\nsource = "x"\nworkdays = [2025-10-11]', "expected a date of 2026"),
    ('year = 2026\nsource = "x"\nholidays = [{name = "a", from = 2026-10-07, to = 2026-10-01}]', "'to' is before 'from'"),
    ('year = 2026\nsource = "x"\nholidays = [{name = "a", from = 2026-10-10, to = 2026-10-10}]\nworkdays = [2026-10-10]', "both a holiday and a working day"),
    ('year = 2026\nholidays = []', "source: name the notice"),
    ('year = 2026\nsource = "x"\nholiday = []', "unknown key 'holiday'"),
    ('year = "2026"', "year: expected a year"),
    ('year = 2026\nsource = "x"\nholidays = [{name = "a"}]', "holidays[0]: expected"),
])
def test_a_wrong_calendar_file_is_one_clear_error(text, complaint):
    with pytest.raises(CalendarError) as error:
        parse_year(text, "2026.toml")
    assert complaint in str(error.value) and str(error.value).startswith("2026.toml: ")
