"""The console in real headless Chromium against a real daemon (fake Asterisk over TCP, the
database of the run: SQLite or PostgreSQL). Screenshots of each view at 1366x768, in Chinese, go
to artifacts/screenshots/ (or $HOTLINE_SCREENSHOTS)."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from hotline.cases.api import viewer
from hotline.calls import mask_number
from hotline.cases.store import act_on_case, case_services, file_case
from hotline.config import CasesConfig
from hotline.db.users import User
from tests.web.console_data import (
    SURVEY_WEEK, add_calls, add_department_work, add_recorded_call, add_scores, add_survey_week, stored_call,
)
from tests.web.running import PASSWORD, SCREENSHOTS, WAIT, console_daemon, seed


@pytest.fixture
def console(database_url, tmp_path):
    """A running daemon with a user of each role (password PASSWORD) and Chromium at 1366x768."""
    with console_daemon(database_url, tmp_path) as running:
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,768",
                         "--lang=zh-CN", "--autoplay-policy=no-user-gesture-required", "--mute-audio"):
            options.add_argument(argument)
        browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(shutil.which("chromedriver")))
        browser.set_window_size(1366, 768)
        browser.daemon = running
        browser.base = running.url
        try:
            yield browser
        finally:
            browser.quit()


def wait(browser, condition, timeout: float = WAIT):
    return WebDriverWait(browser, timeout).until(condition)


def sign_in(browser, name: str, password: str = PASSWORD, path: str = "") -> None:
    browser.get(browser.base + "/" + path)
    wait(browser, seen.visibility_of_element_located((By.ID, "signin-name"))).send_keys(name)
    # From the keyboard alone: Enter in the password field submits.
    browser.find_element(By.ID, "signin-password").send_keys(password + Keys.ENTER)


def nav(browser) -> list[str]:
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#nav-list a"))
    return [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#nav-list a")]


def screenshot(browser, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def rows_of(browser, body: str) -> list[list[str]]:
    return browser.execute_script(
        "return [...document.querySelectorAll(`#${arguments[0]} tr`)].map(r => [...r.cells].map(c => c.innerText))", body)


def text_of(browser, selector: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, selector).text


def test_each_role_signs_in_to_the_pages_it_may_use_in_chinese(console):
    console.get(console.base + "/")
    wait(console, seen.visibility_of_element_located((By.ID, "signin-name")))
    assert console.find_element(By.CSS_SELECTOR, "#signin h2").text == "登录"
    assert not console.find_element(By.ID, "sign-out").is_displayed()
    assert console.execute_script("return document.documentElement.lang") == "zh-CN"
    screenshot(console, "01-sign-in")
    sign_in(console, "li.operator")
    assert nav(console) == ["实时来电", "工单"]
    assert "li.operator（话务员）" in text_of(console, "#user")
    # An operator who types a supervisor's address lands back on their own page.
    console.get(console.base + "/#/audit-log")
    wait(console, lambda b: b.current_url.endswith("#/live"))
    console.find_element(By.ID, "sign-out").click()
    wait(console, seen.visibility_of_element_located((By.ID, "signin-name")))

    sign_in(console, "wang.supervisor")
    assert nav(console) == ["实时来电", "工单", "录音质检", "录音访问记录", "窗口考评", "回访调查", "运行看板"]
    console.find_element(By.ID, "sign-out").click()
    sign_in(console, "root")
    assert nav(console) == ["实时来电", "工单", "录音质检", "录音访问记录", "窗口考评", "回访调查", "运行看板"]
    console.find_element(By.ID, "sign-out").click()
    sign_in(console, "zhao.handler")
    wait(console, lambda b: "zhao.handler（承办人员）" in text_of(b, "#user"))
    assert nav(console) == ["工单"]  # their department's queue, nothing else
    wait(console, seen.text_to_be_present_in_element((By.CSS_SELECTOR, "#page h2"), "本单位工单"))

    # English is one choice away, every string from the other catalogue.
    console.find_element(By.CSS_SELECTOR, "#language option[value=en]").click()
    wait(console, lambda b: b.find_element(By.ID, "sign-out").text == "Sign out")
    assert "zhao.handler (handler)" in text_of(console, "#user")
    console.find_element(By.CSS_SELECTOR, "#language option[value='zh-CN']").click()


def test_an_operator_watches_a_call_arrive_and_end(console):
    sign_in(console, "li.operator")
    wait(console, seen.text_to_be_present_in_element((By.ID, "link"), "实时"))
    wait(console, seen.visibility_of_element_located((By.ID, "active-empty")))
    replay = console.daemon.start(console.daemon.fake.replay("d-queue-call-agent-answers", speed=1.0))
    # The table is redrawn every second (the elapsed time ticks): rows are read in one script.
    cells = wait(console, lambda b: rows_of(b, "active"))[0]
    screenshot(console, "02-live-call-in-progress")
    assert cells[0] == "12345" and cells[5] in ("振铃", "排队", "通话中")
    replay.result(WAIT)
    wait(console, lambda b: not rows_of(b, "active"))
    ended = " ".join(wait(console, lambda b: rows_of(b, "recent"))[0])
    assert "已接听" in ended
    # Operators see callers' numbers whole; there is nothing to listen to for them.
    assert "*" not in ended and "听录音" not in ended
    screenshot(console, "03-live-call-ended")


def test_a_supervisor_plays_a_recording_and_seeks_by_clicking_a_transcript_word(console):
    root = console.daemon.config.recordings_root
    call_id = seed(console, lambda sessions: add_recorded_call(sessions, root))
    seed(console, lambda sessions: add_calls(sessions))
    sign_in(console, "wang.supervisor", path="#/audit?day=2026-11-27")
    link = wait(console, seen.element_to_be_clickable((By.CSS_SELECTOR, f"a[href='#/audit/call/{call_id}']")))
    listing = text_of(console, "#audit-results")
    assert "138****5678" in listing and "13812345678" not in listing  # masked for supervisors
    screenshot(console, "04-audit-calls")
    link.click()

    word = wait(console, seen.element_to_be_clickable((By.XPATH, "//button[@class='word' and text()='感谢']")))
    caller_side = console.find_elements(By.CSS_SELECTOR, ".transcript.apart .segment.caller")
    assert caller_side and "道路" in caller_side[0].text  # the sides apart
    marks = wait(console, lambda b: b.find_elements(By.CSS_SELECTOR, "#marks li"))
    assert [m.get_attribute("class") for m in marks] == ["ok", "ok", "bad"]
    assert "不知道" in marks[2].text
    wait(console, lambda b: b.execute_script("return document.getElementById('player').readyState") >= 1)
    word.click()
    wait(console, lambda b: b.execute_script("return document.getElementById('player').currentTime") >= 15.0)
    wait(console, lambda b: b.find_elements(By.CSS_SELECTOR, ".word.current"))
    assert console.find_element(By.CSS_SELECTOR, ".word.current").text in ("感谢", "您的", "来电")
    console.execute_script("document.getElementById('player').pause()")
    # The forbidden phrase's mark jumps to where it was said (from the keyboard: Enter on it).
    marks[2].find_element(By.CSS_SELECTOR, "button.jump").send_keys(Keys.ENTER)
    wait(console, lambda b: abs(b.execute_script("return document.getElementById('player').currentTime") - 11.0) < 0.5)
    console.execute_script("document.getElementById('player').pause()")
    screenshot(console, "05-audit-call-player")

    # Searching by words said finds the call at the moment the words were said.
    console.get(console.base + "/#/audit?day=2026-11-27&q=道路积水")
    hit = wait(console, seen.element_to_be_clickable((By.CSS_SELECTOR, f"a[href='#/audit/call/{call_id}?t=7']")))
    assert hit.text == "0:07"
    screenshot(console, "06-audit-words-search")

    # Every listen above is in the access log the supervisor can read.
    console.get(console.base + "/#/audit-log")
    wait(console, lambda b: "播放录音" in text_of(b, "#page table"))
    assert "wang.supervisor" in text_of(console, "#page table")
    screenshot(console, "07-recordings-access-log")


def test_the_score_breakdown_leads_from_a_deduction_to_the_call(console):
    root = console.daemon.config.recordings_root
    call_id = seed(console, lambda sessions: add_recorded_call(sessions, root))
    seed(console, lambda sessions: add_scores(sessions, call_id))
    sign_in(console, "wang.supervisor", path="#/scores?rubric=yihuang-window&kind=month&period=2026-10")
    table = wait(console, seen.visibility_of_element_located((By.CSS_SELECTOR, "#page table")))
    rows = [r.text for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert rows[0].startswith("1 國土局 100") and rows[1].startswith("2 公安局 94")
    assert all("流動紅旗" in r for r in rows)  # the rubric's award; two windows, five flags: both get one
    assert console.find_element(By.LINK_TEXT, "下载月例会报告").get_attribute("href").endswith(
        "/api/v1/scores/report?rubric=yihuang-window&month=2026-10")
    screenshot(console, "08-scores-month")

    console.find_element(By.LINK_TEXT, "公安局").click()
    evidence = wait(console, seen.element_to_be_clickable((By.LINK_TEXT, f"来电 #{call_id} 录音")))
    assert "工作不熱情" in text_of(console, "#page table") and "-6" in text_of(console, "#page table")
    screenshot(console, "09-scores-breakdown")
    evidence.click()
    wait(console, lambda b: b.execute_script("var a = document.getElementById('player'); return a && a.readyState >= 1"))
    wait(console, lambda b: abs(b.execute_script("return document.getElementById('player').currentTime") - 9.0) < 0.5)

    console.get(console.base + "/#/scores?rubric=yihuang-window&kind=year&period=2026")
    wait(console, lambda b: "公安局" in text_of(b, "#page"))
    assert "先進集體" in text_of(console, "#page table")  # the year's award
    screenshot(console, "10-scores-year")


def test_the_dashboard_draws_the_days_figures_the_departments_cases_and_the_month_s_satisfaction(console):
    seed(console, lambda sessions: add_calls(sessions))
    seed(console, lambda sessions: add_department_work(sessions, datetime.now(timezone.utc)))
    sign_in(console, "wang.supervisor", path="#/dashboard?day=2026-11-27")
    tiles = wait(console, lambda b: [t.text for t in b.find_elements(By.CSS_SELECTOR, "#tiles .tile-value")])
    assert tiles == ["4", "3", "50.0%", "25.0%", "9.7 秒", "60.0 秒", "满意 1 · 基本满意 0 · 不满意 1"]
    bars = console.find_elements(By.CSS_SELECTOR, "#hourly svg rect")
    assert len(bars) == 4  # one bar segment per hour with calls (09, 10, 11, 12 o'clock Beijing)
    screenshot(console, "11-dashboard")

    # Open cases now: one waits to be dispatched, 公安局 has two (one overdue), 城管局 none open.
    work = wait(console, lambda b: [t.text for t in b.find_elements(By.CSS_SELECTOR, "#work-tiles .tile-value")])
    assert work == ["3", "1", "50.0%", "2"]
    load = console.find_element(By.CSS_SELECTOR, "#departments svg")
    assert [label.text for label in load.find_elements(By.CSS_SELECTOR, "text.axis:not(.note)")][3:] == ["待派遣", "公安局", "城管局"]
    assert [note.text for note in load.find_elements(By.CSS_SELECTOR, "text.note")] == [
        "在办 1 · 超期 0", "在办 2 · 超期 1", "在办 0 · 超期 0"]
    assert [r.get_attribute("class") for r in load.find_elements(By.CSS_SELECTOR, "rect")] == ["good", "bad", "good"]
    # November's surveys about window gongan (公安局's): one satisfied, one dissatisfied.
    rates = console.find_element(By.CSS_SELECTOR, "#satisfaction svg")
    assert [r.get_attribute("class") for r in rates.find_elements(By.CSS_SELECTOR, "rect")] == ["good", "bad"]
    assert "公安局" in rates.text and "50.0%（2 份）" in rates.text
    console.execute_script("document.getElementById('work-tiles').scrollIntoView()")
    screenshot(console, "19-dashboard-cases-and-surveys")


def test_a_wrong_password_and_a_change_without_the_csrf_token_are_refused(console):
    sign_in(console, "li.operator", password="wrong password")
    wait(console, seen.text_to_be_present_in_element((By.ID, "signin-error"), "用户名或密码错误"))
    screenshot(console, "12-sign-in-refused")
    sign_in(console, "li.operator")
    nav(console)
    fetch = ("const done = arguments[arguments.length - 1];"
             "fetch('/api/v1/sign-out', {method: 'POST', headers: arguments[0]})"
             ".then(r => r.json().then(body => done([r.status, body.details]), () => done([r.status, null])));")
    status, details = console.execute_async_script(fetch, {})
    assert (status, details) == (403, {"reason": "csrf"})
    assert nav(console) == ["实时来电", "工单"]  # still signed in
    csrf = console.execute_script("return Console.state.me.csrf_token")
    assert console.execute_async_script(fetch, {"X-CSRF-Token": csrf})[0] == 204
    # The cookie is HttpOnly: the page's scripts cannot read it.
    assert "hotline_session" not in console.execute_script("return document.cookie")


def _act(browser, action: str, fields: dict[str, str] | None = None, checks: tuple[str, ...] = ()) -> None:
    """Fill in and submit the case page's form for `action`, and wait for the page to show the result."""
    form = wait(browser, seen.visibility_of_element_located((By.ID, f"action-{action}")))
    for name, value in (fields or {}).items():
        form.find_element(By.NAME, name).send_keys(value)
    for name in checks:
        form.find_element(By.NAME, name).click()
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser, seen.staleness_of(form))


