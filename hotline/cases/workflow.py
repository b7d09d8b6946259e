"""The case workflow (工单流程): which step may follow which, by whom, and what each step records.
Pure: no I/O and no clock; the caller passes the time, loads the case and saves what comes back.

The six stages of digital city management (信息收集 → 立案 → 派遣 → 处理 → 反馈 → 核实结案) with
the steps 12345 centres add (直接办结, 签收/退单, 延期, 催办, 督办, 重复件):

    received --resolve--> resolved            (直接办结: answered on the call, answer recorded)
    received --reject---> rejected            (不予立案, with a reason)
    received --register-> registered          (立案)
    received, registered --merge--> closed    (重复件: joins the case it repeats)
    registered --dispatch--> dispatched       (派遣, with the acknowledgement deadline)
    dispatched --acknowledge--> handling      (签收)
    dispatched --return--> registered         (退单: not this department's, back to dispatch)
    handling --request-extension / decide-extension--> handling   (延期, moves the deadline)
    handling --feedback--> feedback           (处理反馈)
    feedback --verify passed--> closed        (核实结案; complaints record 查实 or not)
    feedback --verify failed--> handling      (back to the same department)
    resolved, rejected, closed --reopen--> registered
    resolved, closed --request-reopening--> unchanged  (a dissatisfied 回访: the supervisor decides)
    any open status --urge / escalate--> unchanged  (催办 / 督办)

Every step is a `Step`: actor, role, time, note, status before and after, the step's data, and a
SHA-256 over all of that and the previous step's hash, so that an edited or deleted row breaks
the chain (`first_broken_link`); the case keeps its newest step's hash, which ends the chain.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from fractions import Fraction
from typing import Any

from hotline.cases.calendar import WorkingCalendar
from hotline.errors import Forbidden, HotlineError, InvalidInput

TYPES = ("complaint", "inquiry", "help", "suggestion", "report", "praise", "survey")
CHANNELS = ("12345", "12319", "web", "inspector", "survey")
RECEIVED, RESOLVED, REJECTED, REGISTERED = "received", "resolved", "rejected", "registered"
DISPATCHED, HANDLING, FEEDBACK, CLOSED = "dispatched", "handling", "feedback", "closed"
STATUSES = (RECEIVED, RESOLVED, REJECTED, REGISTERED, DISPATCHED, HANDLING, FEEDBACK, CLOSED)
OPEN_STATUSES = (RECEIVED, REGISTERED, DISPATCHED, HANDLING, FEEDBACK)
FINAL_STATUSES = (RESOLVED, REJECTED, CLOSED)

# The prefix of a case number: the hotline it came in on, or where else it came from.
NUMBER_PREFIXES = {"12345": "12345", "12319": "12319", "web": "WEB", "inspector": "INSP", "survey": "SURV"}
NUMBER = re.compile(r"(12345|12319|WEB|INSP|SURV)-(\d{8})-(\d{4,})")

SYSTEM = "system"
DEFAULT_ITEM = "verified-complaint"
GENESIS = "0" * 64

# (our choice) Limits for the types published rules do not fix; complaints 13 and inquiries 3
# working days are the published ones. Every value is configuration ([cases.limits]).
DEFAULT_LIMITS = {
    "complaint": 13, "inquiry": 3, "help": 5, "suggestion": 13, "report": 13, "praise": 5, "survey": 3,
}


class IllegalTransition(HotlineError):
    """This action is not possible in the case's current status."""

    status_code = 409
    error_id = "illegal-transition"


class Conflict(HotlineError):
    """The case changed since it was read; read it again and retry."""

    status_code = 409
    error_id = "conflict"


@dataclass(frozen=True)
class Limits:
    """Promised time limits in working days (fractions are shares of a working day's hours)."""

    days: Mapping[str, Fraction] = field(
        default_factory=lambda: {kind: Fraction(days) for kind, days in DEFAULT_LIMITS.items()}
    )
    # channel -> type -> days, over `days`.
    channel_days: Mapping[str, Mapping[str, Fraction]] = field(default_factory=dict)
    acknowledge_days: Fraction = Fraction(1)
    # 12319 cases are acknowledged within half a working day (published 12319 rules).
    channel_acknowledge_days: Mapping[str, Fraction] = field(
        default_factory=lambda: {"12319": Fraction(1, 2)}
    )
    # After the one urging (催办), this many working days before a circulated criticism (通报).
    criticism_days: Fraction = Fraction(5)

    def for_case(self, kind: str, channel: str) -> Fraction:
        return self.channel_days.get(channel, {}).get(kind, self.days[kind])

    def to_acknowledge(self, channel: str) -> Fraction:
        return self.channel_acknowledge_days.get(channel, self.acknowledge_days)


