"""Fingerprint-clock punches into late, early-leave and absence occurrences.

宜黃縣行政服務中心窗口工作人員考勤制度 1: 考勤指紋打卡,上午兩次、下午兩次; more than 10 minutes
after the start is late, more than 10 minutes before the end is early leave; 10次折曠工半天;
沒有打卡算曠工. Our reading of the last rule: a session (morning or afternoon) with a punch missing
is half a day absent, so a day without punches is a whole day. Pure: the caller reads the CSV
text and the schedule file and passes them in.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Collection, Iterable, Iterator, Mapping

from hotline.errors import InvalidInput
from scoring.occurrences import Occurrence
from scoring.rubrics import ClockItems, Rubric

LATES_PER_HALF_DAY = 10
SESSIONS = ("morning", "afternoon")


class ScheduleError(InvalidInput):
    """The attendance schedule is invalid."""

    error_id = "invalid-schedule"


@dataclass(frozen=True)
class Schedule:
    """Working hours and the holiday calendar; the defaults are our choice, a centre sets its own."""

    morning: tuple[time, time] = (time(8, 0), time(12, 0))
    afternoon: tuple[time, time] = (time(14, 30), time(17, 30))
    grace: timedelta = timedelta(minutes=10)
    weekdays: frozenset[int] = frozenset(range(5))
    holidays: frozenset[date] = frozenset()
    # China moves weekend days into working days around long holidays (調休).
    extra_workdays: frozenset[date] = frozenset()

    def is_workday(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays


def load_schedule(path: Path) -> Schedule:
    """Read a schedule TOML file (docs/scoring.md), naming the file and key in errors."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScheduleError(f"schedule file {path}: not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleError(f"schedule file {path}: {exc}") from None
    known = {"morning", "afternoon", "grace_minutes", "weekdays", "holidays", "extra_workdays"}
    for key in data:
        if key not in known:
            raise ScheduleError(f"schedule file {path}: {key}: unknown key", key=key)
    try:
        values = {}
        for key in ("morning", "afternoon"):
            if key in data:
                start, end = (time.fromisoformat(text) for text in data[key])
                if not start < end:
                    raise ValueError(f"{key}: start must come before end")
                values[key] = (start, end)
        if "grace_minutes" in data:
            values["grace"] = timedelta(minutes=int(data["grace_minutes"]))
        if "weekdays" in data:
            # ISO numbering as people write it: 1 = Monday ... 7 = Sunday.
            values["weekdays"] = frozenset(int(day) - 1 for day in data["weekdays"])
        for key in ("holidays", "extra_workdays"):
            if key in data:
                values[key] = frozenset(
                    day if isinstance(day, date) else date.fromisoformat(day) for day in data[key]
                )
    except (TypeError, ValueError) as exc:
        raise ScheduleError(f"schedule file {path}: {exc}") from None
    schedule = Schedule(**values)
    if not schedule.morning[1] <= schedule.afternoon[0]:
        raise ScheduleError(f"schedule file {path}: the afternoon must start after the morning ends")
    return schedule


@dataclass(frozen=True)
class Punch:
    staff: str
    at: datetime
    line: int


@dataclass(frozen=True)
class BadRow:
    """A CSV row that was skipped, with the reason, so the clerk can fix the export."""

    line: int
    text: str
    problem: str


# The header rows docs/scoring.md shows: a first row that is exactly one of these (any case) is
# skipped. Anything else on line 1 is data, checked like every other row.
PUNCHES_HEADER = ("staff", "timestamp")
LEAVE_HEADER = ("staff", "date", "session")
WINDOWS_HEADER = ("staff", "window")


