"""Served-item records (辦件): rows from the centre's system, validated and de-duplicated.

Pure: rows in, `ServedItem`s and problems out. The same rules serve the CSV import and the API,
so a row refused by one is refused by the other with the same words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo

FIELDS = ("window", "staff", "applicant", "phone", "item", "completed_at")
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TEXT_LIMIT = 200
# Chinese numbers as a centre's system records them: mobile 1[3-9]XXXXXXXXX (11 digits), or a
# landline with its area code, 0 + 2-3 digits + a 7-8 digit local number; with or without +86.
# ASCII digits only: \d would also take "١٣٨", which no PBX dials.
MOBILE = re.compile(r"1[3-9][0-9]{9}")
LANDLINE = re.compile(r"0[1-9][0-9]{8,10}")
_SEPARATORS = re.compile(r"[\s()\-]")


@dataclass(frozen=True)
class ServedItem:
    """One service item an applicant completed at a window."""

    window: str
    staff: str
    applicant: str
    phone: str
    item: str
    completed_at: datetime

    @property
    def key(self) -> tuple[str, str, str, str, datetime]:
        """What makes two rows the same record (a re-export of the same day is no new item)."""
        return (self.window, self.staff, self.phone, self.item, self.completed_at)


@dataclass(frozen=True)
class Problem:
    """A row refused: its line (or index in an API batch), the field and why."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


def phone_number(text: str) -> str | None:
    """`text` as a dialable Chinese number (digits only, no country code), or None if it is not
    one: a mobile number or a landline with its area code."""
    digits = _SEPARATORS.sub("", text)
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix):]
            break
    else:
        if len(digits) == 13 and digits.startswith("86"):
            digits = digits[2:]
    if MOBILE.fullmatch(digits) or LANDLINE.fullmatch(digits):
        return digits
    return None


def parse_time(text: str, zone: tzinfo) -> datetime:
    """An ISO 8601 time; one without an offset is the centre's local time (`zone`)."""
    value = datetime.fromisoformat(text.strip())
    return value if value.tzinfo else value.replace(tzinfo=zone)


def parse_item(line: int, row: Mapping[str, object], zone: tzinfo) -> ServedItem | list[Problem]:
    """One row as a ServedItem, or every problem it has."""
    problems: list[Problem] = []
    values: dict[str, str] = {}
    for name in FIELDS:
        raw = row.get(name)
        if not isinstance(raw, str) or not raw.strip():
            problems.append(Problem(line, name, "missing"))
            continue
        value = raw.strip()
        if "\x00" in value:
            # PostgreSQL text cannot hold NUL.
            problems.append(Problem(line, name, "contains a NUL character"))
        elif len(value) > TEXT_LIMIT:
            problems.append(Problem(line, name, f"longer than {TEXT_LIMIT} characters"))
        values[name] = value
    for name in ("window", "staff"):
        if name in values and not ID.fullmatch(values[name]):
            problems.append(Problem(line, name, f"expected an id such as gongan-1 (the scoring "
                                                f"subject's), got {values[name]!r}"))
    phone = None
    if "phone" in values:
        phone = phone_number(values["phone"])
        if phone is None:
            problems.append(Problem(line, "phone", f"not a Chinese mobile or landline number: {values['phone']!r}"))
    completed = None
    if "completed_at" in values:
        try:
            completed = parse_time(values["completed_at"], zone)
        except ValueError:
            problems.append(Problem(line, "completed_at", f"expected an ISO 8601 time such as "
                                                          f"2026-11-27T10:30:00+08:00, got {values['completed_at']!r}"))
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        problems.append(Problem(line, unknown[0], "unknown field"))
    if problems:
        return problems
    assert phone is not None and completed is not None
    return ServedItem(values["window"], values["staff"], values["applicant"], phone,
                      values["item"], completed)


@dataclass(frozen=True)
class Batch:
    """What a set of rows yields: the good items (first of each duplicate), the problems, and
    the lines skipped as duplicates of an earlier line."""

    items: list[ServedItem]
    problems: list[Problem]
    duplicates: list[int]


def parse_rows(rows: Iterable[tuple[int, Mapping[str, object]]], zone: tzinfo) -> Batch:
    """Validate `(line, row)` pairs; a bad row never stops the good ones."""
    items: list[ServedItem] = []
    problems: list[Problem] = []
    duplicates: list[int] = []
    seen: set[tuple] = set()
    for line, row in rows:
        parsed = parse_item(line, row, zone)
        if isinstance(parsed, list):
            problems.extend(parsed)
        elif parsed.key in seen:
            duplicates.append(line)
        else:
            seen.add(parsed.key)
            items.append(parsed)
    return Batch(items, problems, duplicates)
