"""Audit marks from a transcript: greeting, required and forbidden phrases, with where they were said."""

from __future__ import annotations

from recordings.marks import AuditMark, AuditRules, audit_marks

RULES = AuditRules(greetings=("您好",), greeting_seconds=10.0, required=("感谢您的来电",),
                   forbidden=("不知道",))


def segment(speaker: str, start: float, *words: str) -> dict:
    return {"speaker": speaker, "start": start, "text": " ".join(words),
            "words": [{"word": w, "start": start + i, "end": start + i + 0.9} for i, w in enumerate(words)]}


def test_a_good_call_has_its_greeting_and_required_phrase_at_their_offsets():
    marks = audit_marks([
        segment("agent", 1.0, "您好", "12345", "为您服务"),
        segment("caller", 4.0, "我", "不知道", "怎么办"),  # the caller may say it
        segment("agent", 30.0, "感谢", "您的", "来电"),  # vosk split the phrase into words
    ], RULES)
    assert marks == [AuditMark("greeting", "您好", True, 1.0, "agent"),
                     AuditMark("required", "感谢您的来电", True, 30.0, "agent")]


def test_a_late_greeting_a_missing_phrase_and_each_forbidden_phrase_are_marked():
    marks = audit_marks([
        segment("agent", 12.0, "您好"),
        segment("agent", 20.0, "不知道", "真的", "不知道"),
    ], RULES)
    assert marks == [AuditMark("greeting", None, False),
                     AuditMark("required", "感谢您的来电", False),
                     AuditMark("forbidden", "不知道", False, 20.0, "agent"),
                     AuditMark("forbidden", "不知道", False, 22.0, "agent")]


def test_a_mixed_recording_is_judged_whole():
    marks = audit_marks([segment("mixed", 0.5, "您好"), segment("mixed", 9.0, "不知道")], RULES)
    assert [(m.kind, m.ok, m.offset) for m in marks] == [
        ("greeting", True, 0.5), ("required", False, None), ("forbidden", False, 9.0)]