@dataclass(frozen=True)
class Policy:
    """What deadlines are computed from: the calendar and the limits."""

    calendar: WorkingCalendar
    limits: Limits = Limits()
    # Rubric items (yihuang-window ids) a substantiated complaint and a late case stand for.
    complaint_item: str = DEFAULT_ITEM
    overdue_item: str = "overdue"


@dataclass(frozen=True)
class Actor:
    """Who makes a step: a user's name and role, or the system (deadline watch)."""

    name: str
    role: str
    department: str | None = None


SYSTEM_ACTOR = Actor("hotline:deadlines", SYSTEM)


@dataclass(frozen=True)
class Case:
    """A work order (工单) as the workflow sees it."""

    number: str
    type: str
    channel: str
    status: str
    description: str
    filed_at: datetime
    due_at: datetime
    hotline: str | None = None
    department: str | None = None
    # The department's window at the service centre: whose score a late case costs.
    department_window: str | None = None
    # The window and staff member a complaint is about (scoring subject ids).
    window: str | None = None
    staff: str | None = None
    address: str | None = None
    grid_code: str | None = None
    component_code: str | None = None
    confidential: bool = False
    acknowledge_due_at: datetime | None = None
    acknowledged_at: datetime | None = None
    extension_days: int | None = None  # requested, waiting for a supervisor
    urged_at: datetime | None = None
    criticism_due_at: datetime | None = None
    escalated_at: datetime | None = None
    overdue_at: datetime | None = None
    criticised_at: datetime | None = None
    substantiated: bool | None = None
    # The rubric item standing in the ledger for this case's verified outcome, if any.
    scored_item: str | None = None
    merged_into: str | None = None
    closed_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class Step:
    """One recorded step of a case's history."""

    seq: int
    action: str
    actor: str
    role: str
    at: datetime
    note: str
    status_before: str | None
    status_after: str
    data: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ScoreChange:
    """What a step changes in the window and staff scores: the ledger entries the case now stands
    for. `cancel` is the item whose entries must be reversed, `enter` the item to enter."""

    kind: str  # "complaint" (a verified outcome) or "overdue"
    enter: str | None = None
    cancel: str | None = None


@dataclass(frozen=True)
class Transition:
    """A case after one step, the step itself, and what it changes in the scores."""

    case: Case
    step: Step
    score: ScoreChange | None = None


@dataclass(frozen=True)
class ActionRule:
    sources: tuple[str, ...]
    roles: tuple[str, ...]


RECEPTION = ("operator", "supervisor")
SUPERVISION = ("supervisor",)
DEPARTMENT = ("handler",)

# action -> where it may start and who may make it (admins may make any).
ACTIONS: dict[str, ActionRule] = {
    # The system resolves a callback-survey case when its survey ends (the answers are its reply).
    "resolve": ActionRule((RECEIVED,), RECEPTION + (SYSTEM,)),
    "register": ActionRule((RECEIVED,), RECEPTION),
    "reject": ActionRule((RECEIVED,), RECEPTION),
    "merge": ActionRule((RECEIVED, REGISTERED), RECEPTION),
    "dispatch": ActionRule((REGISTERED,), SUPERVISION),
    "acknowledge": ActionRule((DISPATCHED,), DEPARTMENT),
    "return": ActionRule((DISPATCHED,), DEPARTMENT),
    "request-extension": ActionRule((HANDLING,), DEPARTMENT),
    "decide-extension": ActionRule((HANDLING,), SUPERVISION),
    "feedback": ActionRule((HANDLING,), DEPARTMENT),
    "verify": ActionRule((FEEDBACK,), SUPERVISION),
    "urge": ActionRule(OPEN_STATUSES, SUPERVISION),
    "escalate": ActionRule(OPEN_STATUSES, SUPERVISION),
    "reopen": ActionRule(FINAL_STATUSES, SUPERVISION),
    # Only the follow-up callback asks: the citizen said the case was not handled to their
    # satisfaction (回访不满意), and the supervision centre decides whether it goes back (回退).
    "request-reopening": ActionRule((RESOLVED, CLOSED), (SYSTEM,)),
}
# The actions a department's handler makes: only on its own department's cases.
DEPARTMENT_ACTIONS = frozenset(name for name, rule in ACTIONS.items() if rule.roles == DEPARTMENT)


