"""Scorecards: a period's scores, ranks and awards, computed from rubric and occurrences alone.

Pure: plain data in (a rubric, subjects, ledger entries, the period), plain data out. Every point
a scorecard adds or takes away is a `Line` naming the occurrence that caused it, so a supervisor
can answer "why 93.5?" line by line.

The rules, with the source text they implement (seeds/000, 第二篇 unless noted):
- a category's deductions stop at its points (扣分扣完大項分數為止); an item with its own points
  in the source stops at those (`cap`), e.g. the staff rubric's 德(1) 得10分;
- extras (獎扣分項) are outside the categories, may take the total above the base (加分可以突破
  100分), and a cap limits a group of them within the period (最高累計不超過10分);
- a month's total is its category scores plus that month's extras;
- a quarter or year averages the monthly category scores (以月平均分為基數; a month without
  occurrences scores full points) and adds the period's extras once (加上獎扣分后), so a cap is
  cumulative over the year and no extra counts twice;
- a rubric with an annual `monthly_weight` (XX city: 月度考核情況60分) scales the averaged monthly
  categories to that weight and adds its year-scope categories;
- a `survey_rate` category (XX city: 公眾評價情況10分,扣完為止) keeps its points times the year's
  callback-survey satisfaction rate, rounded half up to 0.01 (no answered survey: all of them),
  one line naming the surveys, before its items deduct;
- equal totals share a rank (1, 1, 3); the award goes to the top N eligible subjects; a tie across
  the cut is reported, and where the rubric says "at most N" (上街: 不超過5個) left undecided.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Iterable, Mapping, Sequence

from hotline.errors import InvalidInput
from scoring.occurrences import Occurrence, Satisfaction, Subject, check_against, standing
from scoring.rubrics import Award, Category, Item, Rubric

FLOOR_NOTE = "category exhausted (扣分扣完大項分數為止)"
CENT = Decimal("0.01")


class InvalidPeriod(InvalidInput):
    """The period is invalid (expected YYYY-MM, YYYY-Qn or YYYY)."""

    error_id = "invalid-period"


@dataclass(frozen=True)
class Period:
    """A month, quarter or year; `index` is the month or quarter number (0 for a year)."""

    kind: str
    year: int
    index: int = 0

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.year:04d}-{self.index:02d}"
        if self.kind == "quarter":
            return f"{self.year:04d}-Q{self.index}"
        return f"{self.year:04d}"

    @property
    def months(self) -> tuple[Period, ...]:
        if self.kind == "month":
            return (self,)
        first, count = (3 * self.index - 2, 3) if self.kind == "quarter" else (1, 12)
        return tuple(Period("month", self.year, m) for m in range(first, first + count))

    @property
    def start(self) -> date:
        return date(self.year, self.months[0].index, 1)

    @property
    def end(self) -> date:
        last = self.months[-1].index
        return date(self.year, last, calendar.monthrange(self.year, last)[1])

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end


def parse_period(kind: str, text: str) -> Period:
    """`2026-10` (month), `2026-Q3` (quarter) or `2026` (year) into a Period of that kind."""
    try:
        if kind == "month":
            year, month = text.split("-")
            period = Period("month", int(year), int(month))
            if len(year) != 4 or not 1 <= period.index <= 12:
                raise ValueError
        elif kind == "quarter":
            year, quarter = text.upper().split("-Q")
            period = Period("quarter", int(year), int(quarter))
            if len(year) != 4 or not 1 <= period.index <= 4:
                raise ValueError
        elif kind == "year" and len(text) == 4:
            period = Period("year", int(text))
        else:
            raise ValueError
        if period.year < 1:
            raise ValueError  # "0000" and "-001" have four characters; date() has no year 0
    except ValueError:
        example = {"month": "2026-10", "quarter": "2026-Q3", "year": "2026"}.get(kind, "2026-10")
        raise InvalidPeriod(f"{kind} {text!r}: expected e.g. {example}", period=text) from None
    return period


@dataclass(frozen=True)
class Line:
    """What one occurrence did to a score: `nominal` per the rubric, `applied` to this total.

    `share` is the fraction of a month's effect that reaches a quarter or year total (1/12 of a
    monthly deduction reaches the annual average); `month` names that month.
    """

    occurrence: Occurrence
    item: Item
    nominal: Fraction
    applied: Fraction
    note: str = ""
    share: Fraction = Fraction(1)
    month: str = ""


@dataclass(frozen=True)
class Scorecard:
    subject: Subject
    categories: Mapping[str, Fraction]
    bonus: Fraction
    lines: tuple[Line, ...]
    disqualified: tuple[str, ...] = ()
    eligible: bool = True
    rank: int = 0
    awarded: bool = False
    satisfaction: Satisfaction | None = None  # the period's callback surveys, when read

    @property
    def total(self) -> Fraction:
        return sum(self.categories.values(), Fraction(0)) + self.bonus

    @property
    def shown_total(self) -> Decimal:
        """The total as printed (two decimals), which is also what ranks: equal as shown, equal rank."""
        return points(self.total)


@dataclass(frozen=True)
class Tie:
    """Subjects sharing the score at the award cut, with fewer places left than subjects."""

    total: Fraction
    rank: int
    subjects: tuple[str, ...]
    places: int
    decided: bool


@dataclass(frozen=True)
class Scoreboard:
    rubric: Rubric
    period: Period
    cards: tuple[Scorecard, ...]
    award: Award | None
    ties_at_cut: tuple[Tie, ...]


def points(value: Fraction) -> Decimal:
    """Exact when the value has at most two decimals; otherwise rounded half up to two."""
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(CENT, ROUND_HALF_UP)


def shown(value: Fraction) -> str:
    """Points as people write them: 100, 99.5, 99.96."""
    return format(points(value).normalize(), "f")


def _ordered(entries: Iterable[Occurrence]) -> list[Occurrence]:
    # Date order decides which occurrence a floor or cap cuts short, so the breakdown reads
    # like the month happened; the totals do not depend on it.
    return sorted(entries, key=lambda entry: (entry.date, entry.id))


def _category_lines(
    category: Category, items: Mapping[str, Item], entries: Sequence[Occurrence], start: Fraction | None = None
) -> tuple[Fraction, list[Line]]:
    remaining = category.points if start is None else start
    used: dict[str, Fraction] = defaultdict(Fraction)
    lines = []
    for entry in entries:
        item = items[entry.item]
        nominal = item.points * entry.count
        deduction, notes = -nominal, []
        if item.cap is not None and deduction > item.cap - used[item.id]:
            deduction = item.cap - used[item.id]
            notes.append(f"item exhausted at {shown(item.cap)}")
        if deduction > remaining:
            deduction = remaining
            notes.append(FLOOR_NOTE)
        used[item.id] += deduction
        remaining -= deduction
        lines.append(Line(entry, item, nominal, -deduction, "; ".join(notes)))
    return remaining, lines


def _survey_rate_line(
    category: Category, subject: Subject, period: Period, found: Satisfaction | None
) -> tuple[Fraction, Line]:
    """What a `survey_rate` category keeps of its points, and the line that says why."""
    if found is None or not found.surveys:
        kept = category.points
        note = f"no answered callback survey in {period.label}: full points"
        evidence = "callback surveys: none answered"
    else:
        rate = Fraction(found.satisfied, found.surveys)
        kept = Fraction(points(category.points * rate))
        note = f"{shown(category.points)} x satisfaction {found.satisfied}/{found.surveys} = {shown(kept)}"
        evidence = f"callback surveys {period.label}: {found.satisfied}/{found.surveys} satisfied"
        if found.dissatisfied:
            evidence += "; dissatisfied: " + ", ".join(f"case {case}" for case in found.dissatisfied)
    item = Item(f"{category.id}:survey-rate", f"{category.name}: 回訪滿意率", kept - category.points, category.id)
    entry = Occurrence(f"surveys:{period.label}", subject.id, item.id, period.end, Fraction(1), "survey", evidence)
    return kept, Line(entry, item, item.points, item.points, note)


def _extra_lines(
    rubric: Rubric, items: Mapping[str, Item], entries: Sequence[Occurrence]
) -> tuple[Fraction, list[Line]]:
    used: dict[str, Fraction] = defaultdict(Fraction)
    lines = []
    for entry in entries:
        item = items[entry.item]
        nominal = applied = item.points * entry.count
        notes = []
        for cap in rubric.caps:
            if item.id in cap.items and applied > cap.max - used[cap.id]:
                applied = cap.max - used[cap.id]
                notes.append(f"{cap.name} +{shown(cap.max)} reached")
        for cap in rubric.caps:
            if item.id in cap.items:
                used[cap.id] += applied
        lines.append(Line(entry, item, nominal, applied, "; ".join(notes)))
    return sum((line.applied for line in lines), Fraction(0)), lines


def _months_between(since: date, end: date) -> int:
    """Whole months from `since` to the day after `end` (joined 07-01, quarter ends 09-30: 3)."""
    after = end + timedelta(days=1)
    months = (after.year - since.year) * 12 + after.month - since.month
    return months - (after.day < since.day)


def _disqualified(rubric: Rubric, period: Period, entries: Sequence[Occurrence]) -> tuple[str, ...]:
    reasons = []
    for rule in rubric.disqualifications:
        if period.kind not in rule.periods:
            continue
        if rule.within == "month":
            spans = [(month.start, month.end, month.label) for month in period.months]
        elif rule.within == "year":
            spans = [(date(period.year, 1, 1), period.end, f"{period.year} to {period.end}")]
        else:
            spans = [(period.start, period.end, period.label)]
        for start, end, label in spans:
            count = sum(
                (e.count for e in entries if e.item in rule.items and start <= e.date <= end),
                Fraction(0),
            )
            if count >= rule.at_least:
                reasons.append(f"{rule.reason} ({shown(count)} in {label})")
                break
    return tuple(reasons)


def _score_subject(
    rubric: Rubric, period: Period, subject: Subject, entries: Sequence[Occurrence],
    satisfaction: Satisfaction | None = None,
) -> Scorecard:
    items = rubric.items
    months = period.months
    # XX city: 月度考核情況60分 — the averaged monthly categories count for their weight only in
    # the annual result, beside the year-scope categories.
    annual = period.kind == "year" and rubric.monthly_weight is not None
    scale = rubric.monthly_weight / rubric.monthly_points if annual else Fraction(1)
    share = scale / len(months)
    categories: dict[str, Fraction] = {}
    lines: list[Line] = []
    for category in rubric.categories_in("month"):
        total = Fraction(0)
        member_ids = {i.id for i in category.items}
        for month in months:
            in_month = [e for e in entries if e.item in member_ids and e.date in month]
            score, month_lines = _category_lines(category, items, in_month)
            total += score
            if period.kind == "month":
                lines += month_lines
            else:
                lines += [
                    replace(line, applied=line.applied * share, share=share, month=month.label)
                    for line in month_lines
                ]
        categories[category.id] = total * share
    if annual:
        for category in rubric.categories_in("year"):
            member_ids = {i.id for i in category.items}
            start = None
            if category.survey_rate:
                start, rate_line = _survey_rate_line(category, subject, period, satisfaction)
                lines.append(rate_line)
            score, year_lines = _category_lines(
                category, items, [e for e in entries if e.item in member_ids], start
            )
            categories[category.id] = score
            lines += year_lines
    extra_ids = {item.id for item in rubric.extras}
    bonus, extra_lines = _extra_lines(rubric, items, [e for e in entries if e.item in extra_ids])
    lines += extra_lines
    eligible = True
    if subject.since is not None and period.kind in rubric.eligibility:
        eligible = _months_between(subject.since, period.end) >= rubric.eligibility[period.kind]
    return Scorecard(subject, categories, bonus, tuple(lines), eligible=eligible, satisfaction=satisfaction)


def _rank_and_award(
    cards: list[Scorecard], award: Award | None
) -> tuple[list[Scorecard], tuple[Tie, ...]]:
    totals = [card.shown_total for card in cards]
    ranked = [replace(card, rank=1 + sum(t > card.shown_total for t in totals)) for card in cards]
    ranked.sort(key=lambda card: (card.rank, card.subject.id))
    if award is None:
        return ranked, ()
    candidates = [card for card in ranked if card.eligible and not card.disqualified]
    if len(candidates) <= award.top:
        winners, ties = {card.subject.id for card in candidates}, ()
    else:
        cut = candidates[award.top - 1].shown_total
        above = [card for card in candidates if card.shown_total > cut]
        at_cut = [card for card in candidates if card.shown_total == cut]
        winners = {card.subject.id for card in above}
        if len(above) + len(at_cut) == award.top:
            winners |= {card.subject.id for card in at_cut}
            ties = ()
        else:
            # 前5名 with equal scores across 5th place: all of them are in the top 5 by rank, so
            # all get the award, unless the rubric caps the count (不超過5個); then the tie goes
            # to the meeting that decides the awards.
            if not award.at_most:
                winners |= {card.subject.id for card in at_cut}
            ties = (
                Tie(
                    at_cut[0].total,
                    at_cut[0].rank,
                    tuple(c.subject.id for c in at_cut),
                    award.top - len(above),
                    not award.at_most,
                ),
            )
    return [replace(card, awarded=card.subject.id in winners) for card in ranked], ties


def score_period(
    rubric: Rubric, subjects: Sequence[Subject], entries: Iterable[Occurrence], period: Period,
    satisfaction: Mapping[str, Satisfaction] | None = None,
) -> Scoreboard:
    """Score every subject for `period` from the ledger `entries` (reversals are honoured) and,
    where given, each subject's callback-survey `satisfaction` in the period (a `survey_rate`
    category reads it; a subject without any counts as having no answered survey).

    Entries outside the period are ignored, except those a year-long disqualification counts
    (三次投訴經查實取消全年評選資格 looks back to 1 January).
    """
    live = standing(entries)
    check_against(rubric, subjects, live)
    by_subject: dict[str, list[Occurrence]] = defaultdict(list)
    for entry in _ordered(live):
        by_subject[entry.subject].append(entry)
    cards = []
    for subject in subjects:
        mine = by_subject[subject.id]
        card = _score_subject(rubric, period, subject, [e for e in mine if e.date in period],
                              (satisfaction or {}).get(subject.id))
        cards.append(replace(card, disqualified=_disqualified(rubric, period, mine)))
    award = rubric.awards.get(period.kind)
    ranked, ties = _rank_and_award(cards, award)
    return Scoreboard(rubric, period, tuple(ranked), award, ties)
