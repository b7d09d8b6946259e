"""Configuration: defaults that work with nothing set, overrides, one clear line per mistake."""

import socket
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from hotline.cli import main
from hotline.config import load_config
from hotline.errors import ConfigError

EXAMPLE = Path(__file__).parent.parent / "hotline.example.toml"


def test_defaults_need_nothing_set():
    config = load_config(environ={})
    assert config.database_url == "sqlite+aiosqlite:///./var/hotline.db"
    assert (config.web_host, config.web_port) == ("127.0.0.1", 8080)
    assert (config.fastagi_host, config.fastagi_port) == ("127.0.0.1", 4573)
    assert config.recordings_root == Path("var/recordings")
    [pbx] = config.pbxs
    assert (pbx.host, pbx.port) == ("127.0.0.1", 5038)


def test_the_documented_example_loads_and_equals_the_defaults():
    assert load_config(EXAMPLE, environ={}) == load_config(environ={})


def test_environment_overrides_the_file(tmp_path):
    path = tmp_path / "hotline.toml"
    path.write_text('[web]\nport = 9000\n[[pbx]]\nname = "pbx-a"\nhost = "10.0.0.5"\n')
    config = load_config(path, environ={
        "HOTLINE_WEB_PORT": "9100", "HOTLINE_AMI_SECRET": "s3cret", "HOTLINE_AMI_PORT": "5039",
        "HOTLINE_DATABASE_URL": "postgresql+asyncpg://db/hotline",
    })
    assert config.web_port == 9100
    assert config.database_url == "postgresql+asyncpg://db/hotline"
    [pbx] = config.pbxs
    assert (pbx.name, pbx.host, pbx.port, pbx.secret) == ("pbx-a", "10.0.0.5", 5039, "s3cret")
    assert "s3cret" not in repr(config)


def test_several_pbxs_each_with_their_own_link(tmp_path):
    path = tmp_path / "hotline.toml"
    path.write_text('[[pbx]]\nname = "a"\n[[pbx]]\nname = "b"\nport = 5039\n')
    assert [(p.name, p.port) for p in load_config(path, environ={}).pbxs] == [("a", 5038), ("b", 5039)]


@pytest.mark.parametrize("text, environ, key", [
    ("[web]\nport = 'eighty'\n", {}, "web.port"),
    ("[web]\nprot = 80\n", {}, "web.prot"),
    ("[webb]\nport = 80\n", {}, "webb"),
    ("[[pbx]]\nsecret = 5\n", {}, "pbx[0].secret"),
    ("[[pbx]]\nname = 'a'\n[[pbx]]\nname = 'a'\n", {}, "pbx.name"),
    ("[[pbx]]\nname = 'a'\n[[pbx]]\nname = 'b'\n", {"HOTLINE_AMI_HOST": "x"}, "HOTLINE_AMI_"),
    ("", {"HOTLINE_WEB_PORT": "70000"}, "HOTLINE_WEB_PORT"),
    ("[database]\nurl = 'mysql://x'\n", {}, "database.url"),
    ("[recordings]\nretention_days = 0\n", {}, "recordings.retention_days"),
    ("[web\n", {}, "config file"),
    # Accepted before, and wrong: 8080.5 became port 8080; nan and inf made timers that fire at
    # once or never; a backoff floor above its ceiling.
    ("[web]\nport = 8080.5\n", {}, "web.port: expected a whole number, got 8080.5"),
    ("[fastagi]\nport = true\n", {}, "fastagi.port: expected a whole number"),
    ("[[pbx]]\nping_interval = nan\n", {}, "pbx[0].ping_interval: must be a positive number"),
    ("[[pbx]]\nping_interval = inf\n", {}, "pbx[0].ping_interval: must be a positive number"),
    ("[[pbx]]\naction_timeout = -inf\n", {}, "pbx[0].action_timeout"),
    ("[[pbx]]\nreconnect_min = 60.0\nreconnect_max = 30.0\n", {}, "pbx[0].reconnect_min: 60.0 is above reconnect_max 30.0"),
    ("[[pbx]]\nreconnect_max = 0.1\n", {}, "pbx[0].reconnect_min: 0.5 is above reconnect_max 0.1"),
    ("", {"HOTLINE_DATABASE_URL": "sqlite:///x.db"}, "database.url: sqlite:// uses the pysqlite driver"),
    ("", {"HOTLINE_DATABASE_URL": "postgresql://db/hotline"}, "database.url: postgresql:// uses the psycopg driver"),
    ("", {"HOTLINE_DATABASE_URL": "not a url"}, "database.url: not a database URL"),
    # The console's settings.
    ("[web]\nsecure_cookie = 'yes'\n", {}, "web.secure_cookie: expected true or false"),
    ("[web]\nsession_hours = 0\n", {}, "web.session_hours: must be a positive number"),
    ("[centre]\ntimezone = 'Mars/Olympus'\n", {}, "centre.timezone: unknown time zone 'Mars/Olympus'"),
    ("[centre]\nmasked_roles = ['boss']\n", {}, "centre.masked_roles: unknown role 'boss'"),
    ("[audit]\nforbidden = '不知道'\n", {}, "audit.forbidden: expected a list of non-empty strings"),
    ("[audit]\nrequired = ['']\n", {}, "audit.required: expected a list of non-empty strings"),
])
def test_a_mistake_names_its_key(tmp_path, text, environ, key):
    path = tmp_path / "hotline.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=environ)
    assert str(raised.value).startswith(key)