def grid_code(value: str) -> str:
    """A 12-digit grid code (CJ/T 213-2005): district 6 + street office 2 + community 2 + grid 2."""
    if not re.fullmatch(r"\d{12}", value):
        raise InvalidInput(f"grid_code: expected 12 digits (6 district, 2 street, 2 community, 2 grid), got {value!r}",
                           field="grid_code")
    if value[6:8] == "00" or value[8:10] == "00" or value[10:12] == "00":
        # Sequence numbers start at 01; 00 in a part means the code names an area, not a grid.
        raise InvalidInput(f"grid_code: street, community and grid numbers start at 01, got {value!r}",
                           field="grid_code")
    return value


def component_code(value: str) -> str:
    """A 16-digit component code: district 6 + major class 2 + minor class 2 + serial 6."""
    if not re.fullmatch(r"\d{16}", value):
        raise InvalidInput(f"component_code: expected 16 digits (6 district, 2+2 class, 6 serial), got {value!r}",
                           field="component_code")
    return value


def case_number(channel: str, local_day: str, sequence: int) -> str:
    """`12345-20261201-0007`: where it came in, the local day, the day's sequence number."""
    return f"{NUMBER_PREFIXES[channel]}-{local_day}-{sequence:04d}"


def _utc(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat()


def canonical(data: Mapping[str, Any]) -> str:
    """The one JSON text of a step's data that its hash covers (and that is stored)."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def step_hash(number: str, seq: int, action: str, actor: str, role: str, at: datetime, note: str,
              before: str | None, after: str, data: str, prev_hash: str) -> str:
    """SHA-256 over everything a step records and its predecessor's hash."""
    text = canonical({
        "number": number, "seq": seq, "action": action, "actor": actor, "role": role, "at": _utc(at),
        "note": note, "before": before, "after": after, "data": data, "prev": prev_hash,
    })
    return hashlib.sha256(text.encode()).hexdigest()


def make_step(number: str, previous: Step | None, action: str, actor: Actor, at: datetime, note: str,
              before: str | None, after: str, data: Mapping[str, Any]) -> Step:
    seq = previous.seq + 1 if previous else 1
    prev_hash = previous.hash if previous else GENESIS
    text = canonical(data)
    digest = step_hash(number, seq, action, actor.name, actor.role, at, note, before, after, text, prev_hash)
    return Step(seq, action, actor.name, actor.role, at, note, before, after, dict(data), prev_hash, digest)


def first_broken_link(number: str, steps: Sequence[Step], status: str | None = None,
                      head: str | None = None) -> int | None:
    """The sequence number of the first step whose record or link does not match its hash (or
    that is missing from the chain), or None when the history is intact.

    The hashes alone cannot show that the newest steps were deleted: the case's current `status`
    and `head` (the hash of its newest step, kept on the case) can. A history whose last step
    does not end in `status`, or is not `head`, is broken after the last step that `head`
    still vouches for: after its last step when `head` is none of them."""
    previous_hash = GENESIS
    for expected_seq, step in enumerate(steps, start=1):
        recomputed = step_hash(number, step.seq, step.action, step.actor, step.role, step.at, step.note,
                               step.status_before, step.status_after, canonical(step.data), step.prev_hash)
        if step.seq != expected_seq or step.prev_hash != previous_hash or recomputed != step.hash:
            return expected_seq
        previous_hash = step.hash
    hashes = [step.hash for step in steps]
    if head is not None and head in hashes[:-1]:
        return hashes.index(head) + 2  # steps appended after the case's newest
    if not steps or (status is not None and steps[-1].status_after != status) or (
            head is not None and head != hashes[-1]):
        return len(steps) + 1
    return None


# Longest accepted value per field: the column widths (ids are scoring subject ids).
LIMITS = {"hotline": 32, "department": 64, "window": 64, "staff": 64, "item": 64, "into": 32}
TEXT_LIMIT = 10_000


def _text(params: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = params.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"{name}: required", field=name)
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name}: expected text, got {value!r}", field=name)
    limit = LIMITS.get(name, TEXT_LIMIT)
    if len(value.strip()) > limit:
        raise InvalidInput(f"{name}: at most {limit} characters", field=name)
    return value.strip()


def _flag(params: Mapping[str, Any], name: str) -> bool:
    value = params.get(name)
    if not isinstance(value, bool):
        raise InvalidInput(f"{name}: expected true or false, got {value!r}", field=name)
    return value


