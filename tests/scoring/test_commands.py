"""`hotline score ...` end to end on the shipped October example, no database needed."""

import argparse
import json
import shlex
from pathlib import Path

import pytest
from openpyxl import load_workbook

from hotline.config import Config
from hotline.errors import InvalidInput, NotFound
from scoring.commands import add_commands

EXAMPLE = Path(__file__).parents[2] / "scoring" / "examples" / "yihuang-window-2026-10.json"


def score(command: str, database_url: str = "none://the database is not to be used") -> int:
    """Run `hotline score COMMAND` (split like a shell would) and return its exit status.

    Without `database_url` a command that touches the database fails (no such database kind).
    """
    parser = argparse.ArgumentParser(prog="hotline")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["score", *shlex.split(command)])
    return args.func(args, Config(database_url=database_url))


def october(options: str = "") -> str:
    return f"month --rubric yihuang-window --month 2026-10 --input {EXAMPLE} {options}"


def test_month_table_ranks_the_24_windows_and_reports_the_tie_at_fifth(capsys):
    assert score(october()) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:3] == ["rank", "subject", "name"]
    # The month's survey satisfaction (the input's) stands beside the total.
    assert out[2].split() == ["1", "jiaojing", "交警隊", "15", "40", "44.5", "10", "109.5", "no", "surveys", "yes"]
    [fangguan] = [line for line in out if line.split()[1:2] == ["fangguan"]]
    assert fangguan.split()[-3:] == ["52", "0%", "(0/2)"]
    assert len([line for line in out if line.split() and line.split()[0].isdigit()]) == 24
    assert "tie at the cut: gongshang, nongji, shuili share rank 5 with 99.5 for 1 place(s): all get the award" in out


def test_month_json_explains_every_point(capsys):
    score(october("--format json"))
    result = json.loads(capsys.readouterr().out)
    assert (result["rubric"], result["period"]) == ("yihuang-window", "2026-10")
    by_id = {r["subject"]: r for r in result["results"]}
    assert len(by_id) == 24
    fangguan = by_id["fangguan"]
    assert (fangguan["total"], fangguan["rank"], fangguan["red_flag"]) == (52, 24, False)
    assert fangguan["categories"] == {"unit-attention": 15, "handling-norms": 37, "civilised-service": 0}
    floored = [line for line in fangguan["breakdown"] if line["evidence"] == "case:2026-10-0102"][0]
    assert (floored["nominal"], floored["points"]) == (-10, -9)
    huanbao = by_id["huanbao"]
    assert (huanbao["total"], huanbao["bonus"], huanbao["disqualified"], huanbao["red_flag"]) == (84, -16, True, False)
    assert [r["subject"] for r in result["results"] if r["red_flag"]] == [
        "jiaojing", "guotu", "dishui", "qixiang", "gongshang", "nongji", "shuili",
    ]
    assert result["ties_at_cut"] == [
        {"total": 99.5, "rank": 5, "subjects": ["gongshang", "nongji", "shuili"], "places": 1, "decided": True}
    ]


def test_month_csv_and_xlsx(tmp_path, capsys):
    score(october("--format csv"))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "rank,subject,name,單位重視,辦件規範,文明服務,bonus,total,流動紅旗,note"
    assert lines[1] == "1,jiaojing,交警隊,15,40,44.5,10,109.5,yes,"
    path = tmp_path / "october.xlsx"
    score(october(f"--format xlsx --output {path}"))
    book = load_workbook(path)
    assert [c.value for c in book["ranking"][2]][:8] == [1, "jiaojing", "交警隊", 15, 40, 44.5, 10, 109.5]
    assert book["breakdown"].max_row == 1 + 43
    with pytest.raises(InvalidInput, match="needs --output"):
        score(october("--format xlsx"))


def test_xlsx_keeps_ids_and_names_that_look_like_numbers_as_text(tmp_path):
    ledger = tmp_path / "ledger.json"
    ledger.write_text(json.dumps({"subjects": [{"id": "001", "name": "1e3"}, {"id": "002", "name": "NaN"}]}))
    path = tmp_path / "windows.xlsx"
    score(f"month --rubric yihuang-window --month 2026-10 --input {ledger} --format xlsx --output {path}")
    rows = [[c.value for c in row][:3] for row in load_workbook(path)["ranking"].iter_rows(min_row=2)]
    assert rows == [[1, "001", "1e3"], [1, "002", "NaN"]]


