"""Scores, ranks and awards, with numbers worked out by hand from the source's rules."""

from datetime import date
from fractions import Fraction

import pytest

from scoring.occurrences import LedgerError, Occurrence, Satisfaction, Subject, reversal
from scoring.rubrics import find_rubric
from scoring.scorecards import parse_period, score_period, InvalidPeriod
from tests.scoring.ledgers import ledger, windows

YIHUANG = find_rubric("yihuang-window")
SHANGJIE = find_rubric("shangjie-window")
STAFF = find_rubric("yihuang-staff")
XX = find_rubric("xx-city-staff")
OCTOBER = parse_period("month", "2026-10")
YEAR = parse_period("year", "2026")


def card(board, subject):
    return next(c for c in board.cards if c.subject.id == subject)


def totals(board):
    return {c.subject.id: c.total for c in board.cards}


def test_a_month_without_occurrences_scores_the_full_100():
    board = score_period(YIHUANG, windows("a"), [], OCTOBER)
    assert card(board, "a").categories == {"unit-attention": 15, "handling-norms": 40, "civilised-service": 45}
    assert card(board, "a").total == 100


def test_deductions_come_off_their_category_and_stop_at_zero():
    # 扣分扣完大項分數為止: five verified complaints are -50 against 文明服務's 45, so the
    # category ends at 0 and the total at 55, not 50; the fifth complaint counts only -5.
    entries = ledger("""
        a | verified-complaint | 2026-10-02 | 1 | case:1
        a | verified-complaint | 2026-10-09 | 1 | case:2
        a | verified-complaint | 2026-10-16 | 2 | case:3
        a | verified-complaint | 2026-10-23 | 1 | case:4
        a | overdue            | 2026-10-24 | 1 | case:5
    """)
    result = card(score_period(YIHUANG, windows("a"), entries, OCTOBER), "a")
    assert result.categories == {"unit-attention": 15, "handling-norms": 37, "civilised-service": 0}
    assert result.total == 52
    last = [line for line in result.lines if line.occurrence.evidence == "case:4"][0]
    assert (last.nominal, last.applied) == (-10, -5)
    assert "扣分扣完大項分數為止" in last.note


def test_one_exhausted_category_leaves_the_others_alone():
    # 單位重視 15: six staff changes are -18, floored at 0; 辦件規範 keeps its own 40.
    entries = ledger("a | staff-not-in-place | 2026-10-05 | 6")
    result = card(score_period(YIHUANG, windows("a"), entries, OCTOBER), "a")
    assert result.categories["unit-attention"] == 0
    assert result.total == 85


def test_half_points_stay_exact():
    entries = ledger("a | late-or-early | 2026-10-05 | 3")
    assert card(score_period(YIHUANG, windows("a"), entries, OCTOBER), "a").total == Fraction(197, 2)


def test_bonuses_take_the_total_above_100():
    # 加分可以突破100分: a city honour is +10.
    entries = ledger("a | honour-city | 2026-10-20 | 1")
    assert card(score_period(YIHUANG, windows("a"), entries, OCTOBER), "a").total == 110


def test_media_bonuses_are_capped_at_10_a_month_in_date_order():
    # 縣級 +2, 市級 +4, 最高累計不超過10分: 4 + 4 + 2 = 10 reached, the last city article adds 0.
    entries = ledger("""
        a | media-city   | 2026-10-03 | 1
        a | media-city   | 2026-10-10 | 1
        a | media-county | 2026-10-17 | 1
        a | media-city   | 2026-10-24 | 1
        a | honour-county| 2026-10-25 | 1
    """)
    result = card(score_period(YIHUANG, windows("a"), entries, OCTOBER), "a")
    assert result.bonus == 15
    assert [line.applied for line in result.lines] == [4, 4, 2, 0, 5]
    assert "+10 reached" in result.lines[3].note