def file_case(
    number: str, fields: Mapping[str, Any], actor: Actor, at: datetime, policy: Policy
) -> Transition:
    """A new case, `received`, with its completion deadline and its first step."""
    kind, channel = fields.get("type"), fields.get("channel")
    if kind not in TYPES:
        raise InvalidInput(f"type: expected one of {', '.join(TYPES)}, got {kind!r}", field="type")
    if channel not in CHANNELS:
        raise InvalidInput(f"channel: expected one of {', '.join(CHANNELS)}, got {channel!r}", field="channel")
    description = _text(fields, "description")
    optional = {name: _text(fields, name, required=False)
                for name in ("hotline", "department", "window", "staff", "address")}
    grid = _text(fields, "grid_code", required=False)
    component = _text(fields, "component_code", required=False)
    if channel == "12319" and not (optional["address"] and grid):
        # City-management cases are located on the grid (CJ/T 213-2005) so a department can go there.
        raise InvalidInput("a 12319 case needs address and grid_code", field="grid_code")
    confidential = fields.get("confidential", False)
    if not isinstance(confidential, bool):
        raise InvalidInput(f"confidential: expected true or false, got {confidential!r}", field="confidential")
    case = Case(
        number=number, type=kind, channel=channel, status=RECEIVED, description=description,
        filed_at=at, due_at=policy.calendar.add(at, policy.limits.for_case(kind, channel)),
        grid_code=grid_code(grid) if grid else None,
        component_code=component_code(component) if component else None,
        confidential=confidential, **optional,
    )
    data = {"type": kind, "channel": channel, "due_at": _utc(case.due_at)}
    step = make_step(number, None, "file", actor, at, description, None, RECEIVED, data)
    return Transition(case, step)


def check_role(action: str, actor: Actor) -> None:
    """Refuse `actor` if their role may not make `action` (admins may make any)."""
    rule = ACTIONS.get(action)
    if rule is None:
        raise InvalidInput(f"unknown action {action!r}; one of {', '.join(ACTIONS)}", action=action)
    if actor.role != "admin" and actor.role not in rule.roles:
        raise Forbidden(f"role {actor.role!r} may not {action} a case", action=action, required=list(rule.roles))


def act(
    case: Case, action: str, params: Mapping[str, Any], actor: Actor, at: datetime, policy: Policy,
    previous: Step,
) -> Transition:
    """Apply `action` to `case` by `actor` at `at`: the case after it, its step and its effect on
    the scores. Refuses a wrong role (403), a status the action cannot start from (409) and
    missing or wrong parameters (400); nothing changes then."""
    check_role(action, actor)
    rule = ACTIONS[action]
    if case.status not in rule.sources or (action == "reopen" and case.merged_into):
        raise IllegalTransition(
            f"case {case.number} is {case.status}: {action} needs it "
            + (" or ".join(rule.sources) if not case.merged_into else "not merged into another case"),
            number=case.number, status=case.status, action=action, allowed_from=list(rule.sources),
        )
    calendar, limits = policy.calendar, policy.limits
    after, note, data, score = case.status, "", {}, None
    changes: dict[str, Any] = {}

    if action == "resolve":
        if case.type == "complaint":
            raise IllegalTransition("a complaint cannot be closed on the call: register it for verification",
                                    number=case.number, action=action)
        note, after, changes = _text(params, "answer"), RESOLVED, {"closed_at": at}
    elif action == "register":
        note, after = _text(params, "note", required=False) or "", REGISTERED
    elif action == "reject":
        note, after, changes = _text(params, "reason"), REJECTED, {"closed_at": at}
    elif action == "merge":
        into = _text(params, "into")
        if into == case.number:
            raise InvalidInput("into: a case cannot be merged into itself", field="into")
        data, after = {"into": into}, CLOSED
        changes = {"merged_into": into, "closed_at": at}
    elif action == "dispatch":
        department = _text(params, "department")
        window = _text(params, "window", required=False)
        acknowledge_due = calendar.add(at, limits.to_acknowledge(case.channel))
        after = DISPATCHED
        data = {"department": department, "window": window, "acknowledge_due_at": _utc(acknowledge_due)}
        changes = {"department": department, "department_window": window,
                   "acknowledge_due_at": acknowledge_due, "acknowledged_at": None}
    elif action == "acknowledge":
        after = HANDLING
        late = case.acknowledge_due_at is not None and at > case.acknowledge_due_at
        data, changes = {"late": late}, {"acknowledged_at": at}
    elif action == "return":
        note, after = _text(params, "reason"), REGISTERED
        data = {"department": case.department}
        changes = {"department": None, "department_window": None, "acknowledge_due_at": None}
    elif action == "request-extension":
        if case.extension_days is not None:
            raise IllegalTransition(f"case {case.number} already has an extension request waiting",
                                    number=case.number, action=action)
        days = params.get("days")
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 60:
            raise InvalidInput(f"days: expected whole working days from 1 to 60, got {days!r}", field="days")
        note, data, changes = _text(params, "reason"), {"days": days}, {"extension_days": days}
    elif action == "decide-extension":
        if case.extension_days is None:
            raise IllegalTransition(f"case {case.number} has no extension request to decide",
                                    number=case.number, action=action)
        approve = _flag(params, "approve")
        note = _text(params, "note", required=False) or ""
        changes = {"extension_days": None}
        data = {"approve": approve, "days": case.extension_days}
        if approve:
            changes["due_at"] = calendar.add_working_days(case.due_at, case.extension_days)
            data["due_at"] = _utc(changes["due_at"])
    elif action == "feedback":
        note, after = _text(params, "text"), FEEDBACK
    elif action == "verify":
        passed = _flag(params, "passed")
        note = _text(params, "note", required=False) or ""
        data = {"passed": passed}
        if not passed:
            after = HANDLING
        else:
            after, changes = CLOSED, {"closed_at": at}
            if case.type == "complaint":
                substantiated = _flag(params, "substantiated")
                item = _text(params, "item", required=False) or policy.complaint_item
                entered = item if substantiated else None
                data |= {"substantiated": substantiated, "item": entered}
                changes |= {"substantiated": substantiated, "scored_item": entered}
                if entered != case.scored_item:
                    score = ScoreChange("complaint", enter=entered, cancel=case.scored_item)
    elif action == "urge":
        note = _text(params, "note", required=False) or ""
        data = {"first": case.urged_at is None}
        if case.urged_at is None:
            # One urging; the circulated criticism falls due this many working days after it.
            changes = {"urged_at": at, "criticism_due_at": calendar.add(at, limits.criticism_days)}
            data["criticism_due_at"] = _utc(changes["criticism_due_at"])
    elif action == "escalate":
        note = _text(params, "note", required=False) or ""
        changes = {"escalated_at": case.escalated_at or at}
    elif action == "request-reopening":
        note = _text(params, "reason")
        data = {"answer": params.get("answer")}
    elif action == "reopen":
        note, after = _text(params, "reason"), REGISTERED
        changes = {"closed_at": None, "department": None, "department_window": None,
                   "acknowledge_due_at": None, "acknowledged_at": None}

    step = make_step(case.number, previous, action, actor, at, note, case.status, after, data)
    return Transition(replace(case, status=after, **changes), step, score)


