"""`hotline cases ...` and `hotline departments import`: the supervision section's view of cases,
the history check, and the data cases need (departments, holiday calendars).

Phone numbers are masked (138****0001) in every listing and export unless `--full-numbers` is
given: a CSV passed around the office should not carry citizens' numbers by default. Tables,
CSV and `show` give times in the centre's local time ([cases] timezone); JSON keeps ISO 8601.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import re
import sys
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

from sqlalchemy import func, select

from hotline.cases import statistics, workflow
from hotline.cases.api import case_json
from hotline.cases.store import (
    CaseFilter, CaseRow, Viewer, calendar_years, case_services, cases_filed_between, office_hours, import_calendar, list_cases,
    read_departments, save_departments, verify_histories, view_case,
)
from hotline.cases.workflow import Actor
from hotline.config import Config
from hotline.errors import InvalidInput

T = TypeVar("T")
CLI = Viewer(Actor("hotline:cli", "admin"))
# An ISO 8601 time as the API writes them (with a zone); shown in local time in tables and CSV.
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d")
COLUMNS = ("number", "type", "channel", "status", "department", "window", "caller_number",
           "filed_at", "due_at", "overdue", "description")


def _in_database(config: Config, work: Callable[[Any], Awaitable[T]]) -> T:
    from hotline.db import database

    async def run() -> T:
        async with database(config.database_url) as sessions, sessions() as session:
            return await work(session)

    return asyncio.run(run())


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: not found", file=path) from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8", file=path) from None
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror or exc}", file=path) from None


def _readable(value: Any, zone: tzinfo) -> str:
    """A cell for people: times in the centre's local time to the minute, text on one line."""
    if value is None:
        return ""
    if isinstance(value, str) and TIME.fullmatch(value):
        return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return str(value).replace("\n", " ")


def _rows(cases: list[dict[str, Any]], zone: tzinfo) -> list[list[str]]:
    return [[_readable(case[c], zone) for c in COLUMNS] for case in cases]