def test_criticism_by_city_media_costs_20_and_the_red_flag_which_goes_to_the_next_window():
    # 被市級以上新聞媒體批評曝光的扣20分,取消評先資格: "a" still ranks, gets no flag; the
    # sixth-placed window moves up into the five flags.
    entries = ledger("""
        a | honour-city    | 2026-10-02 | 3
        a | criticism-city | 2026-10-20 | 1
        f | overdue        | 2026-10-20 | 1
    """)
    board = score_period(YIHUANG, windows("a", "b", "c", "d", "e", "f"), entries, OCTOBER)
    a = card(board, "a")
    assert (a.total, a.rank, a.awarded) == (110, 1, False)
    assert a.disqualified and "取消評先資格" in a.disqualified[0]
    assert {c.subject.id for c in board.cards if c.awarded} == {"b", "c", "d", "e", "f"}


def test_equal_totals_share_a_rank_and_the_next_rank_skips():
    entries = ledger("""
        c | overdue | 2026-10-05 | 1
        d | overdue | 2026-10-05 | 1
        e | overdue | 2026-10-05 | 2
    """)
    board = score_period(YIHUANG, windows("a", "b", "c", "d", "e"), entries, OCTOBER)
    assert [(c.subject.id, c.rank) for c in board.cards] == [("a", 1), ("b", 1), ("c", 3), ("d", 3), ("e", 5)]


SEVEN = """
    e | late-or-early | 2026-10-05 | 1
    f | late-or-early | 2026-10-06 | 1
    g | overdue       | 2026-10-07 | 1
"""


def test_a_tie_across_fifth_place_flags_every_tied_window_and_is_reported():
    # a-d 100, e and f 99.5 share 5th place with one flag left: both are 前5名, both get it.
    board = score_period(YIHUANG, windows(*"abcdefg"), ledger(SEVEN), OCTOBER)
    assert {c.subject.id for c in board.cards if c.awarded} == {"a", "b", "c", "d", "e", "f"}
    (tie,) = board.ties_at_cut
    assert (tie.subjects, tie.rank, tie.total, tie.places, tie.decided) == (("e", "f"), 5, Fraction(199, 2), 1, True)


def test_at_most_five_leaves_a_tie_at_the_cut_to_the_meeting():
    # 上街: 優質服務窗口每月評選不超過5個. Same scores: a-d get it, e and f wait for the meeting.
    shangjie = ledger(SEVEN.replace("overdue      ", "not-accepted "))
    board = score_period(SHANGJIE, windows(*"abcdefg"), shangjie, OCTOBER)
    assert {c.subject.id for c in board.cards if c.awarded} == {"a", "b", "c", "d"}
    (tie,) = board.ties_at_cut
    assert (tie.subjects, tie.places, tie.decided) == (("e", "f"), 1, False)


def test_no_tie_is_reported_when_the_tied_windows_fit():
    entries = ledger("""
        d | late-or-early | 2026-10-05 | 1
        e | late-or-early | 2026-10-05 | 1
        f | overdue       | 2026-10-05 | 1
    """)
    board = score_period(YIHUANG, windows(*"abcdef"), entries, OCTOBER)
    assert board.ties_at_cut == ()
    assert [c.subject.id for c in board.cards if c.awarded] == ["a", "b", "c", "d", "e"]


def test_the_annual_result_averages_twelve_months_and_adds_the_year_s_items_once():
    # 年終以月平均分為基數加上獎扣分: 辦件規範 is 40 in eleven months and 37 in March,
    # 文明服務 45 in eleven months and 44 in July (two lates). Average: 15 + (11*40 + 37)/12
    # + (11*45 + 44)/12 = 15 + 39.75 + 44.9166.. = 99.6666..; plus the May honour +5 = 104.67.
    entries = ledger("""
        a | overdue       | 2026-03-10 | 1
        a | honour-county | 2026-05-04 | 1
        a | late-or-early | 2026-07-01 | 2
        a | overdue       | 2025-12-30 | 5
    """)
    result = card(score_period(YIHUANG, windows("a"), entries, YEAR), "a")
    assert result.categories["handling-norms"] == Fraction(159, 4)
    assert result.categories["civilised-service"] == Fraction(539, 12)
    assert result.total == Fraction(314, 3)
    assert str(result.shown_total) == "104.67"
    overdue = [line for line in result.lines if line.item.id == "overdue"]
    assert [(line.month, line.share, line.applied) for line in overdue] == [("2026-03", Fraction(1, 12), Fraction(-1, 4))]


