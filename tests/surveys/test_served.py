"""Served-item rows: what the centre's export holds, validated the same way for CSV and API."""

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from hotline.surveys.api import PHONE_PATTERN
from hotline.surveys.served import parse_rows, phone_number

SHANGHAI = ZoneInfo("Asia/Shanghai")
GOOD = {"window": "gongan", "staff": "li-wei", "applicant": "张三", "phone": "138 0013 8000",
        "item": "居住证办理", "completed_at": "2026-11-27T10:30:00"}


@pytest.mark.parametrize("text, number", [
    ("13800138000", "13800138000"),
    ("+86 138-0013-8000", "13800138000"),
    ("008613800138000", "13800138000"),
    ("8613800138000", "13800138000"),
    ("0371-68912345", "037168912345"),
    ("(010) 12345678", "01012345678"),
])
def test_mobile_and_landline_numbers_are_kept_as_digits(text, number):
    assert phone_number(text) == number


@pytest.mark.parametrize("text", ["12345", "12800138000", "1380013800", "138001380001", "abc", "", "68912345"])
def test_service_numbers_short_or_foreign_numbers_are_refused(text):
    assert phone_number(text) is None


@pytest.mark.parametrize("text", [
    "13800138000", "+86 138-0013-8000", "008613800138000", "8613800138000", "0371-68912345", "(010) 12345678",
    "12345", "12800138000", "1380013800", "138001380001", "abc", "", "68912345", "86138001380",
    "+861380013800", "0086010123456", "1٣800138000", "+8613800138000 ", "8686138001380", "\x1e13800138000",
])
def test_the_documented_phone_pattern_admits_exactly_the_numbers_read(text):
    # The OpenAPI document states PHONE_PATTERN; the API reads phone_number.
    assert bool(re.fullmatch(PHONE_PATTERN, text)) == (phone_number(text) is not None)


def test_a_nul_character_is_a_problem_of_its_row():
    batch = parse_rows([(1, GOOD | {"applicant": "张\x00三"})], SHANGHAI)
    assert [(p.line, p.field) for p in batch.problems] == [(1, "applicant")]


def test_a_time_without_offset_is_the_centres_local_time():
    [item] = parse_rows([(2, GOOD)], SHANGHAI).items
    assert item.completed_at == datetime(2026, 11, 27, 2, 30, tzinfo=timezone.utc)
    assert item.phone == "13800138000"


def test_bad_rows_are_reported_by_line_and_field_and_good_rows_kept():
    rows = [
        (2, GOOD),
        (3, {**GOOD, "phone": "12345"}),
        (4, {**GOOD, "completed_at": "yesterday", "window": ""}),
        (5, {**GOOD, "staff": "李 伟"}),
        (6, {**GOOD, "item": "换证"}),
    ]
    batch = parse_rows(rows, SHANGHAI)
    assert [item.item for item in batch.items] == ["居住证办理", "换证"]
    assert [(p.line, p.field) for p in batch.problems] == [
        (3, "phone"), (4, "window"), (4, "completed_at"), (5, "staff"),
    ]
    assert str(batch.problems[0]) == "line 3: phone: not a Chinese mobile or landline number: '12345'"


def test_the_same_record_twice_is_one_item_even_written_in_another_offset():
    same = {**GOOD, "completed_at": "2026-11-27T02:30:00+00:00", "phone": "+8613800138000"}
    later = {**GOOD, "completed_at": (datetime(2026, 11, 27, 10, 31)).isoformat()}
    batch = parse_rows([(2, GOOD), (3, same), (4, later)], SHANGHAI)
    assert len(batch.items) == 2
    assert batch.duplicates == [3]
    assert batch.items[1].completed_at - batch.items[0].completed_at == timedelta(minutes=1)


def test_an_unknown_field_is_refused():
    batch = parse_rows([(7, {**GOOD, "id_card": "410106..."})], SHANGHAI)
    assert [(p.line, p.field, p.message) for p in batch.problems] == [(7, "id_card", "unknown field")]
