"""The weekly draw: which served citizens are called, chosen at random from a stored seed.

Pure: candidates, the week, the seed and the rules in; the drawn candidates out. Given the same
candidates and seed, a draw always comes out the same, so a week's draw can be reproduced and
audited from its stored seed (docs/surveys.md, "The draw").
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from hotline.errors import InvalidInput
from hotline.surveys.served import phone_number

WEEK = re.compile(r"(\d{4})-W(\d{2})")


@dataclass(frozen=True)
class Candidate:
    """A served item that may be drawn: its id, who served whom, and when."""

    item_id: int
    window: str
    staff: str
    phone: str
    completed_at: datetime


def parse_week(text: str) -> date:
    """The Monday of ISO week `text` (`2026-W49`)."""
    match = WEEK.fullmatch(text)
    try:
        if match is None:
            raise ValueError
        return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise InvalidInput(f"week: expected an ISO week such as 2026-W49, got {text!r}",
                           parameter="week") from None


def week_of(moment: datetime, zone: tzinfo) -> str:
    """The ISO week `moment` falls in, in the centre's time zone."""
    year, week, _ = moment.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(week: str, zone: tzinfo) -> tuple[datetime, datetime]:
    """Monday 00:00 of `week` and of the week after, in the centre's time zone."""
    monday = parse_week(week)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=zone)
    following = monday + timedelta(days=7)
    return start, datetime(following.year, following.month, following.day, tzinfo=zone)


def eligible(
    candidates: Iterable[Candidate],
    *,
    week_start: datetime,
    lookback_days: int,
    excluded_phones: set[str],
) -> list[Candidate]:
    """The candidates a draw for the week starting `week_start` may choose from.

    An item qualifies when it was completed in the `lookback_days` before the week and its phone
    is a valid Chinese number not in `excluded_phones` (opted out, or surveyed within the quiet
    period, this week's draws included). A citizen with several items is one candidate, their
    latest item, so no one is twice as likely to be called.
    """
    earliest = week_start - timedelta(days=lookback_days)
    latest: dict[str, Candidate] = {}
    for candidate in candidates:
        if not earliest <= candidate.completed_at < week_start:
            continue
        if phone_number(candidate.phone) != candidate.phone or candidate.phone in excluded_phones:
            continue
        known = latest.get(candidate.phone)
        if known is None or (candidate.completed_at, candidate.item_id) > (known.completed_at, known.item_id):
            latest[candidate.phone] = candidate
    return sorted(latest.values(), key=lambda c: c.item_id)


def draw(pool: Iterable[Candidate], seed: str, round_: int, count: int) -> list[Candidate]:
    """`count` candidates from `pool` (fewer if the pool is smaller), at random from `seed`.

    Round 0 is the week's draw; round n the n-th replacement draw, from what is left. The pool
    is put in item order first, so the result depends only on which candidates there are, not
    on the order a query returned them in.
    """
    ordered = sorted(pool, key=lambda c: c.item_id)
    return random.Random(f"{seed}:{round_}").sample(ordered, min(count, len(ordered)))


def followed_up(case: str, share: float) -> bool:
    """Whether closed case `case` is among the `share` (0-1] of cases called back: a fixed
    function of its number, so every daemon and every restart picks the same cases."""
    digest = hashlib.sha256(case.encode()).digest()
    return int.from_bytes(digest[:4], "big") < share * 2**32