def test_the_annual_average_uses_each_month_s_floored_category():
    # September's 文明服務 went to 0 (not -15): the year sees (11*45 + 0)/12 = 41.25.
    entries = ledger("a | verified-complaint | 2026-09-10 | 6")
    result = card(score_period(YIHUANG, windows("a"), entries, YEAR), "a")
    assert result.categories["civilised-service"] == Fraction(165, 4)
    assert result.total == Fraction(385, 4)


def test_the_media_cap_is_cumulative_over_the_year():
    # Two city articles in March (+8) and two in October (+8): each month alone is under the
    # cap, but 最高累計不超過10分 over the year gives +10, not +16.
    entries = ledger("""
        a | media-city | 2026-03-02 | 2
        a | media-city | 2026-10-02 | 2
    """)
    assert card(score_period(YIHUANG, windows("a"), entries, parse_period("month", "2026-03")), "a").bonus == 8
    assert card(score_period(YIHUANG, windows("a"), entries, YEAR), "a").bonus == 10


def test_top_five_of_the_year_are_the_advanced_collectives():
    entries = ledger("\n".join(f"{w} | overdue | 2026-0{i + 1}-10 | {i}" for i, w in enumerate("abcdefg")))
    board = score_period(YIHUANG, windows(*"abcdefg"), entries, YEAR)
    assert board.award.name == "先進集體"
    assert [c.subject.id for c in board.cards if c.awarded] == ["a", "b", "c", "d", "e"]


def staff(id, since):
    return Subject(id, id.upper(), date.fromisoformat(since))


def test_staff_quarter_needs_three_months_in_the_centre_and_the_year_twelve():
    people = [staff("old", "2025-06-01"), staff("july", "2026-07-01"), staff("august", "2026-08-01")]
    quarter = score_period(STAFF, people, [], parse_period("quarter", "2026-Q3"))
    assert {c.subject.id: c.eligible for c in quarter.cards} == {"old": True, "july": True, "august": False}
    assert {c.subject.id for c in quarter.cards if c.awarded} == {"old", "july"}
    year = score_period(STAFF, people, [], YEAR)
    assert {c.subject.id: c.eligible for c in year.cards} == {"old": True, "july": False, "august": False}


def test_staff_quarter_awards_ten_and_the_year_fifteen():
    people = [staff(f"s{n:02d}", "2024-01-01") for n in range(20)]
    entries = ledger("\n".join(f"s{n:02d} | late-or-early | 2026-08-03 | {n}" for n in range(1, 20)))
    quarter = score_period(STAFF, people, entries, parse_period("quarter", "2026-Q3"))
    assert [c.subject.id for c in quarter.cards if c.awarded] == [f"s{n:02d}" for n in range(10)]
    year = score_period(STAFF, people, entries, YEAR)
    assert len([c for c in year.cards if c.awarded]) == 15


def test_a_staff_member_s_quarter_averages_its_three_months():
    # 勤 30: an absent day (-5) in August; the quarter's 勤 is (30 + 25 + 30)/3 = 28.33..
    entries = ledger("p | absent-day | 2026-08-12 | 1")
    result = card(score_period(STAFF, [staff("p", "2024-01-01")], entries, parse_period("quarter", "2026-Q3")), "p")
    assert result.categories["diligence"] == Fraction(85, 3)
    assert str(result.shown_total) == "98.33"


