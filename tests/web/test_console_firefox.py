"""The console's main path in real headless Firefox (Debian's firefox-esr, over WebDriver BiDi)
against a real daemon, as test_console_browser.py walks it in Chromium. Screenshots at 1366x768, in
Chinese, go beside Chromium's as firefox-*.png."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.web.console_data import add_calls, add_department_work, add_recorded_call
from tests.web.firefox import CONTROL, ENTER, Firefox
from tests.web.running import PASSWORD, SCREENSHOTS, console_daemon, seed

TEXT = "document.querySelector(arguments[0])?.innerText ?? ''"  # an expression, for conditions on it
ROWS = "return [...document.querySelectorAll(`#${arguments[0]} tr`)].map(r => [...r.cells].map(c => c.innerText))"
CURRENT_TIME = "document.getElementById('player').currentTime"


@pytest.fixture(scope="module")
def firefox(tmp_path_factory):
    """One Firefox for the module (it takes seconds to start); each test gets a fresh tab."""
    browser = Firefox(tmp_path_factory.mktemp("firefox"))
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def console(firefox, database_url, tmp_path):
    """A running daemon with a user of each role (password PASSWORD) and a Firefox tab at 1366x768."""
    with console_daemon(database_url, tmp_path) as running, firefox.tab() as browser:
        browser.daemon = running
        browser.base = running.url
        yield browser


def sign_in(browser: Firefox, name: str, password: str = PASSWORD, path: str = "") -> None:
    browser.get(browser.base + "/" + path)
    browser.type("#signin-name", name)
    # From the keyboard alone: Enter in the password field submits.
    browser.type("#signin-password", password + ENTER)


def nav(browser: Firefox) -> list[str]:
    return browser.wait("return [...document.querySelectorAll('#nav-list a')].map(a => a.innerText)")


def text_of(browser: Firefox, selector: str) -> str:
    return browser.js("return " + TEXT, selector)


def screenshot(browser: Firefox, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(SCREENSHOTS / f"firefox-{name}.png")


def test_a_wrong_password_is_refused_and_the_right_one_signs_in_in_chinese(console):
    sign_in(console, "li.operator", password="wrong password")
    console.wait(f"return ({TEXT}).includes(arguments[1])", "#signin-error", "用户名或密码错误")
    assert console.js("return document.documentElement.lang") == "zh-CN"
    assert text_of(console, "#signin h2") == "登录"
    screenshot(console, "01-sign-in-refused")
    # The wrong one stays in the field, as typed: select it all and type over it.
    console.type("#signin-password", CONTROL + "a")
    console.keys(PASSWORD + ENTER)
    assert nav(console) == ["实时来电", "工单"]
    assert "li.operator（话务员）" in text_of(console, "#user")


def test_an_operator_watches_a_call_arrive_and_files_its_case_from_the_screen_pop(console):
    sign_in(console, "li.operator")
    console.wait(f"return ({TEXT}).includes(arguments[1])", "#link", "实时")
    replay = console.daemon.start(console.daemon.fake.replay("d-queue-call-agent-answers", speed=1.0))
    cells = console.wait(ROWS, "active")[0]
    assert cells[0] == "12345" and cells[5] in ("振铃", "排队", "通话中")
    screenshot(console, "02-live-call-in-progress")
    # The call reaches li (Agent One): the screen pop puts the cursor on the case's type.
    console.wait_visible("#screen-pop")
    assert "0698765432" in text_of(console, "#pop-caller")
    assert console.js("return document.activeElement.id") == "file-type"
    console.keys("投")  # the type by its first character
    console.type("#file-description", "民警接警时态度恶劣" + CONTROL + ENTER)
    replay.result(15)
    console.wait("return location.hash.startsWith('#/cases/12345-')")
    assert console.wait("return " + TEXT, "#case-status") == "已立案"
    case = text_of(console, "#case")
    assert "投诉" in case and "0698765432" in case and "民警接警时态度恶劣" in case
    screenshot(console, "03-case-page")


def test_a_click_on_a_transcript_word_seeks_the_recording(console):
    call_id = seed(console, lambda sessions: add_recorded_call(sessions, console.daemon.config.recordings_root))
    sign_in(console, "wang.supervisor", path="#/audit?day=2026-11-27")
    console.click(f"a[href='#/audit/call/{call_id}']")
    console.wait("return document.getElementById('player').readyState >= 1")
    assert console.js("return " + CURRENT_TIME) == 0
    console.click("button.word[data-start='15']")  # 感谢, said at 0:15
    console.wait(f"return ({CURRENT_TIME}) >= 15")
    # The word being said is highlighted as it plays.
    assert console.wait("return document.querySelector('.word.current')?.innerText") in ("感谢", "您的", "来电")
    console.js("document.getElementById('player').pause()")
    screenshot(console, "04-audit-call-player")


def test_the_dashboard_draws_its_charts(console):
    seed(console, add_calls)
    seed(console, lambda sessions: add_department_work(sessions, datetime.now(timezone.utc)))
    sign_in(console, "wang.supervisor", path="#/dashboard?day=2026-11-27")
    tiles = console.wait("return [...document.querySelectorAll('#tiles .tile-value')].map(t => t.innerText)")
    assert tiles[:4] == ["4", "3", "50.0%", "25.0%"]
    # Drawn, not only in the document: every bar of each chart has a size on screen.
    drawn = console.wait("""
        const charts = ['#hourly', '#departments', '#satisfaction'].map(c => [...document.querySelectorAll(`${c} svg rect`)]);
        return charts.every(bars => bars.length) && charts.map(bars => bars.filter(b => {
            const box = b.getBoundingClientRect(); return box.width > 0 && box.height > 0; }).length)""")
    # Calls in four hours; 待派遣's one case, 公安局's overdue and open ones; gongan's two answers.
    assert drawn == [4, 3, 2]
    assert "50.0%（2 份）" in text_of(console, "#satisfaction")
    screenshot(console, "05-dashboard")
    console.js("document.getElementById('work-tiles').scrollIntoView()")
    screenshot(console, "06-dashboard-cases-and-surveys")
