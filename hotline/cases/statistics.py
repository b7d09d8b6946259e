"""The figures 12345 centres report per department, window and hotline for a period (GB/T 33358
and published local rules: on-time acknowledgement, on-time completion, first-call resolution,
substantiated complaints). Pure: cases and their histories in, rows out.

A case counts in the period it was filed in. For each group:

- received: cases filed; registered: those registered (立案) at least once; resolved_on_call:
  closed on the call (直接办结); rejected: not registered.
- dispatched: dispatched at least once; acknowledged_on_time: of those, acknowledged before their
  acknowledgement deadline the first time; returned: returned by a department (退单) at least once.
- extended: an extension was approved; reopened: reopened at least once.
- closed: verified and closed (merged duplicates are not counted); closed_on_time: closed by the
  deadline in force; on_time_rate: closed_on_time / closed.
- overdue: went past the deadline while open (marked by the deadline watch) or is past it now.
- substantiated: complaints whose standing verification outcome is substantiated (查實).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta, tzinfo
from fractions import Fraction

from openpyxl import Workbook
from openpyxl.styles import Font

from hotline.cases.workflow import CLOSED, REJECTED, RESOLVED, Case, Step, is_overdue
from hotline.errors import InvalidInput

GROUPINGS = ("department", "window", "hotline")
NONE = "(none)"


@dataclass
class Figures:
    """The counts of one group."""

    group: str
    received: int = 0
    registered: int = 0
    resolved_on_call: int = 0
    rejected: int = 0
    dispatched: int = 0
    acknowledged_on_time: int = 0
    returned: int = 0
    extended: int = 0
    closed: int = 0
    closed_on_time: int = 0
    overdue: int = 0
    reopened: int = 0
    substantiated: int = 0
    on_time_rate: Fraction | None = field(default=None)

    def as_row(self) -> dict[str, object]:
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        row["on_time_rate"] = None if self.on_time_rate is None else round(float(self.on_time_rate), 4)
        return row


COLUMNS = tuple(f.name for f in fields(Figures))


def period(month: str | None, first: str | None, last: str | None, zone: tzinfo) -> tuple[datetime, datetime, str]:
    """[start, end) of a month (2026-12) or of local days `first`..`last` (inclusive), and a label."""
    try:
        if month:
            year, number = (int(part) for part in month.split("-"))
            start_day = date(year, number, 1)
            end_day = date(year + number // 12, number % 12 + 1, 1)
            label = f"{year:04d}-{number:02d}"
        elif first and last:
            start_day, end_day = date.fromisoformat(first), date.fromisoformat(last) + timedelta(days=1)
            label = f"{first}..{last}"
        else:
            raise InvalidInput("period: give month (2026-12), or from and to (2026-12-01, 2026-12-31)")
    except ValueError:
        raise InvalidInput(f"period: expected month 2026-12 or dates 2026-12-01, got {month or (first, last)!r}",
                           month=month, first=first, last=last) from None
    if end_day <= start_day:
        raise InvalidInput("period: 'to' is before 'from'")
    return (datetime.combine(start_day, time(0), tzinfo=zone), datetime.combine(end_day, time(0), tzinfo=zone),
            label)


def group_of(case: Case, by: str) -> str:
    if by == "department":
        return case.department or NONE
    if by == "window":
        return case.department_window or case.window or NONE
    return case.hotline or case.channel


def tally(cases: Iterable[tuple[Case, Sequence[Step]]], by: str, now: datetime) -> list[Figures]:
    """The figures of `cases` (each with its history) grouped `by` department, window or hotline,
    groups in name order, then the total."""
    if by not in GROUPINGS:
        raise InvalidInput(f"by: expected one of {', '.join(GROUPINGS)}, got {by!r}", parameter="by")
    groups: dict[str, Figures] = {}
    total = Figures("total")
    for case, steps in cases:
        figures = groups.setdefault(group_of(case, by), Figures(group_of(case, by)))
        actions = [step.action for step in steps]
        first_ack = next((step for step in steps if step.action == "acknowledge"), None)
        counts = {
            "received": True,
            "registered": "register" in actions,
            "resolved_on_call": case.status == RESOLVED,
            "rejected": case.status == REJECTED,
            "dispatched": "dispatch" in actions,
            "acknowledged_on_time": first_ack is not None and not first_ack.data.get("late", False),
            "returned": "return" in actions,
            "extended": any(s.action == "decide-extension" and s.data.get("approve") for s in steps),
            "closed": case.status == CLOSED and case.merged_into is None,
            "closed_on_time": case.status == CLOSED and case.merged_into is None
            and case.closed_at is not None and case.closed_at <= case.due_at,
            "overdue": case.overdue_at is not None or is_overdue(case, now),
            "reopened": "reopen" in actions,
            "substantiated": case.type == "complaint" and case.substantiated is True,
        }
        for name, counted in counts.items():
            if counted:
                setattr(figures, name, getattr(figures, name) + 1)
                setattr(total, name, getattr(total, name) + 1)
    rows = [groups[name] for name in sorted(groups)] + [total]
    for row in rows:
        row.on_time_rate = Fraction(row.closed_on_time, row.closed) if row.closed else None
    return rows


def figures_csv(rows: Sequence[Figures]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if value is None else value for key, value in row.as_row().items()})
    return out.getvalue()


def figures_workbook(rows: Sequence[Figures], title: str) -> Workbook:
    """The figures as a one-sheet workbook, numbers as numbers."""
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(list(row.as_row().values()))
    return book


def figures_table(rows: Sequence[Figures]) -> str:
    cells = [list(COLUMNS)] + [["" if v is None else str(v) for v in row.as_row().values()] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return "".join("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))).rstrip()
                   + "\n" for line in cells)
