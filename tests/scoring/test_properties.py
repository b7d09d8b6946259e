"""Properties over random ledgers: categories stay within their points, a deduction never helps,
and every point of a total is accounted for by the lines of its breakdown."""

from datetime import date
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.occurrences import Occurrence, Subject
from scoring.rubrics import find_rubric
from scoring.scorecards import Period, score_period

RUBRICS = [find_rubric(r) for r in ("yihuang-window", "shangjie-window", "yihuang-staff", "xx-city-staff")]
SUBJECTS = [Subject("a", "A", date(2020, 1, 1)), Subject("b", "B", date(2020, 1, 1))]
PERIODS = [Period("month", 2026, 3), Period("quarter", 2026, 1), Period("year", 2026)]


@st.composite
def scenarios(draw):
    rubric = draw(st.sampled_from(RUBRICS))
    items = sorted(rubric.items)
    entry = st.builds(
        lambda subject, item, day, halves: (subject, item, day, Fraction(halves, 2)),
        st.sampled_from(["a", "b"]),
        st.sampled_from(items),
        st.dates(date(2026, 1, 1), date(2026, 12, 31)),
        st.integers(1, 12),
    )
    rows = draw(st.lists(entry, max_size=40))
    entries = [Occurrence(str(n), s, i, d, c) for n, (s, i, d, c) in enumerate(rows)]
    return rubric, entries, draw(st.sampled_from(PERIODS))


def bound(rubric, period, category):
    if period.kind == "year" and rubric.monthly_weight is not None and category.scope == "month":
        return category.points * rubric.monthly_weight / rubric.monthly_points
    return category.points


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_no_category_goes_below_zero_or_above_its_points(scenario):
    rubric, entries, period = scenario
    for card in score_period(rubric, SUBJECTS, entries, period).cards:
        for category in rubric.categories:
            if category.id in card.categories:
                assert 0 <= card.categories[category.id] <= bound(rubric, period, category)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_every_point_of_a_total_comes_from_a_line_of_its_breakdown(scenario):
    rubric, entries, period = scenario
    for card in score_period(rubric, SUBJECTS, entries, period).cards:
        assert card.total == rubric.base + sum(line.applied for line in card.lines)


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.data())
def test_adding_a_deduction_never_raises_a_total(scenario, data):
    rubric, entries, period = scenario
    losses = sorted(item.id for item in rubric.items.values() if item.points <= 0)
    extra = Occurrence(
        "extra",
        data.draw(st.sampled_from(["a", "b"])),
        data.draw(st.sampled_from(losses)),
        data.draw(st.dates(period.start, period.end)),
        Fraction(data.draw(st.integers(1, 12)), 2),
    )
    before = {c.subject.id: c.total for c in score_period(rubric, SUBJECTS, entries, period).cards}
    after = {c.subject.id: c.total for c in score_period(rubric, SUBJECTS, entries + [extra], period).cards}
    assert after[extra.subject] <= before[extra.subject]
    other = "b" if extra.subject == "a" else "a"
    assert after[other] == before[other]