def test_one_verified_complaint_costs_a_staff_member_that_month_and_three_the_year():
    people = [staff("p", "2024-01-01"), staff("q", "2024-01-01")]
    entries = ledger("""
        p | verified-complaint | 2026-02-10 | 1
        q | verified-complaint | 2026-02-10 | 1
        q | verified-complaint | 2026-05-10 | 1
        q | verified-complaint | 2026-11-10 | 1
    """)
    q1 = score_period(STAFF, people, entries, parse_period("quarter", "2026-Q1"))
    assert all(c.disqualified and not c.awarded for c in q1.cards)
    q3 = score_period(STAFF, people, entries, parse_period("quarter", "2026-Q3"))
    assert not any(c.disqualified for c in q3.cards)
    year = score_period(STAFF, people, entries, YEAR)
    assert card(year, "q").disqualified == ("3次投訴經查實,取消全年評選資格 (3 in 2026 to 2026-12-31)",)
    # p's one complaint cost p the first quarter, not the year (取消全年 needs three).
    assert card(year, "p").disqualified == ()


def test_a_staff_item_stops_at_its_own_points():
    # 德(2) 得10分, 投訴經查實的扣5分: three complaints stop at -10, leaving 德 at 10 of 20.
    entries = ledger("p | verified-complaint | 2026-02-10 | 3")
    result = card(score_period(STAFF, [staff("p", "2024-01-01")], entries, parse_period("month", "2026-02")), "p")
    assert result.categories["virtue"] == 10
    assert "item exhausted at 10" in result.lines[0].note


def test_more_than_twenty_days_of_personal_leave_loses_the_year():
    entries = ledger("""
        p | personal-leave-day | 2026-03-02 | 15
        p | personal-leave-day | 2026-09-07 | 6
    """)
    result = card(score_period(STAFF, [staff("p", "2024-01-01")], entries, YEAR), "p")
    assert result.total == 100 and "私假超過20天" in result.disqualified[0]


def test_xx_city_year_weights_the_monthly_results_at_60_and_caps_bonus_at_20():
    # 總分 = 月度考核 60 (every month full) + 個人總結 6 - 3 + 公眾評價 10 + 8 + 8 + 8
    # + 附加分 min(5 * 5, 20) = 97 + 20 = 117.
    entries = ledger("""
        p | summary-late      | 2026-12-20 | 1
        p | government-praise | 2026-04-01 | 5
    """)
    result = card(score_period(XX, [staff("p", "2020-01-01")], entries, YEAR), "p")
    assert result.categories == {
        "discipline": 18, "network": 12, "lawful-handling": 18, "rules": 12,
        "summary": 3, "public-evaluation": 10, "leader-evaluation": 8, "performance": 8, "integrity": 8,
    }
    assert result.total == 117


@pytest.mark.parametrize(("satisfied", "surveys", "kept"), [
    (2, 3, Fraction("6.67")),   # 6.666... rounded half up, as the scores are shown
    (1, 8, Fraction("1.25")),
    (0, 4, 0),                  # 扣完為止: nobody satisfied, nothing left
    (5, 5, 10),
])
def test_xx_city_public_evaluation_is_10_times_the_years_satisfaction_rate(satisfied, surveys, kept):
    found = {"p": Satisfaction(surveys, satisfied, dissatisfied=("SURV-1",) if satisfied < surveys else ())}
    result = card(score_period(XX, [staff("p", "2020-01-01")], [], YEAR, found), "p")
    assert result.categories["public-evaluation"] == kept
    [line] = [line for line in result.lines if line.item.id == "public-evaluation:survey-rate"]
    assert line.applied == kept - 10 and line.occurrence.source == "survey"
    assert (f"{satisfied}/{surveys} satisfied" in line.occurrence.evidence
            and ("case SURV-1" in line.occurrence.evidence) == (satisfied < surveys))
    assert result.total == 100 - 10 + kept