def test_explain_lists_one_window_s_points(capsys):
    score(october("--explain jiaojing"))
    out = capsys.readouterr().out
    assert "交警隊 (jiaojing): total 109.5, rank 1" in out
    assert "media-city x1: 4 -> 2 [新聞媒體采用加分上限 +10 reached]" in out
    with pytest.raises(NotFound, match="no subject 'gongan'"):
        score(october("--explain gongan"))


def test_year_from_an_input_file(tmp_path, capsys):
    year = {
        "subjects": [{"id": "gongan", "name": "公安局"}, {"id": "guotu", "name": "國土局"}],
        "occurrences": [
            {"subject": "gongan", "item": "verified-complaint", "date": "2026-10-12", "count": 1, "evidence": "case:42"},
            {"subject": "guotu", "item": "media-city", "date": "2026-03-02", "count": 2},
            {"subject": "guotu", "item": "media-city", "date": "2026-10-02", "count": 2},
        ],
    }
    path = tmp_path / "year.json"
    path.write_text(json.dumps(year), encoding="utf-8")
    assert score(f"year --rubric yihuang-window --year 2026 --input {path} --format json") == 0
    results = {r["subject"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    # 公安局: (11 * 45 + 35) / 12 = 44.1666.. of 文明服務 -> 99.17; 國土局: 100 + 10 (cumulative cap).
    assert results["gongan"]["total"] == 99.17
    assert results["guotu"]["total"] == 110
    assert results["gongan"]["breakdown"][0]["share"] == "1/12"


def test_the_meeting_report_has_ranking_chart_flags_and_satisfaction(tmp_path, capsys):
    assert score(f"report --month 2026-10 --input {EXAMPLE} --output-dir {tmp_path}") == 0
    page = (tmp_path / "yihuang-window-2026-10.html").read_text(encoding="utf-8")
    assert page.count("<rect") == 24
    assert "<script" not in page
    assert "交警隊 (109.5)、國土局 (104)" in page
    assert "0% (0/2)" in page  # 房管局's two callbacks, both dissatisfied
    assert "tie at the cut: 工商局, 農機局, 水利局 share rank 5 with 99.5" in page
    assert "扣分扣完大項分數為止" in page
    assert "Citizens' suggestions" not in page  # an --input document has no surveys' suggestions
    assert load_workbook(tmp_path / "yihuang-window-2026-10.xlsx")["ranking"].max_row == 25


def test_rubric_list_and_show(capsys):
    score("rubric list")
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [
        "shangjie-window", "xx-city-staff", "yihuang-staff", "yihuang-window",
    ]
    score("rubric show yihuang-window --format json")
    shown = json.loads(capsys.readouterr().out)
    assert shown["categories"][2]["items"][0] == {"id": "late-or-early", "name": "遲到或早退(每人次)", "points": "-0.5"}
    assert shown["caps"] == [{"id": "media", "name": "新聞媒體采用加分上限", "items": ["media-city", "media-county"], "max": "10"}]
    score("rubric show shangjie-window")
    assert "month: at most 5 -> 優質服務窗口" in capsys.readouterr().out


def clock(tmp_path: Path, database_url: str, punches: str, **files: str) -> None:
    """Run `score attendance` for Li Min of 地稅局 in October; extra CSV files become options."""
    score("subject add dishui 地稅局", database_url=database_url)
    (tmp_path / "punches.csv").write_text(punches, encoding="utf-8")
    options = ""
    (tmp_path / "windows.csv").write_text("li,dishui\n", encoding="utf-8")
    for name, text in files.items():
        (tmp_path / f"{name}.csv").write_text(text, encoding="utf-8")
        options += f" --{name} {tmp_path / name}.csv"
    rubric = "--rubric yihuang-window --month 2026-10 --by 督查股"
    score(
        f"attendance {tmp_path / 'punches.csv'} {rubric} --windows {tmp_path / 'windows.csv'} {options}",
        database_url=database_url,
    )


def test_attendance_turns_punches_into_occurrences_and_reports_bad_lines(database_url, tmp_path, capsys):
    clock(tmp_path, database_url, "staff,timestamp\nli,2026-10-08 08:25\nli,2026-10-08 12:00\nli,not a time\n")
    captured = capsys.readouterr()
    assert f"{tmp_path / 'punches.csv'}:4: skipped: unreadable timestamp 'not a time'" in captured.err
    entries = json.loads(captured.out.split("\n", 1)[1])["occurrences"]
    on_8th = sorted((e["subject"], e["item"], e["count"]) for e in entries if e["date"] == "2026-10-08")
    # 08:25 is late; no afternoon punches: that half day is absent.
    assert on_8th == [("dishui", "absent-day", "0.5"), ("dishui", "late-or-early", "1")]
    assert len(entries) == 1 + 22 * 2 - 1  # every other working day of October: absent


def test_approved_leave_is_not_absence(database_url, tmp_path, capsys):
    leave = "staff,date,session\nli,2026-10-08,afternoon\nli,2026-10-09\nli,someday\n"
    clock(tmp_path, database_url, "li,2026-10-08 08:00\nli,2026-10-08 12:00\n", leave=leave)
    captured = capsys.readouterr()
    assert f"{tmp_path / 'leave.csv'}:4: skipped: unreadable date 'someday'" in captured.err
    days = {e["date"] for e in json.loads(captured.out.split("\n", 1)[1])["occurrences"]}
    assert "2026-10-08" not in days and "2026-10-09" not in days and "2026-10-12" in days


@pytest.mark.parametrize(("punches", "files", "message"), [
    # A window the centre does not have (a typo, or a department not in this hall).
    ("li,2026-10-08 08:00\n", {"windows": "staff,window\nli,dishui\nwang,dishiu\n"},
     r"windows.csv:3: 'dishiu' is not a window of the centre \(add it: hotline score subject add ID NAME\)"),
    # A header the docs do not show is data: here a staff member `工号` in a window `窗口`.
    ("li,2026-10-08 08:00\n", {"windows": "工号,窗口\nli,dishui\n"}, r"windows.csv:1: '窗口' is not a window"),
    ("li,2026-10-08 08:00\nli,2026-10-08 12:00\nzhao,2026-10-08 08:00\n", {},
     r"punches.csv:3: 'zhao' has no window in .*windows.csv"),
    ("li,2026-10-08 08:00\n", {"leave": "staff,date\nli,2026-10-09\nzhao,2026-10-09\n"},
     r"leave.csv:3: 'zhao' has no window in"),
    ("li,2026-10-08 08:00\n", {"windows": "staff,window\nli\n"}, r"windows.csv:2: expected two fields"),
])
def test_a_row_naming_someone_the_centre_does_not_have_is_refused_by_line(
    database_url, tmp_path, capsys, punches, files, message
):
    with pytest.raises(InvalidInput, match=message):
        clock(tmp_path, database_url, punches, **files)


def test_a_staff_rubric_takes_its_staff_from_the_centre(database_url, tmp_path, capsys):
    score("subject add li 李 --kind staff", database_url=database_url)
    punches = tmp_path / "punches.csv"
    punches.write_text("staff,timestamp\nli,2026-10-08 08:00\nwang,2026-10-08 08:00\n", encoding="utf-8")
    command = f"attendance {punches} --rubric yihuang-staff --month 2026-10 --by 督查股"
    with pytest.raises(InvalidInput, match=r"punches.csv:3: 'wang' is not staff of the centre"):
        score(command, database_url=database_url)
    with pytest.raises(InvalidInput, match="--windows: rubric yihuang-staff scores staff, not windows"):
        score(f"{command} --windows {punches}", database_url=database_url)


def test_bad_input_is_one_clear_error(tmp_path):
    with pytest.raises(InvalidInput, match="not found"):
        score(f"month --rubric yihuang-window --month 2026-10 --input {tmp_path / 'none.json'}")
    broken = tmp_path / "broken.json"
    broken.write_text('{"subjects": [}', encoding="utf-8")
    with pytest.raises(InvalidInput, match="line 1"):
        score(f"month --rubric yihuang-window --month 2026-10 --input {broken}")
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"subjects": [{"id": "a", "name": "A"}], "occurrences": [{"subject": "a", "item": "overdue", "date": "10/12"}]}')
    with pytest.raises(InvalidInput, match=r"occurrences\[0\].date: expected a YYYY-MM-DD date"):
        score(f"month --rubric yihuang-window --month 2026-10 --input {wrong}")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"subjects": 3}, "subjects: expected an array"),
        ({"occurrences": {"a": 1}}, "occurrences: expected an array"),
        ({"satisfaction": [{"surveys": 1, "satisfied": 1}]}, "satisfaction: expected an object"),
        ({"satisfaction": {"gongan": 5}}, "satisfaction.gongan: expected an object"),
    ],
)
def test_an_input_of_the_wrong_shape_is_one_clear_error(tmp_path, document, message):
    # These were TypeErrors with a traceback, or (a list of satisfaction) a misleading message.
    path = tmp_path / "input.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidInput, match=message):
        score(f"month --rubric yihuang-window --month 2026-10 --input {path}")


