"""Scoreboards rendered for people and programs: JSON, a text table, CSV, XLSX and the HTML page
the supervision section prints for the monthly meeting (月例會: 公布考勤情況、頒發流動紅旗).

Rendering only: every number comes from `scoring.scorecards`, shown with two decimals at most.
"""

from __future__ import annotations

import csv
import html
import io
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Mapping, Sequence

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from hotline.errors import NotFound
from scoring.occurrences import Satisfaction
from scoring.scorecards import Line, Scoreboard, Scorecard, points, shown

FORMATS = ("json", "table", "csv", "xlsx")


@dataclass(frozen=True)
class CitizenSuggestion:
    """A surveyed citizen's spoken suggestion for the meeting: whose service it was about, and
    its transcript's text, or (None) the state that says why there is none yet."""

    case: str
    window: str
    staff: str
    text: str | None
    state: str


def _number(value: Fraction) -> int | float:
    # JSON has one number type; a two-decimal value survives float's shortest repr unchanged.
    rounded = points(value)
    return int(rounded) if rounded == rounded.to_integral_value() else float(rounded)


def line_json(line: Line) -> dict[str, Any]:
    """One occurrence's effect, with everything needed to find the evidence behind it."""
    entry = line.occurrence
    return {
        "occurrence": entry.id,
        "item": line.item.id,
        "item_name": line.item.name,
        "category": line.item.category,
        "date": entry.date.isoformat(),
        "count": _number(entry.count),
        "nominal": _number(line.nominal),
        "points": _number(line.applied),
        "share": str(line.share),
        "month": line.month or None,
        "note": line.note,
        "source": entry.source,
        "evidence": entry.evidence,
        "entered_by": entry.entered_by,
        "entered_at": entry.entered_at.isoformat() if entry.entered_at else None,
    }


def scoreboard_json(board: Scoreboard) -> dict[str, Any]:
    """The documented JSON result (docs/scoring.md): one entry per subject, best first."""
    award = board.award
    return {
        "rubric": board.rubric.id,
        "rubric_version": board.rubric.version,
        "period": board.period.label,
        "award": {"name": award.name, "top": award.top, "at_most": award.at_most} if award else None,
        "results": [
            {
                "subject": card.subject.id,
                "name": card.subject.name,
                "total": _number(card.total),
                "categories": {cid: _number(score) for cid, score in card.categories.items()},
                "bonus": _number(card.bonus),
                "rank": card.rank,
                "red_flag": card.awarded,
                "disqualified": bool(card.disqualified),
                "disqualified_because": list(card.disqualified),
                "eligible": card.eligible,
                "note": standing_note(card),
                "satisfaction": satisfaction_json(card.satisfaction),
                "breakdown": [line_json(line) for line in card.lines],
            }
            for card in board.cards
        ],
        "ties_at_cut": [
            {
                "total": _number(tie.total),
                "rank": tie.rank,
                "subjects": list(tie.subjects),
                "places": tie.places,
                "decided": tie.decided,
            }
            for tie in board.ties_at_cut
        ],
    }


@dataclass(frozen=True)
class Column:
    title: str
    cells: list[str]


def _columns(board: Scoreboard) -> list[Column]:
    cards = board.cards
    award = board.award.name if board.award else "award"
    columns = [
        Column("rank", [str(card.rank) for card in cards]),
        Column("subject", [card.subject.id for card in cards]),
        Column("name", [card.subject.name for card in cards]),
    ]
    present = cards[0].categories if cards else {}
    for category in board.rubric.categories:
        if category.id in present:
            columns.append(
                Column(category.name, [shown(card.categories[category.id]) for card in cards])
            )
    columns += [
        Column("bonus", [shown(card.bonus) for card in cards]),
        Column("total", [shown(card.total) for card in cards]),
        Column(award, ["yes" if card.awarded else "" for card in cards]),
        Column("note", [standing_note(card) for card in cards]),
    ]
    return columns


def satisfaction_json(found: Satisfaction | None) -> dict[str, Any] | None:
    """The period's callback surveys of a subject, with the cases behind them (null: not read)."""
    if found is None:
        return None
    return {"surveys": found.surveys, "satisfied": found.satisfied,
            "rate": None if found.rate is None else round(float(found.rate), 4),
            "cases": list(found.cases), "dissatisfied": list(found.dissatisfied)}


