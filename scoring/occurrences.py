"""The ledger of what happened: occurrences of rubric items, entered and never edited.

A correction is a new entry that reverses an old one (and, if needed, a fresh entry with the right
values), so the supervision section can always show who changed a score, when and why. Scoring
only ever sees the standing entries: neither reversed nor reversals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from fractions import Fraction
from typing import Any, Iterable, Mapping, Sequence

from hotline.errors import InvalidInput
from scoring.rubrics import Rubric

SOURCES = ("inspection", "attendance", "complaint", "survey", "overdue-case", "media", "manual")


class LedgerError(InvalidInput):
    """The occurrence ledger is inconsistent."""

    error_id = "invalid-occurrence"


@dataclass(frozen=True)
class Subject:
    """A window or a staff member being scored; `since` is when they joined the centre."""

    id: str
    name: str
    since: date | None = None


@dataclass(frozen=True)
class Occurrence:
    """One ledger entry: `count` times `item` happened to `subject` on `date`."""

    id: str
    subject: str
    item: str
    date: date
    count: Fraction = Fraction(1)
    source: str = "manual"
    evidence: str = ""
    entered_by: str = ""
    entered_at: datetime | None = None
    reverses: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Satisfaction:
    """A subject's callback surveys in the period, reported beside its score: how many were
    answered and satisfied, and (when read from the surveys) which, by their case numbers."""

    surveys: int
    satisfied: int
    cases: tuple[str, ...] = ()
    dissatisfied: tuple[str, ...] = ()
    name: str = ""

    @property
    def rate(self) -> Fraction | None:
        return Fraction(self.satisfied, self.surveys) if self.surveys else None


def reversal(
    entry: Occurrence, *, id: str, entered_by: str, entered_at: datetime, note: str
) -> Occurrence:
    """The entry that cancels `entry`, keeping its subject, item, date and count for the record."""
    if entry.reverses is not None:
        raise LedgerError(
            f"occurrence {entry.id} is itself a reversal; enter the original again instead"
        )
    return replace(
        entry,
        id=id,
        source="manual",
        entered_by=entered_by,
        entered_at=entered_at,
        reverses=entry.id,
        note=note,
    )


def standing(entries: Iterable[Occurrence]) -> list[Occurrence]:
    """The entries that count: every entry minus reversals and what they reverse."""
    entries = list(entries)
    by_id = {entry.id: entry for entry in entries}
    if len(by_id) != len(entries):
        raise LedgerError("occurrence ids must be unique")
    reversed_ids: set[str] = set()
    for entry in entries:
        if entry.reverses is None:
            continue
        target = by_id.get(entry.reverses)
        if target is None or target.reverses is not None:
            raise LedgerError(
                f"occurrence {entry.id} reverses {entry.reverses}, which is not an original entry"
            )
        if entry.reverses in reversed_ids:
            raise LedgerError(f"occurrence {entry.reverses} is reversed twice")
        reversed_ids.add(entry.reverses)
    return [e for e in entries if e.reverses is None and e.id not in reversed_ids]


def check_against(rubric: Rubric, subjects: Sequence[Subject], entries: Iterable[Occurrence]) -> None:
    """Refuse entries for subjects or items the rubric does not know, naming the entry."""
    subject_ids = {subject.id for subject in subjects}
    if len(subject_ids) != len(subjects):
        raise LedgerError("subject ids must be unique")
    items = rubric.items
    for entry in entries:
        if entry.subject not in subject_ids:
            raise LedgerError(
                f"occurrence {entry.id}: unknown subject {entry.subject!r}", occurrence=entry.id
            )
        if entry.item not in items:
            raise LedgerError(
                f"occurrence {entry.id}: rubric {rubric.id} has no item {entry.item!r}",
                occurrence=entry.id,
            )


def _field(where: str, table: Mapping[str, Any], name: str, kind: type, default: Any = ...) -> Any:
    if name not in table:
        if default is ...:
            raise LedgerError(f"{where}.{name}: missing", key=f"{where}.{name}")
        return default
    value = table[name]
    try:
        if kind is date:
            return date.fromisoformat(value)
        if kind is datetime:
            return datetime.fromisoformat(value)
        if kind is Fraction:
            if isinstance(value, bool) or not isinstance(value, (int, str, float)):
                raise TypeError
            number = Fraction(str(value))
            if number <= 0:
                raise ValueError
            return number
        # Ids and names must say something; optional text (evidence, note) may be empty.
        if not isinstance(value, kind) or (kind is str and not value and default is ...):
            raise TypeError
        return value
    except (TypeError, ValueError):
        label = {date: "a YYYY-MM-DD date", datetime: "an ISO timestamp", Fraction: "a positive number"}
        raise LedgerError(
            f"{where}.{name}: expected {label.get(kind, kind.__name__)}, got {value!r}",
            key=f"{where}.{name}",
        ) from None


@dataclass(frozen=True)
class Ledger:
    """Subjects, entries and survey results as read from an input file."""

    subjects: tuple[Subject, ...]
    entries: tuple[Occurrence, ...]
    satisfaction: Mapping[str, Satisfaction]


def read_ledger(data: Any) -> Ledger:
    """Parse the `--input` JSON document (docs/scoring.md), naming the key of any error."""
    if not isinstance(data, dict):
        raise LedgerError("input: expected an object with subjects and occurrences")
    for key, kind, name in (("subjects", list, "an array"), ("occurrences", list, "an array"),
                            ("satisfaction", dict, "an object")):
        if not isinstance(data.get(key, kind()), kind):
            raise LedgerError(f"{key}: expected {name}", key=key)
    subjects = []
    for index, table in enumerate(data.get("subjects", [])):
        where = f"subjects[{index}]"
        if not isinstance(table, dict):
            raise LedgerError(f"{where}: expected an object", key=where)
        subjects.append(
            Subject(
                _field(where, table, "id", str),
                _field(where, table, "name", str),
                _field(where, table, "since", date, None),
            )
        )
    entries = []
    for index, table in enumerate(data.get("occurrences", [])):
        where = f"occurrences[{index}]"
        if not isinstance(table, dict):
            raise LedgerError(f"{where}: expected an object", key=where)
        source = _field(where, table, "source", str, "manual")
        if source not in SOURCES:
            raise LedgerError(f"{where}.source: expected one of {', '.join(SOURCES)}, got {source!r}")
        entries.append(
            Occurrence(
                id=_field(where, table, "id", str, f"input:{index + 1}"),
                subject=_field(where, table, "subject", str),
                item=_field(where, table, "item", str),
                date=_field(where, table, "date", date),
                count=_field(where, table, "count", Fraction, Fraction(1)),
                source=source,
                evidence=_field(where, table, "evidence", str, ""),
                entered_by=_field(where, table, "entered_by", str, ""),
                entered_at=_field(where, table, "entered_at", datetime, None),
                reverses=_field(where, table, "reverses", str, None),
                note=_field(where, table, "note", str, ""),
            )
        )
    satisfaction = {}
    for subject, table in data.get("satisfaction", {}).items():
        where = f"satisfaction.{subject}"
        if not isinstance(table, dict):
            raise LedgerError(f"{where}: expected an object", key=where)
        surveys = _field(where, table, "surveys", int)
        satisfied = _field(where, table, "satisfied", int)
        if not 0 <= satisfied <= surveys:
            raise LedgerError(f"{where}: satisfied must lie between 0 and surveys")
        satisfaction[subject] = Satisfaction(surveys, satisfied)
    return Ledger(tuple(subjects), tuple(entries), satisfaction)
