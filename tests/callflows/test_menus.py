"""IVR menus as configuration: `[[ivr.menu]]` tables, checked at load, chosen per call."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callflows.prompts import menu_for
from hotline.config import IvrMenu, load_config
from hotline.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "hotline.example.toml"


def example_with_its_commented_menu(tmp_path: Path) -> Path:
    """hotline.example.toml with the commented `[[ivr.menu]]` example switched on."""
    text = re.sub(r"(?m)^#   ", "", EXAMPLE.read_text())
    path = tmp_path / "hotline.toml"
    path.write_text(text)
    return path


def test_the_documented_example_menu_loads_and_is_chosen_for_its_hotline_and_language(tmp_path):
    menus = load_config(example_with_its_commented_menu(tmp_path), environ={}).ivr_menus
    assert menus == (
        IvrMenu(),
        IvrMenu(hotline="12319", language="zh", welcome="custom/12319-welcome",
                prompt="custom/12319-menu", thanks="custom/12319-thanks", choices="1234"),
    )
    assert menu_for(menus, "12319", "zh") is menus[1]
    assert menu_for(menus, "12319", "en") is menus[0]
    assert menu_for(menus, "12345", "zh") is menus[0]


def test_without_any_menu_every_call_gets_the_built_in_one(tmp_path):
    path = tmp_path / "hotline.toml"
    path.write_text("[ivr]\nmenu = []\n")
    menus = load_config(path, environ={}).ivr_menus
    assert menus == ()
    assert menu_for(menus, "12345", "en") == IvrMenu()
    assert menu_for(menus, None, "") == IvrMenu()


def test_the_most_specific_menu_wins_whatever_the_order():
    specific = IvrMenu(hotline="12319", language="zh", welcome="a")
    hotline = IvrMenu(hotline="12319", welcome="b")
    language = IvrMenu(language="zh", welcome="c")
    anything = IvrMenu(welcome="d")
    menus = [anything, language, hotline, specific]
    assert [menu_for(menus, h, lang).welcome for h, lang in [
        ("12319", "zh"), ("12319", "en"), ("12345", "zh"), ("12345", "en"), (None, "zh"),
    ]] == ["a", "b", "c", "d", "c"]


@pytest.mark.parametrize("text, key", [
    ("[ivr]\nmenus = []\n", "ivr.menus: unknown key"),
    ("[ivr]\nmenu = 'x'\n", "ivr.menu: expected [[ivr.menu]] tables"),
    ("[[ivr.menu]]\nhotline = '12345'\nwelcom = 'x'\n", "ivr.menu[0].welcom: unknown key"),
    ("[[ivr.menu]]\nwelcome = 'hello world'\n", "ivr.menu[0].welcome: expected a name"),
    ("[[ivr.menu]]\nprompt = 'beep\" 5000 1\\nHANGUP'\n", "ivr.menu[0].prompt: expected a name"),
    ("[[ivr.menu]]\nthanks = ''\n", "ivr.menu[0].thanks: expected a name"),
    ("[[ivr.menu]]\nhotline = 12345\n", "ivr.menu[0].hotline: expected a non-empty string"),
    ("[[ivr.menu]]\nchoices = '1a'\n", "ivr.menu[0].choices: expected phone keys"),
    ("[[ivr.menu]]\nchoices = ''\n", "ivr.menu[0].choices: expected phone keys"),
    ("[[ivr.menu]]\nthanks_escape = 'x'\n", "ivr.menu[0].thanks_escape: expected phone keys"),
    ("[[ivr.menu]]\ndigit_timeout = 0\n", "ivr.menu[0].digit_timeout: must be a positive number"),
    ("[[ivr.menu]]\nhotline = '12345'\n[[ivr.menu]]\nhotline = '12345'\nlanguage = '*'\n",
     "ivr.menu[1]: a second menu for hotline '12345' and language '*'"),
])
def test_a_menu_mistake_names_its_key(tmp_path, text, key):
    path = tmp_path / "hotline.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert str(raised.value).startswith(key)