def test_xx_city_public_evaluation_without_surveys_is_full_and_other_verified_dissatisfaction_deducts_to_zero():
    # No answered survey all year: nobody said they were dissatisfied, so the 10 stay; the breakdown says so.
    alone = card(score_period(XX, [staff("p", "2020-01-01")], [], YEAR, {}), "p")
    assert alone.categories["public-evaluation"] == 10
    assert alone.lines[0].note == "no answered callback survey in 2026: full points"
    # 7.5 kept of 10 (3/4 satisfied), then 5 x -2 for dissatisfaction verified otherwise: -7.5, to 0.
    entries = ledger("p | dissatisfied | 2026-06-01 | 5")
    result = card(score_period(XX, [staff("p", "2020-01-01")], entries, YEAR, {"p": Satisfaction(4, 3)}), "p")
    assert result.categories["public-evaluation"] == 0
    assert [(line.nominal, line.applied) for line in result.lines if line.item.category == "public-evaluation"] == [
        (Fraction("-2.5"), Fraction("-2.5")), (-10, Fraction("-7.5"))]
    # The month view has no year categories: the rate plays no part there.
    month = card(score_period(XX, [staff("p", "2020-01-01")], [], OCTOBER, {"p": Satisfaction(4, 0)}), "p")
    assert month.total == 100 and "public-evaluation" not in month.categories


def test_a_reversed_entry_no_longer_counts_but_stays_in_the_ledger():
    wrong = ledger("a | verified-complaint | 2026-10-02 | 1 | case:9")[0]
    undo = reversal(wrong, id="2", entered_by="李敏", entered_at=None, note="complaint withdrawn")
    assert (undo.reverses, undo.item, undo.count) == ("1", "verified-complaint", 1)
    assert card(score_period(YIHUANG, windows("a"), [wrong, undo], OCTOBER), "a").total == 100
    with pytest.raises(LedgerError, match="reversed twice"):
        score_period(YIHUANG, windows("a"), [wrong, undo, Occurrence(**{**undo.__dict__, "id": "3"})], OCTOBER)
    with pytest.raises(LedgerError, match="itself a reversal"):
        reversal(undo, id="4", entered_by="x", entered_at=None, note="")


def test_an_entry_for_an_unknown_item_or_subject_is_refused_by_id():
    with pytest.raises(LedgerError, match="occurrence 1: rubric yihuang-window has no item 'absent-half-day'"):
        score_period(YIHUANG, windows("a"), ledger("a | absent-half-day | 2026-10-02 | 1"), OCTOBER)
    with pytest.raises(LedgerError, match="occurrence 1: unknown subject 'z'"):
        score_period(YIHUANG, windows("a"), ledger("z | overdue | 2026-10-02 | 1"), OCTOBER)


@pytest.mark.parametrize(("kind", "text"), [("month", "2026-13"), ("month", "26-10"), ("year", "20266"), ("quarter", "2026-Q5"),
                                            ("year", "0000"), ("month", "0000-10"), ("quarter", "-001-Q1")])
def test_a_bad_period_is_refused_with_an_example(kind, text):
    with pytest.raises(InvalidPeriod, match="expected e.g."):
        parse_period(kind, text)


def test_xx_city_sends_back_after_misconduct_or_three_days_unexcused_absence():
    # 第十一條: 吃拿卡要 or 無故缺席三天以上(含三天) -> 退回所在部門: no award, whatever the score.
    entries = ledger("""
        p | misconduct      | 2026-05-06 | 1
        q | absent-half-day | 2026-05-06 | 4
        q | absent-half-day | 2026-05-20 | 2
        r | absent-half-day | 2026-05-06 | 5
    """)
    people = [staff(s, "2020-01-01") for s in "pqr"]
    board = score_period(XX, people, entries, parse_period("month", "2026-05"))
    assert [bool(card(board, s).disqualified) for s in "pqr"] == [True, True, False]
    assert card(board, "q").categories["discipline"] == 0