def _open_case(browser, name: str, number: str) -> None:
    """Sign in afresh as `name` and open case `number` (a new hash alone would not reload the page)."""
    sign_in(browser, name)
    nav(browser)
    browser.get(browser.base + f"/#/cases/{number}")


def _case_status(browser) -> str:
    return wait(browser, seen.visibility_of_element_located((By.ID, "case-status"))).text


def _offered(browser) -> list[str]:
    return [f.get_attribute("id") for f in browser.find_elements(By.CSS_SELECTOR, "#case-actions form")]


async def _other_departments_case(sessions) -> str:
    """A case the supervisor filed and dispatched to 城管局 (urban): not zhao's to see."""
    async with sessions() as session:
        now = datetime.now(timezone.utc)
        services = await case_services(session, CasesConfig(), None, None)
        boss = viewer(User(name="wang.supervisor", role="supervisor", department=None))
        view = await file_case(session, {"type": "help", "channel": "12345", "description": "路灯不亮",
                                         "caller_number": "13900000002"}, boss.actor, now, services)
        await act_on_case(session, view.case.number, "register", {}, boss, now, services, None)
        await act_on_case(session, view.case.number, "dispatch", {"department": "urban"}, boss, now, services, None)
        return view.case.number


def test_a_case_goes_from_the_screen_pop_to_the_department_to_verification_and_into_the_scores(console):
    other = seed(console, _other_departments_case)
    sign_in(console, "li.operator")
    wait(console, seen.text_to_be_present_in_element((By.ID, "link"), "实时"))
    replay = console.daemon.start(console.daemon.fake.replay("d-queue-call-agent-answers", speed=1.0))
    # The call reaches li (Agent One): the screen pop shows the caller and puts the cursor on the type.
    pop = wait(console, seen.visibility_of_element_located((By.ID, "screen-pop")))
    assert "0698765432" in text_of(console, "#pop-caller") and "12345" in text_of(console, "#pop-title")
    assert console.switch_to.active_element.get_attribute("id") == "file-type"
    screenshot(console, "13-screen-pop")
    replay.result(WAIT)
    # A few keystrokes: the type by its first character, Tab, the description, Ctrl+Enter.
    console.switch_to.active_element.send_keys("投")
    pop.find_element(By.ID, "file-description").send_keys("民警接警时态度恶劣" + Keys.CONTROL + Keys.ENTER)
    wait(console, lambda b: "#/cases/12345-" in b.current_url)
    number = console.current_url.rsplit("/", 1)[1]
    assert _case_status(console) == "已立案"
    assert "投诉" in text_of(console, "#case") and "0698765432" in text_of(console, "#case")
    assert console.find_elements(By.CSS_SELECTOR, ".case-calls li")  # linked to the call
    assert _offered(console) == ["action-merge"]  # an operator's only step on a registered case
    console.find_element(By.ID, "sign-out").click()

    _open_case(console, "wang.supervisor", number)
    assert _case_status(console) == "已立案"
    # This centre masks supervisors' view of callers' numbers: the case page shows it masked.
    assert "069***5432" in text_of(console, "#case") and "0698765432" not in text_of(console, "#page")
    assert console.find_elements(By.CSS_SELECTOR, ".case-calls audio")  # the call's player
    _act(console, "dispatch")  # the first department, 公安局, is preselected
    assert _case_status(console) == "已派遣"
    console.get(console.base + "/#/cases?view=open")
    wait(console, lambda b: b.find_elements(By.CSS_SELECTOR, f"#case-queue tr[data-case='{number}']"))
    assert {number, other} <= {r.get_attribute("data-case") for r in console.find_elements(By.CSS_SELECTOR, "#case-queue tr")}
    screenshot(console, "14-case-queue")
    console.find_element(By.LINK_TEXT, "已超期").click()  # neither is past its deadline yet
    wait(console, seen.visibility_of_element_located((By.ID, "case-queue-empty")))
    assert console.current_url.endswith("#/cases?view=overdue") and rows_of(console, "case-queue") == []
    console.find_element(By.ID, "sign-out").click()
    assert not console.find_elements(By.ID, "screen-pop")  # nothing of li's stays on screen

    sign_in(console, "zhao.handler")
    wait(console, lambda b: b.find_elements(By.CSS_SELECTOR, "#case-queue tr"))
    assert [r.get_attribute("data-case") for r in console.find_elements(By.CSS_SELECTOR, "#case-queue tr")] == [number]
    assert "069***5432" in text_of(console, "#case-queue") and "0698765432" not in text_of(console, "#case-queue")
    screenshot(console, "15-department-queue")
    console.find_element(By.LINK_TEXT, number).click()
    assert _case_status(console) == "已派遣"
    assert _offered(console) == ["action-acknowledge", "action-return"]
    _act(console, "acknowledge")
    _act(console, "feedback", {"text": "已约谈当事民警并向来电人道歉"})
    assert _case_status(console) == "已反馈"
    assert _offered(console) == []
    screenshot(console, "16-case-page")
    assert text_of(console, "#link") == ""  # no live calls for a handler: nothing to reconnect to
    console.find_element(By.ID, "sign-out").click()

    _open_case(console, "wang.supervisor", number)
    assert _case_status(console) == "已反馈"
    _act(console, "verify", {"note": "回访属实"}, checks=("passed", "substantiated"))
    assert _case_status(console) == "已结案"
    assert [c.text for c in console.find_elements(By.CSS_SELECTOR, "#page table tbody tr td:nth-child(2)")] == [
        "受理登记", "立案", "派遣", "签收", "处理反馈", "核实结案"]
    month = console.execute_script("return Console.today().slice(0, 7)")
    console.get(console.base + f"/#/scores?rubric=yihuang-window&kind=month&period={month}")
    wait(console, seen.element_to_be_clickable((By.LINK_TEXT, "公安局"))).click()
    evidence = wait(console, seen.element_to_be_clickable((By.LINK_TEXT, f"工单 {number}")))
    assert "-10" in text_of(console, "#page table")
    screenshot(console, "17-scores-breakdown-case")
    evidence.click()
    wait(console, lambda b: _case_status(b) == "已结案")


