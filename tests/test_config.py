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
