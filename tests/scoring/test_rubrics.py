"""Rubrics: the shipped files say what the source says, and a broken file is refused by name."""

from fractions import Fraction
from pathlib import Path

import pytest

from scoring.rubrics import RubricError, UnknownRubric, find_rubric, rubric_files

YIHUANG_WINDOW = {
    "unit-attention": (15, {
        "no-leader": 2, "no-conditions": 2, "unsolved-problems": 2, "accepted-outside": 2,
        "staff-not-in-place": 3,
    }),
    "handling-norms": (40, {
        "unqualified-staff": 2, "no-chief-rep": 2, "not-publicised": 2, "fee-irregularity": 5,
        "unlawful-decision": 5, "first-inquiry": 2, "one-time-notice": 2, "overdue": 3,
        "monthly-stats-late": 3, "handling-error": 5,
    }),
    "civilised-service": (45, {
        "late-or-early": Fraction(1, 2), "absent-day": 5, "off-post": 2, "no-badge-untidy": 2,
        "complaint-argument": 6, "not-in-system": 2, "archive-gap": 2, "task-not-done": 2,
        "computer-rules": 5, "verified-complaint": 10,
    }),
}
YIHUANG_EXTRAS = {
    "media-county": 2, "media-city": 4, "honour-county": 5, "honour-city": 10,
    "process-improvement": 2, "criticism-county": -10, "criticism-city": -20, "abuse-of-office": -10,
}

GOOD = """
id = "{id}"
version = 1
title = "test centre"
subjects = "window"
base = 100
source = "test"

[[categories]]
id = "all"
name = "all"
points = 100
items = [{{ id = "late", name = "late", deduct = 1 }}]
"""


def write(directory: Path, rubric_id: str, text: str) -> Path:
    path = directory / f"{rubric_id}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_rubrics_are_the_four_of_the_source():
    assert sorted(rubric_files()) == ["shangjie-window", "xx-city-staff", "yihuang-staff", "yihuang-window"]
    for rubric_id in rubric_files():
        assert find_rubric(rubric_id).monthly_points == 100


def test_yihuang_window_items_and_points_are_the_source_s():
    rubric = find_rubric("yihuang-window")
    assert {c.id: (c.points, {i.id: -i.points for i in c.items}) for c in rubric.categories} == YIHUANG_WINDOW
    assert {i.id: i.points for i in rubric.extras} == YIHUANG_EXTRAS
    (media,) = rubric.caps
    assert media.items == {"media-county", "media-city"} and media.max == 10
    assert [d.items for d in rubric.disqualifications] == [{"criticism-city"}]
    assert (rubric.awards["month"].top, rubric.awards["month"].at_most) == (5, False)
    assert rubric.awards["year"].name == "先進集體"


def test_shangjie_lists_70_points_leaves_30_configurable_and_flags_at_most_5():
    rubric = find_rubric("shangjie-window")
    assert [(c.id, c.points) for c in rubric.categories] == [
        ("leadership", 15), ("work-discipline", 30), ("conduct-norms", 10), ("handling-norms", 15), ("unlisted", 30),
    ]
    assert rubric.categories[-1].items == ()
    assert rubric.items["abuse-of-office"].points == -20
    assert (rubric.awards["month"].top, rubric.awards["month"].at_most) == (5, True)


def test_staff_rubrics_carry_eligibility_awards_and_disqualifications():
    staff = find_rubric("yihuang-staff")
    assert [(c.id, c.points) for c in staff.categories] == [
        ("virtue", 20), ("ability", 20), ("diligence", 30), ("performance", 30),
    ]
    assert dict(staff.eligibility) == {"quarter": 3, "year": 12}
    assert (staff.awards["quarter"].top, staff.awards["year"].top) == (10, 15)
    assert sorted((d.within, d.at_least) for d in staff.disqualifications) == [
        ("month", 1), ("year", 3), ("year", 21), ("year", 31),
    ]
    xx = find_rubric("xx-city-staff")
    assert xx.monthly_weight == 60
    assert [c.id for c in xx.categories if c.survey_rate] == ["public-evaluation"]
    assert sum(c.points for c in xx.categories_in("year")) == 40
    assert xx.caps[0].max == 20


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (lambda t: t.replace('source = "test"', 'source = "test"\ncolour = "red"'), "colour", "unknown key"),
        (lambda t: t.replace("points = 100", ""), "categories[0].points", "missing"),
        (lambda t: t.replace("points = 100", "points = 90"), "categories", "add up to 90, not the base 100"),
        (lambda t: t.replace("deduct = 1", "deduct = 101"), "categories[0].items[0].deduct", "exceeds"),
        (lambda t: t.replace("deduct = 1", "dedcut = 1"), "categories[0].items[0].dedcut", "unknown key"),
        (lambda t: t.replace("deduct = 1", 'deduct = "lots"'), "categories[0].items[0].deduct", "expected a number"),
        (lambda t: t + '[[caps]]\nid = "m"\nname = "m"\nitems = ["media"]\nmax = 10\n', "caps[0].items", "unknown item 'media'"),
        (lambda t: t + '[[caps]]\nid = "m"\nname = "m"\nitems = ["late"]\nmax = 10\n', "caps[0].items", "bonus extras only"),
        (lambda t: t + '[[extras]]\nid = "late"\nname = "again"\npoints = 2\n', "extras.late", "duplicate id"),
        (lambda t: t + '[awards.month]\nname = "flag"\ntop = 0\n', "awards.month.top", "at least 1"),
        (lambda t: t.replace("points = 100", "points = 100\nsurvey_rate = true"), "categories[0].survey_rate",
         "only a year-scope category"),
        (lambda t: t.replace("points = 100", 'points = 100\nsurvey_rate = "yes"'), "categories[0].survey_rate",
         "expected true or false"),
    ],
)
def test_a_broken_rubric_names_the_file_and_the_key(tmp_path, change, key, problem):
    path = write(tmp_path, "centre", change(GOOD.format(id="centre")))
    with pytest.raises(RubricError) as caught:
        find_rubric(str(path))
    assert str(path) in str(caught.value)
    assert f": {key}: " in str(caught.value)
    assert problem in str(caught.value)


def test_the_id_must_match_the_file_name(tmp_path):
    path = write(tmp_path, "centre", GOOD.format(id="other"))
    with pytest.raises(RubricError, match="'other' must match the file name 'centre'"):
        find_rubric(str(path))


def test_a_centre_adds_its_own_rubric_and_may_replace_a_shipped_one(tmp_path):
    write(tmp_path, "my-centre", GOOD.format(id="my-centre"))
    write(tmp_path, "shangjie-window", GOOD.format(id="shangjie-window"))
    files = rubric_files([tmp_path])
    assert files["my-centre"] == tmp_path / "my-centre.toml"
    assert find_rubric("shangjie-window", [tmp_path]).categories[0].id == "all"
    assert find_rubric("shangjie-window").categories[0].id == "leadership"


def test_an_unknown_rubric_lists_the_known_ones():
    with pytest.raises(UnknownRubric, match="known: shangjie-window, xx-city-staff, yihuang-staff, yihuang-window"):
        find_rubric("nowhere")