def test_the_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    path = tmp_path / "hotline.toml"
    path.write_text("[web]\nport = 'eighty'\n")
    assert main(["--config", str(path), "db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert err == "hotline: error: web.port: expected a whole number, got 'eighty'\n"


def _free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def _one_line(capsys, key: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith(f"hotline: error: {key}") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("url, message", [
    ("sqlite+aiosqlite:////proc/x.db", "cannot open the database file: No such file or directory"),
    ("sqlite+aiosqlite:///{tmp}", "is a directory, not a database file"),
    ("sqlite+aiosqlite:///{tmp}/" + "x" * 5000 + ".db", "cannot open the database file: File name too long"),
    # It made the folders and exited 0: a typo put the database somewhere nobody looks.
    ("sqlite+aiosqlite:///{tmp}/nonexistent/dir/x.db", "folder {tmp}/nonexistent/dir does not exist"),
    ("sqlite:///{tmp}/x.db", "sqlite:// uses the pysqlite driver; hotline needs sqlite+aiosqlite://"),
    ("postgresql://postgres@127.0.0.1/test", "postgresql:// uses the psycopg driver"),
    ("postgresql+asyncpg://postgres@127.0.0.1:{port}/test", "cannot open the database: [Errno 111] Connect call failed"),
])
def test_a_database_that_cannot_be_used_is_one_line_naming_the_key(tmp_path, capsys, monkeypatch, url, message):
    url = url.format(tmp=tmp_path, port=_free_port())
    monkeypatch.setenv("HOTLINE_DATABASE_URL", url)
    assert main(["db", "upgrade"]) == 2
    assert message.format(tmp=tmp_path) in _one_line(capsys, "database.url: ")
    assert not (tmp_path / "nonexistent").exists()


@pytest.mark.postgresql
def test_a_user_name_postgresql_refuses_is_one_line(database_url, capsys, monkeypatch):
    url = make_url(database_url).set(username="u" * 500)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", url.render_as_string(hide_password=False))
    assert main(["db", "upgrade"]) == 2
    assert "does not exist" in _one_line(capsys, "database.url: cannot open the database: role ")


def test_a_config_file_that_is_not_utf8_or_is_a_folder_is_one_line(tmp_path, capsys):
    path = tmp_path / "hotline.toml"
    path.write_bytes("[web]\nhost = '政务'\n".encode("gbk"))
    assert main(["--config", str(path), "db", "upgrade"]) == 2
    assert _one_line(capsys, f"config file {path}: ").endswith("not UTF-8 text (byte 14)\n")
    assert main(["--config", str(tmp_path), "db", "upgrade"]) == 2
    assert _one_line(capsys, f"config file {tmp_path}: ").endswith("Is a directory\n")


@pytest.mark.parametrize("command", [["serve"], ["user", "list"], ["score", "subject", "add", "a", "A"]])
def test_every_command_that_opens_the_database_refuses_the_same_mistakes(tmp_path, capsys, monkeypatch, command):
    for url, message in [
        (f"sqlite+aiosqlite:///{tmp_path}/nonexistent/dir/x.db", f"folder {tmp_path}/nonexistent/dir does not exist"),
        (f"postgresql+asyncpg://postgres@127.0.0.1:{_free_port()}/test", "Connect call failed"),
    ]:
        monkeypatch.setenv("HOTLINE_DATABASE_URL", url)
        assert main(["--log-level", "ERROR", *command]) == 2
        assert message in _one_line(capsys, "database.url: ")


def test_survey_settings_accept_small_test_values_and_local_prompts(tmp_path):
    path = tmp_path / "hotline.toml"
    path.write_text(
        '[surveys]\ndial = "Local/{number}@citizens"\nretry_minutes = 1\nring_timeout = 5\n'
        'calling_hours = "08:30-12:00, 13:00-24:00"\nlanguage = "zh"\n'
        '[surveys.prompts.zh]\ngreeting = "/srv/sounds/zh/survey-greeting"\n'
    )
    surveys = load_config(path, environ={}).surveys
    assert (surveys.retry_minutes, surveys.ring_timeout) == (1.0, 5.0)
    assert [(str(a), str(b)) for a, b in surveys.calling_hours] == [
        ("08:30:00", "12:00:00"), ("13:00:00", "23:59:59.999999")]
    assert surveys.prompts["zh"].greeting == "/srv/sounds/zh/survey-greeting"
    assert surveys.prompts["zh"].thanks == "auth-thankyou"
    # Each dissatisfied citizen costs the staff member 宜黃 績(1)'s 5 points, unless set otherwise.
    assert (surveys.dissatisfied_rubrics, surveys.dissatisfied_item) == (("yihuang-staff",), "dissatisfied")


@pytest.mark.parametrize("text, message", [
    ('calling_hours = "9-12"', "surveys.calling_hours: '9-12' is not HH:MM-HH:MM"),
    ('calling_hours = "14:00-09:00"', "surveys.calling_hours: '14:00-09:00' ends before it starts"),
    ('dial = "PJSIP/trunk"', "surveys.dial: must contain {number}"),
    ("max_attempts = 0", "surveys.max_attempts: must be at least 1"),
    ("retry_minutes = 0", "surveys.retry_minutes: must be a positive number, got 0"),
    ('opt_out_key = "1"', "surveys.opt_out_key: one key other than 1, 2, 3 (the answers)"),
    ('calling_days = "weekdays"', 'surveys.calling_days: expected "working" or "all"'),
    ('holidays = ["2026-10-01"]', "surveys.holidays: removed; calling days follow the cases' working-day calendar (hotline cases calendar import FILE.toml)"),
    ("working_weekends = []", "surveys.working_weekends: removed; calling days follow the cases' working-day calendar (hotline cases calendar import FILE.toml)"),
    ('timezone = "Mars/Olympus"', "surveys.timezone: unknown time zone 'Mars/Olympus'"),
    ('language = "zh"', "surveys.language: no [surveys.prompts.zh]"),
    ("ringing = 5", "surveys.ringing: unknown key"),
    ('followup_types = ["110"]', 'surveys.followup_types: expected a list of hotlines out of "12345", "12319", got [\'110\']'),
    ("followup_share = 1.5", "surveys.followup_share: expected a share above 0 and at most 1, got 1.5"),
    ("followup_days = 0", "surveys.followup_days: must be at least 1"),
    ('dissatisfied_rubrics = "yihuang-staff"', "surveys.dissatisfied_rubrics: expected a list of rubric ids"),
    ('dissatisfied_item = ""', "surveys.dissatisfied_item: must not be empty"),
])
def test_a_bad_survey_setting_is_one_line_naming_the_key(tmp_path, text, message):
    path = tmp_path / "hotline.toml"
    path.write_text(f"[surveys]\n{text}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert str(error.value) == message
