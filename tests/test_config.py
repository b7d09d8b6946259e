"""Configuration: defaults that work with nothing set, overrides, one clear line per mistake."""

from pathlib import Path

import pytest

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


def test_survey_settings_accept_small_test_values_and_local_prompts(tmp_path):
    path = tmp_path / "hotline.toml"
    path.write_text(
        '[surveys]\ndial = "Local/{number}@citizens"\nretry_minutes = 1\nring_timeout = 5\n'
        'calling_hours = "08:30-12:00, 13:00-24:00"\nholidays = ["2026-10-01"]\nlanguage = "zh"\n'
        '[surveys.prompts.zh]\ngreeting = "/srv/sounds/zh/survey-greeting"\n'
    )
    surveys = load_config(path, environ={}).surveys
    assert (surveys.retry_minutes, surveys.ring_timeout) == (1.0, 5.0)
    assert [(str(a), str(b)) for a, b in surveys.calling_hours] == [
        ("08:30:00", "12:00:00"), ("13:00:00", "23:59:59.999999")]
    assert surveys.prompts["zh"].greeting == "/srv/sounds/zh/survey-greeting"
    assert surveys.prompts["zh"].thanks == "auth-thankyou"


@pytest.mark.parametrize("text, message", [
    ('calling_hours = "9-12"', "surveys.calling_hours: '9-12' is not HH:MM-HH:MM"),
    ('calling_hours = "14:00-09:00"', "surveys.calling_hours: '14:00-09:00' ends before it starts"),
    ('dial = "PJSIP/trunk"', "surveys.dial: must contain {number}"),
    ("max_attempts = 0", "surveys.max_attempts: must be at least 1"),
    ("retry_minutes = 0", "surveys.retry_minutes: must be positive, got 0"),
    ('opt_out_key = "1"', "surveys.opt_out_key: one key other than 1, 2, 3 (the answers)"),
    ('calling_days = "weekdays"', 'surveys.calling_days: expected "working" or "all"'),
    ('holidays = ["1 October"]', "surveys.holidays: expected dates as YYYY-MM-DD, got ['1 October']"),
    ('timezone = "Mars/Olympus"', "surveys.timezone: unknown time zone 'Mars/Olympus'"),
    ('language = "zh"', "surveys.language: no [surveys.prompts.zh]"),
    ("ringing = 5", "surveys.ringing: unknown key"),
])
def test_a_bad_survey_setting_is_one_line_naming_the_key(tmp_path, text, message):
    path = tmp_path / "hotline.toml"
    path.write_text(f"[surveys]\n{text}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert str(error.value) == message