def satisfaction_text(found: Satisfaction | None) -> str:
    """A subject's survey satisfaction as the reports show it: `50% (1/2)`, or `no surveys`."""
    if found is None or found.rate is None:
        return "no surveys"
    return f"{shown(found.rate * 100)}% ({found.satisfied}/{found.surveys})"


def standing_note(card: Scorecard) -> str:
    """Why a subject cannot win this period, if it cannot: disqualified or not long enough here."""
    reasons = list(card.disqualified)
    if not card.eligible:
        reasons.append(f"not eligible yet: in the centre since {card.subject.since}")
    return "; ".join(reasons)


def _width(text: str) -> int:
    # Chinese characters take two columns in a terminal.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * (width - _width(text))
    return gap + text if right else text + gap


def _tie_sentences(board: Scoreboard, by_name: bool = False) -> list[str]:
    names = {card.subject.id: card.subject.name if by_name else card.subject.id for card in board.cards}
    sentences = []
    for tie in board.ties_at_cut:
        verdict = "all get the award" if tie.decided else "left to the monthly meeting to decide"
        sentences.append(
            f"tie at the cut: {', '.join(names[s] for s in tie.subjects)} share rank {tie.rank} with {shown(tie.total)}"
            f" for {tie.places} place(s): {verdict}"
        )
    return sentences


def scoreboard_table(
    board: Scoreboard, explain: str | None = None, satisfaction: Mapping[str, Satisfaction] | None = None
) -> str:
    """A fixed-width ranking table; with `explain`, that subject's lines after it; with the
    period's `satisfaction` (a month's callback surveys), a column of it after the total."""
    columns = _columns(board)
    if satisfaction:
        at = next(n for n, column in enumerate(columns) if column.title == "total") + 1
        columns.insert(at, Column("satisfaction", [satisfaction_text(satisfaction.get(card.subject.id))
                                                   for card in board.cards]))
    numeric = {"rank", "bonus", "total"} | {c.name for c in board.rubric.categories}
    widths = [max([_width(c.title)] + [_width(cell) for cell in c.cells]) for c in columns]
    rows = [[c.title for c in columns]] + [list(row) for row in zip(*(c.cells for c in columns))]
    out = [f"{board.rubric.title} ({board.rubric.id} v{board.rubric.version}) {board.period.label}"]
    for row in rows:
        out.append(
            "  ".join(
                _pad(cell, width, column.title in numeric)
                for cell, width, column in zip(row, widths, columns)
            ).rstrip()
        )
    out += _tie_sentences(board)
    if explain is not None:
        out += ["", *explanation(board, explain)]
    return "\n".join(out) + "\n"


def explanation(board: Scoreboard, subject: str) -> list[str]:
    """Every line behind one subject's total, in words."""
    card = next((c for c in board.cards if c.subject.id == subject), None)
    if card is None:
        raise NotFound(f"no subject {subject!r} in this scoreboard", subject=subject)
    out = [f"{card.subject.name} ({card.subject.id}): total {shown(card.total)}, rank {card.rank}"]
    for line in card.lines:
        entry = line.occurrence
        share = f" x {line.share} of {line.month}" if line.month else ""
        note = f" [{line.note}]" if line.note else ""
        out.append(
            f"  {entry.date} {line.item.id} x{shown(entry.count)}: {shown(line.nominal)}{share}"
            f" -> {shown(line.applied)}{note} ({entry.evidence or entry.source}, entry {entry.id})"
        )
    if standing_note(card):
        out.append(f"  {standing_note(card)}")
    return out


