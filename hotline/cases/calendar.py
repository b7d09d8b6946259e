"""The working-day calendar deadlines are counted on. Pure: no I/O, no clock.

China moves working days around its public holidays each year (调休): the State Council General
Office publishes the year's days off and the weekend days worked instead (国务院办公厅关于XXXX年
部分节假日安排的通知), usually in November of the year before. One data file per year holds
exactly that notice, in TOML (`hotline/cases/calendars/2026.toml` is an example):

    year = 2026
    source = "国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04)"   # the notice it copies
    holidays = [ { name = "春节", from = 2026-02-15, to = 2026-02-23 }, ... ]   # days off, inclusive
    workdays = [ 2026-02-14, 2026-02-28, ... ]                                  # weekend days worked

Every day of the year that the file does not list is a working day from Monday to Friday and a
day off on Saturday and Sunday. A year without a file is counted the same way (weekends only);
`WorkingCalendar.covers` tells a caller so it can warn.

Rules chosen (published local 12345 rules count time limits this way):

- A limit of N working days starts the working day after the day of `start` (the day it starts
  is not counted, as the Administrative Licensing Law counts periods) and ends at the close of
  office hours of the Nth working day.
- A limit in working hours (acknowledgement: "half a working day") runs only inside office hours
  on working days; a start outside them starts at the next opening.
- Office hours are local time in the centre's time zone (Asia/Shanghai unless configured).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from hotline.errors import InvalidInput

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 9:00-12:00 and 13:30-17:30: the office hours most service centres publish.
DEFAULT_OFFICE_HOURS = ((time(9, 0), time(12, 0)), (time(13, 30), time(17, 30)))


class CalendarError(InvalidInput):
    """A working-day calendar file is invalid."""

    error_id = "invalid-calendar"


@dataclass(frozen=True)
class CalendarYear:
    """One year's notice: its days off and weekend days worked, and where they come from."""

    year: int
    source: str
    holidays: frozenset[date]
    workdays: frozenset[date]
    names: dict[date, str] = field(default_factory=dict, compare=False)


