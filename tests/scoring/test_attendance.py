"""Fingerprint-clock punches into occurrences, per 宜黃縣行政服務中心窗口工作人員考勤制度 1."""

from datetime import date, datetime, timezone
from fractions import Fraction

import pytest

from scoring.attendance import (
    Schedule, ScheduleError, attendance_occurrences, clock_findings, clock_items, load_schedule, read_punches,
)
from scoring.occurrences import Subject
from scoring.rubrics import find_rubric
from scoring.scorecards import parse_period, score_period

YIHUANG = find_rubric("yihuang-window")
AT = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
# Thursday 2026-10-08: a normal working day for the default schedule (08:00-12:00, 14:30-17:30).
ON_TIME = ["08:00", "12:00", "14:30", "17:30"]


def csv_of(*days: tuple[str, str, list[str]]) -> str:
    return "staff,timestamp\n" + "".join(f"{who},{day} {t}\n" for who, day, times in days for t in times)


def findings_of(text: str, day: str = "2026-10-08"):
    punches, bad = read_punches(text)
    assert bad == []
    on = date.fromisoformat(day)
    return [(f.kind, f.session, f.minutes) for f in clock_findings(punches, Schedule(), on, on)]


def test_four_punches_on_time_find_nothing():
    assert findings_of(csv_of(("li", "2026-10-08", ON_TIME))) == []


def test_more_than_ten_minutes_is_late_or_early_and_ten_exactly_is_not():
    text = csv_of(("li", "2026-10-08", ["08:10", "11:50", "14:41", "17:19"]))
    assert findings_of(text) == [("late", "afternoon", 11), ("early", "afternoon", 11)]


def test_a_missing_punch_is_half_a_day_absent():
    assert findings_of(csv_of(("li", "2026-10-08", ["08:00", "14:30", "17:30"]))) == [("missing", "morning", 0)]


def test_weekends_and_holidays_are_not_working_days_but_a_moved_workday_is():
    # National Day week 10-01..10-07 off, Saturday 10-10 worked in exchange (調休).
    holidays = frozenset(date(2026, 10, d) for d in range(1, 8))
    schedule = Schedule(holidays=holidays, extra_workdays=frozenset({date(2026, 10, 10)}))
    found = clock_findings([], schedule, date(2026, 10, 1), date(2026, 10, 11), ["li"])
    assert sorted({f.day for f in found}) == [date(2026, 10, 8), date(2026, 10, 9), date(2026, 10, 10)]


def occurrences_for(text: str, month: str = "2026-10", rubric=YIHUANG, **kwargs):
    period = parse_period("month", month)
    punches, _ = read_punches(text)
    found = clock_findings(punches, Schedule(), period.start, period.end)
    return attendance_occurrences(found, clock_items(rubric), entered_by="督查股", entered_at=AT, **kwargs)


def month_of_punches(late_days: int) -> str:
    """Every working day of October 2026 punched on time, the first `late_days` 15 minutes late."""
    days = [d for d in range(1, 32) if date(2026, 10, d).weekday() < 5]
    rows = []
    for n, d in enumerate(days):
        times = ["08:15" if n < late_days else "08:00", "12:00", "14:30", "17:30"]
        rows.append(("li", f"2026-10-{d:02d}", times))
    return csv_of(*rows)


def test_nine_lates_are_nine_half_point_deductions():
    entries = occurrences_for(month_of_punches(9))
    assert [(e.item, e.count) for e in entries] == [("late-or-early", 1)] * 9
    assert entries[0].evidence == "clock:li:2026-10-01:morning:late 15 min"
    assert entries[0].source == "attendance" and entries[0].entered_by == "督查股"


def test_ten_lates_make_half_a_day_absent_and_the_eleventh_is_a_late_again():
    # 10次折曠工半天: ten lates become one absent-day entry of 0.5 day (-2.5), not ten times -0.5.
    entries = occurrences_for(month_of_punches(11))
    assert [(e.item, e.count) for e in entries] == [("absent-day", Fraction(1, 2)), ("late-or-early", 1)]
    assert "10 lates/early leaves" in entries[0].evidence
    board = score_period(YIHUANG, [Subject("li", "李")], entries, parse_period("month", "2026-10"))
    assert board.cards[0].total == 97


def test_a_day_without_any_punch_is_a_day_absent_for_the_window():
    # The whole day: two half days of absent-day, -5 for 宜黃 (曠工一天每人扣5分); the window of
    # the staff member carries it.
    text = csv_of(("li", "2026-10-08", ON_TIME))
    period = parse_period("month", "2026-10")
    punches, _ = read_punches(text)
    found = [f for f in clock_findings(punches, Schedule(), period.start, period.end) if f.day == date(2026, 10, 9)]
    entries = attendance_occurrences(found, clock_items(YIHUANG), subject_of={"li": "dishui"}, entered_by="x", entered_at=AT)
    assert [(e.subject, e.item, e.count) for e in entries] == [("dishui", "absent-day", Fraction(1, 2))] * 2
    board = score_period(YIHUANG, [Subject("dishui", "地稅局")], entries, period)
    assert board.cards[0].total == 95


def test_shangjie_counts_a_half_day_as_one_absent_half_day():
    shangjie = find_rubric("shangjie-window")
    entries = occurrences_for(csv_of(("li", "2026-10-08", ["08:00", "12:00"])), rubric=shangjie)
    assert [(e.item, e.count) for e in entries if e.date == date(2026, 10, 8)] == [("absent-half-day", 1)]


def test_bad_rows_are_reported_by_line_and_good_rows_kept():
    text = "staff,timestamp\nli,2026-10-08 08:00\nli,yesterday\n\nwang\nzhao,2026/10/08 08:05\n,2026-10-08 08:00\n"
    punches, bad = read_punches(text)
    assert [(p.staff, p.line) for p in punches] == [("li", 2), ("zhao", 6)]
    assert [(b.line, b.problem) for b in bad] == [
        (3, "unreadable timestamp 'yesterday'"),
        (5, "expected two fields: staff id, timestamp"),
        (7, "expected two fields: staff id, timestamp"),
    ]


def test_a_schedule_file_sets_hours_grace_and_holidays(tmp_path):
    path = tmp_path / "schedule.toml"
    path.write_text(
        'morning = ["08:30", "12:00"]\nafternoon = ["15:00", "18:00"]\ngrace_minutes = 5\n'
        'weekdays = [1, 2, 3, 4, 5, 6]\nholidays = [2026-10-01]\n', encoding="utf-8"
    )
    schedule = load_schedule(path)
    assert schedule.is_workday(date(2026, 10, 3)) and not schedule.is_workday(date(2026, 10, 1))
    punches, _ = read_punches(csv_of(("li", "2026-10-08", ["08:36", "12:00", "15:00", "18:00"])))
    found = clock_findings(punches, schedule, date(2026, 10, 8), date(2026, 10, 8))
    assert [(f.kind, f.minutes) for f in found] == [("late", 6)]


def test_a_bad_schedule_names_the_file_and_key(tmp_path):
    path = tmp_path / "schedule.toml"
    path.write_text('lunch = ["12:00", "14:00"]\n', encoding="utf-8")
    with pytest.raises(ScheduleError, match="schedule.toml: lunch: unknown key"):
        load_schedule(path)