def test_staff_quarter_example_awards_ten_and_a_tie_and_explains_who_cannot_win(capsys):
    example = EXAMPLE.with_name("yihuang-staff-2026-Q3.json")
    score(f"quarter --rubric yihuang-staff --quarter 2026-Q3 --input {example} --format json")
    result = json.loads(capsys.readouterr().out)
    by_id = {r["subject"]: r for r in result["results"]}
    # 鄧婷 joined on 3 August: not three months by 30 September. 謝志強's August complaint costs
    # him the quarter. Four share 10th place (98.33) with two places left: all four get it.
    assert (by_id["fg-03"]["total"], by_id["fg-03"]["eligible"], by_id["fg-03"]["red_flag"]) == (100, False, False)
    assert by_id["fg-03"]["note"] == "not eligible yet: in the centre since 2026-08-03"
    assert by_id["fg-01"]["disqualified"] and by_id["fg-01"]["total"] == 97.67
    assert len([r for r in result["results"] if r["red_flag"]]) == 12
    assert result["ties_at_cut"] == [
        {"total": 98.33, "rank": 10, "subjects": ["cz-01", "gs-01", "ly-02", "ny-02"], "places": 2, "decided": True}
    ]


def test_an_unreadable_input_file_is_one_clear_error(tmp_path):
    # Excel on a Chinese Windows saves CSV as GBK: that was a UnicodeDecodeError traceback.
    gbk = tmp_path / "punches.csv"
    gbk.write_bytes("工号,时间\n李,2026-10-08 08:00\n".encode("gbk"))
    (tmp_path / "ledger.json").write_bytes('{"subjects": [{"id": "a", "name": "公安局"}]}'.encode("gbk"))
    for command in (
        f"attendance {gbk} --by 督查股 --rubric yihuang-staff --month 2026-10",
        f"attendance {tmp_path / 'ok.csv'} --windows {gbk} --by 督查股 --rubric yihuang-window --month 2026-10",
        f"attendance {tmp_path / 'ok.csv'} --leave {gbk} --by 督查股 --rubric yihuang-staff --month 2026-10",
        f"month --rubric yihuang-window --month 2026-10 --input {tmp_path / 'ledger.json'}",
    ):
        (tmp_path / "ok.csv").write_text("li,2026-10-08 08:00\n")
        with pytest.raises(InvalidInput, match="not UTF-8 text"):
            score(command)
    with pytest.raises(InvalidInput, match="Is a directory"):
        score(f"month --rubric yihuang-window --month 2026-10 --input {tmp_path}")


def test_a_staff_window_file_s_header_is_a_header_not_a_staff_member(database_url, tmp_path, capsys):
    # `staff,window`, as every export carries it, booked a phantom `staff` in a window `window`,
    # absent every working day of the month.
    score("subject add dishui 地稅局", database_url=database_url)
    capsys.readouterr()
    (tmp_path / "windows.csv").write_text("staff,window\nli,dishui\n", encoding="utf-8")
    (tmp_path / "punches.csv").write_text(
        "staff,timestamp\nli,2026-10-08 08:00\nli,2026-10-08 12:00\nli,2026-10-08 14:30\nli,2026-10-08 17:30\n",
        encoding="utf-8",
    )
    score(
        f"attendance {tmp_path / 'punches.csv'} --windows {tmp_path / 'windows.csv'}"
        " --rubric yihuang-window --month 2026-10 --by 督查股",
        database_url=database_url,
    )
    captured = capsys.readouterr()
    assert captured.err == ""
    entries = json.loads(captured.out)["occurrences"]
    # 李 punched on the 8th only: absent the other 21 working days of October, all at 地稅局.
    assert {e["subject"] for e in entries} == {"dishui"}
    assert len(entries) == 21 * 2 and "2026-10-08" not in {e["date"] for e in entries}
