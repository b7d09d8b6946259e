"""`hotline surveys ...`: import served items, draw a week, opt a number out, read results."""

from __future__ import annotations

import argparse
import asyncio
import csv
import getpass
import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hotline.config import Config
from hotline.db import database
from hotline.db.users import Actor
from hotline.errors import InvalidInput
from hotline.surveys import store
from hotline.surveys.draw import week_of
from hotline.surveys.results import GROUPINGS, Suggestion, period_weeks, results, scoring_satisfaction
from hotline.surveys.served import FIELDS, parse_rows, phone_number


def add_commands(subparsers: Any) -> None:
    """Add `hotline surveys ...` to the `hotline` parser."""
    surveys = subparsers.add_parser("surveys", help="callback surveys: served items, weekly draw, results")
    commands = surveys.add_subparsers(dest="surveys_command", required=True, metavar="COMMAND")
    load = commands.add_parser(
        "import", help=f"import served items from a UTF-8 CSV with the header {','.join(FIELDS)}"
    )
    load.add_argument("file", type=Path, metavar="FILE.csv")
    load.set_defaults(func=import_served_items)

    week = commands.add_parser("draw", help="draw a week's citizens now, unless drawn already; print the draw as JSON")
    week.add_argument("--week", metavar="YYYY-Www", help="ISO week, e.g. 2026-W49 (default: this week)")
    week.set_defaults(func=draw_week)

    opt_out = commands.add_parser("opt-out", help="never call a number for a survey again")
    opt_out.add_argument("phone")
    opt_out.add_argument("--reason", default="asked by phone", help="why (kept with the opt-out)")
    opt_out.set_defaults(func=opt_out_number)

    result = commands.add_parser("results", help="completed and partial surveys, answers, satisfaction rate, "
                                                 "suggestions with their transcripts")
    period = result.add_mutually_exclusive_group(required=True)
    period.add_argument("--week", metavar="YYYY-Www", help="ISO week, e.g. 2026-W49")
    period.add_argument("--month", metavar="YYYY-MM", help="the weeks whose Thursday is in the month")
    result.add_argument("--by", choices=GROUPINGS, help="one line per window, staff member or department")
    result.add_argument("--format", choices=("table", "json", "scoring"), default="table",
                        help="scoring: the `satisfaction` object of `hotline score --input`, per --by (default window)")
    result.set_defaults(func=show_results)