def _table(cases: list[dict[str, Any]], zone: tzinfo) -> str:
    if not cases:
        return "no cases\n"
    rows = [list(COLUMNS)] + [[cell[:40] for cell in row] for row in _rows(cases, zone)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n" for row in rows)


def _emit(cases: list[dict[str, Any]], form: str, zone: tzinfo) -> None:
    if form == "json":
        sys.stdout.write(json.dumps(cases, ensure_ascii=False, indent=2) + "\n")
    elif form == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(_rows(cases, zone))
        sys.stdout.write(out.getvalue())
    else:
        sys.stdout.write(_table(cases, zone))


def _filter(args: argparse.Namespace, **override: Any) -> CaseFilter:
    values = {"status": args.status, "type": args.type, "department": args.department,
              "window": args.window, "caller": args.caller} | override
    return CaseFilter(**values)


def _list(args: argparse.Namespace, config: Config) -> int:
    now = datetime.now(timezone.utc)

    async def work(session: Any) -> list[dict[str, Any]]:
        services = await case_services(session, config.cases)
        page, _ = await list_cases(session, _filter(args, overdue=True if args.overdue else None,
                                                    soon_due=args.soon_due), CLI, now, services, args.limit)
        return [case_json(view, now, masked=not args.full_numbers) for view in page]

    _emit(_in_database(config, work), args.format, office_hours(config.cases).zone)
    return 0


def _overdue(args: argparse.Namespace, config: Config) -> int:
    now = datetime.now(timezone.utc)

    async def work(session: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        services = await case_services(session, config.cases)
        late, _ = await list_cases(session, _filter(args, overdue=True), CLI, now, services, args.limit)
        soon, _ = await list_cases(session, _filter(args, soon_due=True), CLI, now, services, args.limit)
        return ([case_json(v, now, masked=not args.full_numbers) for v in late],
                [case_json(v, now, masked=not args.full_numbers) for v in soon])

    late, soon = _in_database(config, work)
    zone = office_hours(config.cases).zone
    if args.format == "table":
        sys.stdout.write(f"overdue ({len(late)}):\n{_table(late, zone)}\n"
                         f"due within {config.cases.soon_days} working day(s) ({len(soon)}):\n{_table(soon, zone)}")
    else:
        _emit([case | {"list": "overdue"} for case in late] + [case | {"list": "soon-due"} for case in soon],
              args.format, zone)
    return 0


def _show(args: argparse.Namespace, config: Config) -> int:
    now = datetime.now(timezone.utc)

    async def work(session: Any) -> dict[str, Any]:
        return case_json(await view_case(session, args.number, CLI), now, masked=not args.full_numbers)

    case = _in_database(config, work)
    if args.format == "json":
        sys.stdout.write(json.dumps(case, ensure_ascii=False, indent=2) + "\n")
        return 0
    zone = office_hours(config.cases).zone
    skip = {"history", "callers", "calls"}
    for key, value in case.items():
        if key not in skip and value not in (None, [], False):
            print(f"{key}: {_readable(value, zone)}")
    for caller in case["callers"]:
        print(f"caller: {caller['number'] or '-'} {caller['name'] or ''}".rstrip())
    for call in case["calls"]:
        offset = f" at {call['transcript_offset']:g}s" if call["transcript_offset"] is not None else ""
        print(f"call: {call['id']} ({_readable(call['started_at'], zone)}){offset}")
    print("history:")
    for step in case["history"]:
        note = f" {step['note']}" if step["note"] else ""
        data = f" {json.dumps(step['data'], ensure_ascii=False)}" if step["data"] else ""
        print(f"  {step['seq']:>3} {_readable(step['at'], zone)} {step['action']} by {step['actor']} ({step['role']}):"
              f" {step['status_before'] or '-'} -> {step['status_after']}{note}{data}")
    return 0


def _verify(args: argparse.Namespace, config: Config) -> int:
    async def work(session: Any) -> tuple[list[tuple[str, int]], int]:
        if args.number:
            await view_case(session, args.number, CLI)  # a mistyped number is an error, not "intact"
        broken = await verify_histories(session, args.number)
        return broken, await session.scalar(select(func.count()).select_from(CaseRow))

    broken, total = _in_database(config, work)
    for number, seq in broken:
        print(f"case {number}: history broken at step {seq} (edited, deleted or out of order)")
    if broken:
        return 1
    print(f"{'case ' + args.number if args.number else f'{total} cases'}: every history step verifies")
    return 0


def _stats(args: argparse.Namespace, config: Config) -> int:
    now = datetime.now(timezone.utc)

    async def work(session: Any) -> tuple[list[statistics.Figures], str]:
        zone = (await case_services(session, config.cases)).policy.calendar.hours.zone
        start, end, label = statistics.period(args.month, args.first, args.last, zone)
        return statistics.tally(await cases_filed_between(session, start, end, CLI), args.by, now), label

    rows, label = _in_database(config, work)
    if args.format == "xlsx":
        if not args.output:
            raise InvalidInput("--format xlsx needs --output FILE.xlsx")
        statistics.figures_workbook(rows, label).save(args.output)
        print(f"wrote {args.output}")
        return 0
    if args.format == "json":
        text = json.dumps({"by": args.by, "period": label, "rows": [r.as_row() for r in rows]},
                          ensure_ascii=False, indent=2) + "\n"
    elif args.format == "csv":
        text = statistics.figures_csv(rows)
    else:
        text = f"cases by {args.by}, {label}\n" + statistics.figures_table(rows)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _departments_import(args: argparse.Namespace, config: Config) -> int:
    departments = read_departments(_read_text(args.file), args.file)
    count = _in_database(config, lambda session: save_departments(session, departments))
    print(f"{count} departments imported from {args.file}")
    return 0


def _calendar_import(args: argparse.Namespace, config: Config) -> int:
    text = _read_text(args.file)

    async def work(session: Any) -> Any:
        return await import_calendar(session, text, args.file, datetime.now(timezone.utc))

    year = _in_database(config, work)
    print(f"calendar {year.year} imported: {len(year.holidays)} holidays, {len(year.workdays)} make-up working"
          f" days ({year.source})")
    return 0


def _calendar_list(args: argparse.Namespace, config: Config) -> int:
    for year in _in_database(config, calendar_years):
        print(f"{year.year}: {len(year.holidays)} holidays, {len(year.workdays)} make-up working days ({year.source})")
    return 0


def _list_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--status", choices=workflow.STATUSES)
    parser.add_argument("--type", choices=workflow.TYPES)
    parser.add_argument("--department", metavar="ID")
    parser.add_argument("--window", metavar="ID")
    parser.add_argument("--caller", metavar="NUMBER")
    parser.add_argument("--limit", type=int, default=500, help="at most this many (default 500)")
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
    parser.add_argument("--full-numbers", action="store_true", help="show callers' numbers unmasked")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    cases = subparsers.add_parser("cases", help="cases (工单): list, overdue, show, verify the history, calendars")
    commands = cases.add_subparsers(dest="cases_command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="cases, newest first")
    _list_options(listing)
    listing.add_argument("--overdue", action="store_true", help="only open cases past their deadline")
    listing.add_argument("--soon-due", action="store_true", help="only open cases due within [cases] soon_days")
    listing.set_defaults(func=_list)

    overdue = commands.add_parser("overdue", help="open cases past their deadline, and those soon due")
    _list_options(overdue)
    overdue.set_defaults(func=_overdue)

    show = commands.add_parser("show", help="one case with its callers, calls and history")
    show.add_argument("number")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.add_argument("--full-numbers", action="store_true", help="show callers' numbers unmasked")
    show.set_defaults(func=_show)

    verify = commands.add_parser("verify", help="check every history's hash chain; exit 1 at a broken link")
    verify.add_argument("number", nargs="?", help="only this case")
    verify.set_defaults(func=_verify)

    stats = commands.add_parser("stats", help="figures per department, window or hotline for a period")
    stats.add_argument("--by", choices=statistics.GROUPINGS, default="department")
    stats.add_argument("--month", help="e.g. 2026-12")
    stats.add_argument("--from", dest="first", metavar="DAY", help="first local day, e.g. 2026-12-01")
    stats.add_argument("--to", dest="last", metavar="DAY", help="last local day, e.g. 2026-12-31")
    stats.add_argument("--format", choices=("table", "json", "csv", "xlsx"), default="table")
    stats.add_argument("--output", metavar="FILE")
    stats.set_defaults(func=_stats)

    calendar = commands.add_parser("calendar", help="working-day calendars (holiday notices)")
    calendar_commands = calendar.add_subparsers(dest="calendar_command", required=True, metavar="COMMAND")
    imported = calendar_commands.add_parser("import", help="import a year's notice (docs/cases.md has the format)")
    imported.add_argument("file", metavar="FILE.toml")
    imported.set_defaults(func=_calendar_import)
    calendar_commands.add_parser("list", help="the years deadlines are counted on").set_defaults(func=_calendar_list)

    departments = subparsers.add_parser("departments", help="departments that handle cases")
    department_commands = departments.add_subparsers(dest="departments_command", required=True, metavar="COMMAND")
    department_import = department_commands.add_parser("import", help="add or update departments from CSV id,name,window")
    department_import.add_argument("file", metavar="FILE.csv")
    department_import.set_defaults(func=_departments_import)