async def _add_12319_call(sessions) -> int:
    async with sessions() as session, session.begin():
        call = stored_call(40, hotline="12319", caller_number="13700000003", caller_name="李四")
        session.add(call)
        await session.flush()
        return call.id


def test_an_operator_resolves_a_12319_inquiry_from_a_recent_call_with_its_grid_code(console):
    call_id = seed(console, _add_12319_call)
    sign_in(console, "li.operator")
    wait(console, seen.element_to_be_clickable((By.CSS_SELECTOR, f"a[href='#/calls/{call_id}/file']"))).click()
    form = wait(console, seen.visibility_of_element_located((By.ID, "file-case")))
    assert "12319" in text_of(console, "#pop-caller") and "13700000003" in text_of(console, "#pop-caller")
    form.find_element(By.ID, "file-description").send_keys("小区二次供水水压不足，咨询维修渠道")
    form.find_element(By.ID, "file-address").send_keys("宜黄县凤冈镇城南社区")
    form.find_element(By.ID, "file-answer").send_keys("已告知物业维修电话")
    # A grid code of 11 digits is not one (CJ/T 213-2005: 6+2+2+2): the browser holds it back.
    form.find_element(By.ID, "file-grid").send_keys("36105201010")
    form.find_element(By.ID, "file-resolve").click()
    assert console.execute_script("return document.getElementById('file-grid').validity.valid") is False
    assert console.current_url.endswith(f"#/calls/{call_id}/file")
    form.find_element(By.ID, "file-grid").send_keys("1")
    screenshot(console, "18-file-case-from-recent-call")
    form.find_element(By.ID, "file-resolve").click()
    wait(console, lambda b: "#/cases/12319-" in b.current_url)
    assert _case_status(console) == "已办结"
    page = text_of(console, "#case")
    assert "咨询" in page and "361052010101" in page and "宜黄县凤冈镇城南社区" in page
    assert _offered(console) == []  # nothing an operator may do with a resolved case