def _rows(text: str, header: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if not "".join(cells):
            continue
        if line == 1 and 2 <= len(cells) <= len(header) and [c.lower() for c in cells] == list(header[: len(cells)]):
            continue
        yield line, cells


def read_punches(text: str) -> tuple[list[Punch], list[BadRow]]:
    """Parse `staff, timestamp` rows (that header is allowed). Bad rows do not stop the rest."""
    punches, bad = [], []
    for line, row in _rows(text, PUNCHES_HEADER):
        if len(row) != 2 or not row[0]:
            bad.append(BadRow(line, ",".join(row), "expected two fields: staff id, timestamp"))
            continue
        try:
            at = datetime.fromisoformat(row[1].replace("/", "-"))
        except ValueError:
            bad.append(BadRow(line, ",".join(row), f"unreadable timestamp {row[1]!r}"))
            continue
        punches.append(Punch(row[0], at.replace(tzinfo=None), line))
    return punches, bad


@dataclass(frozen=True)
class Leave:
    """Approved leave (請假經批准) for one session: no punches expected, so no absence."""

    staff: str
    day: date
    session: str
    line: int = 0


def read_leave(text: str) -> tuple[list[Leave], list[BadRow]]:
    """Parse `staff, date[, session]` rows, session morning or afternoon (none: the whole day)."""
    leave, bad = [], []
    for line, row in _rows(text, LEAVE_HEADER):
        if len(row) not in (2, 3) or not row[0] or (len(row) == 3 and row[2] not in SESSIONS):
            bad.append(BadRow(line, ",".join(row), "expected: staff id, date[, morning|afternoon]"))
            continue
        try:
            day = date.fromisoformat(row[1].replace("/", "-"))
        except ValueError:
            bad.append(BadRow(line, ",".join(row), f"unreadable date {row[1]!r}"))
            continue
        leave += [Leave(row[0], day, session, line) for session in (row[2:] or SESSIONS)]
    return leave, bad


@dataclass(frozen=True)
class Assignment:
    """A row of the staff-window file: whose window a staff member's clock findings count against."""

    staff: str
    window: str
    line: int


def read_staff_windows(text: str) -> tuple[list[Assignment], list[BadRow]]:
    """Parse `staff, window` rows (that header is allowed)."""
    found, bad = [], []
    for line, row in _rows(text, WINDOWS_HEADER):
        if len(row) != 2 or not all(row):
            bad.append(BadRow(line, ",".join(row), "expected two fields: staff id, window id"))
            continue
        found.append(Assignment(row[0], row[1], line))
    return found, bad


def strangers(named: Iterable[tuple[int, str]], known: Collection[str]) -> list[tuple[int, str]]:
    """The (line, name) pairs of `named` whose name is not in `known`, first line first."""
    return sorted({(line, name) for line, name in named if name not in known})


@dataclass(frozen=True)
class Finding:
    """One thing the clock shows: late, early (with minutes) or a missing punch of a session."""

    staff: str
    day: date
    kind: str
    session: str
    minutes: int = 0


def _minutes(a: datetime, b: datetime) -> int:
    return int((b - a).total_seconds() // 60)


def _session_findings(
    staff: str,
    day: date,
    name: str,
    hours: tuple[time, time],
    earlier: time,
    later: time,
    stamps: list[datetime],
    grace: timedelta,
) -> list[Finding]:
    # Each punch belongs to the nearest boundary: the in-punch window runs from the previous
    # boundary's midpoint to the session's midpoint, the out-punch window from there onwards.
    start, end = (datetime.combine(day, t) for t in hours)
    middle = start + (end - start) / 2
    low, high = datetime.combine(day, earlier), datetime.combine(day, later)
    ins = [s for s in stamps if low <= s < middle]
    outs = [s for s in stamps if middle <= s < high]
    if not ins or not outs:
        return [Finding(staff, day, "missing", name)]
    found = []
    if min(ins) - start > grace:
        found.append(Finding(staff, day, "late", name, _minutes(start, min(ins))))
    if end - max(outs) > grace:
        found.append(Finding(staff, day, "early", name, _minutes(max(outs), end)))
    return found


def clock_findings(
    punches: Iterable[Punch],
    schedule: Schedule,
    start: date,
    end: date,
    staff: Iterable[str] = (),
    leave: Iterable[Leave] = (),
) -> list[Finding]:
    """Late, early and missing-punch findings for every workday from `start` to `end`.

    Staff are those with punches plus `staff` (someone who never punched is absent every day);
    a session on approved `leave` expects no punches.
    """
    by_day: dict[tuple[str, date], list[datetime]] = defaultdict(list)
    people = set(staff)
    for punch in punches:
        people.add(punch.staff)
        by_day[(punch.staff, punch.at.date())].append(punch.at)
    excused = {(entry.staff, entry.day, entry.session) for entry in leave}
    noon = datetime.combine(start, schedule.morning[1])
    lunch = (noon + (datetime.combine(start, schedule.afternoon[0]) - noon) / 2).time()
    sessions = {
        "morning": (schedule.morning, time(0), lunch),
        "afternoon": (schedule.afternoon, lunch, time.max),
    }
    found = []
    day = start
    while day <= end:
        if schedule.is_workday(day):
            for person in sorted(people):
                stamps = by_day.get((person, day), [])
                for name, (hours, earlier, later) in sessions.items():
                    if (person, day, name) not in excused:
                        found += _session_findings(
                            person, day, name, hours, earlier, later, stamps, schedule.grace
                        )
        day += timedelta(days=1)
    return found


def clock_items(rubric: Rubric) -> ClockItems:
    """What the rubric's `[attendance]` table maps the clock's findings to."""
    if rubric.attendance is None:
        raise InvalidInput(
            f"rubric {rubric.id} has no [attendance] table: clock punches do not apply", rubric=rubric.id
        )
    return rubric.attendance


def attendance_occurrences(
    findings: Iterable[Finding],
    items: ClockItems,
    *,
    subject_of: Mapping[str, str] | None = None,
    entered_by: str,
    entered_at: datetime,
) -> list[Occurrence]:
    """Ledger entries for the findings; `subject_of` maps staff to their window for window rubrics.

    Within a staff member's month, every 10 lates or early leaves are one half day absent
    (10次折曠工半天) instead of ten separate deductions.
    """
    entries: list[Occurrence] = []
    slips: dict[tuple[str, int, int], list[Finding]] = defaultdict(list)

    def enter(staff: str, item: str, day: date, count: Fraction, evidence: str) -> None:
        subject = subject_of.get(staff, staff) if subject_of is not None else staff
        entries.append(
            Occurrence(
                id=f"attendance:{len(entries) + 1}",
                subject=subject,
                item=item,
                date=day,
                count=count,
                source="attendance",
                evidence=evidence,
                entered_by=entered_by,
                entered_at=entered_at,
            )
        )

    for finding in sorted(findings, key=lambda f: (f.staff, f.day, f.session, f.kind)):
        if finding.kind == "missing":
            enter(
                finding.staff,
                items.absence,
                finding.day,
                items.half_day,
                f"clock:{finding.staff}:{finding.day}:{finding.session}:missing",
            )
        else:
            slips[(finding.staff, finding.day.year, finding.day.month)].append(finding)
    for (staff, _, _), found in sorted(slips.items()):
        whole = len(found) - len(found) % LATES_PER_HALF_DAY
        for first in range(0, whole, LATES_PER_HALF_DAY):
            group = found[first : first + LATES_PER_HALF_DAY]
            days = ",".join(sorted({str(f.day) for f in group}))
            enter(
                staff,
                items.absence,
                group[-1].day,
                items.half_day,
                f"clock:{staff}:{LATES_PER_HALF_DAY} lates/early leaves:{days}",
            )
        for finding in found[whole:]:
            enter(
                staff,
                items.late_or_early,
                finding.day,
                Fraction(1),
                f"clock:{staff}:{finding.day}:{finding.session}:{finding.kind} {finding.minutes} min",
            )
    return entries
