"""The case workflow as a supervision centre runs it: every legal path, every refusal, the
tamper-evident history and what each step changes in the scores. Pure: no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from hotline.cases.calendar import SHANGHAI
from hotline.cases.workflow import (
    ACTIONS, STATUSES, Actor, Case, IllegalTransition, Policy, ScoreChange, act, absorb, file_case,
    first_broken_link, grid_code, is_soon_due, mark_criticised, mark_overdue,
)
from hotline.errors import Forbidden, InvalidInput
from tests.cases.test_calendar import shipped

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)
POLICY = Policy(shipped())
OPERATOR, SUPERVISOR = Actor("wang.operator", "operator"), Actor("li.supervisor", "supervisor")
HANDLER = Actor("zhao.handler", "handler", "urban-mgmt")
ADMIN = Actor("root", "admin")

# The params each action needs when it is taken in a walk.
PARAMS = {
    "resolve": {"answer": "办证时间为工作日9:00-17:30"}, "register": {}, "reject": {"reason": "不属于受理范围"},
    "merge": {"into": "12345-20261201-0001"}, "dispatch": {"department": "urban-mgmt", "window": "w-urban"},
    "acknowledge": {}, "return": {"reason": "非本单位职责"},
    "request-extension": {"days": 5, "reason": "需现场勘查"}, "decide-extension": {"approve": True},
    "feedback": {"text": "已清理"}, "verify": {"passed": True, "substantiated": True},
    "urge": {}, "escalate": {}, "reopen": {"reason": "市民反映未解决"},
    "request-reopening": {"reason": "回访不满意", "answer": 3},
}
WHO = {"resolve": OPERATOR, "register": OPERATOR, "reject": OPERATOR, "merge": OPERATOR,
       "acknowledge": HANDLER, "return": HANDLER, "request-extension": HANDLER, "feedback": HANDLER}


def new(kind: str = "complaint", channel: str = "12345", **fields) -> tuple[Case, list]:
    filed = file_case("12345-20261201-0002", {"type": kind, "channel": channel,
                                              "description": "窗口工作人员态度恶劣", **fields},
                      OPERATOR, T0, POLICY)
    return filed.case, [filed.step]


def walk(case: Case, steps: list, *actions: str, at: datetime = T0) -> Case:
    for n, action in enumerate(actions, start=1):
        moved = act(case, action, PARAMS[action], WHO.get(action, SUPERVISOR), at + timedelta(minutes=n),
                    POLICY, steps[-1])
        case = moved.case
        steps.append(moved.step)
    return case


@pytest.mark.parametrize("path, status", [
    (["resolve"], "resolved"),
    (["reject"], "rejected"),
    (["merge"], "closed"),
    (["register", "merge"], "closed"),
    (["register", "dispatch", "acknowledge", "feedback", "verify"], "closed"),
    (["register", "dispatch", "return", "dispatch", "acknowledge", "feedback", "verify"], "closed"),
    (["register", "dispatch", "acknowledge", "request-extension", "decide-extension", "feedback", "verify"], "closed"),
    (["register", "urge", "escalate", "dispatch", "urge", "acknowledge", "feedback", "verify", "reopen"], "registered"),
    (["reject", "reopen", "dispatch"], "dispatched"),
])
def test_every_legal_path_ends_where_the_workflow_says(path, status):
    case, steps = new("inquiry" if path[0] == "resolve" else "complaint")
    case = walk(case, steps, *path)
    assert case.status == status
    assert [s.action for s in steps] == ["file", *path]
    assert [s.status_after for s in steps[:-1]] == [s.status_before for s in steps[1:]]
    assert first_broken_link(case.number, steps) is None


def test_failed_verification_goes_back_to_the_same_department():
    case, steps = new()
    case = walk(case, steps, "register", "dispatch", "acknowledge", "feedback")
    moved = act(case, "verify", {"passed": False, "note": "现场仍有垃圾"}, SUPERVISOR, T0, POLICY, steps[-1])
    assert moved.case.status == "handling" and moved.case.department == "urban-mgmt"
    assert moved.score is None


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_action_from_a_status_it_cannot_start_from_is_refused_with_no_change(action, status):
    case, steps = new()
    case = replace(case, status=status, extension_days=5 if action == "decide-extension" else None)
    if status in ACTIONS[action].sources:
        return
    with pytest.raises(IllegalTransition) as error:
        act(case, action, PARAMS[action], ADMIN, T0, POLICY, steps[-1])
    assert error.value.status_code == 409
    assert error.value.details["status"] == status and status in str(error.value)


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_a_role_that_may_not_take_an_action_is_refused(action):
    case, steps = new()
    case = replace(case, status=ACTIONS[action].sources[0], extension_days=3)
    allowed = ACTIONS[action].roles
    for role in ("operator", "supervisor", "handler", "open311"):
        if role in allowed:
            continue
        with pytest.raises(Forbidden) as error:
            act(case, action, PARAMS[action], Actor("x", role), T0, POLICY, steps[-1])
        assert error.value.status_code == 403 and action in str(error.value)


def test_a_complaint_cannot_be_closed_on_the_call_and_parameters_are_checked():
    case, steps = new()
    with pytest.raises(IllegalTransition):
        act(case, "resolve", {"answer": "x"}, OPERATOR, T0, POLICY, steps[-1])
    with pytest.raises(InvalidInput, match="reason: required"):
        act(case, "reject", {}, OPERATOR, T0, POLICY, steps[-1])
    registered = walk(case, steps, "register", "dispatch", "acknowledge")
    for days in (0, 61, "5", 2.5, True):
        with pytest.raises(InvalidInput, match="days"):
            act(registered, "request-extension", {"days": days, "reason": "x"}, HANDLER, T0, POLICY, steps[-1])
    with pytest.raises(IllegalTransition, match="no extension request"):
        act(registered, "decide-extension", {"approve": True}, SUPERVISOR, T0, POLICY, steps[-1])


def test_deadlines_complaint_13_working_days_and_12319_acknowledged_within_half_a_day():
    case, _ = new()
    assert case.due_at == datetime(2026, 12, 18, 17, 30, tzinfo=SHANGHAI)
    inquiry, _ = new("inquiry")
    assert inquiry.due_at == datetime(2026, 12, 4, 17, 30, tzinfo=SHANGHAI)
    city, steps = new("report", "12319", address="花园路12号", grid_code="410106010203")
    moved = act(replace(city, status="registered"), "dispatch", {"department": "urban-mgmt"}, SUPERVISOR,
                datetime(2026, 12, 4, 16, 0, tzinfo=SHANGHAI), POLICY, steps[-1])
    # Friday 16:00 + 3.5 office hours: Monday 11:00.
    assert moved.case.acknowledge_due_at == datetime(2026, 12, 7, 11, 0, tzinfo=SHANGHAI)


def test_an_approved_extension_moves_the_deadline_a_refused_one_does_not():
    case, steps = new()
    case = walk(case, steps, "register", "dispatch", "acknowledge", "request-extension")
    assert case.extension_days == 5
    refused = act(case, "decide-extension", {"approve": False}, SUPERVISOR, T0, POLICY, steps[-1])
    assert refused.case.due_at == case.due_at and refused.case.extension_days is None
    approved = act(case, "decide-extension", {"approve": True}, SUPERVISOR, T0, POLICY, steps[-1])
    # 18 December + 5 working days = 25 December.
    assert approved.case.due_at == datetime(2026, 12, 25, 17, 30, tzinfo=SHANGHAI)


def test_one_urging_sets_the_criticism_date_five_working_days_later_and_a_second_does_not_move_it():
    case, steps = new()
    case = walk(case, steps, "register", "urge")
    assert case.criticism_due_at == datetime(2026, 12, 8, 17, 30, tzinfo=SHANGHAI)
    again = walk(case, steps, "urge", at=T0 + timedelta(days=3))
    assert again.criticism_due_at == case.criticism_due_at and steps[-1].data == {"first": False}


def test_a_substantiated_complaint_enters_the_item_and_an_overturned_one_cancels_it():
    case, steps = new()
    case = walk(case, steps, "register", "dispatch", "acknowledge", "feedback")
    verified = act(case, "verify", {"passed": True, "substantiated": True}, SUPERVISOR, T0, POLICY, steps[-1])
    assert verified.score == ScoreChange("complaint", enter="verified-complaint")
    steps.append(verified.step)
    case = walk(verified.case, steps, "reopen", "dispatch", "acknowledge", "feedback")
    assert case.scored_item == "verified-complaint"
    overturned = act(case, "verify", {"passed": True, "substantiated": False}, SUPERVISOR, T0, POLICY, steps[-1])
    assert overturned.score == ScoreChange("complaint", enter=None, cancel="verified-complaint")
    assert overturned.case.scored_item is None
    same = act(case, "verify", {"passed": True, "substantiated": True}, SUPERVISOR, T0, POLICY, steps[-1])
    assert same.score is None  # still substantiated: the standing entry stays, nothing twice
    other = act(case, "verify", {"passed": True, "substantiated": True, "item": "complaint-argument"},
                SUPERVISOR, T0, POLICY, steps[-1])
    assert other.score == ScoreChange("complaint", enter="complaint-argument", cancel="verified-complaint")


def test_an_inquiry_verified_records_no_outcome():
    case, steps = new("inquiry")
    case = walk(case, steps, "register", "dispatch", "acknowledge", "feedback")
    verified = act(case, "verify", {"passed": True}, SUPERVISOR, T0, POLICY, steps[-1])
    assert verified.score is None and verified.case.substantiated is None


def test_an_overdue_case_is_marked_once():
    case, steps = new()
    case = walk(case, steps, "register", "dispatch")
    assert mark_overdue(case, case.due_at, POLICY, steps[-1]) is None
    late = mark_overdue(case, case.due_at + timedelta(seconds=1), POLICY, steps[-1])
    assert late.score == ScoreChange("overdue", enter="overdue") and late.step.data["window"] == "w-urban"
    assert mark_overdue(late.case, case.due_at + timedelta(days=1), POLICY, late.step) is None
    assert is_soon_due(case, case.due_at - timedelta(hours=2), POLICY.calendar)
    assert not is_soon_due(case, T0, POLICY.calendar)


def test_a_merged_case_is_closed_and_cannot_be_reopened_and_only_an_open_case_absorbs():
    case, steps = new()
    merged = walk(case, steps, "merge")
    assert merged.merged_into == "12345-20261201-0001"
    with pytest.raises(IllegalTransition, match="merged"):
        act(merged, "reopen", {"reason": "x"}, SUPERVISOR, T0, POLICY, steps[-1])
    with pytest.raises(IllegalTransition):
        absorb(merged, "12345-20261201-0009", OPERATOR, T0, steps[-1])
    target, target_steps = new()
    assert absorb(target, merged.number, OPERATOR, T0, target_steps[-1]).step.data == {"duplicate": merged.number}


def test_a_dissatisfied_follow_up_asks_for_reopening_and_the_supervisor_decides():
    case, steps = new(kind="inquiry")
    resolved = walk(case, steps, "resolve")
    followup = Actor("hotline:surveys", "system")
    asked = act(resolved, "request-reopening", {"reason": "回访不满意", "answer": 3}, followup, T0, POLICY, steps[-1])
    assert asked.case.status == "resolved" and asked.step.data == {"answer": 3}
    assert (asked.step.action, asked.step.note) == ("request-reopening", "回访不满意")
    with pytest.raises(Forbidden):
        act(resolved, "request-reopening", {"reason": "x"}, SUPERVISOR, T0, POLICY, steps[-1])
    reopened = act(asked.case, "reopen", {"reason": "回访不满意"}, SUPERVISOR, T0, POLICY, asked.step)
    with pytest.raises(IllegalTransition):
        act(reopened.case, "request-reopening", {"reason": "x"}, followup, T0, POLICY, reopened.step)


def test_any_edit_of_a_step_breaks_the_chain_at_that_step():
    case, steps = new()
    walk(case, steps, "register", "dispatch", "acknowledge", "feedback")
    assert first_broken_link(case.number, steps) is None
    assert first_broken_link(case.number, [*steps[:2], replace(steps[2], note="edited"), *steps[3:]]) == 3
    assert first_broken_link(case.number, [*steps[:3], replace(steps[3], actor="someone")]) == 4
    assert first_broken_link(case.number, [steps[0], *steps[2:]]) == 2  # a deleted step
    assert first_broken_link("12345-20261201-0003", steps) == 1  # copied onto another case


def test_the_case_s_head_finds_newest_steps_deleted_or_added_behind_its_back():
    case, steps = new()
    walk(case, steps, "register", "urge", "urge")
    head = steps[-1].hash
    assert first_broken_link(case.number, steps, "registered", head) is None
    # The two urges deleted: the chain still hashes and ends in the case's status.
    assert first_broken_link(case.number, steps[:2], "registered") is None
    assert first_broken_link(case.number, steps[:2], "registered", head) == 3
    # A step appended after the one the case knows as its newest.
    assert first_broken_link(case.number, steps, "registered", steps[2].hash) == 4


def test_filing_checks_what_a_12319_case_needs():
    with pytest.raises(InvalidInput, match="address and grid_code"):
        new("report", "12319")
    with pytest.raises(InvalidInput, match="type"):
        new("gossip")
    for bad in ("41010601020", "4101060102034", "41010600020a", "410106000203"):
        with pytest.raises(InvalidInput, match="grid_code"):
            grid_code(bad)
    assert grid_code("410106010203") == "410106010203"
    with pytest.raises(InvalidInput, match="component_code"):
        new("report", "12319", address="x", grid_code="410106010203", component_code="4101060101")


def test_a_case_still_open_when_the_time_after_urging_runs_out_is_criticised_once():
    case, steps = new()
    case = walk(case, steps, "register", "urge")
    assert mark_criticised(case, case.criticism_due_at, steps[-1]) is None
    criticised = mark_criticised(case, case.criticism_due_at + timedelta(seconds=1), steps[-1])
    assert criticised.step.action == "criticise" and criticised.score is None
    assert mark_criticised(criticised.case, case.criticism_due_at + timedelta(days=1), criticised.step) is None
    never_urged, steps = new()
    assert mark_criticised(never_urged, T0 + timedelta(days=60), steps[-1]) is None