def test_a_supervisor_reads_the_weeks_callback_surveys_and_the_months_rate_per_window(console):
    seeded = seed(console, lambda sessions: add_survey_week(sessions, console.daemon.config.recordings_root))
    sign_in(console, "wang.supervisor")
    wait(console, seen.element_to_be_clickable((By.LINK_TEXT, "回访调查"))).click()
    # The centre's current week first; another is typed in, from the keyboard.
    before = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%G-W%V")
    week = wait(console, seen.visibility_of_element_located((By.ID, "survey-week")))
    assert week.get_attribute("value") in (before, datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%G-W%V"))
    week.clear()
    week.send_keys(SURVEY_WEEK.lower() + Keys.ENTER)
    wait(console, lambda b: b.current_url.endswith(f"#/surveys?week={SURVEY_WEEK}"))
    rows = {cells[0]: cells[1:] for cells in wait(console, lambda b: rows_of(b, "survey-rows"))}
    assert list(rows) == [seeded["completed"], seeded["partial"], seeded["unreachable"]]
    completed, partial, unreachable = rows.values()
    # Window, staff, phone (masked for supervisors), status, attempts, the three answers, the
    # suggestion's words and its call, the complaint; times in Beijing's.
    assert completed[:8] == ["gongan", completed[1], mask_number(f"1380013800{completed[1][-1]}"), "已完成",
                             "共 1 次，最后一次：已接听\n12/01 10:00", "满意", "不满意", "基本满意"]
    assert completed[8] == f"希望 周末 也 开 窗口 听录音（通话 {seeded['call']}）"
    assert completed[9] == seeded["complaint"]
    assert partial[3:] == ["部分作答", "共 1 次，最后一次：已接听\n12/01 10:15", "基本满意", "—", "—", "—", "—"]
    assert unreachable[3:] == ["未接通", "共 3 次，最后一次：无人接听\n12/01 14:30", "—", "—", "—", "—", "—"]
    assert "*" in completed[2] and "13800138" not in " ".join(completed)
    call = console.find_element(By.CSS_SELECTOR, f"tr[data-case='{seeded['completed']}'] a[href^='#/audit/call/']")
    assert call.get_attribute("href").endswith(f"#/audit/call/{seeded['call']}")
    # One completed of five: the draw found three eligible citizens.
    assert text_of(console, "#survey-completed") == "已完成 1 / 5"
    assert text_of(console, "#survey-shortfall") == "未完成原因：可抽取的市民不足：应抽 5 位，符合条件的仅 3 位"
    # December (week 49's Thursday is 3 December), per window: gongan's one answered survey has a 3.
    assert "2026-12" in text_of(console, "#survey-month h2")
    assert rows_of(console, "survey-month-rows") == [["gongan", "2", "1", "0", "1", "1", "0.0%"],
                                                     ["shuiwu", "1", "0", "1", "1", "0", "100.0%"],
                                                     ["合计", "3", "1", "1", "2", "1", "50.0%"]]
    screenshot(console, "20-surveys")

    # The week before was not drawn; the next link leads back.
    console.find_element(By.ID, "week-previous").click()
    wait(console, seen.visibility_of_element_located((By.ID, "survey-none")))
    assert text_of(console, "#survey-completed") == "已完成 0 / 5"
    assert text_of(console, "#survey-shortfall") == "未完成原因：本周尚未抽取"
    wait(console, seen.element_to_be_clickable((By.ID, "week-next"))).click()
    wait(console, seen.element_to_be_clickable((By.LINK_TEXT, seeded["complaint"]))).click()
    wait(console, lambda b: b.current_url.endswith(f"#/cases/{seeded['complaint']}"))
    case = wait(console, lambda b: text_of(b, "#case"))
    assert "投诉" in case and seeded["completed"] in case  # the complaint names the survey it came from

    # Not an operator's page: not offered, its address leads home, and the API refuses.
    console.find_element(By.ID, "sign-out").click()
    sign_in(console, "li.operator")
    assert "回访调查" not in nav(console)
    console.get(console.base + f"/#/surveys?week={SURVEY_WEEK}")
    wait(console, lambda b: b.current_url.endswith("#/live"))
    status = console.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"fetch('/api/v1/surveys?week={SURVEY_WEEK}').then((r) => done(r.status))")
    assert status == 403