def parse_year(text: str, origin: str = "calendar") -> CalendarYear:
    """A year's calendar from the TOML text of its file; a CalendarError names what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalendarError(f"{origin}: {exc}", file=origin) from None
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 1949 < year < 10000:
        raise CalendarError(f"{origin}: year: expected a year such as 2026, got {year!r}", file=origin)
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        raise CalendarError(f"{origin}: source: name the notice the dates come from", file=origin)
    unknown = set(data) - {"year", "source", "holidays", "workdays"}
    if unknown:
        raise CalendarError(f"{origin}: unknown key {sorted(unknown)[0]!r}", file=origin)

    def in_year(value: object, key: str) -> date:
        if not isinstance(value, date) or isinstance(value, datetime) or value.year != year:
            raise CalendarError(f"{origin}: {key}: expected a date of {year}, got {value!r}", file=origin)
        return value

    holidays: dict[date, str] = {}
    for index, entry in enumerate(data.get("holidays", [])):
        key = f"holidays[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"name", "from", "to"}:
            raise CalendarError(f"{origin}: {key}: expected {{ name, from, to }}", file=origin)
        first, last = in_year(entry["from"], f"{key}.from"), in_year(entry["to"], f"{key}.to")
        if last < first:
            raise CalendarError(f"{origin}: {key}: 'to' is before 'from'", file=origin)
        day = first
        while day <= last:
            holidays[day] = str(entry["name"])
            day += timedelta(days=1)
    workdays = {in_year(value, "workdays") for value in data.get("workdays", [])}
    both = sorted(workdays & set(holidays))
    if both:
        raise CalendarError(f"{origin}: {both[0]} is both a holiday and a working day", file=origin)
    weekday_workdays = sorted(day for day in workdays if day.weekday() < 5)
    if weekday_workdays:
        # A make-up working day (调休上班) is always a Saturday or Sunday; a weekday here is a typo.
        raise CalendarError(f"{origin}: workdays: {weekday_workdays[0]} is not a weekend day", file=origin)
    return CalendarYear(year, source.strip(), frozenset(holidays), frozenset(workdays), holidays)


@dataclass(frozen=True)
class OfficeHours:
    """The periods of a working day in local time, in order and not overlapping."""

    periods: tuple[tuple[time, time], ...] = DEFAULT_OFFICE_HOURS
    zone: ZoneInfo = SHANGHAI

    def __post_init__(self) -> None:
        previous = time(0, 0)
        for opens, closes in self.periods:
            if not previous <= opens < closes:
                raise CalendarError(
                    f"office hours: {opens:%H:%M}-{closes:%H:%M} must be after the previous period and end after it starts",
                    periods=[f"{a:%H:%M}-{b:%H:%M}" for a, b in self.periods],
                )
            previous = closes
        if not self.periods:
            raise CalendarError("office hours: at least one period is needed")

    @property
    def day_length(self) -> timedelta:
        """How long a working day is (7 hours for 9:00-12:00 and 13:30-17:30)."""
        return sum((_between(opens, closes) for opens, closes in self.periods), timedelta())


def _between(opens: time, closes: time) -> timedelta:
    return datetime.combine(date.min, closes) - datetime.combine(date.min, opens)


class WorkingCalendar:
    """Working days and office hours; deadlines in working days or working hours."""

    def __init__(self, years: Iterable[CalendarYear] = (), hours: OfficeHours = OfficeHours()) -> None:
        self.years = {year.year: year for year in years}
        self.hours = hours

    def covers(self, year: int) -> bool:
        """Whether `year`'s published notice is loaded (otherwise only weekends are days off)."""
        return year in self.years

    def is_working_day(self, day: date) -> bool:
        """A weekday that is no public holiday, or a weekend day worked instead of one."""
        known = self.years.get(day.year)
        if known is not None:
            if day in known.holidays:
                return False
            if day in known.workdays:
                return True
        return day.weekday() < 5

    def next_working_day(self, day: date) -> date:
        """The first working day after `day`."""
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def _at(self, day: date, moment: time) -> datetime:
        return datetime.combine(day, moment, tzinfo=self.hours.zone)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The close of office on the `days`-th working day after the day of `start`."""
        if days < 1:
            raise InvalidInput(f"a limit in working days must be at least 1, got {days}")
        day = start.astimezone(self.hours.zone).date()
        for _ in range(days):
            day = self.next_working_day(day)
        return self._at(day, self.hours.periods[-1][1])

    def add_working_hours(self, start: datetime, hours: Fraction | float) -> datetime:
        """The moment `hours` of office time after `start`, counting only office hours of
        working days."""
        left = timedelta(hours=float(hours))
        if left <= timedelta():
            raise InvalidInput(f"a limit in working hours must be positive, got {hours}")
        local = start.astimezone(self.hours.zone)
        day = local.date()
        if not self.is_working_day(day):
            day, local = self.next_working_day(day), None
        while True:
            for opens, closes in self.hours.periods:
                begin = self._at(day, opens)
                if local is not None and local > begin:
                    begin = local
                end = self._at(day, closes)
                if begin >= end:
                    continue
                if end - begin >= left:
                    return begin + left
                left -= end - begin
            day, local = self.next_working_day(day), None

    def add(self, start: datetime, days: Fraction | float | int) -> datetime:
        """A limit of `days` working days: whole days count as `add_working_days`, a fraction
        ("half a working day") as that share of a working day's office hours."""
        share = Fraction(str(days)) if isinstance(days, float) else Fraction(days)
        if share.denominator == 1:
            return self.add_working_days(start, int(share))
        return self.add_working_hours(start, share * Fraction(int(self.hours.day_length.total_seconds()), 3600))