def _read_csv(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The rows of `path` with the line each ends on; the header must name exactly FIELDS."""
    try:
        # utf-8-sig: spreadsheet programs put a byte-order mark before the header.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a directory, not a CSV file") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 (byte {exc.start}); export the CSV as UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    if sorted(header) != sorted(FIELDS):
        raise InvalidInput(f"{path}: line 1: expected the header {','.join(FIELDS)}, got {','.join(header)}")
    rows = []
    try:
        for row in reader:
            extra = row.pop(None, None)  # type: ignore[call-overload]
            if extra:  # more cells than the header names
                row["(extra cells)"] = ",".join(extra)
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise InvalidInput(f"{path}: line {reader.line_num}: {exc}") from None
    return rows


def import_served_items(args: argparse.Namespace, config: Config) -> int:
    """Store the good rows of FILE; report each bad row by line on stderr (exit 1 if any)."""
    batch = parse_rows(_read_csv(args.file), config.surveys.zone)

    async def run() -> store.ImportReport:
        async with database(config.database_url) as sessions, sessions() as session:
            return await store.add_served_items(session, batch.items, datetime.now(UTC))

    report = asyncio.run(run())
    for problem in batch.problems:
        print(f"{args.file}: {problem}", file=sys.stderr)
    for line in batch.duplicates:
        print(f"{args.file}: line {line}: duplicate of an earlier line, skipped", file=sys.stderr)
    refused = len({problem.line for problem in batch.problems})
    print(f"{report.added} served items added, {report.already_known} already known, "
          f"{len(batch.duplicates)} duplicate lines skipped, {refused} lines refused")
    return 1 if refused else 0


def draw_json(drawn: store.WeekDraw) -> dict[str, Any]:
    """The interface scripts rely on: week, seed, and each drawn citizen's case."""
    return {
        "week": drawn.week.week,
        "seed": drawn.week.seed,
        "drawn": [
            {"case": s.case, "window": s.window, "staff": s.staff, "phone": s.phone}
            for s in drawn.surveys
        ],
        "shortfall": drawn.week.shortfall,
    }


def draw_week(args: argparse.Namespace, config: Config) -> int:
    """Draw the week (once: a second run prints the stored draw) and print it as JSON."""
    now = datetime.now(UTC)
    week = args.week or week_of(now, config.surveys.zone)

    async def run() -> store.WeekDraw:
        async with database(config.database_url) as sessions, sessions() as session:
            return await store.draw_week(session, week, config.surveys, args.case_desk(config), now)

    print(json.dumps(draw_json(asyncio.run(run())), ensure_ascii=False, indent=2))
    return 0


def opt_out_number(args: argparse.Namespace, config: Config) -> int:
    """Record the opt-out; surveys of the number still to be called end as opted out."""
    phone = phone_number(args.phone)
    if phone is None:
        raise InvalidInput(f"phone: not a Chinese mobile or landline number: {args.phone!r}")

    async def run() -> int:
        async with database(config.database_url) as sessions, sessions() as session:
            return await store.opt_out(session, phone, by=f"operator {getpass.getuser()}",
                                       reason=args.reason, now=datetime.now(UTC), desk=args.case_desk(config))

    ended = asyncio.run(run())
    print(f"{phone} opted out; {ended} survey(s) not yet finished ended as opted out")
    return 0


def show_results(args: argparse.Namespace, config: Config) -> int:
    """Print the period's results as a table (one line per group, then the suggestions) or as JSON."""
    weeks, period = period_weeks(args.week, args.month)

    async def run() -> tuple[list, dict[str, str], list[Suggestion]]:
        async with database(config.database_url) as sessions, sessions() as session:
            desk = args.case_desk(config)
            records, names = await store.period_records(session, weeks, desk)
            if args.format == "scoring":  # counts only: no transcript is read
                return records, names, []
            suggestions = await store.period_suggestions(session, weeks, desk, args.transcripts(config),
                                                         Actor.at_command_line(), f"survey results {period}")
            await session.commit()  # the transcripts' reads, audited before they are shown
            return records, names, suggestions

    records, names, suggestions = asyncio.run(run())
    if args.format == "scoring":
        satisfaction = scoring_satisfaction(records, args.by or "window")
        print(json.dumps({"satisfaction": satisfaction}, ensure_ascii=False, indent=2))
        return 0
    found = results(records, args.by, names, suggestions)
    if args.format == "json":
        print(json.dumps({"period": period, "weeks": weeks, **found}, ensure_ascii=False, indent=2))
        return 0
    print(f"surveys {period} ({', '.join(weeks)})")
    print(f"{args.by or '':<16} {'surveys':>7} {'done':>5} {'partial':>7} {'unreach':>7} "
          f"{'opted':>5} {'open':>5} {'dissat':>6} {'rate':>7}")
    groups = [("total", found["total"]), *found.get(args.by or "", {}).items()]
    for name, row in groups:
        rate = "-" if row["satisfaction_rate"] is None else f"{row['satisfaction_rate']:.1%}"
        print(f"{name:<16} {row['surveys']:>7} {row['completed']:>5} {row['partial']:>7} "
              f"{row['unreachable']:>7} {row['opted_out']:>5} {row['pending'] + row['calling']:>5} "
              f"{row['dissatisfied_surveys']:>6} {rate:>7} {row.get('name', '')}".rstrip())
    print()
    print(f"suggestions ({len(found['suggestions'])})")
    for suggestion in found["suggestions"]:
        # One line each: a transcript's own line breaks would look like another suggestion.
        said = " ".join(suggestion["transcript"].split()) if suggestion["transcript"] is not None \
            else f"({suggestion['state']})"
        print(f"{suggestion['case']:<16} {suggestion['window']:<16} {suggestion['staff']:<16} {said}")
    return 0
