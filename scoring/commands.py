"""`hotline score ...`: rubrics, monthly/quarterly/annual scores, the meeting report, the ledger.

Scores come from the database, or with `--input FILE` from a JSON document of subjects and
occurrences (docs/scoring.md), which needs no database at all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping, Sequence, TypeVar

from hotline.config import Config
from hotline.db.users import Actor
from hotline.errors import InvalidInput
from scoring.attendance import (
    BadRow,
    Schedule,
    attendance_occurrences,
    clock_findings,
    clock_items,
    load_schedule,
    read_leave,
    read_punches,
    read_staff_windows,
    strangers,
)
from scoring.occurrences import SOURCES, Occurrence, Satisfaction, read_ledger
from scoring.reports import (
    FORMATS,
    CitizenSuggestion,
    meeting_report_html,
    scoreboard_csv,
    scoreboard_json,
    scoreboard_table,
    scoreboard_workbook,
)
from scoring.rubrics import Rubric, find_rubric, load_rubric, rubric_files
from scoring.scorecards import Period, Scoreboard, parse_period, score_period, shown

T = TypeVar("T")


def _in_database(config: Config, work: Callable[[Any], Awaitable[T]]) -> T:
    from hotline.db import database

    async def run() -> T:
        async with database(config.database_url) as sessions, sessions() as session:
            return await work(session)

    return asyncio.run(run())


def _unreadable(path: str, exc: OSError | UnicodeDecodeError) -> InvalidInput:
    """One line for a file that is there but cannot be read as text (clock exports saved by
    Excel on a Chinese Windows are GBK, not UTF-8)."""
    if isinstance(exc, UnicodeDecodeError):
        return InvalidInput(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8", file=path)
    return InvalidInput(f"{path}: {exc.strerror or exc}", file=path)


def _read_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"input file {path}: not found", file=path) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"input file {path}: line {exc.lineno}: {exc.msg}", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _unreadable(path, exc) from None


def _rubric(args: argparse.Namespace) -> Rubric:
    return find_rubric(args.rubric, [Path(d) for d in args.rubric_dir])


def _scoreboard(
    args: argparse.Namespace, config: Config, period: Period, report: bool = False
) -> tuple[Scoreboard, Mapping[str, Satisfaction], Mapping[str, Satisfaction] | None,
           Sequence[CitizenSuggestion] | None]:
    """The period's scoreboard, its subjects' callback satisfaction and, for the `report`, the
    departments' and the citizens' suggestions (None from an --input document, which has none)."""
    rubric = _rubric(args)
    departments = suggestions = None
    if args.input:
        ledger = read_ledger(_read_json(args.input))
        subjects, entries, satisfaction = (
            list(ledger.subjects),
            list(ledger.entries),
            ledger.satisfaction,
        )
    else:
        from scoring.store import ledger_for_period

        async def work(session: Any) -> tuple[Any, Mapping[str, Satisfaction], Mapping[str, Satisfaction] | None,
                                              Sequence[CitizenSuggestion] | None]:
            subjects, entries = await ledger_for_period(session, rubric, period)
            # The period's callback surveys, per window or staff member as the rubric scores,
            # from the campaign through the ports the composition root fills (hotline/cli.py);
            # without them (scoring on its own) the report says "no surveys".
            port = getattr(args, "survey_satisfaction", None)
            if port is None:
                return (subjects, entries), {}, None, None
            surveys = port(config)
            satisfaction = await surveys(session, period.start, period.end, rubric.subjects)
            groups = await surveys(session, period.start, period.end, "department") if report else None
            said = None
            if report:
                # Whoever runs the command reads the transcripts: audited, committed before shown.
                said = await args.survey_suggestions(config)(session, period.start, period.end,
                                                             Actor.at_command_line())
                await session.commit()
            return (subjects, entries), satisfaction, groups, said

        (subjects, entries), satisfaction, departments, suggestions = _in_database(config, work)
    return score_period(rubric, subjects, entries, period, satisfaction), satisfaction, departments, suggestions


def _emit(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _score(kind: str) -> Callable[[argparse.Namespace, Config], int]:
    def run(args: argparse.Namespace, config: Config) -> int:
        board, satisfaction, _, _ = _scoreboard(args, config, parse_period(kind, getattr(args, kind)))
        if args.format == "xlsx":
            if not args.output:
                raise InvalidInput("--format xlsx needs --output FILE.xlsx")
            scoreboard_workbook(board, satisfaction).save(args.output)
        elif args.format == "json":
            _emit(json.dumps(scoreboard_json(board), ensure_ascii=False, indent=2) + "\n", args.output)
        elif args.format == "csv":
            _emit(scoreboard_csv(board), args.output)
        else:
            _emit(scoreboard_table(board, args.explain, satisfaction), args.output)
        return 0

    return run


def _report(args: argparse.Namespace, config: Config) -> int:
    board, satisfaction, departments, suggestions = _scoreboard(args, config, parse_period("month", args.month),
                                                                report=True)
    directory = Path(args.output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"{board.rubric.id}-{board.period.label}"
    Path(f"{stem}.html").write_text(meeting_report_html(board, satisfaction, departments, suggestions),
                                    encoding="utf-8")
    scoreboard_workbook(board, satisfaction).save(f"{stem}.xlsx")
    print(f"wrote {stem}.html and {stem}.xlsx")
    return 0


def rubric_json(rubric: Rubric) -> dict[str, Any]:
    """A rubric as data, points as strings of decimals (0.5, never 0.49999)."""

    def item(entry: Any) -> dict[str, Any]:
        found = {"id": entry.id, "name": entry.name, "points": shown(entry.points)}
        if entry.cap is not None:
            found["cap"] = shown(entry.cap)
        return found

    return {
        "id": rubric.id,
        "version": rubric.version,
        "title": rubric.title,
        "subjects": rubric.subjects,
        "base": shown(rubric.base),
        "source": rubric.source,
        "categories": [
            {
                "id": c.id,
                "name": c.name,
                "points": shown(c.points),
                "scope": c.scope,
                "survey_rate": c.survey_rate,
                "items": [item(i) for i in c.items],
            }
            for c in rubric.categories
        ],
        "extras": [item(i) for i in rubric.extras],
        "caps": [
            {"id": c.id, "name": c.name, "items": sorted(c.items), "max": shown(c.max)}
            for c in rubric.caps
        ],
        "disqualifications": [
            {
                "items": sorted(d.items),
                "at_least": shown(d.at_least),
                "within": d.within,
                "reason": d.reason,
            }
            for d in rubric.disqualifications
        ],
        "awards": {
            kind: {"name": a.name, "top": a.top, "at_most": a.at_most}
            for kind, a in rubric.awards.items()
        },
        "eligibility": dict(rubric.eligibility),
        "monthly_weight": shown(rubric.monthly_weight) if rubric.monthly_weight is not None else None,
    }


def _rubric_list(args: argparse.Namespace, config: Config) -> int:
    for rubric_id, path in rubric_files([Path(d) for d in args.rubric_dir]).items():
        rubric = load_rubric(path)
        print(f"{rubric_id:<20} v{rubric.version:<3} {rubric.subjects:<7} {rubric.title}  ({path})")
    return 0


def _rubric_show(args: argparse.Namespace, config: Config) -> int:
    rubric = _rubric(args)
    if args.format == "json":
        print(json.dumps(rubric_json(rubric), ensure_ascii=False, indent=2))
        return 0
    print(
        f"{rubric.id} v{rubric.version}: {rubric.title} ({rubric.subjects}, base {shown(rubric.base)})"
    )
    print(f"source: {rubric.source}")
    for category in rubric.categories:
        scope = "" if category.scope == "month" else f", {category.scope}ly"
        if category.survey_rate:
            scope += f", x the {category.scope}'s callback-survey satisfaction rate"
        print(f"\n{category.id} {category.name} ({shown(category.points)}{scope})")
        for entry in category.items:
            cap = f" (at most {shown(entry.cap)})" if entry.cap is not None else ""
            print(f"  {entry.id:<22} {shown(entry.points):>6}{cap}  {entry.name}")
    if rubric.extras:
        print("\nextras (outside the categories)")
        for entry in rubric.extras:
            sign = "+" if entry.points > 0 else ""
            print(f"  {entry.id:<22} {sign + shown(entry.points):>6}  {entry.name}")
    for cap in rubric.caps:
        print(
            f"cap {cap.id}: {' + '.join(sorted(cap.items))} at most +{shown(cap.max)} a period ({cap.name})"
        )
    for rule in rubric.disqualifications:
        print(
            f"disqualified: {shown(rule.at_least)}x {'/'.join(sorted(rule.items))} within the {rule.within}: {rule.reason}"
        )
    if rubric.monthly_weight is not None:
        print(f"year: the monthly results count {shown(rubric.monthly_weight)} of {shown(rubric.base)}")
    for kind, award in rubric.awards.items():
        print(f"{kind}: {'at most ' if award.at_most else 'top '}{award.top} -> {award.name}")
    return 0


def _attendance(args: argparse.Namespace, config: Config) -> int:
    rubric = _rubric(args)
    items = clock_items(rubric)
    period = parse_period("month", args.month)
    schedule = load_schedule(Path(args.schedule)) if args.schedule else Schedule()
    punches, bad = _clock_file(args.punches, read_punches)
    leave, _ = _clock_file(args.leave, read_leave) if args.leave else ([], [])
    if args.windows and rubric.subjects != "window":
        raise InvalidInput(f"--windows: rubric {rubric.id} scores {rubric.subjects}, not windows")
    assignments, _ = _clock_file(args.windows, read_staff_windows, refuse=True) if args.windows else ([], [])
    from scoring.store import staff_windows, subjects_of_kind

    async def centre(session) -> tuple[set[str], set[str], dict[str, str]]:
        windows = {s.id for s in await subjects_of_kind(session, "window")}
        staff = {s.id for s in await subjects_of_kind(session, "staff")}
        return windows, staff, await staff_windows(session)

    known_windows, known_staff, saved_windows = _in_database(config, centre)
    windows = None
    if rubric.subjects == "window":
        # A window carries its staff's lates and absences (每人次): the staff's windows from
        # --windows, else as saved with `hotline score subject add ID NAME --kind staff --window W`.
        _refuse_strangers(
            args.windows, [(a.line, a.window) for a in assignments], known_windows,
            "is not a window of the centre (add it: hotline score subject add ID NAME)",
        )
        windows = {a.staff: a.window for a in assignments} if args.windows else saved_windows
        if not windows:
            raise InvalidInput("a window rubric needs --windows FILE or staff saved with --window")
        staff, missing = set(windows), f"has no window in {args.windows or 'the database'}"
    else:
        staff, missing = known_staff, "is not staff of the centre (add them: hotline score subject add ID NAME --kind staff)"
    _refuse_strangers(args.punches, [(p.line, p.staff) for p in punches], staff, missing)
    _refuse_strangers(args.leave, [(entry.line, entry.staff) for entry in leave], staff, missing)
    findings = clock_findings(punches, schedule, period.start, period.end, windows or (), leave)
    entries = attendance_occurrences(
        findings, items, subject_of=windows, entered_by=args.by, entered_at=datetime.now(timezone.utc)
    )
    if args.record:
        from scoring.store import record_occurrences

        _in_database(config, lambda session: record_occurrences(session, rubric, entries))
        print(
            f"recorded {len(entries)} occurrences from {len(punches)} punches ({len(bad)} rows skipped)"
        )
    else:
        _emit(
            json.dumps({"occurrences": [_entry_json(e) for e in entries]}, ensure_ascii=False, indent=2)
            + "\n",
            args.output,
        )
    return 0


def _refuse_strangers(path: str | None, named: list[tuple[int, str]], known: set[str], why: str) -> None:
    """A row naming a staff member or window the centre does not have stops the import, by line:
    scored, it would book every working day of the month as absence against a phantom."""
    found = strangers(named, known)
    if found:
        line, name = found[0]
        more = f" (and {len(found) - 1} more rows)" if len(found) > 1 else ""
        raise InvalidInput(f"{path}:{line}: {name!r} {why}{more}", file=path, line=line)


def _clock_file(
    path: str, parse: Callable[[str], tuple[list[T], list[BadRow]]], *, refuse: bool = False
) -> tuple[list[T], list[BadRow]]:
    """Parse a clock export; bad rows are reported by line on stderr and the good ones kept
    (with `refuse`, the first bad row stops the command instead)."""
    try:
        rows, bad = parse(Path(path).read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InvalidInput(f"{path}: not found", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _unreadable(path, exc) from None
    if refuse and bad:
        raise InvalidInput(f"{path}:{bad[0].line}: {bad[0].problem}: {bad[0].text}", file=path, line=bad[0].line)
    for row in bad:
        print(f"{path}:{row.line}: skipped: {row.problem}: {row.text}", file=sys.stderr)
    return rows, bad


def _entry_json(entry: Occurrence) -> dict[str, Any]:
    return {
        "id": entry.id,
        "subject": entry.subject,
        "item": entry.item,
        "date": entry.date.isoformat(),
        "count": shown(entry.count),
        "source": entry.source,
        "evidence": entry.evidence,
        "entered_by": entry.entered_by,
        "entered_at": entry.entered_at.isoformat() if entry.entered_at else None,
        "reverses": entry.reverses,
        "note": entry.note,
    }


def _subject_add(args: argparse.Namespace, config: Config) -> int:
    from scoring.store import save_subject

    fields = {"id": args.id, "name": args.name} | ({"since": args.since} if args.since else {})
    subject = read_ledger({"subjects": [fields]}).subjects[0]
    _in_database(config, lambda session: save_subject(session, subject, args.kind, args.window))
    print(f"{args.kind} {args.id} saved")
    return 0


def _record(args: argparse.Namespace, config: Config) -> int:
    from scoring.store import record_occurrences

    rubric = _rubric(args)
    draft = read_ledger(
        {
            "occurrences": [
                {
                    "subject": args.subject,
                    "item": args.item,
                    "date": args.date,
                    "count": args.count,
                    "source": args.source,
                    "evidence": args.evidence,
                    "entered_by": args.by,
                    "note": args.note,
                    "entered_at": datetime.now(timezone.utc).isoformat(),
                }
            ]
        }
    ).entries[0]
    (entry,) = _in_database(config, lambda session: record_occurrences(session, rubric, [draft]))
    print(f"recorded occurrence {entry.id}")
    return 0


def _reverse(args: argparse.Namespace, config: Config) -> int:
    from scoring.store import reverse_occurrence

    entry = _in_database(
        config,
        lambda session: reverse_occurrence(
            session,
            args.entry,
            entered_by=args.by,
            entered_at=datetime.now(timezone.utc),
            note=args.note,
        ),
    )
    print(f"occurrence {args.entry} reversed by {entry.id}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `hotline score` and its sub-commands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--rubric-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of the centre's own rubric files (repeatable)",
    )
    score = subparsers.add_parser("score", help="window and staff scoring")
    commands = score.add_subparsers(dest="score_command", required=True, metavar="COMMAND")

    rubric = commands.add_parser("rubric", help="the rubrics")
    rubric_commands = rubric.add_subparsers(dest="rubric_command", required=True, metavar="COMMAND")
    rubric_commands.add_parser("list", parents=[common], help="every known rubric").set_defaults(
        func=_rubric_list
    )
    show = rubric_commands.add_parser("show", parents=[common], help="one rubric's categories and items")
    show.add_argument("rubric", metavar="ID", help="rubric id, or a path to a rubric .toml file")
    show.add_argument("--format", choices=("json", "table"), default="table")
    show.set_defaults(func=_rubric_show)

    for kind, example in (("month", "2026-10"), ("quarter", "2026-Q3"), ("year", "2026")):
        period = commands.add_parser(kind, parents=[common], help=f"score every subject for one {kind}")
        period.add_argument("--rubric", required=True, metavar="ID")
        period.add_argument(f"--{kind}", required=True, metavar=example)
        period.add_argument(
            "--input", metavar="FILE", help="subjects and occurrences as JSON instead of the database"
        )
        period.add_argument("--format", choices=FORMATS, default="table")
        period.add_argument("--output", metavar="FILE", help="write here instead of standard output")
        period.add_argument(
            "--explain", metavar="SUBJECT", help="(table) list every point of one subject"
        )
        period.set_defaults(func=_score(kind))

    report = commands.add_parser(
        "report", parents=[common], help="the monthly meeting report (HTML and XLSX)"
    )
    report.add_argument("--month", required=True, metavar="2026-10")
    report.add_argument("--rubric", default="yihuang-window", metavar="ID")
    report.add_argument("--input", metavar="FILE")
    report.add_argument("--output-dir", default=".", metavar="DIR")
    report.set_defaults(func=_report)

    clock = commands.add_parser(
        "attendance", parents=[common], help="fingerprint-clock punches into occurrences"
    )
    clock.add_argument("punches", metavar="PUNCHES.csv", help="staff,timestamp rows")
    clock.add_argument("--rubric", required=True, metavar="ID")
    clock.add_argument("--month", required=True, metavar="2026-10")
    clock.add_argument("--schedule", metavar="FILE", help="working hours and holidays (TOML)")
    clock.add_argument(
        "--windows", metavar="FILE", help="staff,window rows, window rubrics only (default: the staff's windows in the database)"
    )
    clock.add_argument(
        "--leave", metavar="FILE", help="approved leave: staff,date[,morning|afternoon] rows"
    )
    clock.add_argument("--by", required=True, metavar="NAME", help="who enters these occurrences")
    clock.add_argument("--record", action="store_true", help="append to the database ledger")
    clock.add_argument("--output", metavar="FILE", help="write the occurrences JSON here")
    clock.set_defaults(func=_attendance)

    subject = commands.add_parser("subject", help="windows and staff in the database")
    subject_commands = subject.add_subparsers(dest="subject_command", required=True, metavar="COMMAND")
    add = subject_commands.add_parser("add", help="add or rename a window or staff member")
    add.add_argument("id")
    add.add_argument("name")
    add.add_argument("--kind", choices=("window", "staff"), default="window")
    add.add_argument("--since", metavar="YYYY-MM-DD", help="joined the centre")
    add.add_argument("--window", metavar="ID", help="(staff) their window")
    add.set_defaults(func=_subject_add)

    record = commands.add_parser("record", parents=[common], help="append one occurrence to the ledger")
    record.add_argument("--rubric", required=True, metavar="ID")
    record.add_argument("--subject", required=True)
    record.add_argument("--item", required=True)
    record.add_argument("--date", required=True, metavar="YYYY-MM-DD")
    record.add_argument("--count", default="1")
    record.add_argument("--source", choices=SOURCES, default="manual")
    record.add_argument(
        "--evidence", default="", metavar="REF", help="e.g. case:42, call:..., survey:..."
    )
    record.add_argument("--by", required=True, metavar="NAME")
    record.add_argument("--note", default="")
    record.set_defaults(func=_record)

    reverse = commands.add_parser("reverse", help="cancel a wrong ledger entry with a reversing entry")
    reverse.add_argument("entry", type=int, metavar="ENTRY")
    reverse.add_argument("--by", required=True, metavar="NAME")
    reverse.add_argument("--note", required=True, help="why (kept in the ledger)")
    reverse.set_defaults(func=_reverse)
