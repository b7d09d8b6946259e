"""Test ledgers written as tables, so a scenario reads like the supervision section's log."""

from datetime import date
from fractions import Fraction

from scoring.occurrences import Occurrence, Subject


def ledger(table: str) -> list[Occurrence]:
    """Rows of `subject | item | date | count [| evidence]`; ids are the row numbers."""
    entries = []
    for row in table.strip().splitlines():
        cells = [cell.strip() for cell in row.split("|")]
        subject, item, day, count = cells[:4]
        entries.append(
            Occurrence(
                id=str(len(entries) + 1), subject=subject, item=item, date=date.fromisoformat(day),
                count=Fraction(count), evidence=cells[4] if len(cells) > 4 else "",
            )
        )
    return entries


def windows(*ids: str) -> list[Subject]:
    return [Subject(i, i.upper()) for i in ids]
