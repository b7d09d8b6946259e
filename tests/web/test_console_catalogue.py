"""The console's text: one catalogue per language, the same keys in each, nothing hard-coded,
and every file shipped by `pip install .`."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path

from hotline.cases.workflow import ACTIONS, STATUSES, TYPES
from hotline.config import ROLES
from hotline.surveys.dialer import REASONS, UNKNOWN
from hotline.surveys.results import QUESTIONS, SUGGESTION_STATES, STATUSES as SURVEY_STATUSES
from hotline.web.calls import DISPOSITIONS

STATIC = Path(__file__).parents[2] / "hotline" / "web" / "static"
CATALOGUES = {lang: json.loads((STATIC / "i18n" / f"{lang}.json").read_text("utf-8")) for lang in ("zh-CN", "en")}
SOURCES = sorted(STATIC.glob("*.js")) + sorted(STATIC.glob("*.html"))
# Keys built from data at run time ("status." + call.status): every value they can take.
DYNAMIC = (
    [f"status.{s}" for s in ("ringing", "queued", "answered", "ended")]
    + [f"disposition.{d}" for d in DISPOSITIONS]
    + [f"role.{r}" for r in ROLES]
    + [f"speaker.{s}" for s in ("caller", "agent", "mixed")]
    + [f"marks.{k}" for k in ("greeting", "required", "forbidden")]
    + [f"scores.kind.{k}" for k in ("month", "quarter", "year")]
    + [f"case-type.{k}" for k in TYPES] + [f"case-status.{s}" for s in STATUSES]
    + [f"case-action.{a}" for a in (*ACTIONS, "file", "absorb", "overdue", "criticise")]
    + [f"case-field.{f}" for f in ("answer", "note", "reason", "into", "department", "window", "days", "approve",
                                   "text", "passed", "substantiated")]
    + [f"action.{a}" for a in ("recording.play", "transcript.read", "transcript.search", "recording.delete", "audit.read")]
    + [f"survey-status.{s}" for s in SURVEY_STATUSES] + [f"survey-question.{q}" for q in QUESTIONS]
    + [f"survey-answer.{a}" for a in (1, 2, 3)]
    # An attempt's outcome, or in-progress while it has none (hotline/surveys/api.py).
    + [f"survey-outcome.{o}" for o in {*REASONS.values(), UNKNOWN, "in-progress"}]
    + [f"survey-suggestion.{s.replace(' ', '-')}" for s in SUGGESTION_STATES]
)


def test_both_languages_have_the_same_keys_and_placeholders():
    chinese, english = CATALOGUES["zh-CN"], CATALOGUES["en"]
    assert set(chinese) == set(english)
    for key in chinese:
        assert chinese[key].strip() and english[key].strip(), key
        assert set(re.findall(r"{\w+}", chinese[key])) == set(re.findall(r"{\w+}", english[key])), key


def test_every_key_the_console_uses_is_in_the_catalogues():
    used = set(DYNAMIC)
    for source in SOURCES:
        text = source.read_text("utf-8")
        used |= set(re.findall(r"""\bt\(\s*"([^"]+)"\s*[,)]""", text))
        used |= set(re.findall(r'data-i18n="([^"]+)"', text))
        # Keys handed to helpers that translate them: label("key", ...), nav: "key", [value, "key"].
        used |= set(re.findall(r"""(?:label\(|nav: |\[\s*"[^"]*",\s*)"([a-z-]+\.[a-z.-]+)"\s*[,\])]""", text))
        used |= set(re.findall(r"""\[\s*"([a-z]+\.[a-z.-]+)"\s*,\s*[^\]]""", text))
        for listed in re.findall(r"""\[((?:\s*"[a-z-]+\.[a-z.-]+"\s*,?)+)\]""", text):
            used |= set(re.findall(r'"([^"]+)"', listed))
    assert sorted(used - set(CATALOGUES["zh-CN"])) == []


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.text.append(data.strip())


def test_no_ui_string_is_hard_coded():
    page = _Text()
    page.feed((STATIC / "index.html").read_text("utf-8"))
    assert page.text == []  # every word on the page comes from data-i18n
    for source in SOURCES + sorted(STATIC.glob("*.css")):
        text = source.read_text("utf-8")
        assert not re.findall(r"[\u3000-\u9fff\uff00-\uffef]", text), source.name  # no Chinese outside catalogues
        if source.suffix == ".js":
            assert not re.findall(r"""\btext:\s*["'][^"']""", text), source.name
            assert not re.findall(r"""textContent\s*=\s*["'][^"']""", text), source.name


def test_pip_install_ships_every_console_file():
    patterns = tomllib.loads((STATIC.parents[2] / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["hotline"]
    for path in STATIC.rglob("*"):
        if path.is_file():
            relative = path.relative_to(STATIC.parent.parent).as_posix()
            assert any(fnmatch.fnmatch(relative, pattern) and relative.count("/") == pattern.count("/")
                       for pattern in patterns), relative