def scoreboard_csv(board: Scoreboard) -> str:
    """The ranking table as CSV (UTF-8, one row per subject)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = _columns(board)
    writer.writerow([c.title for c in columns])
    writer.writerows(zip(*(c.cells for c in columns)))
    return buffer.getvalue()


def scoreboard_workbook(
    board: Scoreboard, satisfaction: Mapping[str, Satisfaction] | None = None
) -> Workbook:
    """Two sheets: the ranking (with satisfaction when known) and every breakdown line."""
    book = Workbook()
    ranking = book.active
    ranking.title = "ranking"
    columns = _columns(board)
    titles = [c.title for c in columns] + (
        ["surveys", "satisfied %"] if satisfaction is not None else []
    )
    ranking.append(titles)
    numeric = {"rank", "bonus", "total"} | {c.name for c in board.rubric.categories}
    for index, card in enumerate(board.cards):
        # Numbers as numbers, so the supervision section can sum and sort in Excel; ids and
        # names stay text (window "001" is not 1).
        row: list[Any] = [_cell(c.cells[index]) if c.title in numeric else c.cells[index] for c in columns]
        if satisfaction is not None:
            found = satisfaction.get(card.subject.id)
            row += (
                [found.surveys, _cell(shown(found.rate * 100))]
                if found and found.rate is not None
                else [None, None]
            )
        ranking.append(row)
        if card.awarded:
            for cell in ranking[ranking.max_row]:
                cell.fill = PatternFill("solid", fgColor="FDE2E1")
    for cell in ranking[1]:
        cell.font = Font(bold=True)
    sheet = book.create_sheet("breakdown")
    rows = [(card, line_json(line)) for card in board.cards for line in card.lines]
    if rows:
        sheet.append(["subject", "name", *rows[0][1]])
    for card, row in rows:
        sheet.append([card.subject.id, card.subject.name, *row.values()])
    return book


def _cell(value: str) -> Any:
    try:
        number = Decimal(value)
    except ArithmeticError:
        return value
    return int(number) if number == number.to_integral_value() else float(number)


def _bar_chart(cards: tuple[Scorecard, ...]) -> str:
    """Horizontal bars of the totals, inline SVG: prints and opens offline, no scripts."""
    if not cards:
        return ""
    bar_height, gap, label_width, chart_width = 18, 6, 150, 520
    top = max(max(card.total for card in cards), Fraction(100))
    height = len(cards) * (bar_height + gap) + 30
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{label_width + chart_width + 60}"'
        f' height="{height}" role="img" aria-label="totals">'
    ]
    for index, card in enumerate(cards):
        y = index * (bar_height + gap) + 4
        width = float(max(card.total, Fraction(0)) / top) * chart_width
        colour = "#c62828" if card.awarded else ("#9e9e9e" if standing_note(card) else "#1e63b4")
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end">{html.escape(card.subject.name)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{width:.1f}" height="{bar_height}" fill="{colour}"/>'
            f'<text x="{label_width + width + 4:.1f}" y="{y + 13}">{shown(card.total)}</text>'
        )
    hundred = label_width + float(Fraction(100) / top) * chart_width
    parts.append(
        f'<line x1="{hundred:.1f}" y1="0" x2="{hundred:.1f}" y2="{height - 24}" stroke="#555" stroke-dasharray="4 3"/>'
        f'<text x="{hundred:.1f}" y="{height - 8}" text-anchor="middle">100</text></svg>'
    )
    return "".join(parts)


_STYLE = """
body { font-family: "Noto Sans CJK TC", "Microsoft JhengHei", "Microsoft YaHei", "WenQuanYi Zen Hei", sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .5em 0; } th, td { border: 1px solid #bbb; padding: 3px 8px; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; } th { background: #f1f1f1; }
tr.flag td { background: #fde2e1; } tr.out td { color: #777; } td.none { color: #777; font-style: italic; }
.chart text { font-size: 12px; } .tie { color: #8a4b00; font-weight: bold; }
details { margin: .3em 0; } summary { cursor: pointer; } details td:first-child { white-space: nowrap; }
@media print { details { display: block; } details > * { display: block; } }
"""


def meeting_report_html(
    board: Scoreboard, satisfaction: Mapping[str, Satisfaction],
    departments: Mapping[str, Satisfaction] | None = None,
    suggestions: Sequence[CitizenSuggestion] | None = None,
) -> str:
    """The monthly meeting page: ranking, chart, red flags, deductions and their reasons, the
    month's callback satisfaction per department when `departments` gives it, and the surveyed
    citizens' suggestions when `suggestions` gives them."""
    rubric, cards = board.rubric, board.cards
    award = board.award.name if board.award else "award"
    month_categories = [c for c in rubric.categories if cards and c.id in cards[0].categories]
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="zh-Hant"><head><meta charset="utf-8">',
        f"<title>{e(rubric.title)} {e(board.period.label)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(rubric.title)}: {e(board.period.label)} 考評結果</h1>",
        f"<p>Rubric <code>{e(rubric.id)}</code> version {rubric.version}; {len(cards)} subjects.</p>",
        f"<h2>{e(award)}</h2>",
    ]
    winners = [card for card in cards if card.awarded]
    out.append(
        "<p>"
        + ("、".join(f"{e(c.subject.name)} ({shown(c.total)})" for c in winners) or "none")
        + "</p>"
    )
    out += [f'<p class="tie">{e(sentence)}</p>' for sentence in _tie_sentences(board, by_name=True)]
    out.append("<h2>排名 Ranking</h2><table><tr><th>rank</th><th>window</th>")
    out += [f"<th>{e(c.name)} ({shown(c.points)})</th>" for c in month_categories]
    out.append(f"<th>bonus</th><th>total</th><th>satisfaction</th><th>{e(award)}</th><th>note</th></tr>")
    for card in cards:
        css = "flag" if card.awarded else ("out" if standing_note(card) else "")
        rate = satisfaction_text(satisfaction.get(card.subject.id))
        out.append(
            f'<tr class="{css}"><td class="n">{card.rank}</td><td>{e(card.subject.name)}</td>'
            + "".join(f'<td class="n">{shown(card.categories[c.id])}</td>' for c in month_categories)
            + f'<td class="n">{shown(card.bonus)}</td><td class="n"><b>{shown(card.total)}</b></td>'
            f'<td class="n">{e(rate)}</td><td>{"★" if card.awarded else ""}</td>'
            f"<td>{e(standing_note(card))}</td></tr>"
        )
    out.append("</table>")
    out.append(f"<h2>總分 Totals</h2>{_bar_chart(cards)}")
    if departments is not None:
        out.append("<h2>回訪滿意率 Callback satisfaction by department</h2>")
        out.append("<table><tr><th>department</th><th>surveys</th><th>satisfied</th><th>satisfaction</th></tr>")
        for key, found in departments.items():
            out.append(f"<tr><td>{e(found.name or key)}</td><td class='n'>{found.surveys}</td>"
                       f"<td class='n'>{found.satisfied}</td><td class='n'>{e(satisfaction_text(found))}</td></tr>")
        if not departments:
            out.append("<tr><td colspan='4'>no surveys</td></tr>")
        out.append("</table>")
    if suggestions is not None:
        # Windows by the names the ranking shows them by (a staff rubric's cards name staff).
        names = {card.subject.id: card.subject.name for card in cards}
        out.append("<h2>市民意見 Citizens' suggestions</h2>")
        out.append("<table><tr><th>case</th><th>window</th><th>staff</th><th>transcript</th></tr>")
        for found in suggestions:
            said = (f"<td>{e(found.text)}</td>" if found.text is not None
                    else f"<td class='none'>({e(found.state)})</td>")
            out.append(f"<tr><td>{e(found.case)}</td><td>{e(names.get(found.window, found.window))}</td>"
                       f"<td>{e(names.get(found.staff, found.staff))}</td>{said}</tr>")
        if not suggestions:
            out.append("<tr><td colspan='4'>no suggestions</td></tr>")
        out.append("</table>")
    out.append("<h2>扣分與加分 Deductions and bonuses by window</h2>")
    for card in cards:
        if not card.lines:
            continue
        by_category = {
            c.id: sum((l.applied for l in card.lines if l.item.category == c.id), Fraction(0))
            for c in month_categories
        }
        summary = "; ".join(
            f"{c.name} {shown(by_category[c.id])}" for c in month_categories if by_category[c.id]
        )
        if card.bonus:
            summary += f"; 獎扣分 {shown(card.bonus)}"
        out.append(
            f"<details open><summary><b>{e(card.subject.name)}</b>: {e(summary.strip('; '))}</summary>"
        )
        out.append(
            "<table><tr><th>date</th><th>item</th><th>count</th><th>points</th><th>evidence</th><th>note</th></tr>"
        )
        for line in card.lines:
            entry = line.occurrence
            out.append(
                f"<tr><td>{entry.date}</td><td>{e(line.item.name)}</td><td class='n'>{shown(entry.count)}</td>"
                f"<td class='n'>{shown(line.applied)}</td><td>{e(entry.evidence or entry.source)}</td>"
                f"<td>{e(line.note)}</td></tr>"
            )
        out.append("</table></details>")
    out.append("</body></html>")
    return "\n".join(out)