def absorb(case: Case, duplicate: str, actor: Actor, at: datetime, previous: Step) -> Transition:
    """The step on `case` recording that `duplicate` (重复件) was merged into it."""
    if not case.is_open:
        raise IllegalTransition(f"case {case.number} is {case.status}: merge into an open case",
                                number=case.number, status=case.status)
    step = make_step(case.number, previous, "absorb", actor, at, f"{duplicate} merged into this case",
                     case.status, case.status, {"duplicate": duplicate})
    return Transition(case, step)


def mark_overdue(case: Case, at: datetime, policy: Policy, previous: Step) -> Transition | None:
    """The one `overdue` step of an open case past its deadline (None if not due or already
    marked): it costs the responsible window one late-case occurrence, once, not once a day."""
    if not case.is_open or case.overdue_at is not None or at <= case.due_at:
        return None
    step = make_step(case.number, previous, "overdue", SYSTEM_ACTOR, at, "", case.status, case.status,
                     {"due_at": _utc(case.due_at), "window": case.department_window})
    return Transition(replace(case, overdue_at=at), step, ScoreChange("overdue", enter=policy.overdue_item))


def mark_criticised(case: Case, at: datetime, previous: Step) -> Transition | None:
    """The one `criticise` step (通报) of a case still open when the working days allowed after
    its urging have run out (None otherwise)."""
    if (not case.is_open or case.criticised_at is not None or case.criticism_due_at is None
            or at <= case.criticism_due_at):
        return None
    step = make_step(case.number, previous, "criticise", SYSTEM_ACTOR, at, "", case.status, case.status,
                     {"urged_at": _utc(case.urged_at) if case.urged_at else None,
                      "department": case.department})
    return Transition(replace(case, criticised_at=at), step)


def is_overdue(case: Case, now: datetime) -> bool:
    return case.is_open and now > case.due_at


def is_soon_due(case: Case, now: datetime, calendar: WorkingCalendar, within_days: int = 1) -> bool:
    """Open and due within the next `within_days` working days, not yet overdue."""
    return case.is_open and now <= case.due_at <= calendar.add_working_days(now, within_days)
